"""GPU speed-ups in one run: mixed precision vs float32, and all GPUs vs one GPU, for fine-tuning and prediction.

For each setting the same backbone (random weights: speed does not depend on them) with a small classification
head is fine-tuned on random images (``model.fit``, every layer trainable) and run in inference (``model.predict``);
images/s are measured after a warm-up, and printed as ratios:

- ``mixed_float16`` vs ``float32`` on one device (tensor cores: expect ≥ 1.5× on recent GPUs);
- ``MirroredStrategy`` over all GPUs vs one GPU (batch scaled with the device count).

With no GPU the script says so and measures the CPU (the ratios then mean little: CPUs gain nothing from
float16); ``--smoke`` runs the tiny test backbone for a few steps in seconds (CI). TensorFlow is required: a GPU
machine without TensorFlow cannot run it (``docs/scaling.md``).

Usage::

    python bench/bench_gpu.py [--backbone efficientnet_lite0] [--img-size 224] [--batch 64] [--steps 30]
    python bench/bench_gpu.py --smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(backbone: str, img: int, batch: int, steps: int, policy: str, devices: list[str] | None) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from tlgeo.backbones import get_backbone

    keras.mixed_precision.set_global_policy(policy)
    strategy = tf.distribute.MirroredStrategy(devices=devices) if devices else tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    gb = batch * replicas
    with strategy.scope():
        base = get_backbone(backbone, weights=None, input_shape=(img, img, 3))
        x_in = keras.Input((img, img, 3))
        h = keras.layers.GlobalAveragePooling2D()(base(x_in))
        out = keras.layers.Dense(3, activation="softmax", dtype="float32")(h)
        model = keras.Model(x_in, out)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(gb * steps, img, img, 3)).astype("float32")
    y = rng.integers(0, 3, size=gb * steps)
    model.fit(x[: gb * 2], y[: gb * 2], batch_size=gb, epochs=1, verbose=0)  # warm-up (compile)
    t = time.perf_counter()
    model.fit(x, y, batch_size=gb, epochs=1, verbose=0)
    train_ips = len(x) / (time.perf_counter() - t)
    model.predict(x[: gb * 2], batch_size=gb, verbose=0)
    t = time.perf_counter()
    model.predict(x, batch_size=gb, verbose=0)
    predict_ips = len(x) / (time.perf_counter() - t)
    keras.mixed_precision.set_global_policy("float32")
    return {"replicas": replicas, "train_img_s": round(train_ips, 1), "predict_img_s": round(predict_ips, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64, help="images per device per step")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--smoke", action="store_true", help="tiny_cnn, 32 px, 3 steps (CI, CPU)")
    args = p.parse_args()
    if args.smoke:
        args.backbone, args.img_size, args.batch, args.steps = "tiny_cnn", 32, 8, 3
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    device = f"{len(gpus)} GPU(s)" if gpus else "no GPU: CPU only (ratios not meaningful for GPUs)"
    one = [gpus[0]] if gpus else None
    out = {"device": device, "backbone": args.backbone, "img_size": args.img_size}
    out["float32_1"] = measure(args.backbone, args.img_size, args.batch, args.steps, "float32", one)
    out["mixed_1"] = measure(args.backbone, args.img_size, args.batch, args.steps, "mixed_float16", one)
    if len(gpus) > 1:
        out["mixed_all"] = measure(args.backbone, args.img_size, args.batch, args.steps, "mixed_float16", gpus)
    ratios = {}
    for what in ("train_img_s", "predict_img_s"):
        ratios[f"mixed_vs_float32_{what}"] = round(out["mixed_1"][what] / out["float32_1"][what], 2)
        if "mixed_all" in out:
            ratios[f"all_vs_1gpu_{what}"] = round(out["mixed_all"][what] / out["mixed_1"][what], 2)
    out["ratios"] = ratios
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
