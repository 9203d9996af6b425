"""Where the local server used to differ from TF Serving (issue 18), one
block per class: bounded error excerpts, load retries, TF errors with raw
bytes, exact-case routing, rapidjson's parse flags, classify/regress checks,
duplicate output_filter aliases, OPTIONS/CORS and wording.

The expected behaviour is read from TF Serving's sources:
``util/json_tensor.cc`` (JsonValueToDebugString, ParseJson),
``model_servers/http_rest_api_handler.cc``, ``http_server.cc``,
``servables/tensorflow/{predict_util,classifier,regressor}.cc``,
``util/retrier.cc`` and ``core/basic_manager.h`` (retry defaults).
"""

import base64
import http.client
import json
import os
import pathlib
import shutil
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from ecomtf.serving import config as cfg
from ecomtf.serving import errors
from ecomtf.serving import json_codec as J
from ecomtf.serving.model_manager import ModelManager
from tests.serving import serving_models as sm


def call(handler, method, path, body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    status, text, _ = handler.process(method, path, body)
    return status, text


def error(handler, method, path, body=b"", status=400):
    got, text = call(handler, method, path, body)
    assert got == status, text[:500]
    doc = json.loads(text)
    assert list(doc) == ["error"]
    return doc["error"]


def excerpt(message: str) -> str:
    """The quoted JSON value of a 'JSON Value: <excerpt> <rest>' message."""
    assert message.startswith("JSON Value: "), message[:300]
    return message[len("JSON Value: "):]


# --- 1. Error messages quote at most a 256-byte excerpt ----------------------


def test_debug_string_is_rapidjson_pretty_and_bounded():
    assert J.value_to_string({"a": [1, 2.5], "b": "x", "c": {}}) == (
        '{\n    "a": [1, 2.5],\n    "b": "x",\n    "c": {}\n}'
    )
    assert J.value_to_string([{"k": None}]) == '[{\n        "k": null\n    }]'
    big = {"instances": [[float(i)] * 50 for i in range(20000)]}
    text = J.value_to_string(big)
    assert len(text.encode()) <= J.MAX_DEBUG_STRING_BYTES
    assert text.startswith('{\n    "instances": [[0.0, 0.0')
    # One huge string is cut too (TF Serving would finish the token).
    assert len(J.value_to_string("é" * 100000).encode()) <= 256
    # Deep nesting is walked iteratively.
    deep = []
    for _ in range(100000):
        deep = [deep]
    assert J.value_to_string(deep) == "[" * 256


@pytest.mark.parametrize(
    "path,doc",
    [
        ("/v1/models/hp2:predict", {"instances": {"x": [1.0] * 200000}}),
        ("/v1/models/hp2:predict", {"instances": [1.0] * 200000, "inputs": [1.0]}),
        ("/v1/models/hp2:predict", [1.0] * 200000),
        ("/v1/models/hp2:predict", {"signature_name": 7, "instances": [1.0] * 200000}),
        ("/v1/models/hp2:predict", {"instances": [{"x": 1.0, "junk": ["a"] * 200000}]}),
        ("/v1/models/hp2:predict", {"instances": [[[1.0] * 200000]]}),
        ("/v1/models/hp2:regress", {"context": {"x": 1.0}, "ex": ["a" * 100] * 20000}),
        ("/v1/models/hp2:classify", {"examples": {"x": [1.0] * 200000}}),
    ],
)
def test_error_answers_do_not_grow_with_the_request(handler, path, doc):
    body = json.dumps(doc).encode()
    assert len(body) > 800_000
    message = error(handler, "POST", path, body)
    assert len(message.encode()) < 1000, message[:300]
    if message.startswith("JSON Value: "):
        # The excerpt is at most 256 bytes; the rest is TF Serving's text.
        assert len(message.encode()) <= 256 + 200


def test_messages_that_quote_no_json_value_are_bounded_too(handler):
    # A 1 MB input name ("does not have named input: <name>").
    message = error(handler, "POST", "/v1/models/hp2:predict", {"instances": [{"x" * 1_000_000: 1.0}]})
    assert len(message.encode()) < J.MAX_ERROR_MESSAGE_BYTES + 100
    assert message.endswith("more bytes]")


# --- 2. Failed loads are retried: any file change, TF Serving's schedule -----


def _manager(base, poll=0.0, **kw):
    config = cfg.single_model_config("hp2", base)
    return ModelManager(config, file_system_poll_wait_seconds=poll, **kw)


def test_a_version_whose_variables_land_last_is_retried(fresh_hp2):
    data = next((fresh_hp2 / "1" / "variables").glob("variables.data-*"))
    late = fresh_hp2.parent / data.name
    shutil.move(data, late)  # saved_model.pb and variables.index are there
    manager = _manager(fresh_hp2).start()
    [(version, state, code, message)] = manager.version_status("hp2")
    assert (version, state) == (1, "END") and code != "OK" and message
    shutil.move(late, data)  # only variables.data-* changes
    manager.poll_once()
    assert manager.version_status("hp2")[0][1] == "AVAILABLE"
    assert float(manager.servable("hp2").predict({"x": np.array([1.0], np.float32)})[1]["y"][0]) == 2.5


class _Counting:
    """A loader that fails ``fail`` times, counting calls."""

    def __init__(self, fail=10**9):
        self.calls = 0
        self.fail = fail

    def __call__(self, name, version, path):
        self.calls += 1
        if self.calls <= self.fail:
            raise errors.internal(f"load {self.calls} failed")
        return object()


def _fake_version(base: pathlib.Path, version: int, age_seconds: float = 3600.0):
    d = base / str(version)
    d.mkdir(parents=True, exist_ok=True)
    (d / "saved_model.pb").write_bytes(b"x" * 10)
    old = time.time() - age_seconds
    os.utime(d / "saved_model.pb", (old, old))
    return d


def test_retry_schedule_is_tf_servings(tmp_path):
    # Defaults as TF Serving's (basic_manager.h): 5 retries, 1 minute apart.
    default = ModelManager(cfg.single_model_config("m", tmp_path))
    assert (default.max_num_load_retries, default.load_retry_interval_seconds) == (5, 60.0)
    _fake_version(tmp_path, 1)
    loader = _Counting()
    manager = ModelManager(
        cfg.single_model_config("m", tmp_path), file_system_poll_wait_seconds=0,
        loader=loader, max_num_load_retries=2, load_retry_interval_seconds=0,
    ).start()
    for _ in range(5):
        manager.poll_once()
    assert loader.calls == 3  # the first try and 2 retries
    assert manager.version_status("m")[0][1:3] == ("END", "INTERNAL")
    # Not before the interval has passed.
    loader2 = _Counting()
    waiting = ModelManager(
        cfg.single_model_config("m", tmp_path), file_system_poll_wait_seconds=0,
        loader=loader2, load_retry_interval_seconds=3600,
    ).start()
    waiting.poll_once()
    assert loader2.calls == 1
    # A retry that succeeds serves the version.
    loader3 = _Counting(fail=1)
    retried = ModelManager(
        cfg.single_model_config("m", tmp_path), file_system_poll_wait_seconds=0,
        loader=loader3, load_retry_interval_seconds=0,
    ).start()
    retried.poll_once()
    assert loader3.calls == 2 and retried.version_status("m")[0][1] == "AVAILABLE"


def test_a_version_still_being_written_is_not_tried(tmp_path):
    loader = _Counting(fail=0)
    # Polling on (the thread is not started; polls are driven by hand).
    manager = ModelManager(
        cfg.single_model_config("m", tmp_path), file_system_poll_wait_seconds=1.0,
        loader=loader, settle_seconds=60,
    )
    manager.reload_config(manager._pending_config)
    d = _fake_version(tmp_path, 1, age_seconds=0)  # fresh: a copy in progress
    manager.poll_once()
    assert loader.calls == 0
    with pytest.raises(errors.NotFoundError):
        manager.version_status("m")  # not reported at all, let alone END
    (d / "saved_model.pb").write_bytes(b"x" * 20)  # still growing
    manager.poll_once()
    assert loader.calls == 0
    manager.poll_once()  # unchanged since the last poll: settled
    assert loader.calls == 1 and manager.version_status("m")[0][1] == "AVAILABLE"


# --- 3. A TF error with bytes that are not UTF-8 -----------------------------


def test_tf_error_quoting_raw_bytes_is_tfs_message(handler, server):
    bad = b"\xff\xfe\x80garbage"
    body = {"signature_name": "classify_x_to_y", "instances": [{"b64": base64.b64encode(bad).decode()}]}
    message = error(handler, "POST", "/v1/models/hp2/versions/1:predict", body)
    assert "Could not parse example input, value: '" in message
    assert "codec can't decode" not in message
    # Over HTTP the bytes go out raw, as rapidjson writes them.
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    conn.request("POST", "/v1/models/hp2/versions/1:predict", body=json.dumps(body))
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    assert resp.status == 400 and bad in raw


# --- 4. Verbs and sub-resources are matched exactly --------------------------


@pytest.mark.parametrize("verb", ["PREDICT", "Predict", "CLASSIFY", "Regress"])
def test_verbs_and_subresources_are_exact_case(handler, verb):
    path = f"/v1/models/hp2:{verb}"
    assert error(handler, "POST", path, {"instances": [1.0]}) == f"Malformed request: POST {path}"


def test_metadata_in_another_case_is_the_status(handler):
    status, text = call(handler, "GET", "/v1/models/hp2/METADATA")
    assert status == 200 and "model_version_status" in json.loads(text)
    status, text = call(handler, "GET", "/v1/models/hp2/metadata")
    assert status == 200 and "metadata" in json.loads(text)


# --- 5. rapidjson's flags ----------------------------------------------------


def test_utf8_bom_is_skipped(handler):
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:predict", b'\xef\xbb\xbf{"instances": [1.0]}')
    assert (status, json.loads(text)) == (200, {"predictions": [2.5]})
    # Offsets still count the BOM's bytes.
    with pytest.raises(errors.ServingError) as info:
        J.parse_json(b'\xef\xbb\xbf{"a": x}')
    assert info.value.message == "JSON Parse error: Invalid value. at offset: 9"


def test_invalid_utf8_inside_strings_passes_through(handler):
    doc = J.parse_json(b'{"s": "a\xffb\xc3"}')
    assert J.utf8(doc["s"]) == b"a\xffb\xc3"
    # End to end: the bytes reach the model and come back (echo output).
    body = b'{"inputs": {"a": [[1.0, 2.0]], "s": ["\xff\xfe"]}}'
    status, text = call(handler, "POST", "/v1/models/multi:predict", body)
    assert status == 200, text
    raw = text.encode("utf-8", errors="surrogateescape")
    assert b'"echo": ["\xff\xfe"]' in raw
    # Bytes that are not UTF-8 outside a string are still refused.
    assert "Invalid value" in error(handler, "POST", "/v1/models/hp2:predict", b'{"instances": [\xff]}')


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1" * 400, "1.5e309", "2e308"]
)
def test_number_too_big(handler, number):
    body = ('{"instances": [' + number + "]}").encode()
    msg = error(handler, "POST", "/v1/models/hp2:predict", body)
    assert msg == "JSON Parse error: Number too big to be stored in double. at offset: 15"


def test_big_but_finite_numbers_still_parse(handler):
    # 1e308 is a double; ints past uint64 are doubles for a float input.
    assert call(handler, "POST", "/v1/models/hp2:predict", b'{"instances": [1e308]}')[0] == 200
    assert call(handler, "POST", "/v1/models/hp2:predict", b'{"instances": [NaN, -Infinity]}')[0] == 200
    assert call(handler, "POST", "/v1/models/hp2:predict", ('{"instances": [' + "9" * 30 + "]}").encode())[0] == 200


# --- 6. Classify/regress: codes and check order ------------------------------


def test_classify_regress_errors_are_invalid_argument_in_tf_order(server):
    manager = server.manager
    multi = manager.servable("multi")
    example = [b""]
    # "inconsistent": one input (x), two outputs. TF checks the output count
    # before the input name: regress says "Expected one output Tensor."
    with pytest.raises(errors.ServingError) as info:
        multi.regress(example, "inconsistent")
    assert (info.value.code, info.value.message) == ("INVALID_ARGUMENT", "Expected one output Tensor.")
    with pytest.raises(errors.ServingError) as info:
        multi.classify(example, "inconsistent")
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith("No classification inputs found in SignatureDef: ")
    with pytest.raises(errors.ServingError) as info:
        multi.regress(example, "log")
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith("No regression inputs found in SignatureDef: ")
    with pytest.raises(errors.ServingError) as info:
        multi.classify(example, "")
    assert (info.value.code, info.value.message) == ("INVALID_ARGUMENT", "Expected one input Tensor.")


def test_classify_without_classes_or_scores_is_invalid_argument(server):
    hp2 = server.manager.servable("hp2", version=1)
    with pytest.raises(errors.ServingError) as info:
        hp2.regress([b""], "classify_with_classes")
    assert (info.value.code, info.value.message) == ("INVALID_ARGUMENT", "Expected one output Tensor.")
    with pytest.raises(errors.ServingError) as info:
        hp2.regress([sm.shop_example("a", 1.0)], "classify_x_to_y")
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.message.startswith("No regression outputs found in SignatureDef: ")


# --- 7. gRPC output_filter with a duplicate alias ----------------------------


def test_duplicate_output_filter_alias(server):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "multi"
    req.inputs["a"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]], dtype=tf.float32))
    req.inputs["s"].CopyFrom(tf.make_tensor_proto([b"x"]))
    req.output_filter.extend(["sum", "echo", "sum"])
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(req, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "duplicate output tensor alias: sum"


# --- 9. Wording ---------------------------------------------------------------


def test_wording(handler):
    path = "/v1/models/hp2:predict"
    msg = error(handler, "POST", path, {"instances": 1.0})
    assert msg.endswith(" Expecting 'instances' to be an list/array")
    msg = error(handler, "POST", path, {"instances": [1.0], "inputs": [1.0]})
    assert msg.endswith(" Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
