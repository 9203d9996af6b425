"""REST conformance: the behaviours TF Serving's own tests pin
(``http_rest_api_handler_test.cc``, ``json_tensor_test.cc``,
``http_rest_api_util_test.cc``), against the local server's handler.

Models (see serving_models.py): hp2 versions 1 (b=2) and 2 (b=3), labels
stable=1 and canary=2; multi; shop (an ecomtf Servable).
"""

import json

import pytest

from ecomtf.serving.rest_api_handler import PATH_REGEX


def call(handler, method, path, body=b""):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    status, text, headers = handler.process(method, path, body)
    assert ("Content-Type", "application/json") in headers
    return status, text


def ok(handler, method, path, body=b""):
    status, text = call(handler, method, path, body)
    assert status == 200, text
    return json.loads(text)


def error(handler, method, path, body=b"", status=400):
    got, text = call(handler, method, path, body)
    assert got == status, text
    doc = json.loads(text)
    assert list(doc) == ["error"]
    return doc["error"]


# --- Routing ----------------------------------------------------------------


def test_path_regex():
    assert PATH_REGEX.fullmatch("/v1/models")
    assert PATH_REGEX.fullmatch("/V1/Models/x:predict")
    assert not PATH_REGEX.fullmatch("/statuspage")
    assert not PATH_REGEX.fullmatch("/index")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/foo"),
        ("POST", "/v1/foo"),
        ("GET", "/v1/models/debug/model_name"),
        ("POST", "/v1/models"),
        ("GET", "/v1/models/foo:predict"),
        ("GET", "/v1/models/foo/version/50:predict"),
        ("POST", "/v1/models/foo/version/50:regress"),
        ("POST", "/v1/models/foo/versions/HELLO:regress"),
        ("POST", "/v1/models/foo/metadata"),
        ("POST", "/v1/models/foo/label/some_label:regress"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress"),
        ("POST", "/v1/models/foo/versions/some_label:regress"),
        ("PUT", "/v1/models/hp2:predict"),
    ],
)
def test_malformed_requests(handler, method, path):
    msg = error(handler, method, path)
    assert msg == f"Malformed request: {method} {path}"


def test_missing_model_name_and_bad_version(handler):
    assert error(handler, "GET", "/v1/models") == "Missing model name in request."
    msg = error(handler, "POST", "/v1/models/foo/versions/18446744073709551615:regress")
    assert msg == "Failed to convert version: 18446744073709551615 to numeric."


def test_route_prefixes_are_case_insensitive_and_names_percent_decoded(handler):
    # The regexes are (?i), so "/V1/MODELS/.../VERSIONS/" match; the verb is
    # then compared exactly (see test_verbs_and_subresources_are_exact_case).
    assert ok(handler, "POST", "/V1/MODELS/hp2/VERSIONS/1:predict", {"instances": [1.0]}) == {
        "predictions": [2.5]
    }
    # %70%32 is "p2": the name is decoded after matching, as curl_easy_unescape.
    assert ok(handler, "POST", "/v1/models/h%70%32/labels/st%61ble:predict", {"instances": [1.0]}) == {
        "predictions": [2.5]
    }


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/foo:predict",
        "/v1/models/foo/versions/50:predict",
        "/v1/models/hp299:predict",
        "/v1/models/hp2/versions/99:predict",
        "/v1/models/..%2F..%2Fetc:predict",
        "/v1/models/%2E%2E:predict",
    ],
)
def test_unknown_model_or_version_is_404(handler, path):
    msg = error(handler, "POST", path, {"instances": [1.0]}, status=404)
    assert msg.startswith("Servable not found for request: ")


def test_unknown_model_messages(handler):
    assert (
        error(handler, "POST", "/v1/models/foo:predict", {"instances": [1]}, 404)
        == "Servable not found for request: Latest(foo)"
    )
    assert (
        error(handler, "POST", "/v1/models/hp2/versions/7:predict", {"instances": [1]}, 404)
        == "Servable not found for request: Specific(hp2, 7)"
    )
    assert error(handler, "GET", "/v1/models/foo", status=404) == "Could not find any versions of model foo"
    assert error(handler, "GET", "/v1/models/hp2/versions/99", status=404) == "Could not find version 99 of model hp2"


# --- Predict errors -------------------------------------------------------------


def test_predict_request_errors(handler):
    path = "/v1/models/hp2:predict"
    assert error(handler, "POST", path, b"") == "JSON Parse error: The document is empty"
    assert error(handler, "POST", path, "instances = [1, 2]").startswith("JSON Parse error: Invalid value")
    assert "not of expected type: float" in error(handler, "POST", path, {"instances": ["x", "y"]})
    assert "Unrecognized servable version label" in error(
        handler, "POST", "/v1/models/hp2/labels/Version_Nonexistent:predict", {"instances": ["x", "y"]}
    )
    assert "'signature_name' key must be a string value." in error(handler, "POST", path, {"signature_name": 100})
    assert "expecting only one of 'inputs' or 'instances' keys to exist " in error(
        handler, "POST", path, {"instances": [1.0], "inputs": [1.0]}
    )
    assert error(handler, "POST", path, {"foo": 1}) == "Missing 'inputs' or 'instances' key"
    assert "No values in 'instances' array" in error(handler, "POST", path, {"instances": []})
    assert 'Serving signature name: "nope" not found' in error(
        handler, "POST", path, {"signature_name": "nope", "instances": [1.0]}
    )


def test_parse_errors_come_before_servable_errors(handler):
    # FillPredictRequestFromJson parses before it resolves the servable.
    assert error(handler, "POST", "/v1/models/foo:predict", b"") == "JSON Parse error: The document is empty"


def test_shape_and_mixing_errors(handler):
    path = "/v1/models/hp2:predict"
    matrix = {"signature_name": "predict_matrix"}
    assert "Expecting tensor size: 2 but got: 3" in error(
        handler, "POST", path, {**matrix, "instances": [[1.0, 2.0], [1.0, 2.0, 3.0]]}
    )
    assert "Encountered list at unexpected size" in error(handler, "POST", path, {**matrix, "inputs": [[1.0, 2.0], [3.0]]})
    assert "Expecting value/list but got object" in error(handler, "POST", path, {"instances": [1.0, {"x": 1.0}]})
    multi = "/v1/models/multi:predict"
    assert "Expecting object but got list" in error(
        handler, "POST", multi, {"instances": [{"a": [1, 2], "s": "x"}, [1, 2]]}
    )
    assert "instances is a plain list, but expecting list of objects" in error(handler, "POST", multi, {"instances": [[1, 2]]})
    assert "keys must be equal to: a,s" in error(handler, "POST", multi, {"instances": [{"a": [1, 2]}]})
    assert "does not have named input: zz" in error(handler, "POST", multi, {"instances": [{"a": [1, 2], "s": "x", "zz": 1}]})
    assert error(handler, "POST", multi, {"inputs": {"a": [[1, 2]]}}) == "Missing named input: s in 'inputs' object."
    assert "Expecting tensor size: 2 but got: 3" in error(
        handler, "POST", multi, {"instances": [{"a": [1, 2], "s": "x"}, {"a": [[1, 2, 3]], "s": "y"}]}
    )
    assert "Expecting shape [2] but got: [2,1]" in error(
        handler, "POST", path, {**matrix, "instances": [[1.0, 2.0], [[1.0], [2.0]]]}
    )
    assert "Unable to base64 decode" in error(
        handler, "POST", multi, {"instances": [{"a": [1, 2], "s": {"b64": "!!!"}}]}
    )


# --- Predict ------------------------------------------------------------------


def test_predict_latest_version_label_signature_and_columnar(handler):
    # Mirrors HttpRestApiHandlerTest.Predict (version 1 is half_plus_two).
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:predict",
              {"signature_name": "predict_matrix", "instances": [[1.0, 2.0], [3.0, 4.0]]}) == {
        "predictions": [[2.5, 3.0], [3.5, 4.0]]
    }
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:predict", {"instances": [1.0, 2.0]}) == {
        "predictions": [2.5, 3.0]
    }
    assert ok(handler, "POST", "/v1/models/hp2/labels/stable:predict", {"instances": [1.0, 2.0]}) == {
        "predictions": [2.5, 3.0]
    }
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:predict",
              {"signature_name": "serving_default", "instances": [3.0, 4.0]}) == {"predictions": [3.5, 4.0]}
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:predict",
              {"signature_name": "serving_default", "inputs": [3.0, 4.0]}) == {"outputs": [3.5, 4.0]}
    # Latest is version 2 (b = 3); canary names it too.
    assert ok(handler, "POST", "/v1/models/hp2:predict", {"instances": [1.0]}) == {"predictions": [3.5]}
    assert ok(handler, "POST", "/v1/models/hp2/labels/canary:predict", {"inputs": [1.0]}) == {"outputs": [3.5]}


def test_unknown_top_level_keys_and_trailing_text_are_ignored(handler):
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:predict",
                        b'{"instances": [1.0], "extra": {"x": 1}} trailing')
    assert status == 200 and json.loads(text) == {"predictions": [2.5]}


def test_int_to_float_precision_loss_and_overflow(handler):
    path = "/v1/models/hp2/versions/1:predict"
    # JSON ints are accepted for float; 1435774380 loses precision, as in TF Serving.
    doc = ok(handler, "POST", path, {"instances": [1, 2.0, 1435774380]})
    assert doc["predictions"][:2] == [2.5, 3.0]
    assert doc["predictions"][2] == pytest.approx(717887192.0, rel=1e-6)
    status, text = call(handler, "POST", path, b'{"instances": [1e40, -1e40, 1e-50]}')
    assert status == 200
    assert text == '{"predictions": [Infinity,-Infinity,2.0]}'


def test_nan_and_infinity_tokens_in_and_out(handler):
    status, text = call(handler, "POST", "/v1/models/multi:predict",
                        b'{"signature_name": "log", "instances": [0, -1, Infinity, 1, NaN]}')
    assert status == 200
    assert text == '{"predictions": [-Infinity,NaN,Infinity,0.0,NaN]}'


def test_six_significant_digit_float_formatting(handler):
    # 0.5 * x + 2: 9e+06 and 1e+06 switch to exponent form, 999999.0 does not.
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:predict",
                        {"instances": [17999996, 1999996, 1999994, 0.1]})
    assert status == 200
    assert text == '{"predictions": [9e+06,1e+06,999999.0,2.05]}'


def test_double_signature(handler):
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:predict",
                        {"signature_name": "predict_double", "instances": [1, 0.2]})
    assert status == 200
    assert text == '{"predictions": [2.5,2.1]}'


def test_multiple_inputs_outputs_b64_and_bytes_outputs(handler):
    body = {"instances": [{"a": [1, 2], "s": "hi"}, {"a": [3, 4.5], "s": {"b64": "aGV5"}}]}
    doc = ok(handler, "POST", "/v1/models/multi:predict", body)
    assert doc == {
        "predictions": [
            {"count": 2, "echo": "hi", "sum": 3.0, "tag_bytes": {"b64": "aGkA/w=="}},
            {"count": 3, "echo": "hey", "sum": 7.5, "tag_bytes": {"b64": "aGV5AP8="}},
        ]
    }
    doc = ok(handler, "POST", "/v1/models/multi:predict", {"inputs": {"a": [[1, 2]], "s": [{"b64": "aGk="}]}})
    assert doc == {"outputs": {"count": [2], "echo": ["hi"], "sum": [3.0], "tag_bytes": [{"b64": "aGkA/w=="}]}}


def test_integer_and_bool_types(handler):
    body = {"signature_name": "ints", "instances": [{"i": 3, "l": 2**40, "flag": True}]}
    assert ok(handler, "POST", "/v1/models/multi:predict", body) == {
        "predictions": [{"i2": 6, "l2": 2**40 + 1, "nflag": False}]
    }
    bad = {"signature_name": "ints", "instances": [{"i": 3, "l": 1, "flag": 1}]}
    assert "is not of expected type: bool" in error(handler, "POST", "/v1/models/multi:predict", bad)
    bad = {"signature_name": "ints", "instances": [{"i": 3.5, "l": 1, "flag": True}]}
    assert "is not of expected type: int32" in error(handler, "POST", "/v1/models/multi:predict", bad)


def test_zero_batch_scalar_inconsistent_and_complex_outputs(handler):
    path = "/v1/models/multi:predict"
    assert ok(handler, "POST", path, {"signature_name": "zero", "instances": [1.0]}) == {"predictions": []}
    assert ok(handler, "POST", path, {"signature_name": "zero", "inputs": [1.0]}) == {"outputs": []}
    assert ok(handler, "POST", path, {"signature_name": "scalar", "inputs": [1.0, 2.0]}) == {"outputs": 3.0}
    assert "Tensor name: total has no shape information" in error(
        handler, "POST", path, {"signature_name": "scalar", "instances": [1.0]}
    )
    assert "Tensor name: b has inconsistent batch size: 4 expecting: 2" in error(
        handler, "POST", path, {"signature_name": "inconsistent", "instances": [1.0, 2.0]}
    )
    assert error(handler, "POST", path, {"signature_name": "complex", "instances": [1.0]}) == (
        "Failed to write JSON value for tensor type: complex64"
    )


def test_deep_nesting(handler):
    deep = "[" * 200000 + "]" * 200000
    body = '{"unused": ' + deep + ', "instances": [1.0]}'
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:predict", body)
    assert (status, json.loads(text)) == (200, {"predictions": [2.5]})
    msg = error(handler, "POST", "/v1/models/hp2:predict", '{"signature_name": ' + deep + "}")
    assert msg.endswith("'signature_name' key must be a string value.")


def test_ecomtf_servable_predict(handler):
    from tests.serving.serving_models import shop_score

    doc = ok(handler, "POST", "/v1/models/shop:predict",
             {"instances": [{"item": "hat", "price": 10}, {"item": "never-seen", "price": 0}]})
    rows = doc["predictions"]
    assert [r["item_index"] for r in rows] == [2, 0]  # unknown id -> OOV bucket
    assert rows[0]["score"] == pytest.approx(shop_score("hat", 10.0), rel=1e-5)
    assert rows[1]["score"] == pytest.approx(0.5)


# --- Classify / regress ------------------------------------------------------------


def test_regress_and_classify_like_tf_serving(handler):
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:regress", body) == {"results": [42.0]}
    assert ok(handler, "POST", "/v1/models/hp2/labels/stable:regress", body) == {"results": [42.0]}
    assert ok(handler, "POST", "/v1/models/hp2:regress", body) == {"results": [43.0]}
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:classify", body) == {"results": [[["", 12.0]]]}
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]}
    assert ok(handler, "POST", "/v1/models/hp2/labels/stable:classify", body) == {"results": [[["", 7.0]]]}
    body = {"signature_name": "classify_with_classes", "examples": [{"x": 1.0}, {"x": 2.0}]}
    assert ok(handler, "POST", "/v1/models/hp2/versions/1:classify", body) == {
        "results": [[["big", 2.5], ["small", -1.5]], [["big", 3.0], ["small", -2.0]]]
    }


def test_classify_context_is_merged_into_each_example(handler):
    from tests.serving.serving_models import shop_score

    body = {
        "signature_name": "classify",
        "context": {"price": 10.0},
        "examples": [{"item": "hat"}, {"item": "bag", "price": 0.0}],
    }
    results = ok(handler, "POST", "/v1/models/shop:classify", body)["results"]
    assert [[c[0] for c in row] for row in results] == [["no", "yes"], ["no", "yes"]]
    assert results[0][1][1] == pytest.approx(shop_score("hat", 10.0), rel=1e-5)
    assert results[1][1][1] == pytest.approx(shop_score("bag", 0.0), rel=1e-5)
    values = ok(handler, "POST", "/v1/models/shop:regress", {**body, "signature_name": "regress"})["results"]
    assert values == pytest.approx([shop_score("hat", 10.0), shop_score("bag", 0.0)], rel=1e-5)


def test_classify_regress_errors(handler):
    path = "/v1/models/hp2/versions/1:regress"
    assert "Only int64_t is supported" in error(
        handler, "POST", path, {"signature_name": "regress_x_to_y", "examples": [{"x": 2**63}]}
    )
    assert "Unexpected element type in feature: x expecting type: int64" in error(
        handler, "POST", path, {"signature_name": "regress_x_to_y", "examples": [{"x": [1, 2.5]}]}
    )
    assert "has element with unexpected JSON type: Null" in error(
        handler, "POST", path, {"signature_name": "regress_x_to_y", "examples": [{"x": None}]}
    )
    assert "key 'examples' is expected and was not found" in error(handler, "POST", path, {"instances": [1]})
    assert "No signature was found with the name: nope" in error(
        handler, "POST", path, {"signature_name": "nope", "examples": [{"x": 1.0}]}
    )
    # serving_default takes floats, not serialized examples.
    assert "No regression inputs found in SignatureDef" in error(handler, "POST", path, {"examples": [{"x": 1.0}]})
    assert "Expected one output Tensor." in error(
        handler, "POST", "/v1/models/hp2:regress",
        {"signature_name": "classify_with_classes", "examples": [{"x": 1.0}]},
    )


def test_non_finite_regression_values(handler):
    status, text = call(handler, "POST", "/v1/models/hp2/versions/1:regress",
                        b'{"signature_name": "regress_x_to_y", "examples": [{"x": Infinity}, {"x": NaN}]}')
    assert status == 200
    assert text == '{"results": [Infinity,NaN]}'


# --- Status and metadata -----------------------------------------------------------


def _status(version):
    return {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


def test_get_status_all_version_and_label(handler):
    assert ok(handler, "GET", "/v1/models/hp2") == {"model_version_status": [_status(2), _status(1)]}
    assert ok(handler, "GET", "/v1/models/hp2/versions/1") == {"model_version_status": [_status(1)]}
    assert ok(handler, "GET", "/v1/models/hp2/labels/canary") == {"model_version_status": [_status(2)]}
    assert "Unrecognized servable version label: nope" in error(handler, "GET", "/v1/models/hp2/labels/nope")


def test_get_metadata_shape(handler):
    doc = ok(handler, "GET", "/v1/models/hp2/metadata")
    assert doc["model_spec"] == {"name": "hp2", "signature_name": "", "version": "2"}
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_matrix", "classify_x_to_y", "regress_x_to_y", "__saved_model_init_op"} <= set(sigs)
    x = sigs["predict_matrix"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert x["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}, {"size": "-1", "name": ""}], "unknown_rank": False}
    assert x["name"].endswith(":0")
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert set(sigs["serving_default"]["outputs"]) == {"y"}
    assert ok(handler, "GET", "/v1/models/hp2/versions/1/metadata")["model_spec"]["version"] == "1"
    assert ok(handler, "GET", "/v1/models/hp2/labels/stable/metadata")["model_spec"]["version"] == "1"
    assert error(handler, "GET", "/v1/models/nope/metadata", status=404).startswith("Servable not found")


def test_request_metrics_are_counted(server, handler):
    before = server.metrics.request_count("hp2")
    ok(handler, "POST", "/v1/models/hp2:predict", {"instances": [1.0]})
    error(handler, "POST", "/v1/models/hp2:predict", {"instances": ["x"]})
    assert server.metrics.request_count("hp2") == before + 1
    assert server.metrics.request_count("hp2", "INVALID_ARGUMENT") >= 1
