"""``tlgeo explain``: Grad-CAM heat maps of tiles with a saved run."""

from __future__ import annotations

import argparse
from pathlib import Path

from tlgeo.errors import ConfigError


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``explain``."""
    p = sub.add_parser(
        "explain",
        help="Grad-CAM heat maps of tiles with a saved run (PNG per tile)",
        description="Write one PNG per tile: the tile (its RGB composite for N-band runs) with the Grad-CAM heat map "
        "of the predicted class, from the last convolutional stage of the run's backbone. Files are named "
        "<tile>_gradcam.png inside --out.",
    )
    p.add_argument("tiles", nargs="+", type=Path, help="tile files (GeoTIFF, or PNG/JPEG with a world file)")
    p.add_argument("--run", type=Path, required=True, help="run folder (runs/<run_id>)")
    p.add_argument("--out", type=Path, required=True, help="output folder for the PNGs")
    p.add_argument("--target", default=None, help="indicator to explain (multi-task runs; default: the first)")
    p.add_argument("--overwrite", action="store_true", help="replace PNGs that exist")
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """``tlgeo explain``: one PNG per tile, paths printed."""
    from tlgeo.explain import explain_tiles
    from tlgeo.runs import load_run

    run = load_run(args.run)
    if args.target is not None and args.target not in run.targets:
        raise ConfigError(
            f"--target {args.target!r} is not a target of run {run.run_id}",
            hint=f"Use one of: {', '.join(run.targets)}.",
        )
    for path in explain_tiles(run, args.tiles, args.out, target=args.target, overwrite=args.overwrite):
        print(path)
    return 0
