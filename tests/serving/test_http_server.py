"""The HTTP layer: keep-alive, non-API paths, body limits, chunked bodies,
Prometheus and CORS, over real sockets on 127.0.0.1."""

import http.client
import json
import socket

import pytest

from ecomtf.serving.rest_server import RestServer


def request(port, method, path, body=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    if own:
        conn.close()
    return resp, data


def test_binds_loopback_and_keeps_connections_alive(server):
    assert server.rest.host == "127.0.0.1"
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    for x in (1.0, 2.0):
        resp, data = request(server.rest_port, "POST", "/v1/models/hp2/versions/1:predict",
                             json.dumps({"instances": [x]}), conn=conn)
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "application/json"
        assert json.loads(data) == {"predictions": [0.5 * x + 2]}
    sock_before = conn.sock
    request(server.rest_port, "GET", "/v1/models/hp2", conn=conn)
    assert conn.sock is sock_before  # the same TCP connection served all three
    conn.close()


def test_paths_outside_v1_are_404(server):
    resp, _ = request(server.rest_port, "GET", "/index.html")
    assert resp.status == 404
    resp, data = request(server.rest_port, "GET", "/v1/models/hp2?x=1")
    assert resp.status == 200 and json.loads(data)["model_version_status"]


def test_error_codes_over_http(server):
    resp, data = request(server.rest_port, "POST", "/v1/models/nope:predict", b'{"instances": [1]}')
    assert resp.status == 404
    assert json.loads(data) == {"error": "Servable not found for request: Latest(nope)"}
    resp, data = request(server.rest_port, "DELETE", "/v1/models/hp2")
    assert resp.status == 400 and "Malformed request" in json.loads(data)["error"]


@pytest.fixture
def small_server(handler):
    srv = RestServer(handler, "127.0.0.1", 0, max_request_bytes=1000, enable_cors=True).start()
    yield srv
    srv.stop()


def test_request_body_limit_is_413(small_server):
    body = json.dumps({"instances": [1.0] * 1000}).encode()
    resp, data = request(small_server.port, "POST", "/v1/models/hp2:predict", body)
    assert resp.status == 413
    assert "exceeds the server's limit of 1000 bytes" in json.loads(data)["error"]
    resp, data = request(small_server.port, "POST", "/v1/models/hp2/versions/1:predict", b'{"instances": [2.0]}')
    assert resp.status == 200


def test_chunked_bodies_are_read_and_limited(small_server):
    def chunked(payload: bytes, size=7):
        for i in range(0, len(payload), size):
            yield payload[i : i + size]

    conn = http.client.HTTPConnection("127.0.0.1", small_server.port, timeout=10)
    conn.request("POST", "/v1/models/hp2/versions/1:predict", body=chunked(b'{"instances": [4.0]}'),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())) == (200, {"predictions": [4.0]})
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", small_server.port, timeout=10)
    # Past the limit the server still reads (and drops) the rest of the chunks,
    # so the client finishes sending and gets the 413 instead of a broken pipe.
    conn.request("POST", "/v1/models/hp2:predict", body=chunked(b"[" * 2000, 500), encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413
    assert "exceeds the server's limit of 1000 bytes" in json.loads(resp.read())["error"]
    conn.close()


def test_cors_headers_and_preflight(small_server):
    resp, _ = request(small_server.port, "GET", "/v1/models/hp2")
    assert resp.getheader("Access-Control-Allow-Origin") == "*"
    assert resp.getheader("Access-Control-Allow-Methods") == "POST, GET"
    # http_server.cc: a preflight whose Origin has http(s):// is OK (200,
    # empty body, no Content-Type); otherwise FAILED_PRECONDITION (400, empty).
    resp, body = request(small_server.port, "OPTIONS", "/v1/models/hp2:predict", headers={"Origin": "http://x"})
    assert (resp.status, body, resp.getheader("Content-Type")) == (200, b"", None)
    assert resp.getheader("Access-Control-Allow-Origin") == "*"
    resp, body = request(small_server.port, "OPTIONS", "/v1/models/hp2:predict")
    assert (resp.status, body) == (400, b"")  # no Origin: not a preflight
    assert resp.getheader("Access-Control-Allow-Origin") == "*"
    resp, body = request(small_server.port, "OPTIONS", "/v1/models/hp2", headers={"Origin": "null"})
    assert (resp.status, body) == (400, b"")


def test_prometheus_endpoint(server):
    request(server.rest_port, "POST", "/v1/models/hp2:predict", b'{"instances": [1.0]}')
    resp, data = request(server.rest_port, "GET", "/monitoring/prometheus/metrics")
    text = data.decode()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/plain")
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert ':tensorflow:serving:request_count{model_name="hp2",status="OK"}' in text
    assert 'request_latency_bucket{model_name="hp2",API="predict",entrypoint="REST",le="+Inf"}' in text
    assert ':ecomtf:serving:loaded_versions{model_name="hp2"} 2' in text


def test_garbage_http_does_not_kill_the_server(server):
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        s.recv(1000)
    resp, _ = request(server.rest_port, "GET", "/v1/models/hp2")
    assert resp.status == 200


def test_prometheus_path_answers_any_method_and_keeps_the_connection_in_step(server):
    # http_server.cc registers the Prometheus handler for its path, any method.
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    resp, data = request(server.rest_port, "POST", "/monitoring/prometheus/metrics", b'{"x": 1}', conn=conn)
    assert resp.status == 200 and b"# TYPE" in data
    resp, _ = request(server.rest_port, "GET", "/v1/models/hp2", conn=conn)
    assert resp.status == 200
    conn.close()
