"""Settings as explicit dataclasses. Every run saves the ones it used (``config.json``); nothing hides in globals.

A task folder may hold a ``tlgeo.toml`` with the sections below; anything left out keeps its default::

    task = "roads"              # or "villages", "classes": any name in tlgeo.tasks.list_tasks()

    [tiles]
    size = 64                   # tile edge in pixels when scenes are cut into a grid
    stride = 64                 # step between windows (< size means overlap)

    [tiles.bands]
    bands = [1, 2, 3]           # 1-based band numbers, one per input channel (any count)
    names = ["red", "green", "blue"]   # optional, one per band (roles red/green/blue/nir recognised)
    scaling = "none"            # "none" (8-bit data), "percentile", "fixed" or "standardize"

    [roads]
    min_speed_kmh = 20
    segment_length_m = 50

    [villages]
    indicators = ["ASSET", "BF", "CHH", "FC", "MSL", "MSW", "LIT"]

    [labels]                    # read by the "classes" task (tlgeo.tasks.classes.ClassLabelConfig)
    file = "labels.gpkg"
    column = "class"

Task names are checked by :func:`tlgeo.tasks.get_task` (config is the bottom layer and knows no task).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlgeo._utils import from_dict
from tlgeo.errors import ConfigError, DataFileError

SETTINGS_FILE = "tlgeo.toml"
SCALINGS = ("none", "percentile", "fixed", "standardize")
DEFAULT_INDICATORS = ("ASSET", "BF", "CHH", "FC", "MSL", "MSW", "LIT")
INDICATOR_NAMES = {
    "ASSET": "household assets",
    "BF": "bathroom facility",
    "CHH": "condition of households",
    "FC": "fuel for cooking",
    "MSL": "main source of light",
    "MSW": "main source of water",
    "LIT": "literacy",
}


@dataclass(frozen=True)
class BandConfig:
    """Which raster bands become the backbone's input channels, and how their values are scaled.

    The backbone sees one channel per band, in the order of ``bands``, on a 0–255-like scale:

    - ``"none"``: 8-bit data as they are (uint8, bit for bit; other dtypes are refused).
    - ``"percentile"``: per band, ``percentiles`` of the valid pixels of each source file map to 0 and 255.
    - ``"fixed"``: ``value_range`` (one ``(low, high)`` for every band, or one per band) maps to 0 and 255.
    - ``"standardize"``: per band ``127.5 + 42.5 · z`` with ``z = (value − mean) / sd``, mean and sd measured on
      the training chips (``stats``; saved with the run and applied unchanged at prediction), i.e. mean ± 3 sd
      maps to 0 and 255.

    Scaled values are float32, clipped to 0–255 and not rounded; only ``"none"`` keeps 8-bit storage.

    Attributes:
        bands: 1-based band numbers, one per input channel (any count ≥ 1; repeats allowed). ``None`` takes bands
            1-2-3 of a 3-band raster or repeats the only band of a 1-band raster three times (grey as RGB); any
            other band count must be chosen explicitly.
        names: Optional band names, one per entry of ``bands`` (e.g. ``["blue", "green", "red", "nir"]``). The
            roles red, green, blue and nir are recognised case-insensitively (RGB composites, the ``rgb_mean``
            first-convolution rule).
        scaling: ``"none"``, ``"percentile"``, ``"fixed"`` or ``"standardize"`` (see above).
        percentiles: Lower and upper percentile for ``"percentile"`` scaling.
        value_range: ``(low, high)`` for ``"fixed"`` scaling, e.g. ``(0, 3000)`` for reflectance × 10⁴, or one
            ``(low, high)`` per band.
        stats: ``"standardize"`` statistics, one ``(mean, sd)`` per band; filled in from the training chips when
            ``None`` (giving them fixes them).
        dtype: Data type of the training imagery (filled in at training; prediction refuses other dtypes).
        source_bands: Band count of the training imagery (filled in at training; prediction refuses other counts).
    """

    bands: tuple[int, ...] | None = None
    names: tuple[str, ...] | None = None
    scaling: str = "none"
    percentiles: tuple[float, float] = (2.0, 98.0)
    value_range: tuple | None = None
    stats: tuple | None = None
    dtype: str | None = None
    source_bands: int | None = None

    def __post_init__(self) -> None:
        if self.scaling not in SCALINGS:
            raise ConfigError(f"Unknown scaling {self.scaling!r}", hint=f"Use one of: {', '.join(SCALINGS)}.")
        if self.bands is not None:
            if (
                isinstance(self.bands, (str, bytes))
                or len(self.bands) < 1
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.bands)
            ):
                raise ConfigError(
                    f"bands must be one or more band numbers counted from 1, received {self.bands!r}",
                    hint="For example bands = [3, 2, 1] for a BGR raster or [1, 2, 3, 4, 5, 6] for a 6-band stack.",
                )
            object.__setattr__(self, "bands", tuple(self.bands))
        if self.names is not None:
            if isinstance(self.names, str) or not all(isinstance(n, str) and n.strip() for n in self.names):
                raise ConfigError(f"names must be a list of band names, received {self.names!r}")
            if self.bands is None or len(self.names) != len(self.bands):
                raise ConfigError(
                    f"names must name each of the chosen bands, received names={list(self.names)!r} for "
                    f"bands={list(self.bands) if self.bands else None!r}",
                    hint="Give bands and one name per band, e.g. bands = [1, 2, 3, 4] and "
                    'names = ["blue", "green", "red", "nir"].',
                )
            object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, received {self.percentiles!r}")
        object.__setattr__(self, "percentiles", (float(lo), float(hi)))
        if self.value_range is not None:
            object.__setattr__(self, "value_range", self._pairs("value_range", self.value_range))
        if self.scaling == "fixed":
            ranges = self.value_range
            if ranges is None or any(not a < b for a, b in self._per_band(ranges)):
                raise ConfigError(
                    f"scaling='fixed' needs value_range=(low, high) with low < high (or one per band), "
                    f"received {self.value_range!r}"
                )
        if self.stats is not None:
            stats = self._pairs("stats", self.stats, nested=True)
            if any(not sd > 0 for _, sd in stats):
                raise ConfigError(f"stats must be (mean, sd) pairs with sd > 0, received {self.stats!r}")
            object.__setattr__(self, "stats", stats)
        for name, per in (("value_range", self.value_range), ("stats", self.stats)):
            if per is not None and isinstance(per[0], tuple) and self.bands is not None and len(per) != len(self.bands):
                raise ConfigError(
                    f"{name} has {len(per)} entries but bands lists {len(self.bands)}",
                    hint=f"Give one (low, high) for all bands or one per band in {name}.",
                )

    @staticmethod
    def _pairs(name: str, value, *, nested: bool = False) -> tuple:
        """``(a, b)`` or ``((a, b), …)`` as floats; ``nested`` always returns the second form."""
        try:
            if len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                pair = (float(value[0]), float(value[1]))
                return (pair,) if nested else pair
            pairs = tuple((float(a), float(b)) for a, b in value)
        except (TypeError, ValueError):
            pairs = ()
        if not pairs:
            raise ConfigError(f"{name} must be (low, high) or a list of (low, high) pairs, received {value!r}")
        return pairs

    @staticmethod
    def _per_band(value) -> tuple[tuple[float, float], ...]:
        return value if isinstance(value[0], tuple) else (value,)

    def ranges(self, channels: int) -> tuple[tuple[float, float], ...]:
        """The ``fixed`` value range of each of ``channels`` channels."""
        per = self._per_band(self.value_range)
        return per if len(per) == channels else (per[0],) * channels

    def standardize_ranges(self, channels: int) -> tuple[tuple[float, float], ...]:
        """``stats`` as the (mean − 3 sd, mean + 3 sd) range of each channel (maps z to 127.5 + 42.5 z)."""
        per = self.stats if len(self.stats) == channels else (self.stats[0],) * channels
        return tuple((m - STANDARDIZE_SD * sd, m + STANDARDIZE_SD * sd) for m, sd in per)

    def role(self, role: str) -> int | None:
        """0-based channel whose name is ``role`` (red, green, blue, nir; case-insensitive), or ``None``."""
        if not self.names:
            return None
        lowered = [n.strip().lower() for n in self.names]
        return lowered.index(role) if role in lowered else None

    @property
    def uint8(self) -> bool:
        """Whether images stay 8-bit (``scaling="none"``); all other scalings give float32."""
        return self.scaling == "none"


#: ``standardize`` maps mean ± this many sd to 0 and 255 (z → 127.5 + 42.5 z).
STANDARDIZE_SD = 3.0


@dataclass(frozen=True)
class TileConfig:
    """How scenes are cut into tiles.

    Attributes:
        size: Tile edge in pixels.
        stride: Step between windows in pixels (``None``: equal to ``size``; smaller means overlap).
        bands: Band selection and scaling.
    """

    size: int = 64
    stride: int | None = None
    bands: BandConfig = field(default_factory=BandConfig)

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ConfigError(f"tile size must be at least 8 pixels, received size={self.size}")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"tile stride must be a positive number of pixels, received stride={self.stride}")

    @property
    def step(self) -> int:
        """The stride actually used."""
        return self.stride or self.size


@dataclass(frozen=True)
class RoadLabelConfig:
    """Phone vibration → road segments → classes.

    Attributes:
        min_speed_kmh: Samples slower than this are dropped (vibration at walking pace says little about the road).
        segment_length_m: Drives are cut into segments of this many metres travelled.
        roughness: Index used for classes: ``"iri_proxy"`` (speed-normalised vertical displacement, m/km-like)
            or ``"rms"`` (RMS of vertical acceleration, m/s²).
        classes: Ordered class names, smoothest first.
        thresholds: Absolute class boundaries in roughness units (len = classes − 1); ``None`` uses per-device
            quantiles, which cancels the different gains of different phones.
        quantiles: Per-device quantile boundaries (default: equal shares).
        max_segment_factor: Segments longer than this × ``segment_length_m`` (GPS dropouts) are flagged and not
            used for tile labels.
        min_tile_length_m: A tile needs at least this much driven length crossing it to get a label.
        roadrunner_column: Roughness of a RoadRunner segment log: ``"iriXYZp"`` (default, the app's own
            ``sqrt(iriXp² + iriYp² + iriZp²)``), ``"iriZp"``, ``"iriXYZ"`` (magnitude of the unprimed
            ``iriX, iriY, iriZ``), ``"iriZ"``, or any other column name. A device whose columns for it are dead
            (one value on ≥ 99 % of its rows) falls back to the next of these, in this order.
        min_device_segments: A phone needs at least this many usable segments for per-device calibration; with
            fewer its segments stay unclassified (absolute ``thresholds`` need no calibration) — unless it shares
            roads with other phones, or is a RoadRunner device without phoneID (pooled gain).
        calibration: ``"shared_roads"`` (default): each phone's gain is the median ratio of its roughness to a
            reference phone's on stretches both drove (falling back to ``"median"`` for phones without enough
            shared stretches); ``"median"``: gain from each phone's median roughness.
        shared_road_m: Two segments are on the same stretch when the midpoint of one lies within this many
            metres of the other.
        shared_heading_deg: ... and their directions (either way along the road) differ by at most this angle.
        min_shared_segments: Segment pairs a phone needs with an already calibrated phone for a shared-road gain.
        max_gps_speed_kmh: GPS fixes implying a faster move than this are jumps: a lone outlier fix is dropped,
            otherwise the drive is split there.
    """

    min_speed_kmh: float = 20.0
    segment_length_m: float = 50.0
    roughness: str = "iri_proxy"
    classes: tuple[str, ...] = ("good", "fair", "poor")
    thresholds: tuple[float, ...] | None = None
    quantiles: tuple[float, ...] | None = None
    max_segment_factor: float = 3.0
    min_tile_length_m: float = 10.0
    roadrunner_column: str = "iriXYZp"
    min_device_segments: int = 20
    max_gps_speed_kmh: float = 200.0
    calibration: str = "shared_roads"
    shared_road_m: float = 8.0
    shared_heading_deg: float = 30.0
    min_shared_segments: int = 10

    def __post_init__(self) -> None:
        if self.calibration not in ("shared_roads", "median"):
            raise ConfigError(
                f"Unknown calibration {self.calibration!r}", hint="Use 'shared_roads' (default) or 'median'."
            )
        if not (self.shared_road_m > 0 and 0 < self.shared_heading_deg <= 90 and self.min_shared_segments >= 1):
            raise ConfigError(
                "shared_road_m must be > 0, shared_heading_deg in (0, 90] and min_shared_segments >= 1, received "
                f"shared_road_m={self.shared_road_m!r}, shared_heading_deg={self.shared_heading_deg!r}, "
                f"min_shared_segments={self.min_shared_segments!r}"
            )
        if self.roughness not in ("iri_proxy", "rms"):
            raise ConfigError(f"Unknown roughness index {self.roughness!r}", hint="Use 'iri_proxy' or 'rms'.")
        if len(self.classes) < 2:
            raise ConfigError(f"Need at least 2 road classes, received {self.classes!r}")
        for name, cuts in (("thresholds", self.thresholds), ("quantiles", self.quantiles)):
            if cuts is not None:
                if len(cuts) != len(self.classes) - 1:
                    raise ConfigError(
                        f"{name} must have {len(self.classes) - 1} values for {len(self.classes)} classes, "
                        f"received {cuts!r}"
                    )
                if list(cuts) != sorted(cuts):
                    raise ConfigError(f"{name} must be increasing, received {cuts!r}")
        if self.quantiles is not None and not all(0 < q < 1 for q in self.quantiles):
            raise ConfigError(f"quantiles must lie strictly between 0 and 1, received {self.quantiles!r}")
        if self.segment_length_m <= 0 or self.min_speed_kmh < 0:
            raise ConfigError("segment_length_m must be > 0 and min_speed_kmh >= 0")
        if self.max_segment_factor <= 1:
            raise ConfigError(f"max_segment_factor must be > 1, received {self.max_segment_factor!r}")
        if self.min_device_segments < 2 or self.max_gps_speed_kmh <= self.min_speed_kmh:
            raise ConfigError(
                "min_device_segments must be >= 2 and max_gps_speed_kmh above min_speed_kmh, received "
                f"min_device_segments={self.min_device_segments!r}, max_gps_speed_kmh={self.max_gps_speed_kmh!r}"
            )


@dataclass(frozen=True)
class VillageLabelConfig:
    """Census indicators → per-tile multi-task targets.

    Attributes:
        indicators: Indicator columns to use (each becomes one task).
        id_column: Column holding the village identifier.
        levels: Number of levels fractions are binned into (integer levels 0..levels−1 are kept as they are).
        bins: Saved cut points per indicator (filled in when fractions are binned, so prediction reports the
            same bins).
        weight_column: Column weighting villages that share a tile (e.g. ``"population"``): their fractions are
            averaged and their levels' mode taken with these weights. ``None``: every village counts once.
        continuous: Fraction indicators become continuous targets (regression on the tile's mean fraction, one
            output per indicator, masked where missing) instead of binned levels; integer-level indicators stay
            classes.
    """

    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    id_column: str = "village_id"
    levels: int = 3
    bins: dict[str, list[float]] | None = None
    weight_column: str | None = None
    continuous: bool = False

    def __post_init__(self) -> None:
        if not self.indicators:
            raise ConfigError("Need at least one indicator column in villages.indicators")
        if self.levels < 2:
            raise ConfigError(f"levels must be at least 2, received {self.levels}")


@dataclass(frozen=True)
class TaskSettings:
    """Everything read from a task folder's ``tlgeo.toml`` (defaults where the file is silent).

    Attributes:
        task: Registered task name (``tlgeo.tasks.list_tasks()``; checked when the task is looked up).
        tiles: Tile or chip size and bands.
        roads: ``[roads]`` section.
        villages: ``[villages]`` section.
        labels: ``[labels]`` table as written; the task that reads it turns it into its own settings dataclass
            (``tlgeo.tasks.classes.ClassLabelConfig`` for ``classes``), so config stays free of task code.
    """

    task: str = "roads"
    tiles: TileConfig = field(default_factory=TileConfig)
    roads: RoadLabelConfig = field(default_factory=RoadLabelConfig)
    villages: VillageLabelConfig = field(default_factory=VillageLabelConfig)
    labels: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task.strip():
            raise ConfigError(f"task must be a task name, received {self.task!r}", hint="e.g. task = 'classes'.")


def load_settings(taskdir: str | Path, task: str | None = None) -> TaskSettings:
    """Read ``tlgeo.toml`` from a task folder (defaults if there is none).

    Args:
        taskdir: The task folder.
        task: Overrides the file's ``task`` when given.

    Raises:
        DataFileError: The folder does not exist, or the settings file is not valid TOML.
        ConfigError: A setting is unknown or has an unusable value.
    """
    taskdir = Path(taskdir)
    if not taskdir.is_dir():
        raise DataFileError(
            f"Task folder {taskdir} does not exist", hint="Pass a folder holding imagery/ and labels.", path=taskdir
        )
    path = taskdir / SETTINGS_FILE
    data: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DataFileError(
                f"{path} is not valid TOML: {exc}", hint="Fix the file or delete it.", path=path
            ) from exc
    if task is not None:
        data["task"] = task
    return from_dict(TaskSettings, data, where=str(path))


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} = {value!r} cannot be saved in tlgeo.toml", hint="Use a finite number.")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string: same escapes as JSON
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v, where)}" for k, v in value.items() if v is not None)
        return "{" + inner + "}"
    raise ConfigError(f"{where} = {value!r} cannot be saved in tlgeo.toml")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _changed(obj: Any) -> dict[str, Any]:
    """Fields of a settings dataclass that differ from their defaults (nested dataclasses as nested dicts)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            sub = _changed(value)
            if sub:
                out[f.name] = sub
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if value is not None and value != default:
            out[f.name] = {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value
    return out


def settings_toml(settings: TaskSettings) -> str:
    """``settings`` as the text of a ``tlgeo.toml`` — the one place settings are serialised.

    Only values that differ from the defaults are written (``task`` always), so :func:`load_settings` reads back
    equal settings. ``None`` values are left out (TOML has no null; every ``None`` here is a default).

    Raises:
        ConfigError: A value TOML cannot hold (a non-finite number).
    """
    data = _changed(settings)
    data.pop("task", None)
    lines = [f"task = {_toml_value(settings.task, 'task')}"]

    def table(name: str, values: dict[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict) or name == "labels"}
        lines.extend(["", f"[{name}]"] if scalars or not values else [])
        for key, value in scalars.items():
            lines.append(f"{_toml_key(key)} = {_toml_value(value, f'[{name}] {key}')}")
        for key, value in values.items():
            if key not in scalars:
                table(f"{name}.{_toml_key(key)}", value)

    for section, values in data.items():
        if isinstance(values, dict):
            table(section, values)
        else:
            lines.append(f"{section} = {_toml_value(values, section)}")
    return "\n".join(lines) + "\n"


def save_settings(taskdir: str | Path, settings: TaskSettings) -> Path:
    """Write ``settings`` as ``taskdir/tlgeo.toml`` (atomically; the text of :func:`settings_toml`).

    Returns:
        The path written.
    """
    path = Path(taskdir) / SETTINGS_FILE
    text = settings_toml(settings)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


STRATEGIES = (
    "as_is",
    "features_linear",
    "frozen_head",
    "truncated",
    "fine_tune_top",
    "fine_tune_all",
    "scratch",
    "chip_stats",
)
CLASS_WEIGHTS = ("none", "balanced", "sqrt")
#: Metrics ``auto`` can optimise (``r2`` for continuous targets).
OPTIMISE_METRICS = ("balanced_accuracy", "accuracy", "macro_f1", "r2")
SPLITS = ("spatial", "random")
CLASSIFIERS = ("logistic", "svm")
FIRST_CONV_RULES = ("auto", "cyclic", "rgb_mean")
MIXED_PRECISION = ("auto", "on", "off")
#: Strategies ``tlgeo compare`` runs when none are named.
COMPARE_STRATEGIES = ("scratch", "frozen_head", "fine_tune_all")


@dataclass(frozen=True)
class TrainConfig:
    """How one run is trained. Saved in every run's ``config.json``.

    Attributes:
        backbone: Registry name (``tlgeo.backbones.list_backbones()``).
        weights: ``"imagenet"``, ``None`` (random) or a local weights file; ``scratch`` always uses ``None``.
        strategy: One of :data:`STRATEGIES` or ``"auto"`` (the advisor chooses; see ``tlgeo.transfer``).
        img_size: Input size in pixels (tiles are resampled to it while reading). 128 is a good CPU default.
        epochs: Epochs that train the whole network (``fine_tune_*`` phase 2 and ``scratch``).
        head_epochs: Epochs for a new head on frozen features (``frozen_head``, ``truncated``, phase 1 of
            ``fine_tune_*``); cheap, because features are computed once.
        batch_size: Images per step.
        learning_rate: Adam learning rate of new layers.
        pretrained_lr_mult: Learning-rate multiplier for pretrained layers when they are fine-tuned.
        top_k_stages: Stages unfrozen by ``fine_tune_top`` (counted from the top).
        truncate_stage: Last stage kept by ``truncated`` (default: the middle stage of the backbone); for
            ``features_linear``, the stage whose pooled features the linear head reads (default: the whole backbone).
        classifier: ``features_linear`` classifier: ``"logistic"`` or ``"svm"`` (linear, Platt-scaled).
        folds: Cross-validation folds (≥ 2).
        split: ``"spatial"`` (blocks; default) or ``"random"`` (a baseline that leaks across neighbours).
        block_size_m: Edge of the spatial blocks in metres (default: chosen from the data's extent).
        buffer_m: Training tiles closer than this to a test block are left out of that fold.
        val_fraction: Share of training blocks held out for early stopping.
        augment: Flips, 90° rotations and mild colour jitter while fine-tuning.
        class_weights: Class weighting of the loss: ``"none"``, ``"balanced"`` (inverse class frequency) or
            ``"sqrt"`` (its square root, halfway); configs saved with ``true``/``false`` read as balanced/none.
        metric: The metric ``auto`` optimises (and that runs report as optimised): ``"balanced_accuracy"``,
            ``"accuracy"``, ``"macro_f1"`` or ``"r2"``; ``None`` (default): ``"r2"`` when every target is a number
            (task ``values``), else ``"balanced_accuracy"`` (resolved by :func:`tlgeo.advisor.resolve_metric`).
        budget_s: Seconds ``auto`` may spend measuring probes before it picks (its cheap probes always run).
        patience: Early-stopping patience in epochs.
        dropout: Dropout before each head.
        refit: After cross-validation, train the saved model on all labelled tiles.
        seed: Seed for splits, initialisation and augmentation.
        mixed_precision: ``"auto"`` (on GPUs), ``"on"`` or ``"off"``.
        first_conv: How an ImageNet backbone's first convolution (3 RGB input channels) is adapted to imagery with
            another number of channels: ``"cyclic"``, ``"rgb_mean"`` or ``"auto"`` (see
            :func:`tlgeo.backbones.channels.channel_mix`). 3-channel input is never changed.
    """

    backbone: str = "efficientnet_lite0"
    weights: str | None = "imagenet"
    strategy: str = "frozen_head"
    img_size: int = 128
    epochs: int = 6
    head_epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    pretrained_lr_mult: float = 0.1
    top_k_stages: int = 2
    truncate_stage: str | None = None
    classifier: str = "logistic"
    folds: int = 3
    split: str = "spatial"
    block_size_m: float | None = None
    buffer_m: float = 0.0
    val_fraction: float = 0.15
    augment: bool = True
    class_weights: str | bool = "balanced"
    metric: str | None = None
    budget_s: float = 300.0
    patience: int = 4
    dropout: float = 0.2
    refit: bool = True
    seed: int = 0
    mixed_precision: str = "auto"
    first_conv: str = "auto"

    def __post_init__(self) -> None:
        if self.strategy not in (*STRATEGIES, "auto"):
            raise ConfigError(
                f"Unknown strategy {self.strategy!r}", hint=f"Use one of: {', '.join(STRATEGIES)}, or auto."
            )
        if self.split not in SPLITS:
            raise ConfigError(f"Unknown split {self.split!r}", hint=f"Use one of: {', '.join(SPLITS)}.")
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"Unknown classifier {self.classifier!r}", hint=f"Use one of: {', '.join(CLASSIFIERS)}.")
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2, received folds={self.folds}")
        if not 32 <= self.img_size <= 1024:
            raise ConfigError(f"img_size must be between 32 and 1024 pixels, received img_size={self.img_size}")
        for name in ("epochs", "head_epochs", "batch_size", "top_k_stages", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, received {name}={getattr(self, name)}")
        if self.learning_rate <= 0 or not 0 < self.pretrained_lr_mult <= 1:
            raise ConfigError(
                "learning_rate must be > 0 and pretrained_lr_mult in (0, 1], received "
                f"learning_rate={self.learning_rate}, pretrained_lr_mult={self.pretrained_lr_mult}"
            )
        if not 0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), received val_fraction={self.val_fraction}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"mixed_precision must be auto, on or off, received {self.mixed_precision!r}")
        if isinstance(self.class_weights, bool):  # configs saved before weighting was a setting
            object.__setattr__(self, "class_weights", "balanced" if self.class_weights else "none")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ConfigError(
                f"Unknown class_weights {self.class_weights!r}", hint=f"Use one of: {', '.join(CLASS_WEIGHTS)}."
            )
        if self.metric is not None and self.metric not in OPTIMISE_METRICS:
            raise ConfigError(f"Unknown metric {self.metric!r}", hint=f"Use one of: {', '.join(OPTIMISE_METRICS)}.")
        if not self.budget_s > 0:
            raise ConfigError(f"budget_s must be > 0 seconds, received budget_s={self.budget_s}")
        if self.first_conv not in FIRST_CONV_RULES:
            raise ConfigError(
                f"Unknown first_conv rule {self.first_conv!r}", hint=f"Use one of: {', '.join(FIRST_CONV_RULES)}."
            )
