"""`python -m server` runs the same command line as `txmon-server`."""

from server.cli import main

raise SystemExit(main())
