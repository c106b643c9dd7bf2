"""Training speed against bare Keras baselines measured in the same run (ratios, not absolute timings).

1. ``frozen_head`` / ``features_linear`` training time (tile reads + one feature pass + heads for K folds) versus
   one bare ``model.predict`` pass of the same backbone over the same tiles held in memory. Target: ≤ 1.15 ×.
2. Fine-tuning throughput (images/s of phase 2 of ``fine_tune_all``: tf.data pipeline with augmentation) versus a
   bare ``model.fit`` on in-memory tensors of the same model and size. Target: ≥ 0.9 ×.

Usage::

    python bench/bench_train.py [--backbone efficientnet_lite0] [--img-size 128] [--tiles 256] [--data sample_data/roads]

Without ``--data`` the tiles come from a synthetic scene built in a temporary folder. Timings on this 2-core
machine swing ±40 % between runs; compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _task(args, tmp: Path):
    from tlgeo.tasks import load_task

    if args.data:
        data = load_task(args.data)
        labelled = data.labelled()
        keep = labelled.index[: args.tiles]
        return replace(data, tiles=data.tiles.loc[keep].reset_index(drop=True))
    from tests.conftest import make_task_data

    n = int(np.ceil(np.sqrt(args.tiles * 9 / 8)))
    return make_task_data(tmp, n=n, size=64)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--tiles", type=int, default=256)
    p.add_argument("--fine-tune-tiles", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--smoke", action="store_true", help="tiny settings that only check the script runs (CI)")
    args = p.parse_args()
    if args.smoke:
        args.backbone, args.img_size, args.tiles, args.fine_tune_tiles, args.epochs = "tiny_cnn", 32, 36, 32, 1

    tmp = Path(tempfile.mkdtemp(prefix="tlgeo-bench-"))
    os.environ["TLGEO_CACHE"] = str(tmp / "cache")  # cold caches: features are computed, not loaded

    import keras

    from tlgeo.backbones import get_backbone
    from tlgeo.config import TrainConfig
    from tlgeo.datasets import Targets, load_images, make_dataset
    from tlgeo.train import train
    from tlgeo.transfer import build_model, layerwise_adam, unfreeze

    data = _task(args, tmp)
    labelled = data.labelled().reset_index(drop=True)
    n = len(labelled)
    print(f"backbone={args.backbone} img_size={args.img_size} labelled tiles={n} (task {data.task})")

    # warm-up: build once so graph tracing and weight conversion do not count against either side
    get_backbone(args.backbone, input_shape=(args.img_size, args.img_size, 3))

    # --- 1. frozen features vs bare predict -------------------------------------------------------------
    images = load_images(labelled, data.settings.tiles.bands, args.img_size, use_cache=False)
    t = time.perf_counter()
    net = get_backbone(args.backbone, input_shape=(args.img_size, args.img_size, 3))
    bare = keras.Sequential([net, keras.layers.GlobalAveragePooling2D()])
    bare.predict(images.astype("float32"), batch_size=32, verbose=0)
    t_cold = time.perf_counter() - t
    t = time.perf_counter()
    bare.predict(images.astype("float32"), batch_size=32, verbose=0)
    t_bare = time.perf_counter() - t
    print(f"bare model.predict over {n} tiles: {t_bare:.1f} s warm ({n / t_bare:.1f} img/s), {t_cold:.1f} s cold")
    print("  (cold = build the backbone, trace and predict once: what a fresh process pays, as train() does)")
    for strategy in ("frozen_head", "features_linear"):
        os.environ["TLGEO_CACHE"] = str(tmp / f"cache-{strategy}")
        cfg = TrainConfig(backbone=args.backbone, strategy=strategy, img_size=args.img_size, folds=3, refit=False)
        t = time.perf_counter()
        train(data, cfg)
        t_ours = time.perf_counter() - t
        print(
            f"{strategy:>15}: {t_ours:.1f} s for 3-fold CV incl. tile reads → {t_ours / t_bare:.2f} × warm, "
            f"{t_ours / t_cold:.2f} × cold (target ≤ 1.15)"
        )

    # --- 2. fine-tuning throughput vs bare fit ------------------------------------------------------------
    m = min(args.fine_tune_tiles, n)
    x = images[:m]
    targets = Targets.from_frame(labelled.iloc[:m], data.targets)
    cfg = TrainConfig(backbone=args.backbone, img_size=args.img_size)

    def timed_fit(use_pipeline: bool) -> float:
        keras.utils.set_random_seed(0)
        tm = build_model(args.backbone, "fine_tune_all", data.targets, img_size=args.img_size)
        slow = unfreeze(tm, "fine_tune_all", cfg.top_k_stages)
        tm.model.compile(
            optimizer=layerwise_adam(1e-4, slow, 0.1),
            loss=dict.fromkeys(data.targets, "sparse_categorical_crossentropy"),
        )
        if use_pipeline:
            ds = make_dataset(x, targets, batch_size=32, shuffle=True, augment=True, balance=True, single_output=False)
            tm.model.fit(ds.take(1), epochs=1, verbose=0)  # trace
            t0 = time.perf_counter()
            tm.model.fit(ds, epochs=args.epochs, verbose=0, shuffle=False)
        else:
            xf = x.astype("float32")
            y = targets.safe_labels()
            tm.model.fit(xf[:32], {k: v[:32] for k, v in y.items()}, epochs=1, verbose=0)
            t0 = time.perf_counter()
            tm.model.fit(xf, y, batch_size=32, epochs=args.epochs, verbose=0)
        return m * args.epochs / (time.perf_counter() - t0)

    ips_bare = timed_fit(False)
    ips_ours = timed_fit(True)
    print(f"bare model.fit on in-memory tensors: {ips_bare:.1f} img/s")
    print(
        f"tlgeo tf.data + augmentation:        {ips_ours:.1f} img/s → ratio {ips_ours / ips_bare:.2f} × (target ≥ 0.9)"
    )


if __name__ == "__main__":
    main()
