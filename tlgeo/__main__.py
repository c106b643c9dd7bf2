"""``python -m tlgeo`` runs the command-line interface."""

from tlgeo.cli import main

raise SystemExit(main())
