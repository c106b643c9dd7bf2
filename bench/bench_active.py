"""Does active learning pick better labels than chance? A simulation on the bundled sample tasks.

For each task (``roads``: one target, 3 classes; ``villages``: a points task, 7 indicators of 3 levels) and each
seed:

1. Embeddings of every labelled tile are computed once (frozen backbone, global average pooling: the features of
   ``features_linear``), standardised as :mod:`tlgeo.plan` does.
2. Spatial blocks are held out as the test set (one fold of :func:`tlgeo.splits.make_folds`, a different fold per
   seed); the other tiles form the pool. 20 % of the pool starts labelled (random, per seed).
3. Batches of ``--batch`` × pool size are added, chosen by (a) random, (b) uncertainty alone
   (``ActiveSettings(weight=1)``), (c) uncertainty + diversity (``ActiveSettings()``, the default of ``tlgeo plan``:
   w = 0.5, entropy). The uncertainty comes from the current head's probabilities on the pool.
4. After each batch the fast head (standardise + logistic regression, as ``features_linear``) is refitted and scored
   on the test blocks: balanced accuracy (villages: mean over the indicators, missing values masked).

Curves are averaged over seeds; the area under the curve (mean balanced accuracy over the steps) summarises them.
The settings are the defaults, chosen before the first run and never tuned on these results. Prints the table and
writes ``docs/active_learning.png`` (drawn with PIL: matplotlib is not a dependency).

Usage::

    python bench/bench_active.py [--seeds 5] [--steps 5] [--batch 0.1] [--backbone efficientnet_lite0] [--img-size 96]
    python bench/bench_active.py --smoke     # tiny random backbone, 1 seed, 2 steps, PNG in a temp folder (< 60 s)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STRATEGIES = ("random", "uncertainty", "uncertainty+diversity")
COLOURS = {"random": (120, 120, 120), "uncertainty": (31, 119, 180), "uncertainty+diversity": (214, 39, 40)}


def embeddings(task, backbone: str, img_size: int, weights) -> np.ndarray:
    """Pooled features of the task's tiles (one pass, frozen backbone with its preprocessing)."""
    from tlgeo.datasets import load_images
    from tlgeo.transfer import build_model

    tm = build_model(backbone, "frozen_head", task.targets, img_size=img_size, weights=weights)
    images = load_images(task.tiles, task.settings.tiles.bands, img_size)
    return np.asarray(tm.features.predict(images, batch_size=32, verbose=0), dtype="float64")


def fit_predict(x_train, y_train: dict, x_eval, seed: int) -> dict:
    """Per target: logistic head on the labelled rows; probabilities of every class on ``x_eval``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for t, (y, k) in y_train.items():
        m = y >= 0
        p = np.zeros((len(x_eval), k))
        present = np.unique(y[m])
        if len(present) < 2:
            p[:, present] = 1.0 if len(present) else 1.0 / k
        else:
            est = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, random_state=seed))
            est.fit(x_train[m], y[m])
            p[:, est[-1].classes_] = est.predict_proba(x_eval)
        out[t] = p
    return out


def balanced_accuracy(y_test: dict, probs: dict) -> float:
    from sklearn.metrics import balanced_accuracy_score

    scores = []
    for t, (y, _) in y_test.items():
        m = y >= 0
        scores.append(balanced_accuracy_score(y[m], probs[t][m].argmax(axis=1)))
    return float(np.mean(scores))


def simulate(task, emb: np.ndarray, seed: int, steps: int, batch: float, folds: int) -> dict[str, list[float]]:
    """Learning curves of the three strategies for one seed (same test blocks and start for all three)."""
    from tlgeo.active import ActiveSettings, select, standardize, uncertainty
    from tlgeo.splits import make_folds

    targets = task.targets
    tiles = task.tiles.reset_index(drop=True)
    first = next(iter(targets))
    strata = tiles[first].to_numpy()
    fold_of = make_folds(tiles, folds, strata=strata, seed=seed).fold
    test = np.flatnonzero(fold_of == seed % folds)
    pool = np.flatnonzero(fold_of != seed % folds)
    rng = np.random.default_rng(seed)
    n0 = max(len(targets[first]) * 2, round(0.2 * len(pool)))
    start = rng.choice(pool, n0, replace=False)
    size = max(1, round(batch * len(pool)))
    ys = {t: (tiles[t].to_numpy(), len(c)) for t, c in targets.items()}
    x = standardize(emb)
    y_test = {t: (v[test], k) for t, (v, k) in ys.items()}
    curves: dict[str, list[float]] = {}
    for strategy in STRATEGIES:
        labelled = np.sort(start)
        pick_rng = np.random.default_rng(seed + 1000)
        curve = []
        for step in range(steps + 1):
            y_lab = {t: (v[labelled], k) for t, (v, k) in ys.items()}
            rest = np.setdiff1d(pool, labelled)
            probs = fit_predict(emb[labelled], y_lab, emb[np.concatenate([test, rest])], seed)
            curve.append(balanced_accuracy(y_test, {t: p[: len(test)] for t, p in probs.items()}))
            if step == steps or not len(rest):
                break
            n = min(size, len(rest))
            if strategy == "random":
                new = pick_rng.choice(rest, n, replace=False)
            else:
                unc = uncertainty({t: p[len(test) :] for t, p in probs.items()})
                settings = ActiveSettings(weight=1.0 if strategy == "uncertainty" else 0.5, seed=seed)
                picks, _ = select(unc, x[rest], x[labelled], n, settings=settings)
                new = rest[picks]
            labelled = np.sort(np.concatenate([labelled, new]))
        curves[strategy] = curve
    return curves


def draw_png(results: dict, path: Path, steps_pct: dict) -> None:
    """Learning curves per task as a PNG (PIL)."""
    from PIL import Image, ImageDraw

    w, h, pad = 560, 380, 60
    img = Image.new("RGB", (w * len(results), h + 40), "white")
    d = ImageDraw.Draw(img)
    for i, (task, curves) in enumerate(results.items()):
        ox = i * w
        means = {s: np.mean(c, axis=0) for s, c in curves.items()}
        sds = {s: np.std(c, axis=0) for s, c in curves.items()}
        lo = min(float((m - s).min()) for m, s in zip(means.values(), sds.values(), strict=True))
        hi = max(float((m + s).max()) for m, s in zip(means.values(), sds.values(), strict=True))
        lo, hi = np.floor(lo * 20) / 20, np.ceil(hi * 20) / 20
        xs = steps_pct[task]

        def px(xv, yv, xs=xs, lo=lo, hi=hi, ox=ox):
            fx = (xv - xs[0]) / max(xs[-1] - xs[0], 1e-9)
            fy = (yv - lo) / max(hi - lo, 1e-9)
            return ox + pad + fx * (w - 1.5 * pad), h - pad + 20 - fy * (h - 1.5 * pad)

        d.rectangle([px(xs[0], hi), px(xs[-1], lo)], outline=(0, 0, 0))
        for yv in np.arange(lo, hi + 1e-9, 0.05):
            a, b = px(xs[0], yv), px(xs[-1], yv)
            d.line([a, b], fill=(230, 230, 230))
            d.text((a[0] - 36, a[1] - 6), f"{yv:.2f}", fill=(0, 0, 0))
        for xv in xs:
            a = px(xv, lo)
            d.text((a[0] - 10, a[1] + 6), f"{xv:.0f}%", fill=(0, 0, 0))
        d.text((ox + pad, 8), f"{task}: balanced accuracy on held-out spatial blocks", fill=(0, 0, 0))
        d.text((ox + pad + 120, h + 22), "share of the pool labelled", fill=(0, 0, 0))
        for k, s in enumerate(STRATEGIES):
            pts = [px(xv, yv) for xv, yv in zip(xs, means[s], strict=True)]
            d.line(pts, fill=COLOURS[s], width=3)
            for p in pts:
                d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=COLOURS[s])
            auc = float(np.mean(means[s]))
            d.text((ox + w - 250, h - 95 + 14 * k), f"{s} (AUC {auc:.3f})", fill=COLOURS[s])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="batches added after the 20 %% start")
    p.add_argument("--batch", type=float, default=0.1, help="batch size as a share of the pool")
    p.add_argument("--folds", type=int, default=5, help="spatial folds; one is held out per seed")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--img-size", type=int, default=96)
    p.add_argument("--tasks", default="roads,villages")
    p.add_argument("--png", type=Path, default=ROOT / "docs" / "active_learning.png")
    p.add_argument("--smoke", action="store_true", help="tiny random backbone, 1 seed, 2 steps (CI)")
    args = p.parse_args()
    weights = "imagenet"
    if args.smoke:
        args.seeds, args.steps, args.backbone, args.img_size, weights = 1, 2, "tiny_cnn", 32, None
        args.png = Path(tempfile.mkdtemp(prefix="tlgeo-bench-active-")) / "active_learning.png"
        os.environ.setdefault("TLGEO_CACHE", str(args.png.parent / "cache"))

    from dataclasses import replace

    from tlgeo.tasks import load_task

    results, pct = {}, {}
    t_all = time.perf_counter()
    for name in args.tasks.split(","):
        t0 = time.perf_counter()
        task = load_task(ROOT / "sample_data" / name)
        task = replace(task, tiles=task.labelled().reset_index(drop=True))
        emb = embeddings(task, args.backbone, args.img_size, weights)
        t_emb = time.perf_counter() - t0
        runs = [simulate(task, emb, s, args.steps, args.batch, args.folds) for s in range(args.seeds)]
        curves = {s: np.array([r[s] for r in runs]) for s in STRATEGIES}
        results[name] = curves
        pct[name] = np.array([20 + 100 * args.batch * k for k in range(args.steps + 1)])
        print(
            f"\n{name}: {len(task.tiles)} labelled tiles, {args.backbone} {args.img_size} px embeddings "
            f"({t_emb:.0f} s), {args.seeds} seed(s), simulation {time.perf_counter() - t0 - t_emb:.0f} s"
        )
        print("  share labelled   " + "  ".join(f"{v:>5.0f}%" for v in pct[name]) + "     AUC")
        for s in STRATEGIES:
            m = curves[s].mean(axis=0)
            print(f"  {s:<22}" + "  ".join(f"{v:.3f}" for v in m) + f"   {m.mean():.3f}")
        diff = curves["uncertainty+diversity"].mean(axis=0) - curves["random"].mean(axis=0)
        verdict = "at least as good as random at every step" if (diff >= -1e-9).all() else "below random at a step"
        per_seed = (curves["uncertainty+diversity"] - curves["random"]).mean(axis=1)
        print(
            f"  (c) − (a) per step: {' '.join(f'{v:+.3f}' for v in diff)}; AUC {diff.mean():+.3f} "
            f"(per seed: {' '.join(f'{v:+.3f}' for v in per_seed)}); (c) is {verdict}"
        )
    draw_png(results, args.png, pct)
    print(f"\nwrote {args.png} ({time.perf_counter() - t_all:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
