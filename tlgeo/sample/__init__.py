"""Deterministic generator of the bundled sample data (``sample_data/``).

``python -m tlgeo sample --out DIR`` calls :func:`generate_sample_data`. Every value comes from
``numpy.random.default_rng`` streams derived from the seed (see :func:`tlgeo.sample._synth.rng_for`), dates are fixed in 2026
and writers format numbers explicitly, so the same seed and the pinned library versions reproduce every file byte for
byte on x86-64 machines (numpy's AVX2 and AVX-512 kernels agree for every function used; see the note at the top of
:mod:`tlgeo.sample._synth`). Besides the task folders, ``README.md`` describes the data and :func:`render_previews` draws
the PNGs in ``docs/sample_previews/``.

Three task folders are written (the convention every reader in tlgeo uses)::

    roads/     tlgeo.toml, imagery/*.tif, vibration/phone_<id>_<yyyymmdd>.csv, vibration/roadrunner_<yyyymmdd>.csv,
               roads.geojson (the road network, OpenStreetMap-like), truth/roads_truth.geojson
    villages/  tlgeo.toml, imagery/*.tif, villages.csv, truth/villages_truth.csv
    landcover/ tlgeo.toml, imagery/scene.tif (6 bands, uint16, nodata), labels.gpkg, truth/labels_truth.csv

The generators live in :mod:`.roads`, :mod:`.villages` and :mod:`.landcover` (shared writers in :mod:`._common`,
raster synthesis in :mod:`._synth`); no runtime module of tlgeo imports this package.

The data are synthetic: the places (around Nairobi, around Muzaffarpur in Bihar) only set the coordinates; the
landscapes, roads, villages and drives are invented. ``truth/`` holds the ground truth the generator drew (never used
for training; tests and examples check labels against it).

How the phone vibration is made (so label code can be checked against it): every road carries a longitudinal
profile (ISO 8608 random walk whose roughness coefficient depends on the drawn surface: good ≪ fair ≪ poor; the
potholes and patches drawn in the image become dips and bumps in the wheel path). A vehicle drives the centrelines in
the left lane with a speed profile (target speed by surface, stops at junctions, limits on acceleration and in
curves); a quarter-car (Golden car) turns the profile under the wheels into body acceleration, so vibration grows
with roughness and with speed. Each phone adds its own gain, mount, engine vibration and noise, then samples at its
own rate; GPS comes at 1 Hz with a few metres of error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from shapely.geometry import box

import tlgeo.sample._synth as _synth
from tlgeo._utils import atomic_path, atomic_write_text
from tlgeo.errors import ConfigError
from tlgeo.sample.landcover import (
    BAND_NAMES,
    LANDCOVER_CHIP,
    LANDCOVER_CRS,
    LANDCOVER_RES,
    LANDCOVER_SIZE,
    SPECTRA,
    generate_landcover,
    landcover_counts,
)
from tlgeo.sample.roads import (
    ROAD_CRS,
    ROAD_SCENES,
    ROAD_TILE,
    ROADRUNNER_COLUMNS,
    ROUGHNESS_G0,
    generate_roads,
    road_summary,
    road_tile_stats,
)
from tlgeo.sample.villages import (
    VILLAGE_SCENES,
    VILLAGE_TILE,
    VILLAGES_PER_SCENE,
    generate_villages,
    village_summary,
    village_table,
)

#: Sample task folders, in the order they are written.
SAMPLE_TASKS = ("roads", "villages", "landcover")

__all__ = [
    "ROADRUNNER_COLUMNS",
    "SAMPLE_TASKS",
    "generate_landcover",
    "generate_roads",
    "generate_sample_data",
    "generate_villages",
    "render_previews",
    "road_summary",
    "road_tile_stats",
    "sample_readme",
    "village_summary",
    "village_table",
]


# --------------------------------------------------------------------------------------------- entry point
def generate_sample_data(
    out: str | Path, tasks: Sequence[str] = SAMPLE_TASKS, seed: int = 0, *, overwrite: bool = False
) -> list[Path]:
    """Generate the sample task folders under ``out`` (deterministic for a given seed).

    Args:
        out: Output folder; ``out/<task>`` for each of ``tasks`` and ``out/README.md`` are (re)written.
        tasks: Which task folders to write: any of :data:`SAMPLE_TASKS` (``roads``, ``villages``, ``landcover``).
        seed: Seed of every random stream.
        overwrite: Replace task folders that exist (only generated ones, which hold ``tlgeo.toml``).

    Returns:
        The paths written.

    Raises:
        ConfigError: An unknown task name.
    """
    out = Path(out)
    unknown = [t for t in tasks if t not in SAMPLE_TASKS]
    if unknown:
        raise ConfigError(f"Unknown sample task(s) {unknown!r}", hint=f"Use any of: {', '.join(SAMPLE_TASKS)}.")
    _check_sample_outputs(out, tasks, overwrite)
    written: list[Path] = []
    for task, make in (("roads", generate_roads), ("villages", generate_villages), ("landcover", generate_landcover)):
        if task in tasks:
            # build the whole folder beside the old one and swap it in: no stale files, no half-written folder
            with atomic_path(out / task, replace_folder=True) as tmp:
                paths = make(tmp, seed)[0]
            written += [out / task / p.relative_to(tmp) for p in paths]
    written.append(atomic_write_text(out / "README.md", sample_readme(seed)))
    return written


#: Every generated task folder's tlgeo.toml says so in its first line; a user's own task folder (its own
#: tlgeo.toml) does not, so ``sample --overwrite`` can never replace it.
_GENERATED_MARK = "generated by `python -m tlgeo sample`"


def _is_generated_sample(folder: Path) -> bool:
    try:
        with open(folder / "tlgeo.toml", encoding="utf-8") as fh:
            return _GENERATED_MARK in fh.readline()
    except (OSError, UnicodeDecodeError):
        return False


def _check_sample_outputs(out: Path, tasks: Sequence[str], overwrite: bool) -> None:
    """Before any work: an existing sample folder is replaced only with ``overwrite``, and only if it is one.

    A folder counts as a sample task folder when its ``tlgeo.toml`` starts with the generator's mark (every generated
    task folder's does); any other existing folder or file of that name — a user's own task folder included — is
    never touched.
    """
    from tlgeo.errors import OutputExistsError

    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file, not a folder", hint="Give a folder for --out.", path=out)
    for task in tasks:
        target = out / task
        if not target.exists() and not target.is_symlink():
            continue
        if not target.is_dir() or target.is_symlink() or not _is_generated_sample(target):
            raise OutputExistsError(
                f"{target} exists and is not a tlgeo sample folder (no generated tlgeo.toml); tlgeo never replaces it",
                hint="Choose another --out folder.",
                path=target,
            )
        if not overwrite:
            raise OutputExistsError(
                f"{target} already exists",
                hint="Pass --overwrite to regenerate it (its files are replaced), or choose another --out folder.",
                path=target,
            )


# --------------------------------------------------------------------------------------------- previews
def render_previews(data: str | Path, out: str | Path, per_class: int = 4, zoom: int = 2) -> list[Path]:
    """Small PNGs for the docs: road tiles per surface class and village tiles of low vs high ASSET level.

    Tiles are picked from the ground truth in ``data`` (a folder written by :func:`generate_sample_data`).

    Args:
        data: Sample data folder (with ``roads/`` and ``villages/``).
        out: Output folder for the PNGs.
        per_class: Tiles shown per class.
        zoom: Integer upscaling (nearest neighbour, so pixels stay visible).

    Returns:
        The PNG paths written.
    """
    import geopandas as gpd
    import rasterio
    from PIL import Image

    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    truth = gpd.read_file(data / "roads" / "truth" / "roads_truth.geojson").to_crs(ROAD_CRS)
    picks: dict[str, list[np.ndarray]] = {s: [] for s in _synth.SURFACES}
    for tif in sorted((data / "roads" / "imagery").glob("*.tif")):
        with rasterio.open(tif) as ds:
            img = ds.read().transpose(1, 2, 0)
            tr = ds.transform
        sub = truth[truth.scene == tif.stem]
        nt = img.shape[0] // ROAD_TILE
        for r in range(1, nt - 1, 2):
            for c in range(1, nt - 1, 2):
                x0, y0 = tr * (c * ROAD_TILE, r * ROAD_TILE)
                x1, y1 = tr * ((c + 1) * ROAD_TILE, (r + 1) * ROAD_TILE)
                cell = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                lengths = sub.geometry.intersection(cell).length
                if lengths.sum() < 24 or (lengths > 0).sum() != 1:
                    continue
                surf = sub.surface[lengths.idxmax()]
                if len(picks[surf]) < per_class:
                    picks[surf].append(img[r * ROAD_TILE : (r + 1) * ROAD_TILE, c * ROAD_TILE : (c + 1) * ROAD_TILE])
    for surf, tiles in picks.items():
        if tiles:
            strip = np.hstack(tiles)
            path = out / f"road_{surf}.png"
            Image.fromarray(strip).resize((strip.shape[1] * zoom, strip.shape[0] * zoom), Image.NEAREST).save(
                path, optimize=True
            )
            written.append(path)
    import pandas as pd

    vt = pd.read_csv(data / "villages" / "truth" / "villages_truth.csv")
    rows = []
    for level in (0, 2):
        sel = vt[(vt.ASSET_level == level) & (vt.CHH_level == level)].sort_values("village_id").head(per_class)
        tiles = []
        for _, v in sel.iterrows():
            with rasterio.open(data / "villages" / "imagery" / f"{v.scene}.tif") as ds:
                tiles.append(
                    ds.read(
                        window=(
                            (v.tile_row * VILLAGE_TILE, (v.tile_row + 1) * VILLAGE_TILE),
                            (v.tile_col * VILLAGE_TILE, (v.tile_col + 1) * VILLAGE_TILE),
                        )
                    ).transpose(1, 2, 0)
                )
        rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    path = out / "villages_asset_0_vs_2.png"
    Image.fromarray(grid).resize((grid.shape[1] * zoom, grid.shape[0] * zoom), Image.NEAREST).save(path, optimize=True)
    written.append(path)
    return written


# --------------------------------------------------------------------------------------------- README
def sample_readme(seed: int = 0) -> str:
    """The ``README.md`` written beside the sample data (counts computed from the same seed)."""
    roads = road_summary(seed)
    vs = village_summary(village_table(seed))
    lc = landcover_counts(seed)
    lc_rows = "\n".join(
        f"| {c} | " + " | ".join(str(v) for v in SPECTRA[c]) + f" | {lc['per_class'][c]} |" for c in SPECTRA
    )
    tot = {
        kind: {s: sum(roads[sc][kind][s] for sc in roads) for s in _synth.SURFACES} for kind in ("driven", "undriven")
    }
    road_rows = "\n".join(
        f"| {sc} | {c['driven']['good']} | {c['driven']['fair']} | {c['driven']['poor']} | "
        f"{c['undriven']['good']} | {c['undriven']['fair']} | {c['undriven']['poor']} |"
        for sc, c in roads.items()
    )
    road_rows += (
        f"\n| **total** | {tot['driven']['good']} | {tot['driven']['fair']} | {tot['driven']['poor']} | "
        f"{tot['undriven']['good']} | {tot['undriven']['fair']} | {tot['undriven']['poor']} |"
    )
    miss = ", ".join(f"{k} {v}" for k, v in vs["missing_by_indicator"].items())
    scenes_r = "\n".join(
        f"| `imagery/{sc.name}.tif` | scene {'near Ngong Road / Kibera, Nairobi' if sc.name == 'ngong' else 'near Ruiru, Kiambu'}; "
        f"upper-left corner {sc.origin[0]:.0f} E, {sc.origin[1]:.0f} N |"
        for sc in ROAD_SCENES
    )
    scenes_v = "\n".join(
        f"| `imagery/{sc.name}.tif` | scene in {sc.name.title()} block, Muzaffarpur district; "
        f"upper-left corner {sc.origin[0]:.0f} E, {sc.origin[1]:.0f} N |"
        for sc in VILLAGE_SCENES
    )
    return f"""# tlgeo sample data — synthetic

**Everything in this folder is synthetic.** It was generated by `tlgeo/sample/` with seed {seed}:

    python -m tlgeo sample --out sample_data --overwrite   # every task; --task roads|villages|landcover, --seed N

Every random draw comes from seeded NumPy streams, dates are fixed (March 2026) and numbers are written with fixed
formats, so regenerating gives byte-identical files (checked by `tests/test_sample.py`) on x86-64 machines with the
versions pinned in `requirements.txt`. The places only set the coordinates: landscapes, roads, villages, drives and
census values are invented and say nothing about the real places or people.

Licence: generated by tlgeo; dedicated to the public domain under CC0 1.0 — copy, modify and redistribute freely.

Each task folder follows the convention every tlgeo reader uses: `imagery/` (GeoTIFF scenes, cut into tiles by the
settings), the field data (`vibration/` for roads, `villages.csv` for villages), an optional `tlgeo.toml` with the
settings (`tlgeo.config.load_settings(folder)`), and — only here — `truth/`, the ground truth the generator drew.
**`truth/` is never used for training**; tests and examples use it to check labels and predictions.

## `roads/` — road quality from phone vibration (Kenya)

| file | what it holds |
|---|---|
| `tlgeo.toml` | `task = "roads"`, 64 px tiles (32 m), stride 64, 8-bit bands as they are, `min_speed_kmh = 20`, `segment_length_m = 50` |
{scenes_r}
| `vibration/phone_A12_*.csv` | phone A12 in a saloon car: `time` (ISO 8601, UTC), `lat`, `lon`, `acc_x`, `acc_y`, `acc_z` (m/s², gravity included, phone tilted ~38° so gravity is spread over the axes), `device_id`; 100 Hz, gain 1.0, low noise; no speed column |
| `vibration/phone_B07_*.csv` | phone B07 in a minibus: `time` (epoch seconds), `lat`, `lon`, `speed` (m/s, GPS), `acc_z` (m/s², ~9.81 of gravity on z), `device_id`; 50 Hz, gain ~1.7, noisier, 10-bit resolution, one 6 s GPS gap |
| `vibration/roadrunner_20260317.csv` | RoadRunner app segment log of a third phone: `id, line, distance, iriXp, iriYp, iriZp, iriX, iriY, iriZ, filename, time, phoneID`; `line` is a Python-quoted GeoJSON-like LineString (lon/lat), one row per ~15–70 m segment, a few much longer segments across GPS dropouts; `time` in epoch ms; `phoneID` empty on some rows; IRI values uncalibrated |
| `roads.geojson` | the road network as a researcher would get it from OpenStreetMap: one line per road (`road_id`, `scene`, `highway`), driven or not, no surface — predictions are mapped along these lines |
| `truth/roads_truth.geojson` | road centrelines (EPSG:4326, RFC 7946), one feature per road section of one surface: `road_id`, `scene`, `section`, `surface` (good / fair / poor), `width_m`, `driven` |

Both scenes are EPSG:32737 (UTM 37S), 0.5 m/px, 2048 × 2048 px (1024 m), 3-band uint8 RGB, tiled 256 × 256,
JPEG-in-TIFF (YCbCr, quality 90).

**Imagery.** Each scene has ~10 roads (curved and straight, with junctions) on farmland, coffee estates, grass,
woodland and settlements of iron-roofed houses with shadows. The surface drawn is the class: *good* = dark smooth
asphalt with edge lines and dashed centre line; *fair* = lighter, weathered asphalt with patches and cracks, worn
markings; *poor* = unpaved reddish-brown laterite (murram) with potholes, wheel tracks, ragged grassy edges and
ditches. Some roads change surface part-way. Roads marked `driven = false` were never driven: their tiles are the
ones to predict.

**Vibration model** (what label code should recover). Every road carries a longitudinal profile: an ISO 8608 random
walk whose roughness coefficient G0 at 0.1 cycles/m is {ROUGHNESS_G0["good"] * 1e6:.0f}e-6 (good), {ROUGHNESS_G0["fair"] * 1e6:.0f}e-6 (fair) or
{ROUGHNESS_G0["poor"] * 1e6:.0f}e-6 m³ (poor), and the potholes and patches drawn in the image become dips (4–12 cm) and bumps where
a wheel passes over them. Vehicles drive the centrelines in the left lane; target speeds are 45–60 km/h on good,
32–45 on fair and 24–32 on poor surfaces, slower in curves, with stops of 2–9 s at most junctions and U-turns at dead
ends. A quarter-car model turns the profile under the wheel into body acceleration, so vibration grows with roughness
and with speed. Each phone adds its gain, engine vibration and sensor noise and samples at its own rate; GPS fixes come
at 1 Hz with ~3 m of correlated error. The RMS of high-passed (0.5 Hz) vertical acceleration in 1 s windows at
20+ km/h has medians of roughly 0.25 / 0.85 / 2.7 m/s² (good / fair / poor) for A12 and about 1.7 times that for
B07; per-device quantiles recover the classes.
RoadRunner `iri*` values grow with the profile's International Roughness Index of the segment.

**Road tiles** (64 px tiles of the grid with ≥ 10 m of road; class = surface with the longest length in the tile):

| scene | driven good | driven fair | driven poor | undriven good | undriven fair | undriven poor |
|---|---|---|---|---|---|---|
{road_rows}

Labels made from the logs differ a little: stops, slow stretches and GPS error decide which tiles get ≥ 10 m of
usable driving.

## `villages/` — village indicators (Bihar, India)

| file | what it holds |
|---|---|
| `tlgeo.toml` | `task = "villages"`, 96 px tiles (192 m), stride 96, the seven indicators |
{scenes_v}
| `villages.csv` | `village_id`, `lat`, `lon` (WGS84 centre), `ASSET`, `BF`, `CHH`, `FC`, `MSL`, `MSW`, `LIT`: integer levels 0/1/2, 0 = worst/lowest; empty cell = missing |
| `truth/villages_truth.csv` | per village: `scene`, UTM `x`/`y`, `tile_row`/`tile_col`, latent `wealth`, each indicator's latent `<X>_score` and true `<X>_level` before masking, and what was drawn (`radius_m`, `n_houses`, `pond_m`, `water_tank`, `school`, `paved_access`) |

Both scenes are EPSG:32645 (UTM 45N), 2 m/px, 1536 × 1536 px (3.07 km), 3-band uint8 RGB, tiled 256 × 256,
JPEG-in-TIFF (YCbCr, quality 90). Indicators (Census 2011 style): ASSET household assets, BF bathroom facility, CHH condition of
households, FC fuel for cooking (0 wood/dung … 2 LPG), MSL main source of light (0 kerosene … 2 electricity), MSW main
source of water (0 ponds/wells … 2 tap), LIT literacy.

**Villages and indicators.** {vs["villages"]} villages, {VILLAGES_PER_SCENE} per scene, each centred near the centre of its own
96 px tile (one village per tile), among strip fields of wheat, mustard, lentils and fallow, a river with sand bars
(Musahari) or a stream (Kanti), a main road, orchards and scattered trees. One latent wealth factor (a smooth regional
field, closeness to the main road and village noise) loads on every indicator (ASSET 0.88, CHH 0.82, BF 0.74,
MSL 0.72, LIT 0.70, FC 0.68, MSW 0.45) plus indicator noise; MSL also follows road access. Scores are cut into
tertiles. {vs["missing_cells"]} of {vs["villages"] * 7} cells are missing at random ({miss}).

**What the image shows** is driven by the levels: CHH sets the roof mix (thatch and clay tile → tin → white, pink and
yellow concrete), ASSET house size, density, village size and storeys, BF small latrine annexes, FC straw and dung-cake
stacks and tree cover, MSW a village pond (level 0–1) or an overhead water tank (level 2), MSL a paved rather than
earth access road, LIT a school with a playground. Level 0 villages look brown, leafy and pond-side; level 2 villages
bright, dense and built up.

## `landcover/` — your own labels on a multispectral scene (task `classes`)

| file | what it holds |
|---|---|
| `tlgeo.toml` | `task = "classes"`, `[labels] file = "labels.gpkg"`, `column = "class"`, {LANDCOVER_CHIP} px chips ({LANDCOVER_CHIP * LANDCOVER_RES:.0f} m) centred on each label, bands 1–6 with per-band percentile scaling |
| `imagery/scene.tif` | {LANDCOVER_CRS} (UTM 33N), {LANDCOVER_RES:.0f} m/px, {LANDCOVER_SIZE} × {LANDCOVER_SIZE} px, 6 bands uint16 ({", ".join(BAND_NAMES)}; surface reflectance × 10 000, band names in the file), nodata 0 in a wedge at the top-right corner (swath edge) and a thin striped gap; DEFLATE, tiled 256 × 256 |
| `labels.gpkg` | {lc["labels"]} labelled points (layer `labels`, {LANDCOVER_CRS}): `label_id`, `class` (text) |
| `truth/labels_truth.csv` | per label: `class`, UTM `x`/`y`, `placement` (`inside` a patch, near the scene `edge`, on `nodata`, `outside` the scene) |

**Scene.** Patches of seven classes on a Voronoi layout, each class with its own mean spectrum (reflectance × 10 000)
and texture:

| class | blue | green | red | nir | swir1 | swir2 | usable labels |
|---|---|---|---|---|---|---|---|
{lc_rows}

`grassland` and `cropland` are identical in the visible bands (same colour, same field-stripe texture), and so are
`broadleaf_forest` and `needleleaf_forest` (same canopy texture): only near- and short-wave infrared separate them,
so an RGB-only model cannot tell those pairs apart. `built_up` and `bare_soil` share their mean colour but not their
texture (roofs and streets vs smooth soil). Patch brightness varies ±7 % and each band ±3 % per patch, plus haze and
pixel noise. Labels: {lc["placement"]["inside"]} points at least 7 px inside a patch, {lc["placement"]["edge"]} within 6 px of the scene
edge (their chips are padded and masked), {lc["placement"]["nodata"]} on nodata and {lc["placement"]["outside"]} outside the scene (the `classes` task
reports both and leaves them out). `labels.gpkg` is written with GDAL's timestamp fixed (`OGR_CURRENT_DATE`); its
bytes still record the version of the SQLite library that wrote it, so the regeneration test compares its
features (ids, classes, points, CRS) rather than its bytes.
"""
