"""txmon receiver: a stdlib-only HTTP service that stores per-minute transaction counts in
SQLite, judges each one against its baseline and raises alerts."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
