"""The ``tlgeo`` parser (one subcommand group per module of :mod:`tlgeo.cli`) and :func:`main`.

Errors a user can cause (:class:`tlgeo.errors.TlgeoError`) are printed as one line naming the file or value and the
fix, with exit status 2; never a traceback. Heavy imports (TensorFlow) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sys

from tlgeo import __version__
from tlgeo.cli import backbones, explain, labels, plan, predict, sample, train
from tlgeo.cli.argtypes import OneLineParser
from tlgeo.errors import TlgeoError

#: Command groups in the order ``tlgeo --help`` lists them; each module has ``add(subparsers)``.
GROUPS = (sample, backbones, labels, train, predict, plan, explain)


def build_parser() -> argparse.ArgumentParser:
    """The ``tlgeo`` argument parser."""
    parser = OneLineParser(
        prog="tlgeo",
        description="Transfer learning on satellite imagery: road quality from phone vibration, village indicators "
        "from census data. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"tlgeo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    parser.add_argument("--verbose", action="store_true", help="also print TensorFlow's own log lines")
    for group in GROUPS:
        group.add(sub)
    _add_verbose(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` on every leaf command (default from the top-level ``--verbose``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_verbose(sub)
            return
    if parser.prog != "tlgeo":
        parser.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help="also print TensorFlow's own log lines"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for any error the user can cause, with one line on stderr)."""
    from tlgeo.quiet import native_stderr_to_log

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what a cluster job hands to its workers
    except SystemExit as exc:  # --help, --version, or a usage error (already printed as one line)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with native_stderr_to_log(verbose=bool(getattr(args, "verbose", False))):
            return int(args.func(args) or 0)
    except TlgeoError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    raise SystemExit(main())
