"""Dashboard settings: flags, then TXMON_* variables, then the `[dashboard]` TOML table."""

from __future__ import annotations

import getpass
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8787"
DEFAULT_INTERVAL = 1.0
MIN_INTERVAL, MAX_INTERVAL = 0.1, 300.0
DEFAULT_STALE_AFTER = 300.0
MIN_STALE_AFTER, MAX_STALE_AFTER = 10.0, 86_400.0
DASHBOARD_KEYS = {"url", "token", "interval", "stale_after"}


class SettingsError(Exception):
    """A setting is invalid; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """Everything the dashboard needs to start."""

    url: str = DEFAULT_URL  # one receiver, or several separated by commas (see `urls`)
    token: str | None = None
    interval: float = DEFAULT_INTERVAL
    stale_after: float = DEFAULT_STALE_AFTER
    mouse: bool = True
    read_only: bool = False
    user: str = ""

    @property
    def urls(self) -> tuple[str, ...]:
        """The receivers in the order given: the first is used first, the next on failure."""
        return tuple(self.url.split(","))

    def __repr__(self) -> str:  # never show the token
        token = "***" if self.token else None
        return (
            f"Settings(url={self.url!r}, token={token}, interval={self.interval}, "
            f"stale_after={self.stale_after}, mouse={self.mouse}, read_only={self.read_only}, "
            f"user={self.user!r})"
        )


def default_user(env: Mapping[str, str] | None = None) -> str:
    """`$USER@hostname`, the `by` of acknowledgements and silences."""
    env = os.environ if env is None else env
    try:
        name = env.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"{name}@{socket.gethostname()}"[:64]


def read_table(path: str) -> dict[str, Any]:
    """The `[dashboard]` table of a TOML file (empty when absent)."""
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    table = doc.get("dashboard", {})
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [dashboard] must be a table")
    unknown = sorted(set(table) - DASHBOARD_KEYS)
    if unknown:
        raise SettingsError(
            f"{path}: unknown key(s) in [dashboard]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(DASHBOARD_KEYS))})"
        )
    return table


def check_url(url: str, source: str = "url", label: str = "url") -> str:
    """Accept an http(s) URL with a host (and a valid port, if any); drop a trailing slash."""
    url = url.strip()
    if not url.startswith(("http://", "https://")) or len(url) < len("http://x"):
        raise SettingsError(f"{source}: {label} must start with http:// or https://, got {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
        raise SettingsError(f"{source}: {label} {url!r} is not a valid URL ({exc})") from None
    problem = ""
    if not parts.hostname:
        problem = "has no host"
    elif any(c.isspace() for c in url):
        problem = "contains a space"
    elif parts.query or parts.fragment or "?" in url or "#" in url:
        problem = "may not have a query or fragment"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError when the port is not 0-65535
        except ValueError:
            problem = "has an invalid port"
    if problem:
        raise SettingsError(f"{source}: {label} {url!r} {problem}")
    return url.rstrip("/")


def check_urls(value: Any, source: str) -> str:
    """One receiver URL, or several separated by commas (a TOML list of strings too); each
    must be valid and listed once. Returns them normalised, joined by commas."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise SettingsError(f"{source}: url must be a string (or a list of strings)")
    entries = value.split(",")
    if len(entries) == 1:
        return check_url(entries[0], source)
    urls: list[str] = []
    for number, entry in enumerate(entries, 1):
        label = f"url entry {number} of {len(entries)}"
        if not entry.strip():
            raise SettingsError(
                f"{source}: {label} is empty (separate receivers with one comma: "
                "http://a:8787,http://b:8787)"
            )
        url = check_url(entry, source, label)
        if url in urls:
            raise SettingsError(f"{source}: {label} {url!r} is listed twice")
        urls.append(url)
    return ",".join(urls)


def check_seconds(
    value: Any,
    source: str,
    name: str = "interval",
    low: float = MIN_INTERVAL,
    high: float = MAX_INTERVAL,
) -> float:
    """A number of seconds within `low`..`high`."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {name} must be a number of seconds") from None
    if isinstance(value, bool) or not low <= seconds <= high:
        raise SettingsError(f"{source}: {name} must be between {low:g} and {high:g} seconds")
    return seconds


def check_interval(value: Any, source: str) -> float:
    """A refresh interval in seconds within the allowed range."""
    return check_seconds(value, source)


def check_stale_after(value: Any, source: str) -> float:
    """How old the newest record may get before the dashboard calls the data stale."""
    return check_seconds(value, source, "stale_after", MIN_STALE_AFTER, MAX_STALE_AFTER)


def resolve(
    *,
    url: str | None = None,
    token: str | None = None,
    interval: float | None = None,
    stale_after: float | None = None,
    config: str | None = None,
    no_mouse: bool = False,
    read_only: bool = False,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Combine flags (given here), the environment and the TOML file into Settings."""
    env = os.environ if env is None else env
    path = config or env.get("TXMON_CONFIG")
    table = read_table(path) if path else {}
    if "token" in table and not isinstance(table["token"], str):
        raise SettingsError(f"{path}: [dashboard] token must be a string")
    if url:
        chosen_url = check_urls(url, "--url")
    elif env.get("TXMON_URL"):
        chosen_url = check_urls(env["TXMON_URL"], "TXMON_URL")
    elif table.get("url") not in (None, ""):
        chosen_url = check_urls(table["url"], f"{path} [dashboard]")
    else:
        chosen_url = DEFAULT_URL
    chosen_token = token or env.get("TXMON_TOKEN") or table.get("token") or None
    if interval is not None:
        chosen_interval = check_interval(interval, "--interval")
    elif env.get("TXMON_INTERVAL"):
        chosen_interval = check_interval(env["TXMON_INTERVAL"], "TXMON_INTERVAL")
    elif "interval" in table:
        chosen_interval = check_interval(table["interval"], f"{path} [dashboard]")
    else:
        chosen_interval = DEFAULT_INTERVAL
    if stale_after is not None:
        chosen_stale = check_stale_after(stale_after, "--stale-after")
    elif env.get("TXMON_STALE_AFTER"):
        chosen_stale = check_stale_after(env["TXMON_STALE_AFTER"], "TXMON_STALE_AFTER")
    elif "stale_after" in table:
        chosen_stale = check_stale_after(table["stale_after"], f"{path} [dashboard]")
    else:
        chosen_stale = DEFAULT_STALE_AFTER
    return Settings(
        url=chosen_url,
        token=chosen_token,
        interval=chosen_interval,
        stale_after=chosen_stale,
        mouse=not no_mouse,
        read_only=read_only,
        user=default_user(env),
    )
