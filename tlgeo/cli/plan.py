"""``tlgeo plan``: where to collect labels next — road stretches to drive or sites to survey (active learning)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tlgeo.cli.argtypes import number
from tlgeo.errors import ConfigError


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``plan`` (defaults from :class:`tlgeo.active.ActiveSettings`)."""
    from tlgeo.active import UNCERTAINTY_KINDS, ActiveSettings

    d = ActiveSettings()
    p = sub.add_parser(
        "plan",
        help="where to collect labels next: road stretches to drive (--budget-km) or sites to survey (--budget)",
        description="Active learning with a saved run. Scores every unlabelled tile by uncertainty (entropy or margin "
        "of the calibrated probabilities) and representativeness (distance in the run's embedding space to the "
        "labelled tiles and earlier picks, k-center greedy): score = w * uncertainty + (1 - w) * representativeness. "
        "--budget-km: undriven stretches of the road network up to that length, ordered by a greedy nearest-neighbour "
        "tour (not an optimal route; gaps between stretches are straight lines) from --start or the nearest driven "
        "road; GeoJSON of ordered LineStrings, CSV, GPX. --budget N: the N unlabelled tiles to survey next.",
    )
    p.add_argument("--run", type=Path, required=True, help="run folder (runs/<run_id>)")
    p.add_argument("--budget-km", type=float, default=None, help="length of undriven road to drive (km; roads runs)")
    p.add_argument("--budget", type=float, default=None, help="number of sites (unlabelled tiles) to visit")
    p.add_argument("--out", type=Path, required=True, help="plan GeoJSON (EPSG:4326)")
    p.add_argument("--csv", type=Path, default=None, help="also write the ranked table as CSV")
    p.add_argument("--gpx", type=Path, default=None, help="also write the route as GPX 1.1 (with --budget-km)")
    p.add_argument("--start", default=None, help="route start LON,LAT (default: the nearest driven road)")
    p.add_argument("--roads", type=Path, default=None, help="road lines to plan on (default: the task's roads.geojson)")
    p.add_argument("--data", type=Path, default=None, help="task folder (default: the one the run was trained on)")
    p.add_argument(
        "--uncertainty", choices=list(UNCERTAINTY_KINDS), default=d.uncertainty, help=f"default: {d.uncertainty}"
    )
    p.add_argument(
        "--weight",
        type=number(minimum=0, maximum=1),
        default=d.weight,
        help=f"w, share of uncertainty in the score (0…1, default {d.weight:g})",
    )
    p.add_argument(
        "--min-distance-m",
        type=number(minimum=0),
        default=d.min_distance_m,
        help=f"minimum distance between picks (default {d.min_distance_m:g})",
    )
    p.add_argument(
        "--seed",
        type=number(minimum=0, integer=True),
        default=d.seed,
        help="breaks ties; a fixed seed gives the same plan",
    )
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``tlgeo plan``: check everything, score the run's task, write GeoJSON (+ CSV, GPX), print the plan."""
    from tlgeo._utils import atomic_path
    from tlgeo.active import ActiveSettings
    from tlgeo.export import write_geojson
    from tlgeo.outputs import check_outputs
    from tlgeo.plan import check_budget, parse_start, plan_csv_bytes, plan_from_run

    roads_mode = args.budget_km is not None
    if (args.budget is None) == (args.budget_km is None):
        raise ConfigError(
            "plan needs either --budget-km KM (roads to drive) or --budget N (sites to survey)",
            hint="Give exactly one of them.",
        )
    if args.budget_km is not None:
        check_budget(args.budget_km, km=True)
    else:
        check_budget(args.budget, km=False)
    if not roads_mode and (args.gpx is not None or args.start is not None or args.roads is not None):
        raise ConfigError("--gpx, --start and --roads plan a drive and need --budget-km", hint="Add --budget-km KM.")
    start = parse_start(args.start)
    check_outputs({"--out": args.out, "--csv": args.csv, "--gpx": args.gpx}, overwrite=args.overwrite)
    settings = ActiveSettings(
        uncertainty=args.uncertainty, weight=args.weight, min_distance_m=args.min_distance_m, seed=args.seed
    )
    result = plan_from_run(
        args.run,
        budget=int(args.budget) if args.budget is not None else None,
        budget_km=args.budget_km,
        roads=args.roads,
        start=start,
        settings=settings,
        data=args.data,
    )
    for note in result.notes:
        print(note)
    table = result.table()
    show = ["order", "rank", "stretch_id", "length_km", "score"] if roads_mode else ["rank", "tile_id", "score"]
    print(table[[c for c in [*show, "label", "lon", "lat"] if c in table]].head(40).to_string(index=False))
    written = [write_geojson(result.plan, args.out, overwrite=args.overwrite)]
    if args.csv is not None:
        with atomic_path(args.csv, overwrite=args.overwrite) as tmp:
            tmp.write_bytes(plan_csv_bytes(result))
        written.append(Path(args.csv))
    if args.gpx is not None:
        from tlgeo.plan_roads import route_gpx_bytes

        with atomic_path(args.gpx, overwrite=args.overwrite) as tmp:
            tmp.write_bytes(route_gpx_bytes(result.plan))
        written.append(Path(args.gpx))
    for p in written:
        print(f"wrote {p}")
    return 0
