"""The one coercion helper: a raw setting value (a TOML value, or text from the environment
or a flag) into its kind, with an error that names the key and where the value came from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

KINDS = ("str", "secret", "url", "choice", "int", "float", "bool", "list")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def kind_of(default: object) -> str:
    """The kind a default value implies (for settings declared by their default alone)."""
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, tuple):
        return "list"
    return "str"


def coerce(
    raw: object,
    kind: str,
    *,
    key: str,
    origin: str,
    from_text: bool,
    secret: bool = False,
    choices: Sequence[str] = (),
) -> Any:
    """`raw` as a value of `kind`; ValueError otherwise, never showing a secret's value.

    `from_text` says the value is text to parse (environment, flags); a TOML value must
    already have the right type (a quoted number in a file is refused, not guessed at).
    """

    def bad(why: str) -> ValueError:
        shown = "" if secret else f", got {raw!r}"
        return ValueError(f"{key} (from {origin}) {why}{shown}")

    if kind in ("str", "secret", "url", "choice"):
        if not isinstance(raw, str):
            raise bad("must be a string")
        value = raw.strip()
        if not value:
            raise bad("must not be empty")
        if kind == "choice":
            if value.lower() not in choices:
                raise bad(f"must be one of {', '.join(choices)}")
            return value.lower()
        if kind == "url":
            try:
                parts = urlsplit(value)
                ok = parts.scheme in ("http", "https") and bool(parts.hostname)
                _ = parts.port  # raises on a bad port
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{key} (from {origin}) must be an http(s) URL")
        if kind == "secret" and any(c.isspace() for c in value):
            raise bad("must not contain spaces")
        return value
    if kind in ("int", "float"):
        if isinstance(raw, bool) or (not from_text and not isinstance(raw, int | float)):
            raise bad("must be a number")
        try:
            number = float(raw) if kind == "float" else _to_int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad("must be a number" if kind == "float" else "must be an integer") from None
        if not math.isfinite(number):
            raise bad("must be a finite number")
        return number
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if from_text else ""
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad("must be true or false")
    if kind == "list":
        items: list[object]
        if isinstance(raw, str):
            items = list(raw.split(","))
        elif isinstance(raw, list | tuple):
            items = list(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            items = [raw]
        else:
            raise bad("must be a comma-separated string or a list")
        out: list[str] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise bad("must contain strings")
            text = str(item).strip()
            if text:
                out.append(text)
        return tuple(out)
    raise ValueError(f"{key}: unknown kind {kind!r}")  # pragma: no cover


def _to_int(raw: object) -> int:
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError
        return int(raw)
    if isinstance(raw, int):
        return raw
    return int(str(raw).strip())
