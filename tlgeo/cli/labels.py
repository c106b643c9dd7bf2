"""``tlgeo labels <task>``: one subcommand per registered task, built from the task's flags (data, no argparse)."""

from __future__ import annotations

import argparse

from tlgeo.cli.argtypes import add_flag
from tlgeo.tasks import get_task, list_tasks


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``labels`` with a subcommand per task of the registry."""
    p = sub.add_parser("labels", help="turn field data into labels")
    lsub = p.add_subparsers(dest="labels_kind", required=True)
    for name in list_tasks():
        task = get_task(name)
        q = lsub.add_parser(name, help=getattr(task, "labels_help", None) or task.title)
        for flag in task.labels_flags:
            add_flag(q, flag)
        q.set_defaults(func=task.run_labels)
