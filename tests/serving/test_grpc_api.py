"""gRPC conformance with the raw tensorflow-serving-api stubs (no ecomtf client)."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from ecomtf.serving import config as cfg


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc_target)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def predict_request(name, inputs, version=None, label=None, signature="", output_filter=()):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = name
    if version is not None:
        req.model_spec.version.value = version
    if label is not None:
        req.model_spec.version_label = label
    req.model_spec.signature_name = signature
    for k, v in inputs.items():
        req.inputs[k].CopyFrom(tf.make_tensor_proto(v))
    req.output_filter.extend(output_filter)
    return req


def rpc_error(fn, request):
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=10)
    return info.value.code(), info.value.details()


def test_predict_latest_version_and_label(stubs):
    predict, _ = stubs
    x = {"x": np.array([1.0, 2.0], np.float32)}
    resp = predict.Predict(predict_request("hp2", x), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(resp.outputs["y"]), [3.5, 4.0])
    assert (resp.model_spec.name, resp.model_spec.version.value, resp.model_spec.signature_name) == (
        "hp2", 2, "serving_default")
    # Values travel in float_val (Tensor::AsProtoField), as TF Serving sends them.
    assert list(resp.outputs["y"].float_val) == [3.5, 4.0]
    resp = predict.Predict(predict_request("hp2", x, version=1), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(resp.outputs["y"]), [2.5, 3.0])
    resp = predict.Predict(predict_request("hp2", x, label="stable"), timeout=10)
    assert resp.model_spec.version.value == 1


def test_predict_strings_and_output_filter(stubs):
    predict, _ = stubs
    inputs = {"a": np.array([[1, 2]], np.float32), "s": np.array([b"hi"])}
    resp = predict.Predict(predict_request("multi", inputs, output_filter=["tag_bytes", "count"]), timeout=10)
    assert set(resp.outputs) == {"tag_bytes", "count"}
    assert tf.make_ndarray(resp.outputs["tag_bytes"]).tolist() == [b"hi\x00\xff"]
    assert tf.make_ndarray(resp.outputs["count"]).tolist() == [2]


def test_predict_errors(stubs):
    predict, _ = stubs
    x = {"x": np.array([1.0], np.float32)}
    code, msg = rpc_error(predict.Predict, predict_request("nope", x))
    assert code == grpc.StatusCode.NOT_FOUND and msg == "Servable not found for request: Latest(nope)"
    code, msg = rpc_error(predict.Predict, predict_request("hp2", x, signature="nope"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and msg == 'Serving signature key "nope" not found.'
    code, msg = rpc_error(predict.Predict, predict_request("hp2", x, label="nope"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg == "Unrecognized servable version label: nope"
    code, msg = rpc_error(predict.Predict, predict_request("multi", {"a": np.zeros([1, 2], np.float32)}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert msg == "input size does not match signature: 1!=2 len({a}) != len({a,s}). Sent extra: {}. Missing but required: {s}."
    code, msg = rpc_error(predict.Predict, predict_request("hp2", x, output_filter=["zz"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "output tensor alias not found in signature: zz" in msg
    code, msg = rpc_error(predict.Predict, predict_request("hp2", {"x": np.array([True])}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg == "Expects arg[0] to be float but bool is provided"


def _example(**features):
    feats = {}
    for k, v in features.items():
        if isinstance(v, str):
            feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
        else:
            feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
    return tf.train.Example(features=tf.train.Features(feature=feats))


def test_classify_regress_and_multi_inference(stubs):
    predict, _ = stubs
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name = "hp2"
    req.model_spec.version.value = 1
    req.model_spec.signature_name = "classify_x_to_y"
    req.input.example_list.examples.add().CopyFrom(_example(x=20.0))
    resp = predict.Classify(req, timeout=10)
    assert [(c.label, c.score) for c in resp.result.classifications[0].classes] == [("", 12.0)]
    assert resp.model_spec.signature_name == "classify_x_to_y"

    req = regression_pb2.RegressionRequest()
    req.model_spec.name = "shop"
    req.model_spec.signature_name = "regress"
    ctx = req.input.example_list_with_context
    ctx.context.CopyFrom(_example(price=10.0))
    ctx.examples.add().CopyFrom(_example(item="hat"))
    ctx.examples.add().CopyFrom(_example(item="hat", price=0.0))
    values = [r.value for r in predict.Regress(req, timeout=10).result.regressions]
    from tests.serving.serving_models import shop_score

    assert values == pytest.approx([shop_score("hat", 10.0), shop_score("hat", 0.0)], rel=1e-5)

    req = inference_pb2.MultiInferenceRequest()
    for sig, method in (("classify_x_to_y", "tensorflow/serving/classify"), ("regress_x_to_y", "tensorflow/serving/regress")):
        task = req.tasks.add()
        task.model_spec.name = "hp2"
        task.model_spec.version.value = 1
        task.model_spec.signature_name = sig
        task.method_name = method
    req.input.example_list.examples.add().CopyFrom(_example(x=80.0))
    results = predict.MultiInference(req, timeout=10).results
    assert results[0].classification_result.classifications[0].classes[0].score == 42.0
    assert results[1].regression_result.regressions[0].value == 42.0
    code, msg = rpc_error(predict.Classify, classification_pb2.ClassificationRequest(
        model_spec={"name": "hp2", "signature_name": "classify_x_to_y"}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg == "Input is empty."


def test_metadata(stubs):
    predict, _ = stubs
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "hp2"
    code, msg = rpc_error(predict.GetModelMetadata, req)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "must specify at least one metadata_field" in msg
    req.metadata_field.append("foo")
    code, msg = rpc_error(predict.GetModelMetadata, req)
    assert msg == "Metadata field foo is not supported"
    del req.metadata_field[:]
    req.metadata_field.append("signature_def")
    resp = predict.GetModelMetadata(req, timeout=10)
    sigs = get_model_metadata_pb2.SignatureDefMap()
    assert resp.metadata["signature_def"].Unpack(sigs)
    assert resp.model_spec.version.value == 2
    assert sigs.signature_def["serving_default"].inputs["x"].dtype == tf.float32.as_datatype_enum


def test_model_status(stubs):
    _, model = stubs
    req = get_model_status_pb2.GetModelStatusRequest()
    req.model_spec.name = "hp2"
    resp = model.GetModelStatus(req, timeout=10)
    assert [(s.version, s.state) for s in resp.model_version_status] == [(2, 30), (1, 30)]
    req.model_spec.version_label = "stable"
    assert [s.version for s in model.GetModelStatus(req, timeout=10).model_version_status] == [1]
    req.model_spec.name = "nope"
    req.model_spec.ClearField("version_label")
    code, msg = rpc_error(model.GetModelStatus, req)
    assert code == grpc.StatusCode.NOT_FOUND and msg == "Could not find any versions of model nope"


def test_reload_config_is_a_full_replacement(exported, tmp_path):
    from ecomtf.serving import LocalModelServer

    text = cfg.generate_model_config(exported, "all", models=["hp2", "multi"], labels={"hp2": {"stable": 1}})
    with LocalModelServer(text, rest_api_port=None, grpc_port=0, file_system_poll_wait_seconds=0) as srv:
        channel = grpc.insecure_channel(srv.grpc_target)
        model = model_service_pb2_grpc.ModelServiceStub(channel)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        x = {"x": np.array([1.0], np.float32)}
        assert predict.Predict(predict_request("hp2", x, label="stable"), timeout=10).model_spec.version.value == 1

        # Move "stable" to 2 and drop "multi".
        new = cfg.parse_model_server_config(
            cfg.generate_model_config(exported, "all", models=["hp2"], labels={"hp2": {"stable": 2}})
        )
        reply = model.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=new), timeout=30)
        assert reply.status.error_code == 0
        assert predict.Predict(predict_request("hp2", x, label="stable"), timeout=10).model_spec.version.value == 2
        code, _ = rpc_error(predict.Predict, predict_request("multi", {"x": np.zeros([1], np.float32)}))
        assert code == grpc.StatusCode.NOT_FOUND

        # A label naming a version that is not loaded is refused.
        bad = cfg.parse_model_server_config(
            cfg.generate_model_config(exported, "specific", versions=[1], models=["hp2"])
        )
        bad.model_config_list.config[0].version_labels["canary"] = 2
        code, msg = rpc_error(model.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest(config=bad))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert "assign label to version 2 of model hp2" in msg
        channel.close()


def test_grpc_binds_loopback_and_bounds_message_size(exported):
    from ecomtf.serving import LocalModelServer

    text = cfg.generate_model_config(exported, "latest", models=["hp2"])
    with LocalModelServer(text, rest_api_port=None, grpc_port=0, file_system_poll_wait_seconds=0,
                          max_request_bytes=4096) as srv:
        assert srv.host == "127.0.0.1" and srv.grpc_target.startswith("127.0.0.1:")  # the default
        channel = grpc.insecure_channel(srv.grpc_target)
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        small = predict_request("hp2", {"x": np.ones([8], np.float32)})
        assert predict.Predict(small, timeout=10).outputs
        big = predict_request("hp2", {"x": np.ones([4096], np.float32)})  # 16 KiB > 4 KiB
        code, _ = rpc_error(predict.Predict, big)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        channel.close()
