"""``tlgeo sample`` (generate the bundled sample data) and ``tlgeo doctor`` (versions, devices, cache, samples)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tlgeo import __version__
from tlgeo.cli.argtypes import nonnegative_int

#: Sample task folders the generator writes.
SAMPLE_TASKS = ("roads", "villages", "landcover")


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``sample`` and ``doctor``."""
    p = sub.add_parser("sample", help="generate the bundled sample data (deterministic)")
    p.add_argument("--out", type=Path, default=Path("sample_data"), help="output folder (default: sample_data)")
    p.add_argument("--task", choices=[*SAMPLE_TASKS, "all"], default="all")
    p.add_argument("--seed", type=nonnegative_int(2**32 - 1), default=0)
    p.add_argument("--overwrite", action="store_true", help="regenerate sample task folders that exist")
    p.set_defaults(func=run_sample)
    d = sub.add_parser("doctor", help="versions, devices TensorFlow sees, cache folder, sample data")
    d.add_argument("--data", type=Path, default=None, help="sample data folder to check (default: ./sample_data)")
    d.set_defaults(func=run_doctor)


def run_sample(args: argparse.Namespace) -> int:
    """``tlgeo sample``: write the sample task folders and print their paths."""
    from tlgeo.sample import generate_sample_data

    tasks = SAMPLE_TASKS if args.task == "all" else (args.task,)
    written = generate_sample_data(args.out, tasks=tasks, seed=args.seed, overwrite=args.overwrite)
    for path in written:
        print(path)
    return 0


def run_doctor(args: argparse.Namespace) -> int:
    """``tlgeo doctor``: versions, devices, cache folder and which sample folders exist."""
    from tlgeo._utils import cache_dir
    from tlgeo.devices import device_report, platform_summary

    print(f"tlgeo {__version__}")
    for key, value in platform_summary().items():
        print(f"{key:>13}: {value}")
    report = device_report()
    print(f"{'devices':>13}: {report.summary}")
    print(f"{'gpus':>13}: {', '.join(report.gpus) if report.gpus else 'none (training runs on the CPU)'}")
    print(f"{'cache':>13}: {cache_dir()}")
    data = args.data or Path(__file__).resolve().parents[2] / "sample_data"
    for task in SAMPLE_TASKS:
        folder = data / task
        n = len(list((folder / "imagery").glob("*.tif"))) if (folder / "imagery").is_dir() else 0
        state = f"{folder} ({n} scene(s))" if n else f"missing — run `python -m tlgeo sample --out {data}`"
        print(f"{'sample ' + task:>13}: {state}")
    return 0
