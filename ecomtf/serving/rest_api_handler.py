"""TF Serving's REST API (``http_rest_api_handler.cc``) over a ModelManager."""

from __future__ import annotations

import re
import time
import urllib.parse

from ecomtf.serving import errors
from ecomtf.serving import json_codec as J

PATH_REGEX = re.compile(r"/v1/.*", re.IGNORECASE)
PREDICTION_API_REGEX = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
MODEL_STATUS_API_REGEX = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1
JSON_HEADERS = (("Content-Type", "application/json"),)


def _decode(arg: str) -> str:
    # curl_easy_unescape: %XX only ("+" stays "+").
    return urllib.parse.unquote(arg, errors="strict")


class RestApiHandler:
    """Routes and answers TF Serving REST requests; transport-free.

    ``process`` takes a method, a path and a body and returns the HTTP
    status, the JSON body and headers, so the conformance tests can run it
    without sockets; ``RestServer`` puts it behind HTTP.

    Args:
        manager: the ``ModelManager`` holding the loaded versions.
        batcher: optional ``Batcher`` for predict calls.
        metrics: optional ``ServerMetrics``.

    Example:
        >>> status, body, headers = handler.process(
        ...     "POST", "/v1/models/hp2:predict", b'{"instances": [1.0]}')
        >>> status, body
        (200, '{"predictions": [2.5]}')
    """

    def __init__(self, manager, batcher=None, metrics=None):
        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics

    def process(self, method: str, path: str, body: bytes = b""):
        """Returns ``(http_status, json_text, headers)``."""
        start = time.perf_counter()
        info = {"model": "", "api": ""}
        try:
            output = self._dispatch(method, path, body, info)
            code = "OK"
            status = 200
        except errors.ServingError as e:
            code = e.code
            status = errors.http_status(e.code)
            output = J.error_json(e.message)
        except Exception as e:  # noqa: BLE001 - every failure is a JSON error
            code = "INTERNAL"
            status = 500
            output = J.error_json(f"{type(e).__name__}: {e}")
        if self.metrics is not None and info["model"]:
            self.metrics.record(info["model"], info["api"], "REST", code, time.perf_counter() - start)
        return status, output, list(JSON_HEADERS)

    def _dispatch(self, method: str, path: str, body: bytes, info: dict) -> str:
        path = path.split("?", 1)[0]
        malformed = errors.invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            m = PREDICTION_API_REGEX.fullmatch(path)
            if m is None:
                raise malformed
            name, version, label = self._model_info(m.group(1), m.group(2), m.group(3))
            # The regex is case-insensitive but the dispatch compares the verb
            # exactly: ":PREDICT" is a malformed request in TF Serving.
            verb = m.group(4)
            if verb == "predict":
                info.update(model=name, api=verb)
                return self._predict(name, version, label, body)
            if verb == "classify":
                info.update(model=name, api=verb)
                return self._classify(name, version, label, body)
            if verb == "regress":
                info.update(model=name, api=verb)
                return self._regress(name, version, label, body)
            raise malformed
        if method == "GET":
            m = MODEL_STATUS_API_REGEX.fullmatch(path)
            if m is None:
                raise malformed
            name, version, label = self._model_info(m.group(1), m.group(2), m.group(3))
            if not name:
                raise errors.invalid_argument("Missing model name in request.")
            # Only "metadata" exactly is the metadata call; any other case of
            # it ("/METADATA") falls through to the status, as in TF Serving.
            if m.group(4) == "metadata":
                info.update(model=name, api="GetModelMetadata")
                return self._metadata(name, version, label)
            info.update(model=name, api="GetModelStatus")
            return self._status(name, version, label)
        raise malformed

    @staticmethod
    def _model_info(name, version, label):
        try:
            name = _decode(name) if name else ""
        except UnicodeDecodeError:
            raise errors.invalid_argument(f"Failed to decode model name:{name}") from None
        if version:
            number = int(version)
            if number > _INT64_MAX:
                raise errors.invalid_argument(f"Failed to convert version: {version} to numeric.")
            version = number
        else:
            version = None
        if label:
            try:
                label = _decode(label)
            except UnicodeDecodeError:
                raise errors.invalid_argument(f"Failed to decode model version label:{label}") from None
        else:
            label = None
        return name, version, label

    # === Handlers ===

    def _predict(self, name, version, label, body) -> str:
        doc = J.parse_json(body)
        found = {}

        def input_dtypes(signature_name):
            found["servable"] = self.manager.servable(name, version=version, label=label)
            return found["servable"].input_dtypes(signature_name)

        signature_name, inputs, fmt = J.parse_predict_request(doc, input_dtypes)
        servable = found["servable"]
        _, outputs, dtypes = servable.predict(inputs, signature_name, batcher=self.batcher)
        return J.predict_response_json(outputs, dtypes, fmt)

    def _examples(self, name, version, label, body):
        doc = J.parse_json(body)
        signature_name, context, examples = J.parse_classify_regress_request(doc)
        servable = self.manager.servable(name, version=version, label=label)
        if context is None:
            serialized = [ex.SerializeToString() for ex in examples]
        else:
            serialized = []
            for ex in examples:
                merged = type(context)()
                merged.CopyFrom(context)
                for feature_name, feature in ex.features.feature.items():
                    merged.features.feature[feature_name].CopyFrom(feature)
                serialized.append(merged.SerializeToString())
        return servable, signature_name, serialized

    def _classify(self, name, version, label, body) -> str:
        servable, signature_name, serialized = self._examples(name, version, label, body)
        _, results = servable.classify(serialized, signature_name)
        return J.classification_json(results)

    def _regress(self, name, version, label, body) -> str:
        servable, signature_name, serialized = self._examples(name, version, label, body)
        _, values = servable.regress(serialized, signature_name)
        return J.regression_json(values)

    def _status(self, name, version, label) -> str:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        from ecomtf.serving import prediction_api

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        if label is not None:
            request.model_spec.version_label = label
        response = prediction_api.get_model_status(self.manager, request)
        return json_format.MessageToJson(
            response, always_print_fields_with_no_presence=True, indent=1
        )

    def _metadata(self, name, version, label) -> str:
        import json

        from google.protobuf import json_format

        servable = self.manager.servable(name, version=version, label=label)
        options = dict(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        doc = {
            "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
            "metadata": {
                "signature_def": json_format.MessageToDict(servable.signature_def_map(), **options)
            },
        }
        return json.dumps(doc, indent=1)
