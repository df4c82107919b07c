"""txmon dashboard: a Textual app that polls the txmon receiver over HTTP."""

from __future__ import annotations

__version__ = "0.1.0"
