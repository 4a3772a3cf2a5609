"""``python -m orlop`` runs the CLI."""

from orlop.cli import main

raise SystemExit(main())
