"""Where distributed work runs: ``local[:N]`` (a loopback Dask ``LocalCluster``) or the address of a running scheduler.

The spec is the value of ``--cluster`` and of the dashboard's cluster setting (``TLGEO_CLUSTER``):

- ``local`` — N = the CPU cores, ``local:2`` — two worker processes on this machine, one thread each, bound to
  127.0.0.1, no dashboards; the cluster lives for the ``with`` block.
- ``tcp://host:8786`` (or ``host:8786``) — a scheduler started with ``dask scheduler`` and workers started with
  ``dask worker tcp://host:8786`` (one task thread) on each machine (``docs/scaling.md``); tlgeo connects and leaves it
  running. Every worker must see the run folder and the rasters at the same paths (a shared file system; GDAL ``/vsi…``
  paths are untested).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from tlgeo.errors import ConfigError

#: Environment variable holding the dashboard's cluster address (e.g. ``tcp://10.0.0.5:8786`` or ``local:2``).
CLUSTER_ENV = "TLGEO_CLUSTER"
#: Seconds to wait for a remote scheduler before giving up.
CONNECT_TIMEOUT_S = 20

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|inproc)://)?[\w.\-\[\]:]+:\d+$")


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``workers`` for a local cluster, or a scheduler ``address``."""

    workers: int | None = None
    address: str | None = None

    @property
    def local(self) -> bool:
        """Whether tlgeo starts (and stops) the cluster itself."""
        return self.address is None

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.local else str(self.address)


def parse_cluster(value: str) -> ClusterSpec:
    """Parse ``local``, ``local:N`` or a scheduler address (``tcp://host:port`` or ``host:port``).

    Raises:
        ConfigError: The value is neither (names the value received and the accepted forms).
    """
    text = str(value).strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise ConfigError(
                f"--cluster local:N needs N ≥ 1 worker, received --cluster {value!r}",
                hint="Use e.g. --cluster local:2.",
            )
        return ClusterSpec(workers=n)
    if _ADDRESS.match(text):
        return ClusterSpec(address=text if "://" in text else f"tcp://{text}")
    raise ConfigError(
        f"--cluster takes local, local:N or a scheduler address, received --cluster {value!r}",
        hint="Use --cluster local:2, or --cluster tcp://HOST:8786 for a scheduler started with `dask scheduler`.",
    )


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ConfigError(
            "--cluster needs the 'distributed' package, which is not installed",
            hint="pip install -r requirements.txt (it pins dask and distributed).",
        ) from exc
    return distributed


@contextlib.contextmanager
def open_cluster(spec: str | ClusterSpec) -> Iterator:
    """A :class:`distributed.Client` on the cluster ``spec`` names, closed (local cluster stopped) on exit.

    Raises:
        ConfigError: Bad spec, or no scheduler answers at the address.
    """
    spec = parse_cluster(spec) if isinstance(spec, str) else spec
    distributed = _require_distributed()
    if spec.local:
        # Dask's nanny sets OMP/MKL/OpenBLAS threads to 1 in each worker; give each worker its share of the cores
        # instead (a single worker gets them all, as an in-process prediction does).
        threads = str(max(1, (os.cpu_count() or 1) // spec.workers))
        env = dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), threads)
        cluster = distributed.LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=40,
            env=env,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its HTTP server (health) on loopback only
        )
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise ConfigError(
            f"No Dask scheduler answers at --cluster {spec.address} ({exc})",
            hint="Start one with `dask scheduler` and workers with `dask worker ADDRESS` (one task thread each), "
            "or use --cluster local:N.",
        ) from exc
    try:
        yield client
    finally:
        client.close()


def worker_count(client) -> int:
    """Workers connected to the client's scheduler now."""
    return len(client.scheduler_info().get("workers", {}))


def cluster_summary(spec: str | None) -> str | None:
    """One line for the device line of the dashboard: the configured cluster and its workers, or ``None``.

    A local spec is described without starting anything; an address is asked for its worker count (1 s timeout).
    """
    if not spec:
        return None
    try:
        parsed = parse_cluster(spec)
    except ConfigError as exc:
        return f"cluster: {exc}"
    if parsed.local:
        return f"cluster local:{parsed.workers} ({parsed.workers} worker(s) started per job)"
    try:
        import distributed

        with distributed.Client(parsed.address, timeout=1) as client:
            return f"cluster {parsed.address} ({worker_count(client)} worker(s))"
    except (OSError, ImportError, TimeoutError) as exc:
        return f"cluster {parsed.address} (unreachable: {type(exc).__name__})"
