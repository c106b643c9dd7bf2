"""Which devices TensorFlow sees, and the distribution strategy / precision policy that follows from them."""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceReport:
    """What training will run on."""

    gpus: tuple[str, ...]
    cpus: int
    logical_cpus: tuple[str, ...]
    mixed_precision: bool
    #: Processes training synchronously (a ``--cluster`` job's ``MultiWorkerMirroredStrategy``); 1 otherwise.
    workers: int = 1

    @property
    def summary(self) -> str:
        """One line for the CLI and the sidebar, e.g. ``'CPU (2 cores)'`` or ``'2 × GPU (NVIDIA H100)'``."""
        if self.workers > 1:
            local = f"GPU ({', '.join(sorted(set(self.gpus)))})" if self.gpus else f"CPU ({self.cpus} cores)"
            return f"{self.workers} cluster workers in sync, this one on {local}"
        if len(self.logical_cpus) > 1 and not self.gpus:
            return f"{len(self.logical_cpus)} logical CPUs mirrored ({self.cpus} cores)"
        if self.gpus:
            return f"{len(self.gpus)} × GPU ({', '.join(sorted(set(self.gpus)))})" + (
                ", mixed precision" if self.mixed_precision else ""
            )
        return f"CPU ({self.cpus} cores)"


def device_report() -> DeviceReport:
    """Ask TensorFlow which devices it sees (imports TensorFlow)."""
    import tensorflow as tf

    if int(os.environ.get(LOGICAL_CPUS_ENV, "0") or 0) >= 2:
        distribution_strategy()  # the split must happen before anything initialises the devices

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        except (ValueError, RuntimeError):
            names.append(gpu.name)
    logical = tuple(d.name for d in tf.config.list_logical_devices("CPU"))
    workers = 1
    if _STRATEGY is not None and isinstance(_STRATEGY, tf.distribute.MultiWorkerMirroredStrategy):
        workers = max(1, _STRATEGY.cluster_resolver.cluster_spec().num_tasks("worker"))
        logical = ()  # the other workers' devices, not this machine's
    return DeviceReport(
        gpus=tuple(names), cpus=os.cpu_count() or 1, logical_cpus=logical, mixed_precision=bool(gpus), workers=workers
    )


LOGICAL_CPUS_ENV = "TLGEO_LOGICAL_CPUS"
_STRATEGY = None


def distribution_strategy(devices: list[str] | None = None):
    """``MirroredStrategy`` across the GPUs found (or across ``devices``), else the default strategy.

    Setting ``TLGEO_LOGICAL_CPUS=N`` (N ≥ 2) before TensorFlow starts splits the CPU into N logical devices and
    mirrors across them — the same code path as several GPUs, testable on any machine.

    Args:
        devices: Explicit device names, e.g. ``["/cpu:0", "/cpu:1"]``.
    """
    global _STRATEGY
    import tensorflow as tf

    if devices:
        return tf.distribute.MirroredStrategy(devices=devices)
    if _STRATEGY is not None:
        return _STRATEGY
    n_cpu = int(os.environ.get(LOGICAL_CPUS_ENV, "0") or 0)
    if n_cpu >= 2:
        _STRATEGY = tf.distribute.MirroredStrategy(devices=split_cpu(n_cpu))
        return _STRATEGY
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        _STRATEGY = tf.distribute.MirroredStrategy()
        return _STRATEGY
    return tf.distribute.get_strategy()


def install_strategy(strategy) -> None:
    """Make ``strategy`` the one :func:`distribution_strategy` returns (a cluster training worker's
    ``MultiWorkerMirroredStrategy``, created at the start of its process)."""
    global _STRATEGY
    _STRATEGY = strategy


def current_strategy():
    """The strategy installed or created by :func:`distribution_strategy`, ``None`` before any."""
    return _STRATEGY


def split_cpu(n: int = 2) -> list[str]:
    """Split the CPU into ``n`` logical devices (must run before TensorFlow initialises its devices)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    with contextlib.suppress(RuntimeError):  # already initialised: use what exists
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def platform_summary() -> dict[str, str]:
    """Python, OS and key package versions (no TensorFlow import)."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in (
        "tensorflow",
        "keras",
        "rasterio",
        "geopandas",
        "numpy",
        "pandas",
        "scikit-learn",
        "streamlit",
        "plotly",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
