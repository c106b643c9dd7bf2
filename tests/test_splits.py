"""Spatial folds keep neighbours together; random folds are a labelled baseline; bad configs fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from tlgeo.errors import TrainingError
from tlgeo.splits import assign_blocks, auto_block_size, make_folds, train_val_indices


def test_blocks_never_span_folds(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    folds = make_folds(tiles, 3, strata=tiles["quality"].to_numpy(), block_size_m=96.0, seed=1)
    assert folds.kind == "spatial" and folds.k == 3
    frame = tiles.assign(block=folds.block, fold=folds.fold)
    assert (frame.groupby("block")["fold"].nunique() == 1).all()
    # 32 m tiles in 96 m blocks: at most 9 tiles per block
    assert frame.groupby("block").size().max() <= 9
    counts = np.bincount(folds.fold)
    assert counts.min() > 0.5 * counts.max()
    train, test = folds.train_test(0)
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(tiles)


def test_auto_block_size_gives_enough_blocks(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    size = auto_block_size(tiles, 3)
    assert size >= 96.0  # never smaller than 3 tiles across
    assert len(set(assign_blocks(tiles, size))) >= 3


def test_random_split_is_a_named_baseline(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    folds = make_folds(tiles, 4, strata=tiles["quality"].to_numpy(), split="random", seed=0)
    assert folds.kind == "random" and folds.block_size_m is None
    assert len(set(folds.block)) == len(tiles)


def test_buffer_excludes_neighbours_of_test_blocks(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    plain = make_folds(tiles, 3, block_size_m=96.0, seed=0)
    buffered = make_folds(tiles, 3, block_size_m=96.0, buffer_m=20.0, seed=0)
    train_plain, _ = plain.train_test(0)
    train_buf, test_buf = buffered.train_test(0)
    assert len(train_buf) < len(train_plain)
    near = tiles.geometry.iloc[train_buf].distance(tiles.geometry.iloc[test_buf].union_all())
    assert (near > 20.0).all()


def test_bad_fold_configs(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    with pytest.raises(TrainingError, match=r"Only 5 labelled tiles for 3 folds"):
        make_folds(tiles.iloc[:5], 3)
    y = tiles["quality"].to_numpy().copy()
    y[y == 2] = 1
    with pytest.raises(TrainingError, match=r"Class 'poor' has no labelled tiles"):
        make_folds(tiles, 3, strata=y, class_names=["good", "fair", "poor"])
    with pytest.raises(TrainingError, match=r"spatial block\(s\)"):
        make_folds(tiles, 3, block_size_m=10_000.0)


def test_validation_split_is_by_block(roads_task):
    tiles = roads_task.labelled().reset_index(drop=True)
    folds = make_folds(tiles, 3, block_size_m=64.0, seed=0)
    train, _ = folds.train_test(0)
    fit, val = train_val_indices(train, folds.block, 0.2, seed=0)
    assert len(val) > 0
    assert set(folds.block[fit]).isdisjoint(folds.block[val])
