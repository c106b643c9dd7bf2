"""The bundled sample data (``sample_data/``, written by ``python -m tlgeo sample``) labelled end to end.

Roads: the tiles labelled from the phone and RoadRunner logs must agree with the ``surface`` of the ground-truth road
centrelines drawn in the imagery (``truth/roads_truth.geojson``, never read by the loaders), and tiles whose roads
nobody drove must stay unlabelled. Villages: the census table joins to the tiles with masks where values are missing.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from tests.conftest import SAMPLE
from tlgeo.labels import ROAD_TARGET
from tlgeo.labels.roads import pair_lengths
from tlgeo.tasks import load_task

ROADS = SAMPLE / "roads"
VILLAGES = SAMPLE / "villages"
SURFACES = {"good": 0, "fair": 1, "poor": 2}
#: Minimum length (m) of a truth road inside a tile for the tile to count as showing that road.
MIN_TRUTH_M = 10.0


def _need(folder) -> None:
    if not (folder / "imagery").is_dir():
        pytest.skip(f"{folder} is missing; run `python -m tlgeo sample --out {SAMPLE}`")


@pytest.fixture(scope="module")
def roads():
    _need(ROADS)
    data = load_task(ROADS)
    truth = gpd.read_file(ROADS / "truth" / "roads_truth.geojson").to_crs(data.tiles.crs)
    return data, truth


def truth_per_tile(tiles: gpd.GeoDataFrame, truth: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per tile crossed by a truth road: length by surface, majority surface, driven and undriven length."""
    si, ti = tiles.sindex.query(truth.geometry.to_numpy(), predicate="intersects")
    length = pair_lengths(truth.geometry.to_numpy(), tiles.geometry.to_numpy(), si, ti)
    df = pd.DataFrame(
        {
            "tile": ti,
            "surface": truth["surface"].map(SURFACES).to_numpy()[si],
            "driven": truth["driven"].astype(bool).to_numpy()[si],
            "length": length,
        }
    )
    by_surface = df.groupby(["tile", "surface"])["length"].sum().unstack(fill_value=0.0)
    out = pd.DataFrame({"majority": by_surface.idxmax(axis=1), "truth_m": by_surface.sum(axis=1)})
    out["driven_m"] = df[df["driven"]].groupby("tile")["length"].sum().reindex(out.index, fill_value=0.0)
    return out


def test_sample_roads_every_log_read_and_devices_calibrated(roads):
    data, _ = roads
    logs = sorted(p.name for p in (ROADS / "vibration").iterdir() if p.name.endswith((".csv", ".csv.gz")))
    assert sorted(set(data.vectors["source_file"])) == logs
    assert set(data.vectors["source_format"]) == {"phone", "roadrunner"}
    calibrated = {
        d for d, v in data.bins["devices"].items() if v["segments"] >= data.settings.roads.min_device_segments
    }
    assert len(calibrated) >= 3  # two phones and the RoadRunner phone
    assert data.vectors.crs.to_epsg() == 4326
    assert data.vectors["flagged"].sum() >= 1  # the RoadRunner GPS dropouts
    assert (data.vectors.loc[data.vectors["flagged"], "class_index"] == -1).all()


def test_sample_road_tiles_agree_with_drawn_surfaces(roads):
    data, truth = roads
    tiles = data.tiles
    per_tile = truth_per_tile(tiles, truth)
    label = tiles[ROAD_TARGET].to_numpy()
    shown = per_tile[per_tile["truth_m"] >= MIN_TRUTH_M]
    compared = shown[label[shown.index] >= 0]
    agree = float((label[compared.index] == compared["majority"].to_numpy()).mean())
    confusion = pd.crosstab(compared["majority"], label[compared.index], rownames=["truth"], colnames=["label"])
    print(f"\nroad tiles: {len(compared)} labelled tiles show a truth road; agreement {agree:.1%}\n{confusion}")
    assert len(compared) >= 150
    assert agree >= 0.85
    # every class is present, and no tile is two classes off in more than a few cases
    assert set(np.unique(label[label >= 0])) == {0, 1, 2}
    two_off = np.abs(label[compared.index] - compared["majority"].to_numpy()) == 2
    assert two_off.mean() < 0.03


def test_sample_undriven_road_tiles_stay_unlabelled(roads):
    data, truth = roads
    tiles = data.tiles
    per_tile = truth_per_tile(tiles, truth)
    # tiles showing only undriven roads, with no driven road within 10 m (GPS error and lane offset)
    driven = truth[truth["driven"].astype(bool)]
    near_driven = np.unique(tiles.sindex.query(driven.geometry.buffer(10.0).to_numpy(), predicate="intersects")[1])
    only_undriven = per_tile[(per_tile["truth_m"] >= MIN_TRUTH_M) & (per_tile["driven_m"] == 0)].index
    only_undriven = np.setdiff1d(only_undriven, near_driven)
    label = tiles[ROAD_TARGET].to_numpy()
    print(f"\n{len(only_undriven)} tiles show only undriven roads; {(label[only_undriven] >= 0).sum()} labelled")
    assert len(only_undriven) >= 20
    assert (label[only_undriven] == -1).all()
    assert tiles.loc[label < 0, "roughness"].isna().all()


@pytest.fixture(scope="module")
def villages():
    _need(VILLAGES)
    return load_task(VILLAGES)


def test_sample_villages_join_with_masks(villages):
    data = villages
    inds = list(data.targets)
    assert data.task == "villages" and len(inds) == 7
    joined = data.tiles[data.tiles["village_id"].notna()]
    print(f"\nvillages: {len(joined)} tiles labelled by a village; report: {data.report}")
    assert len(joined) >= 150
    table = pd.read_csv(next(p for p in sorted(VILLAGES.glob("villages.*"))), dtype={"village_id": str})
    table = table.set_index("village_id").loc[joined["village_id"].astype(str)]
    for ind in inds:
        missing = table[ind].isna().to_numpy()
        levels = joined[ind].to_numpy()
        assert (levels[missing] == -1).all(), ind  # masked for that task only
        np.testing.assert_array_equal(levels[~missing], table[ind].to_numpy()[~missing].astype(int))
    assert (joined[inds] == -1).to_numpy().any()  # the sample has empty cells
    assert ((joined[inds] >= 0).sum(axis=1) > 0).all()  # a missing value never drops the village
    assert data.vectors.crs.to_epsg() == 4326


def test_sample_villages_land_in_the_tiles_drawn(villages):
    truth_path = VILLAGES / "truth" / "villages_truth.csv"
    truth = pd.read_csv(truth_path, dtype={"village_id": str})
    if not {"scene", "tile_row", "tile_col"} <= set(truth.columns):
        pytest.skip(f"{truth_path} has no scene/tile_row/tile_col columns")
    joined = villages.tiles[villages.tiles["village_id"].notna()]
    m = joined.merge(truth, on="village_id", how="inner")
    same = (m["source"] == m["scene"]) & (m["row"] == m["tile_row"]) & (m["col"] == m["tile_col"])
    print(f"\nvillages: {int(same.sum())} of {len(m)} in the tile the generator drew them in")
    assert len(m) == len(joined) and same.all()
