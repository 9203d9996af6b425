"""The local server's HTTP front end (stdlib only)."""

from __future__ import annotations

import http.server
import logging
import re
import socketserver
import threading

from ecomtf.serving import json_codec as J
from ecomtf.serving.rest_api_handler import PATH_REGEX

log = logging.getLogger("ecomtf.serving")

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024


# Past the limit, up to this much is read and dropped so that the client gets
# the 413 answer instead of a broken pipe; beyond it the connection is closed.
_MAX_DISCARD_BYTES = 64 * 1024 * 1024


_ORIGIN = re.compile(r"https?://")


class _BodyTooLarge(Exception):
    pass


class _HttpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Large listen backlog: load tests open many keep-alive connections at once.
    request_queue_size = 256


class RestServer:
    """Serves TF Serving's REST API over HTTP/1.1 with keep-alive.

    Binds to 127.0.0.1 unless told otherwise. Bodies larger than
    ``max_request_bytes`` are refused with 413 and ``{"error": ...}`` before
    they are read; chunked request bodies are accepted up to the same limit.
    Paths outside ``/v1/`` (and the Prometheus path) answer 404.

    Args:
        handler: a ``RestApiHandler``.
        host: interface to bind; ``"0.0.0.0"`` exposes the server.
        port: 0 picks a free port (see ``port`` after ``start``).
        max_request_bytes: request body limit.
        metrics: a ``ServerMetrics`` served at ``metrics_path``.
        metrics_path: e.g. ``/monitoring/prometheus/metrics``; None = off.
        enable_cors: answer with the CORS headers of
            ``--rest_api_enable_cors_support``.
        timeout_seconds: idle time before a keep-alive connection is closed.
    """

    def __init__(
        self,
        handler,
        host: str = "127.0.0.1",
        port: int = 8501,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        metrics=None,
        metrics_path: str | None = None,
        enable_cors: bool = False,
        timeout_seconds: float = 30.0,
    ):
        self.handler = handler
        self.host = host
        self.max_request_bytes = max_request_bytes
        self.metrics = metrics
        self.metrics_path = metrics_path
        self.enable_cors = enable_cors
        self._server = _HttpServer((host, port), self._request_handler_class(timeout_seconds))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "RestServer":
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="ecomtf-rest", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _request_handler_class(self, timeout_seconds: float):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "ecomtf-serving"
            timeout = timeout_seconds
            # Small answers must not wait for the client's delayed ACK (Nagle).
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                log.debug("%s %s", self.address_string(), fmt % args)

            def _send(self, status: int, body: bytes, headers=(), content_type=None, cors=False):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if content_type:
                    self.send_header("Content-Type", content_type)
                if cors and outer.enable_cors:
                    # Added to every /v1/ answer (errors and preflights too),
                    # as RestApiRequestDispatcher does; not to 404s/metrics.
                    self.send_header("Access-Control-Allow-Origin", "*")
                    self.send_header("Access-Control-Allow-Methods", "POST, GET")
                    self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Content-Length", str(len(body)))
                if self.command != "HEAD" and hasattr(self, "_headers_buffer"):
                    # Headers and body in one write: one TCP segment for small answers.
                    self._headers_buffer.append(b"\r\n" + body)
                    self.flush_headers()
                else:
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)

            def _read_body(self) -> bytes:
                limit = outer.max_request_bytes
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks, total = [], 0
                    while True:
                        line = self.rfile.readline(65537)
                        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                                pass
                            if total > limit:
                                raise _BodyTooLarge(total)
                            return b"".join(chunks)
                        total += size
                        if total > _MAX_DISCARD_BYTES:
                            raise _BodyTooLarge(total)
                        data = self.rfile.read(size)
                        if len(data) < size:
                            raise ValueError("chunked body ended early")
                        # Past the limit, chunks are read and dropped up to
                        # the terminating chunk (see _MAX_DISCARD_BYTES).
                        if total <= limit:
                            chunks.append(data)
                        self.rfile.readline(3)
                length = int(self.headers.get("Content-Length") or 0)
                if length > limit:
                    if length <= _MAX_DISCARD_BYTES:
                        left = length
                        while left > 0:
                            chunk = self.rfile.read(min(left, 1 << 16))
                            if not chunk:
                                break
                            left -= len(chunk)
                    raise _BodyTooLarge(length)
                return self.rfile.read(length) if length > 0 else b""

            def _handle(self):
                path = self.path.split("?", 1)[0]
                # The Prometheus handler is registered for its path with any
                # method, as in TF Serving's http_server.cc.
                if outer.metrics_path and path == outer.metrics_path:
                    try:
                        self._read_body()  # drained, so keep-alive stays in step
                    except (_BodyTooLarge, ValueError, OSError):
                        self.close_connection = True
                    text = outer.metrics.render().encode() if outer.metrics else b""
                    self._send(200, text, content_type="text/plain; version=0.0.4")
                    return
                try:
                    body = self._read_body()
                except _BodyTooLarge as e:
                    msg = (
                        f"Request body of {e.args[0]} bytes exceeds the server's limit of "
                        f"{outer.max_request_bytes} bytes"
                    )
                    self.close_connection = True
                    self._send(413, J.error_json(msg).encode(), content_type="application/json")
                    return
                except (ValueError, OSError):
                    self.close_connection = True
                    self._send(400, J.error_json("Malformed HTTP request body").encode(),
                               content_type="application/json")
                    return
                if not PATH_REGEX.fullmatch(path):
                    self._send(404, b"Not Found", content_type="text/plain")
                    return
                if self.command == "OPTIONS":
                    # RestApiRequestDispatcher: a preflight is OK when its
                    # Origin header contains http:// or https://, otherwise
                    # FAILED_PRECONDITION (400); either way with an empty body
                    # and no Content-Type, whether or not CORS is on.
                    ok = _ORIGIN.search(self.headers.get("Origin", "")) is not None
                    self._send(200 if ok else 400, b"", cors=True)
                    return
                status, text, headers = outer.handler.process(self.command, self.path, body)
                self._send(status, text.encode("utf-8", errors="surrogateescape"), headers, cors=True)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        return Handler
