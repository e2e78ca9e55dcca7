"""A local HTTP server for tool tests (127.0.0.1 only): echoes, redirects, errors, an oversized
body and a request that hangs until the server stops; it counts the requests it received."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BIG_BODY_BYTES = 3 * 1024 * 1024


@dataclass
class LocalServer:
    port: int
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> int:
        """How many requests asked for exactly ``path`` (any query string)."""
        return sum(1 for requested in self.requests if requested.split("?")[0] == path)


@contextmanager
def local_http_server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _json(self, status: int, payload: object) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.requests.append(self.path)
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path.startswith("/echo/"):
                self._json(
                    200,
                    {
                        "path": url.path,
                        "query": query,
                        "host": self.headers.get("host"),
                        "authorization": self.headers.get("authorization"),
                    },
                )
            elif url.path == "/redirect":
                self.send_response(302)
                self.send_header("location", query["to"])
                self.send_header("content-length", "0")
                self.end_headers()
            elif url.path == "/status/500":
                self._json(500, {"error": "boom"})
            elif url.path == "/big":
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.end_headers()  # no content-length: the guard must count as it reads
                chunk = b"x" * 65536
                for _ in range(BIG_BODY_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            elif url.path == "/hang":
                state.release.wait(60)
                self._json(200, {"late": True})
            elif url.path == "/table":
                self._json(200, [{"sku": "A-1", "stock": 4}, {"sku": "B|2", "stock": 0}])
            else:
                self._json(404, {"error": "no such path"})

        def do_POST(self) -> None:
            state.requests.append(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            if self.path == "/ocr":  # a fake OCR engine: the "image" is UTF-8 text
                try:
                    text = base64.b64decode(body["image_base64"]).decode()
                except (KeyError, TypeError, ValueError):
                    self._json(400, {"error": "no image"})
                    return
                self._json(200, {"text": text, "language": body.get("language")})
            elif self.path == "/ocr-garbage":
                self._json(200, ["not", "an", "answer"])
            else:
                self._json(200, {"path": self.path, "body": body})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
