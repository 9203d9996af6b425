"""REST transport of ServingClient: TF Serving's JSON API over HTTP/1.1.

Pure standard library plus numpy: importing it does not import TensorFlow.
"""

from __future__ import annotations

import base64
import http.client
import json
import queue
import socket
import urllib.parse

import numpy as np

from ecomtf.serving import errors

_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_HALF": np.float16,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
}


def numpy_dtype(name: str):
    """numpy dtype for a SignatureDef dtype name such as ``"DT_FLOAT"``."""
    return _DTYPES.get(name)


def _quote(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")


def model_path(model: str, version=None, label=None) -> str:
    path = f"/v1/models/{_quote(model)}"
    if version is not None and label is not None:
        raise ValueError("pass a version or a label, not both")
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{_quote(label)}"
    return path


def _json_scalar(value, as_b64: bool):
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_json_value(value, name: str = ""):
    """An input value as TF Serving JSON: nested lists, bytes that are not
    UTF-8 (or belong to a ``*_bytes`` input) as ``{"b64": ...}``."""
    as_b64 = name.endswith("_bytes")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            if value.ndim == 0:
                return _json_scalar(value[()], as_b64)
            return [to_json_value(v, name) for v in value]
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, name) for v in value]
    if isinstance(value, dict) and not set(value) <= {"b64"}:
        return {k: to_json_value(v, k) for k, v in value.items()}
    return _json_scalar(value, as_b64)


def json_ready(value):
    """A tf.Example-like dict (or a ``tf.train.Example``) as TF Serving JSON:
    bytes become ``{"b64": ...}``, numpy values plain numbers and lists."""
    if hasattr(value, "features") and hasattr(value.features, "feature"):
        out = {}
        for name, feature in value.features.feature.items():
            kind = feature.WhichOneof("kind")
            out[name] = list(getattr(feature, kind).value) if kind else []
        value = out
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_json_value(value, dtype_name: str | None):
    """A response value as numpy (strings as bytes, like the gRPC transport)."""
    def decode(v):
        if isinstance(v, dict) and "b64" in v:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [decode(x) for x in v]
        if isinstance(v, str):
            return v.encode("utf-8", errors="surrogateescape")
        return v

    np_dtype = numpy_dtype(dtype_name) if dtype_name else None
    if np_dtype is object or (np_dtype is None and _has_strings(value)):
        decoded = decode(value)
        shape = _shape(decoded)
        out = np.empty(shape, dtype=object)
        if shape:
            out[...] = _ragged_fill(decoded, shape)
        else:
            out[()] = decoded
        return out
    return np.asarray(value, dtype=np_dtype)


def _has_strings(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (str, dict))


def _shape(value) -> tuple:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _ragged_fill(value, shape):
    arr = np.empty(shape, dtype=object)
    flat = []

    def walk(v, depth):
        if depth == len(shape):
            flat.append(v)
        else:
            for x in v:
                walk(x, depth + 1)

    walk(value, 0)
    arr.reshape(-1)[:] = flat
    return arr


def row_value(value):
    """A row-format value with ``{"b64": ...}`` objects decoded to bytes."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return {k: row_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [row_value(v) for v in value]
    return value


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        # Requests go out in one write; never hold them for Nagle's algorithm.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RestTransport:
    """HTTP/1.1 keep-alive connections to one TF Serving REST endpoint.

    Connections are pooled (LIFO) and reused across calls and threads; a
    pooled connection the server has closed is replaced transparently.

    Args:
        url: ``http://host:port`` (https works too).
        timeout: default seconds per call.
        pool_size: idle connections kept.
    """

    def __init__(self, url: str, timeout: float = 10.0, pool_size: int = 16):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"REST needs an http(s):// URL, got {url!r}")
        self.url = url.rstrip("/")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path.rstrip("/")
        self.timeout = timeout
        self._pool: queue.LifoQueue = queue.LifoQueue(maxsize=pool_size)

    def _connect(self, timeout: float):
        cls = _HTTPSConnection if self._https else _HTTPConnection
        return cls(self._host, self._port, timeout=timeout)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    def __del__(self):
        # Idle keep-alive sockets of a client nobody closed.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def request(self, method: str, path: str, body=None, timeout: float | None = None):
        """Sends one request; returns the decoded JSON answer.

        Raises:
            ServingError subclasses with the server's message; UnavailableError
            when the server cannot be reached; DeadlineExceededError on timeout.
        """
        timeout = self.timeout if timeout is None else timeout
        data = None
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                conn = self._pool.get_nowait()
                reused = True
            except queue.Empty:
                conn = self._connect(timeout)
                reused = False
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request(method, self._prefix + path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                else:
                    try:
                        self._pool.put_nowait(conn)
                    except queue.Full:
                        conn.close()
                break
            except socket.timeout:
                conn.close()
                raise errors.error_for(
                    "DEADLINE_EXCEEDED", f"{method} {path}: no answer within {timeout} s"
                ) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                conn.close()
                if reused and attempt == 0:
                    continue  # The server closed an idle keep-alive connection.
                raise errors.unavailable(f"{method} {self.url}{path}: {e}") from None
            except (ConnectionRefusedError, OSError, http.client.HTTPException) as e:
                conn.close()
                raise errors.unavailable(f"{method} {self.url}{path}: {e}") from None
        return self._decode(status, payload)

    @staticmethod
    def _decode(status: int, payload: bytes):
        try:
            # TF Serving writes bytes that are not UTF-8 raw (string outputs,
            # errors quoting the request); surrogateescape keeps them.
            doc = json.loads(payload.decode("utf-8", errors="surrogateescape")) if payload else None
        except json.JSONDecodeError:
            doc = None
        if status == 200:
            if doc is None:
                raise errors.internal(f"unparsable answer: {payload[:200]!r}")
            return doc
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            message = doc["error"].encode("utf-8", errors="surrogateescape").decode(
                "utf-8", errors="replace"
            )
        else:
            message = payload.decode("utf-8", errors="replace")[:1000] or f"HTTP {status}"
        raise errors.error_for(errors.code_from_http(status), message, status)

    # === API calls (JSON in, JSON out) ===

    def predict(self, model, version, label, body: dict, timeout=None):
        return self.request("POST", model_path(model, version, label) + ":predict", body, timeout)

    def classify(self, model, version, label, body: dict, timeout=None):
        return self.request("POST", model_path(model, version, label) + ":classify", body, timeout)

    def regress(self, model, version, label, body: dict, timeout=None):
        return self.request("POST", model_path(model, version, label) + ":regress", body, timeout)

    def status(self, model, version, label, timeout=None):
        return self.request("GET", model_path(model, version, label), None, timeout)

    def metadata(self, model, version, label, timeout=None):
        return self.request("GET", model_path(model, version, label) + "/metadata", None, timeout)
