"""Road quality from phone vibration: raw phone logs or RoadRunner segment logs → roughness segments → tile labels.

Two log formats are read, told apart by their header (``.csv`` or ``.csv.gz``):

* **Raw phone log** — ``time`` (seconds, epoch seconds/milliseconds, or ISO 8601), ``lat``, ``lon``, ``acc_z`` or
  ``acc_x, acc_y, acc_z`` (m/s², gravity present; values in g are detected and converted), optional ``speed``
  (m/s) and ``device_id``. The accelerometer runs at 20–200 Hz; GPS fixes (rows with ``lat``/``lon`` filled,
  typically 1 Hz) are interpolated linearly onto the accelerometer clock.
* **RoadRunner segment log** — ``id, line, distance, iriXp, iriYp, iriZp, iriX, iriY, iriZ, filename, time,
  phoneID``, one row per 10–70 m segment; ``line`` is a GeoJSON-like mapping in Python quoting (strict JSON and WKT
  are accepted too). The roughness is the app's own ``sqrt(iriXp² + iriYp² + iriZp²)`` (``iriXYZp``;
  ``RoadLabelConfig.roadrunner_column`` chooses ``iriZp``, ``iriXYZ`` — the unprimed magnitude — ``iriZ`` or any
  column). Real exports hold phones whose columns are dead (0 or one constant on ≥ 99 % of their rows): per device,
  a definition with a dead column gives way to the next of ``iriXYZp, iriZp, iriXYZ, iriZ`` (one report line per
  device). Rows without ``phoneID`` join the only phone of their recording (``filename``) when there is one.

Processing of a raw log (all vectorised with numpy/scipy; the only Python loops run over files, continuous
recording runs and devices, never over samples or segments):

1. **Vertical acceleration.** Gravity is estimated per axis by a zero-phase low-pass filter (Butterworth, 0.3 Hz);
   the linear acceleration ``a − g`` is projected onto the unit gravity vector ``g/|g|``. A phone lying in any
   orientation therefore gives the same vertical signal. With ``acc_z`` only, ``acc_z`` minus its low-pass is used
   (the phone is assumed roughly flat; a fixed tilt only scales the gain, which per-device calibration removes).
2. **Band-pass.** The vertical signal is band-passed between :data:`BAND_LOW_HZ` (0.5 Hz) and
   ``min(``:data:`BAND_HIGH_HZ` ``(20 Hz), 0.45 × sampling rate)`` (zero-phase Butterworth, order 4).
3. **Speed and distance.** Speed comes from the ``speed`` column (m/s) when present and consistent with the GPS
   track, otherwise from the distance between consecutive fixes. A lone fix implying more than
   ``max_gps_speed_kmh`` (there and back) is dropped; a lasting jump splits the drive. Samples slower than
   ``min_speed_kmh`` are dropped; the remaining stretches (also split at accelerometer gaps over
   :data:`ACC_GAP_S`) are cut every ``segment_length_m`` metres travelled (a last piece shorter than half a segment
   is dropped).
4. **Roughness per segment**, two indices:

   * ``rms_acc`` (m/s²) — root mean square of the band-passed vertical acceleration over the segment's samples.
   * ``iri_proxy`` (m/km) — the accumulated absolute vertical *displacement* of the phone per kilometre travelled:
     the band-passed vertical acceleration is integrated once to vertical velocity (drift removed by a 0.5 Hz
     zero-phase high-pass), and ``Σ|v|·dt`` over the segment (metres moved up and down) is divided by the segment
     length in km. Like the IRI it is a displacement per distance (m/km) and so is already speed-normalised, and
     it grows with roughness; unlike the IRI it measures the car body and phone mount, not a standard quarter-car
     suspension at 80 km/h, so it is **not a calibrated IRI**: values depend on the vehicle, the mount and (less
     than RMS does) the speed. For a vertical sine of amplitude ``A`` and frequency ``f`` driven at ``v`` m/s,
     ``rms_acc = A/√2`` and ``iri_proxy = 1000 · (2/π) · A / (2π f) / v``.

   ``RoadLabelConfig.roughness`` picks the index used for classes (default ``iri_proxy``).
5. **Geometry.** Each segment is a LineString (EPSG:4326) through its interpolated start, the GPS fixes inside it
   and its interpolated end.

**Classes.** With absolute ``thresholds`` the roughness is used as it is. Otherwise (default) each phone is
calibrated (:func:`device_gains`): where phones drove the same stretches (segments within ``shared_road_m`` metres
and ``shared_heading_deg`` of each other, found with a spatial index in the data's UTM zone), a phone's *gain* is
the median ratio of its roughness to an already calibrated phone's on those stretches, chained from the reference
phone (the one with the most shared stretches) — a robust estimate that does not care which roads each phone drove.
Phones without enough shared stretches fall back to their median roughness over the calibrated phones' (which
assumes a similar mix of roads: a phone that drove only poor roads would be scaled down); RoadRunner devices
without phoneID that are too small for either get the pooled (median) gain. The calibrated roughness is
``roughness_raw / gain`` and class boundaries are the ``quantiles`` (default equal shares) of the calibrated values
of all phones pooled. For one phone this is exactly per-device quantiles; two phones with different gain on the
same roads get the same classes. The boundaries in each phone's raw units (calibrated boundaries × gain) and the
method of each gain are returned in ``bins``. Other phones with fewer than ``min_device_segments`` usable segments
stay unclassified (the report gives their usable count).

**Tile labels.** The calibrated roughness of unflagged segments is averaged over each tile, weighted by the length
of segment inside the tile (a spatial-index join, :meth:`geopandas.GeoDataFrame.sindex`), then classified with the
same boundaries. Tiles crossed by less than ``min_tile_length_m`` of driving stay unlabelled (``-1``).

**Flags.** Segments stretched by GPS dropouts (longer than ``max_segment_factor × segment_length_m``, RoadRunner
``distance`` disagreeing with the geometry by more than that factor, or a raw-log GPS gap over
:data:`GPS_GAP_S` seconds) are kept in the output with ``flagged=True`` and a ``flag_reason``, but never used for
classes or tile labels. Everything dropped, flagged or guessed is counted in the report.
"""

from __future__ import annotations

from tlgeo.labels.roads.classes import classify_segments, device_gains, road_segments, shared_road_pairs
from tlgeo.labels.roads.logs import detect_log_format, find_vibration_logs, read_vibration_logs
from tlgeo.labels.roads.network import NETWORK_FILES, find_road_network, read_road_network
from tlgeo.labels.roads.phone import (
    ACC_GAP_S,
    MIN_RATE_HZ,
    PHONE_ALIASES,
    PHONE_EXPECTED,
    STANDARD_GRAVITY,
    phone_log_segments,
)
from tlgeo.labels.roads.roadrunner import (
    DEAD_COLUMN_MIN_ROWS,
    DEAD_COLUMN_SHARE,
    ROADRUNNER_ALIASES,
    ROADRUNNER_DEFINITIONS,
    ROADRUNNER_EXPECTED,
    dead_column,
    read_roadrunner_log,
    roadrunner_candidates,
)
from tlgeo.labels.roads.segments import GPS_GAP_S, SEGMENT_COLUMNS
from tlgeo.labels.roads.signal import (
    BAND_HIGH_HZ,
    BAND_LOW_HZ,
    GRAVITY_CUTOFF_HZ,
    roughness_band,
    vertical_acceleration,
)
from tlgeo.labels.roads.task import load_roads_task
from tlgeo.labels.roads.tiles import no_overlap_error, pair_lengths, tile_road_labels

__all__ = [
    "ACC_GAP_S",
    "BAND_HIGH_HZ",
    "BAND_LOW_HZ",
    "DEAD_COLUMN_MIN_ROWS",
    "DEAD_COLUMN_SHARE",
    "GPS_GAP_S",
    "GRAVITY_CUTOFF_HZ",
    "MIN_RATE_HZ",
    "NETWORK_FILES",
    "PHONE_ALIASES",
    "PHONE_EXPECTED",
    "ROADRUNNER_ALIASES",
    "ROADRUNNER_DEFINITIONS",
    "ROADRUNNER_EXPECTED",
    "SEGMENT_COLUMNS",
    "STANDARD_GRAVITY",
    "classify_segments",
    "dead_column",
    "detect_log_format",
    "device_gains",
    "find_road_network",
    "find_vibration_logs",
    "load_roads_task",
    "no_overlap_error",
    "pair_lengths",
    "phone_log_segments",
    "read_road_network",
    "read_roadrunner_log",
    "read_vibration_logs",
    "road_segments",
    "roadrunner_candidates",
    "roughness_band",
    "shared_road_pairs",
    "tile_road_labels",
    "vertical_acceleration",
]
