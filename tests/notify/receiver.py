"""A local HTTP receiver for apprise's `json://` URLs: records every body, can fail or block on demand."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver"]


@dataclass
class Receiver:
    """`received`: (path, message) of every request answered 200; `refused`: of those answered 500."""

    received: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    # While set, requests wait (up to 30 s) before answering: a worker killed mid-send.
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                    (receiver.refused if failing else receiver.received).append((self.path, body["message"]))
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"json://127.0.0.1:{self._server.server_address[1]}/{path}"

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(p for p, _ in self.received)
