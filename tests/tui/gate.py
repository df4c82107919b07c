"""A TCP forwarder to a receiver for dashboard tests: it can stop answering (hang) or go
away (stop), dropping kept-alive connections the way a dead receiver does."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from tests.conftest import free_port


class Gate:
    """Forwards a port of its own to `target_port`; `hung.set()` makes it read and never
    answer; `stop()` closes it and every connection through it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hung = threading.Event()
        self.running = threading.Event()
        self.sockets: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self.running.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while self.running.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                client.settimeout(None)
                self.sockets += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                if not self.hung.is_set():  # a hung receiver reads and never answers
                    b.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.running.clear()
        time.sleep(0.1)  # the accept loop notices within its 0.05 s timeout
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets.clear()
