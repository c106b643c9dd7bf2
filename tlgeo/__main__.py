"""``python -m tlgeo`` runs the command-line interface."""

from tlgeo.cli.main import main

raise SystemExit(main())
