"""``python -m tlgeo …`` / ``tlgeo …``: the command-line interface, the only code in tlgeo that imports argparse.

One module per command group (:mod:`.sample`, :mod:`.backbones`, :mod:`.labels`, :mod:`.train`, :mod:`.predict`,
:mod:`.plan`, :mod:`.explain`); :mod:`.main` assembles the parser and runs a command. Flag defaults come from the
settings dataclasses and choices from the registries (tasks, strategies).
"""

from __future__ import annotations

from tlgeo.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
