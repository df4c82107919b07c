"""The HTTP front holds to RFC 9112 framing and bounds what a client can make it hold:
connections, threads, header bytes and time, body time."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.conftest import Live, wait_until

RECORD = b'{"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 5}'


def connect(live: Live) -> socket.socket:
    host, port = live.server.server_address[:2]
    return socket.create_connection((host, port), timeout=5)


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one answer: status code, headers, body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest[:length]


def exchange(live: Live, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(live) as sock:
        sock.sendall(data)
        return answer_of(sock)


def post(body: bytes, *extra: bytes) -> bytes:
    head = [
        b"POST /api/v1/transactions HTTP/1.1",
        b"Host: x",
        b"Content-Type: application/json",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def stored(live: Live) -> int:
    return live.client.get("/api/v1/summary").json()["records_stored"]


@pytest.mark.parametrize(
    "lengths",
    [
        [b"Content-Length: 70", b"Content-Length: 71"],
        [b"Content-Length: 7_0"],
        [b"Content-Length: +70"],
        [b"Content-Length: 70, 70"],
        [b"Content-Length: -1"],
    ],
    ids=["two-different", "underscore", "plus-sign", "list", "negative"],
)
def test_content_length_that_is_not_one_decimal_number_is_400(
    live: Live, lengths: list[bytes]
) -> None:
    code, headers, body = exchange(live, post(RECORD, *lengths))
    assert code == 400
    assert headers["connection"] == "close"
    assert "Content-Length" in json.loads(body)["error"]
    assert stored(live) == 0


def test_repeated_identical_content_length_is_accepted(live: Live) -> None:
    length = b"Content-Length: %d" % len(RECORD)
    code, _, _ = exchange(live, post(RECORD, length, length, b"Connection: close"))
    assert code == 201


def test_methods_are_case_sensitive(live: Live) -> None:
    code, headers, body = exchange(live, b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 405
    assert headers["allow"] == "GET"
    assert "case-sensitive" in json.loads(body)["error"]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["nul", "bare-lf", "space-before-colon", "obs-fold", "double-space"],
)
def test_malformed_heads_are_400_and_close(live: Live, head: bytes) -> None:
    with connect(live) as sock:
        sock.sendall(head)
        code, headers, body = answer_of(sock)
        assert code == 400
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]
        assert sock.recv(100) == b""


def test_100_continue_only_after_size_route_and_auth_checks(make_receiver) -> None:
    live = make_receiver(token="s3cret", max_body_bytes=4096)
    expect = b"Expect: 100-continue"
    auth = b"Authorization: Bearer s3cret"
    for head, wanted in (
        (post(b"", b"Content-Length: 99999999", auth, expect), 413),
        (post(b"", b"Content-Length: 70", expect), 401),
        (
            b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 70\r\n" + expect + b"\r\n\r\n",
            404,
        ),
    ):
        code, _, _ = exchange(live, head)
        assert code == wanted  # the final answer came first: no "100 Continue" before it
    with connect(live) as sock:
        length = b"Content-Length: %d" % len(RECORD)
        sock.sendall(post(b"", length, auth, expect))
        interim = sock.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(RECORD)
        assert answer_of(sock)[0] == 201


def test_post_without_content_length_is_an_empty_body(live: Live) -> None:
    code, _, body = exchange(live, b"POST /api/v1/alerts/test HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 409  # "no channel configured": the request was understood, not 411
    assert "channel" in json.loads(body)["error"]


def test_tls_handshake_on_the_plain_port_is_closed_at_once(live: Live) -> None:
    hello = bytes.fromhex("16030100a5010000a10303") + bytes(40)
    with connect(live) as sock:
        started = time.monotonic()
        sock.sendall(hello)
        code, _, body = answer_of(sock)
        assert code == 400 and b"not an HTTP" in body
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 1.0


def test_header_section_over_the_limit_is_431(make_receiver) -> None:
    live = make_receiver(max_header_bytes=2048)
    code, _, body = exchange(
        live, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    )
    assert code == 431
    assert json.loads(body)["error"]


def test_a_head_that_never_ends_is_408_after_header_timeout(make_receiver) -> None:
    live = make_receiver(header_timeout=0.3)
    with connect(live) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        code, _, _ = answer_of(sock)
        assert code == 408
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 3


def test_a_body_that_stalls_is_408_after_body_timeout_and_nothing_is_stored(
    make_receiver,
) -> None:
    live = make_receiver(body_timeout=0.3)
    with connect(live) as sock:
        sock.sendall(post(RECORD[:20], b"Content-Length: %d" % len(RECORD)))
        code, _, _ = answer_of(sock)
        assert code == 408
    assert stored(live) == 0


def test_idle_connections_never_hold_a_worker_thread(make_receiver) -> None:
    live = make_receiver(http_threads=2)
    idle = [connect(live) for _ in range(20)]
    try:
        for sock in idle[:10]:  # half of them have started a request and stalled in the head
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        for _ in range(5):
            assert live.client.get("/healthz").status_code == 200
        assert time.monotonic() - started < 2
    finally:
        for sock in idle:
            sock.close()


def test_past_max_connections_the_longest_idle_connection_makes_room(make_receiver) -> None:
    live = make_receiver(max_connections=4)
    oldest = connect(live)
    wait_until(lambda: live.server.open_connections == 1)
    others = [connect(live) for _ in range(3)]
    try:
        wait_until(lambda: live.server.open_connections == 4)
        with connect(live) as fresh:
            fresh.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer_of(fresh)[0] == 200
        assert oldest.recv(100) == b""  # closed to make room
        assert live.server.open_connections <= 4
    finally:
        oldest.close()
        for sock in others:
            sock.close()


def test_past_max_connections_with_none_idle_a_new_client_gets_503(make_receiver) -> None:
    live = make_receiver(max_connections=2, body_timeout=5)
    busy = [connect(live) for _ in range(2)]
    try:
        for sock in busy:  # each holds a worker, waiting for a body that does not come
            sock.sendall(post(b"", b"Content-Length: 70"))
        wait_until(lambda: live.server.in_flight == 2)
        with connect(live) as fresh:
            fresh.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            code, _headers, body = answer_of(fresh)
        assert code == 503
        assert "too many connections" in json.loads(body)["error"]
    finally:
        for sock in busy:
            sock.close()


def test_many_new_connections_leave_threads_and_read_connections_bounded(live: Live) -> None:
    live.client.post("/api/v1/transactions", content=RECORD)
    threads_before = threading.active_count()
    for i in range(300):
        with connect(live) as sock:
            path = b"/healthz" if i % 2 else b"/api/v1/summary"
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert answer_of(sock)[0] == 200
    assert threading.active_count() <= threads_before
    assert live.receiver.readers.opened <= live.config.read_connections
    wait_until(lambda: live.server.open_connections <= 1)


def test_out_of_file_descriptors_the_receiver_sheds_load_and_recovers(spawn) -> None:
    server = spawn(open_files=64)  # far below max_connections: accept() itself fails
    held: list[socket.socket] = []
    try:
        for _ in range(120):
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        cpu = server.cpu_seconds
        started = time.monotonic()
        answer = httpx.get(server.url + "/healthz", timeout=5)
        assert answer.status_code in (200, 503)  # served, or refused with a clear answer
        assert time.monotonic() - started < 2
        time.sleep(1.5)  # a measuring window: the CPU it uses while nobody asks anything
        assert server.cpu_seconds - cpu < 0.5  # the accept loop does not spin on EMFILE
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: httpx.get(server.url + "/healthz", timeout=5).status_code == 200)
