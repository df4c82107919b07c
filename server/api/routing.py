"""Routing and the one table that turns the receiver's errors into HTTP answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server import errors

if TYPE_CHECKING:
    from server.api.exchange import RequestHandler


class JsonBytes(bytes):
    """An answer already encoded as JSON (sent as is), with any headers of its own."""

    headers: dict[str, str] | None = None


class ApiError(Exception):
    """An answer other than success: HTTP code, message and optional extra fields."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


Handler = Callable[["RequestHandler", dict[str, list[str]], tuple[str, ...]], tuple[int, Any]]


class Router:
    """Maps (method, path pattern) to handlers; knows which methods a path allows."""

    def __init__(self) -> None:
        self._exact: dict[str, dict[str, Handler]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._templates: dict[str, set[str]] = {}

    def paths(self) -> dict[str, set[str]]:
        """Every path template with its methods (for the OpenAPI consistency test)."""
        return {path: set(methods) for path, methods in self._templates.items()}

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._templates.setdefault(path, set()).add(method)
        if "{" in path:
            regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"([^/]+)", path) + "$")
            for pattern, methods in self._patterns:
                if pattern.pattern == regex.pattern:
                    methods[method] = handler
                    return
            self._patterns.append((regex, {method: handler}))
        else:
            self._exact.setdefault(path, {})[method] = handler

    def match(self, path: str) -> tuple[dict[str, Handler], tuple[str, ...]] | None:
        methods = self._exact.get(path)
        if methods is not None:
            return methods, ()
        for pattern, methods in self._patterns:
            found = pattern.match(path)
            if found:
                return methods, found.groups()
        return None


# Every domain error's HTTP code, in one place; a subclass takes its nearest listed base.
ERROR_CODES: dict[type[errors.TxmonError], int] = {
    errors.Unavailable: 503,
    errors.IdempotencyConflict: 422,
    errors.TooManyStatuses: 422,
    errors.AlertConflict: 409,
    errors.NoChannels: 409,
    errors.NotFound: 404,
}


def api_error(exc: errors.TxmonError) -> ApiError | None:
    """The answer for a domain error, or None for one the API does not expect."""
    if isinstance(exc, errors.BodyError):
        return ApiError(exc.code, exc.message)
    for kind in type(exc).__mro__:
        code = ERROR_CODES.get(kind)  # type: ignore[call-overload]
        if code is None:
            continue
        if code == 503:
            retry = getattr(exc, "retry_after", 1)
            return ApiError(code, str(exc), retry_after=retry)
        return ApiError(code, str(exc))
    return None
