"""Spatial cross-validation: tiles are grouped into square blocks and whole blocks go to one fold.

Neighbouring tiles look alike (same road, same village cluster, same scene lighting). A random split puts near
copies of test tiles into training and reports accuracy that does not hold on new places. Blocks of
``block_size_m`` metres keep neighbours together; an optional buffer drops training tiles that touch a test block.
``split="random"`` exists only as a named baseline, so users can see the leakage it hides.

This module never imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from tlgeo.errors import TrainingError


@dataclass
class Folds:
    """Fold assignment of labelled tiles.

    Attributes:
        fold: Fold index of each tile (0..K−1), aligned with the tiles passed in.
        block: Block id of each tile (``"r<row>_c<col>"``; every tile its own block for random splits).
        buffer_excluded: Per fold, a boolean mask of training tiles left out because they lie within the buffer
            of that fold's test blocks.
        kind: ``"spatial"`` or ``"random"``.
        block_size_m: Block edge used (``None`` for random).
    """

    fold: np.ndarray
    block: np.ndarray
    buffer_excluded: dict[int, np.ndarray]
    kind: str
    block_size_m: float | None

    @property
    def k(self) -> int:
        """Number of folds."""
        return int(self.fold.max()) + 1

    def train_test(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices of training and test tiles for fold ``k`` (buffer exclusions removed from training)."""
        test = np.flatnonzero(self.fold == k)
        keep = (self.fold != k) & ~self.buffer_excluded.get(k, np.zeros(len(self.fold), bool))
        return np.flatnonzero(keep), test


def metric_centroids(tiles: gpd.GeoDataFrame) -> np.ndarray:
    """Tile centroids as (N, 2) metres (the tiles' CRS if projected, else their UTM zone)."""
    if tiles.crs is None:
        raise TrainingError("The tile index has no CRS", hint="Build it with tlgeo.tiles.tile_index.")
    frame = tiles if tiles.crs.is_projected else tiles.to_crs(tiles.estimate_utm_crs())
    cents = frame.geometry.centroid
    return np.column_stack([cents.x.to_numpy(), cents.y.to_numpy()])


def auto_block_size(tiles: gpd.GeoDataFrame, folds: int) -> float:
    """A block size giving roughly ``6 × folds`` occupied blocks, but never smaller than 3 tiles across.

    Large enough to keep neighbouring tiles together, small enough that every fold gets several blocks.
    """
    xy = metric_centroids(tiles)
    frame = tiles if tiles.crs.is_projected else tiles.to_crs(tiles.estimate_utm_crs())
    tile_edge = float(np.sqrt(frame.geometry.area.median()))
    target_blocks = 6 * folds
    # search block sizes from large to small until enough occupied blocks exist
    span = float(max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]), tile_edge))
    size = span
    while size > 3 * tile_edge:
        cells = {tuple(v) for v in np.floor(xy / size).astype(np.int64)}
        if len(cells) >= target_blocks:
            break
        size *= 0.8
    return float(max(size, 3 * tile_edge))


def assign_blocks(tiles: gpd.GeoDataFrame, block_size_m: float) -> np.ndarray:
    """Block id (``"r<row>_c<col>"`` of a ``block_size_m`` grid) of each tile's centroid."""
    if block_size_m <= 0:
        raise TrainingError(f"block_size_m must be > 0, received {block_size_m}")
    cells = np.floor(metric_centroids(tiles) / block_size_m).astype(np.int64)
    return np.array([f"r{r}_c{c}" for c, r in cells], dtype=object)


def _check_counts(strata: np.ndarray, folds: int, class_names: list[str] | None) -> None:
    n = len(strata)
    if n < 2 * folds:
        raise TrainingError(
            f"Only {n} labelled tiles for {folds} folds",
            hint=(
                f"Use fewer folds (--folds {n // 2} at most) or label more tiles."
                if n // 2 >= 2
                else f"Label more tiles: 2 folds need at least 4 labelled tiles, {n} found."
            ),
        )
    if class_names is not None:
        counts = np.bincount(strata[strata >= 0], minlength=len(class_names))
        empty = [class_names[i] for i, c in enumerate(counts) if c == 0]
        if empty:
            raise TrainingError(
                f"Class {empty[0]!r} has no labelled tiles",
                hint="Collect examples of every class, change the class thresholds, or use fewer classes.",
            )
        few = [(class_names[i], int(c)) for i, c in enumerate(counts) if 0 < c < folds]
        if few:
            raise TrainingError(
                f"Class {few[0][0]!r} has only {few[0][1]} labelled tile(s), fewer than the {folds} folds",
                hint="Use fewer folds or label more tiles of that class.",
            )


def make_folds(
    tiles: gpd.GeoDataFrame,
    folds: int,
    *,
    strata: np.ndarray | None = None,
    class_names: list[str] | None = None,
    split: str = "spatial",
    block_size_m: float | None = None,
    buffer_m: float = 0.0,
    seed: int = 0,
) -> Folds:
    """Assign labelled tiles to ``folds`` folds, by spatial block (default) or at random.

    Args:
        tiles: Labelled tiles (tile index rows).
        folds: Number of folds K ≥ 2.
        strata: Class of each tile for stratification (−1 = none); folds keep class shares similar.
        class_names: Names for the classes in ``strata`` (used to check every class has examples).
        split: ``"spatial"`` or ``"random"``.
        block_size_m: Block edge in metres (default :func:`auto_block_size`).
        buffer_m: Drop training tiles within this distance of a fold's test tiles.
        seed: Seed for the assignment.

    Raises:
        TrainingError: Too few tiles or blocks for K folds, or a class with no (or too few) examples.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n = len(tiles)
    y = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64)
    _check_counts(y, folds, class_names)
    if split == "random":
        blocks = np.array([f"t{i}" for i in range(n)], dtype=object)
        size = None
    elif split == "spatial":
        size = block_size_m or auto_block_size(tiles, folds)
        blocks = assign_blocks(tiles, size)
        n_blocks = len(set(blocks))
        if n_blocks < folds:
            raise TrainingError(
                f"Only {n_blocks} spatial block(s) of {size:.0f} m hold labelled tiles; {folds} folds need at least {folds}",
                hint="Use a smaller block size (--block-size), fewer folds, or split='random' as a baseline.",
            )
    else:
        raise TrainingError(f"Unknown split {split!r}", hint="Use 'spatial' or 'random'.")
    codes = pd.factorize(pd.Series(blocks))[0]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = np.full(n, -1, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros(n), y, groups=codes)):
        fold[test] = k
    if (np.bincount(fold, minlength=folds) == 0).any():
        raise TrainingError(f"Could not give each of {folds} folds some tiles", hint="Use fewer folds.")
    excluded: dict[int, np.ndarray] = {}
    if buffer_m > 0:
        frame = tiles if tiles.crs.is_projected else tiles.to_crs(tiles.estimate_utm_crs())
        geoms = frame.geometry.reset_index(drop=True)
        for k in range(folds):
            test_union = geoms[fold == k].union_all().buffer(buffer_m)
            near = geoms.intersects(test_union).to_numpy()
            excluded[k] = near & (fold != k)
    return Folds(fold=fold, block=blocks, buffer_excluded=excluded, kind=split, block_size_m=size)


def train_val_indices(
    train_idx: np.ndarray,
    blocks: np.ndarray,
    val_fraction: float,
    seed: int,
    strata: np.ndarray | None = None,
    tries: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Split training tiles into fit and validation (for early stopping) by whole blocks.

    Classes are often spatially clustered, so a random pick of blocks can leave a class out of validation and make
    early stopping judge on the others alone. With ``strata`` the pick is drawn ``tries`` times and the draw whose
    validation set holds the most classes (then the share closest to ``val_fraction``) wins.

    Returns the training indices unchanged and an empty validation set when there are fewer than 3 blocks.
    """
    rng = np.random.default_rng(seed)
    train_blocks = np.unique(blocks[train_idx])
    if len(train_blocks) < 3:
        return train_idx, np.array([], dtype=np.int64)
    n_val = max(1, round(val_fraction * len(train_blocks)))
    block_of = blocks[train_idx]
    best, best_key = None, None
    for _ in range(tries if strata is not None else 1):
        val_blocks = set(rng.choice(train_blocks, size=n_val, replace=False))
        is_val = np.array([b in val_blocks for b in block_of])
        if strata is None:
            best = is_val
            break
        labels = strata[train_idx][is_val]
        key = (len(np.unique(labels[labels >= 0])), -abs(is_val.mean() - val_fraction))
        if best_key is None or key > best_key:
            best, best_key = is_val, key
    return train_idx[~best], train_idx[best]
