"""The curl commands in README.md and docs/ work exactly as printed.

Each command is taken from the Markdown, and the request curl would send for it (its headers,
its body, and no Content-Length when there is no `-d`) is written byte for byte to a real
receiver; the answer must be the one the docs promise for a fresh receiver.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO, Live

DOCS = ["README.md", "docs/api.md", "docs/alerts.md", "docs/deploy.md"]
CSV_FILE = (
    "timestamp,status,count\n2025-07-12 13:46:00,approved,118\n2025-07-12 13:46:00,denied,7\n"
)
# What each documented command answers on a fresh receiver with no channel configured.
EXPECTED = {
    ("POST", "/api/v1/transactions"): 201,
    ("GET", "/api/v1/transactions"): 200,
    ("POST", "/api/v1/alerts/7/ack"): 404,  # the body was read; there is no alert 7 yet
    ("POST", "/api/v1/silences"): 201,
    ("POST", "/api/v1/alerts/test"): 409,  # "no notification channel is configured: set ..."
    ("GET", "/healthz"): 200,
}


def documented_curls() -> list[tuple[str, str]]:
    """(file, command) for every curl call to the receiver in the docs, continuations joined."""
    found: list[tuple[str, str]] = []
    for name in DOCS:
        text = (REPO / name).read_text()
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            joined = re.sub(r"\\\n", " ", block)
            found.extend((name, line) for line in _commands(joined) if "localhost:8787" in line)
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        found.extend((name, c) for c in re.findall(r"`(curl [^`]+)`", prose) if "8787" in c)
    return found


def _commands(block: str) -> list[str]:
    """Whole commands starting with curl; a quoted argument may span lines."""
    commands, current = [], ""
    for line in block.splitlines(keepends=True):
        if current:
            current += line
        elif line.lstrip().startswith("curl "):
            current = line.lstrip()
        if current and current.count("'") % 2 == 0:
            commands.append(current.strip())
            current = ""
    return commands


def curl_bytes(command: str, port: int, workdir: Path) -> tuple[str, str, bytes]:
    """The method, path and raw request curl sends for `command` (curl 8 defaults)."""
    args = shlex.split(command)
    assert args[0] == "curl"
    method, headers, data, url = None, [], None, None
    rest = iter(args[1:])
    for arg in rest:
        if arg in ("-s", "--silent"):
            continue
        if arg == "-X":
            method = next(rest)
        elif arg == "-H":
            headers.append(next(rest))
        elif arg in ("-d", "--data"):
            value = next(rest)
            if value.startswith("@"):  # -d @file drops CR and LF, as curl does
                value = (workdir / value[1:]).read_text().replace("\r", "").replace("\n", "")
            data = value.encode()
        elif arg == "--data-binary":
            value = next(rest)
            data = (workdir / value[1:]).read_bytes() if value.startswith("@") else value.encode()
        elif arg.startswith("-"):
            raise AssertionError(f"the curl emulation does not know {arg!r}: {command}")
        else:
            url = arg
    assert url is not None, command
    parts = urlsplit(url if "://" in url else "http://" + url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    method = method or ("POST" if data is not None else "GET")
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "User-Agent: curl/8.5.0"]
    lines.append("Accept: */*")
    lines.extend(headers)
    if data is not None:
        lines.append(f"Content-Length: {len(data)}")
        if not any(h.lower().startswith("content-type:") for h in headers):
            lines.append("Content-Type: application/x-www-form-urlencoded")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (data or b"")
    return method, parts.path, raw


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a new connection; read the status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers["content-length"]))
    return status, headers, body


def test_the_docs_hold_the_curl_examples_this_test_knows() -> None:
    commands = documented_curls()
    assert len(commands) >= 9
    readme = [c for f, c in commands if f == "README.md"]
    assert "curl -X POST localhost:8787/api/v1/alerts/test" in readme


@pytest.mark.parametrize(("doc", "command"), documented_curls())
def test_documented_curl_command_works_as_printed(
    live: Live, tmp_path: Path, doc: str, command: str
) -> None:
    (tmp_path / "transactions.csv").write_text(CSV_FILE)
    port = live.server.server_address[1]
    method, path, raw = curl_bytes(command, port, tmp_path)
    status, headers, body = exchange(port, raw)
    assert (method, path) in EXPECTED, f"{doc}: no expected answer for {command}"
    assert status == EXPECTED[method, path], body
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body), dict)


@pytest.mark.parametrize(
    ("path", "code"),
    [("/api/v1/alerts/test", 409), ("/api/v1/alerts/1/ack", 404), ("/api/v1/alerts/1/unack", 404)],
)
def test_a_post_without_content_length_has_an_empty_body(live: Live, path: str, code: int) -> None:
    """RFC 9112 section 6.3: neither Content-Length nor Transfer-Encoding means no body."""
    port = live.server.server_address[1]
    request = f"POST {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    # Twice on one connection: the first answer must leave the connection in step.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request + request)
        reader = sock.makefile("rb")
        for _ in range(2):
            status = int(reader.readline().split()[1])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(reader.read(length))
            # Not 411: the empty body was read as {}, then there is no alert 1 or no channel.
            assert status == code, body
            assert "error" in body
