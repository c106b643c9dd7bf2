"""Backbone timings: first ImageNet conversion vs cached load (EfficientNet-Lite), and inference throughput.

Run ``python bench/bench_backbones.py`` (add ``--quick`` for fewer batches). Everything happens in one process with a
fresh temporary tlgeo cache (the user's cache is untouched). Timings swing between runs on shared CPUs, so the script
prints ratios against a baseline measured in the same run:

* conversion: ``get_backbone(name, "imagenet")`` with an empty cache (read the torch checkpoint, check and convert
  every tensor, write the cache) vs the same call once cached; also the weights step alone (convert vs read cache).
  Each architecture is built once with random weights first, so both sides pay the same warm graph-building cost.
* inference: images/s at 224 px, batch 32, of each backbone (``training=False``) vs a bare
  ``keras.applications.MobileNetV2(weights=None)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_conversion() -> list[dict[str, object]]:
    """First conversion vs cached load, per Lite variant."""
    from tlgeo.backbones import efficientnet_lite as lite
    from tlgeo.backbones import get_backbone

    # Warm-up in a throwaway cache: the first conversion in a process also pays one-off imports (h5py, …).
    real_cache = os.environ["TLGEO_CACHE"]
    with tempfile.TemporaryDirectory(prefix="tlgeo-bench-warm-") as warm:
        os.environ["TLGEO_CACHE"] = warm
        get_backbone("tiny_cnn", weights=None)
        lite.converted_weights(LITES[0])
        get_backbone(LITES[0], weights="imagenet", input_shape=(64, 64, 3))
    os.environ["TLGEO_CACHE"] = real_cache

    rows = []
    for name in LITES:
        get_backbone(name, weights=None)  # warm: same graph-building cost on both sides
        first, _ = _timed(lambda name=name: get_backbone(name, weights="imagenet"))
        cached, _ = _timed(lambda name=name: get_backbone(name, weights="imagenet"), repeat=3)
        pth = lite.checkpoint_path(name)
        cache_file = lite.cached_weights_path(name, pth)
        cache_file.unlink()
        convert_only, _ = _timed(lambda name=name: lite.converted_weights(name))
        read_only, _ = _timed(lambda name=name: lite.converted_weights(name), repeat=3)
        build_only, _ = _timed(lambda name=name: get_backbone(name, weights=None), repeat=3)
        rows.append(
            {
                "backbone": name,
                "first_get_s": first,
                "cached_get_s": cached,
                "get_ratio": first / cached,
                "convert_weights_s": convert_only,
                "read_cache_s": read_only,
                "weights_ratio": convert_only / read_only,
                "build_random_s": build_only,
                "cache_mb": cache_file.stat().st_size / 2**20,
            }
        )
    return rows


def bench_inference(batch: int, batches: int) -> list[dict[str, object]]:
    """Images/s at 224 px vs a bare Keras MobileNetV2 measured in the same run."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tlgeo.backbones import get_backbone

    x = tf.constant(np.random.default_rng(0).uniform(0, 255, size=(batch, 224, 224, 3)).astype("float32"))

    def rate(model) -> float:
        fn = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
        fn(x)  # trace + warm
        seconds, _ = _timed(lambda: [fn(x).numpy() for _ in range(batches)])
        return batch * batches / seconds

    baseline_model = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
    rows = []
    baseline = rate(baseline_model)
    rows.append({"model": "keras MobileNetV2 (baseline)", "img_per_s": baseline, "ratio": 1.0})
    for name in (*LITES, "mobilenet_v2"):
        weights = "imagenet" if name in LITES else None
        model = get_backbone(name, weights=weights, input_shape=(224, 224, 3))
        r = rate(model)
        rows.append({"model": f"tlgeo {name}", "img_per_s": r, "ratio": r / baseline})
    again = rate(baseline_model)  # drift check: the baseline measured again at the end
    rows.append({"model": "keras MobileNetV2 (baseline, again)", "img_per_s": again, "ratio": again / baseline})
    return rows


def _print(rows: list[dict[str, object]]) -> None:
    from tlgeo.tables import print_table

    print_table([{c: f"{v:.3f}" if isinstance(v, float) else v for c, v in r.items()} for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inference batches")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="one backbone, one small batch: only checks it runs (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        global LITES
        LITES = LITES[:1]
        args.batch, args.quick = 2, True
    with tempfile.TemporaryDirectory(prefix="tlgeo-bench-") as tmp:
        os.environ["TLGEO_CACHE"] = tmp
        import tensorflow as tf

        print(
            f"CPU threads: {os.cpu_count()}, TensorFlow {tf.__version__}, GPUs: {len(tf.config.list_physical_devices('GPU'))}"
        )
        print("\n== EfficientNet-Lite ImageNet weights: first conversion vs cached load (seconds) ==")
        _print(bench_conversion())
        print(f"\n== Inference, 224 px, batch {args.batch} (images/s; ratio vs bare Keras MobileNetV2) ==")
        _print(bench_inference(args.batch, 1 if args.smoke else 2 if args.quick else 5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
