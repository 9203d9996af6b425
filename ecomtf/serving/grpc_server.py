"""The local server's gRPC front end: PredictionService and ModelService."""

from __future__ import annotations

import logging
import time
from concurrent import futures

from ecomtf.serving import errors
from ecomtf.serving import prediction_api

log = logging.getLogger("ecomtf.serving")

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def grpc_details(message: str) -> str:
    """A status message for grpcio: bounded like the REST errors, and valid
    UTF-8 (bytes that are not, e.g. from a TensorFlow error quoting the
    request, become U+FFFD; grpcio cannot send them raw)."""
    from ecomtf.serving.json_codec import bounded_message

    text = bounded_message(message)
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


class GrpcServer:
    """TF Serving's gRPC services over a ModelManager.

    Implements ``tensorflow.serving.PredictionService`` (Predict, Classify,
    Regress, MultiInference, GetModelMetadata) and ``ModelService``
    (GetModelStatus, HandleReloadConfigRequest) with the stubs' servicer base
    classes from tensorflow-serving-api; failures carry TF Serving's status
    codes and messages.

    Args:
        manager: the ``ModelManager``.
        host: interface to bind (127.0.0.1 by default).
        port: 0 picks a free port (see ``port``).
        batcher: optional ``Batcher`` for Predict.
        metrics: optional ``ServerMetrics``.
        max_message_bytes: largest request accepted (RESOURCE_EXHAUSTED past it).
        max_workers: threads answering calls.
    """

    def __init__(
        self,
        manager,
        host: str = "127.0.0.1",
        port: int = 8500,
        *,
        batcher=None,
        metrics=None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_workers: int = 16,
    ):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.manager = manager
        self.batcher = batcher
        self.metrics = metrics
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ecomtf-grpc"),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            self._prediction_servicer(prediction_service_pb2_grpc.PredictionServiceServicer),
            self._server,
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            self._model_servicer(model_service_pb2_grpc.ModelServiceServicer), self._server
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind gRPC to {host}:{port}")

    def start(self) -> "GrpcServer":
        self._server.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait(timeout=10)

    def _call(self, api: str, model_name: str, fn, request, context):
        import grpc

        start = time.perf_counter()
        code = "OK"
        try:
            return fn()
        except errors.ServingError as e:
            code = e.code
            context.abort(grpc.StatusCode[e.code], grpc_details(e.message))
        except Exception as e:  # noqa: BLE001 - answer INTERNAL, never hang the call
            code = "INTERNAL"
            log.exception("%s failed", api)
            context.abort(grpc.StatusCode.INTERNAL, grpc_details(f"{type(e).__name__}: {e}"))
        finally:
            if self.metrics is not None and model_name:
                self.metrics.record(model_name, api, "GRPC", code, time.perf_counter() - start)

    def _prediction_servicer(self, base):
        outer = self
        manager = self.manager

        class PredictionServicer(base):
            def Predict(self, request, context):
                return outer._call(
                    "Predict", request.model_spec.name,
                    lambda: prediction_api.predict(manager, request, outer.batcher), request, context,
                )

            def Classify(self, request, context):
                return outer._call(
                    "Classify", request.model_spec.name,
                    lambda: prediction_api.classify(manager, request), request, context,
                )

            def Regress(self, request, context):
                return outer._call(
                    "Regress", request.model_spec.name,
                    lambda: prediction_api.regress(manager, request), request, context,
                )

            def MultiInference(self, request, context):
                name = request.tasks[0].model_spec.name if request.tasks else ""
                return outer._call(
                    "MultiInference", name,
                    lambda: prediction_api.multi_inference(manager, request), request, context,
                )

            def GetModelMetadata(self, request, context):
                return outer._call(
                    "GetModelMetadata", request.model_spec.name,
                    lambda: prediction_api.get_model_metadata(manager, request), request, context,
                )

        return PredictionServicer()

    def _model_servicer(self, base):
        outer = self
        manager = self.manager

        class ModelServicer(base):
            def GetModelStatus(self, request, context):
                return outer._call(
                    "GetModelStatus", request.model_spec.name,
                    lambda: prediction_api.get_model_status(manager, request), request, context,
                )

            def HandleReloadConfigRequest(self, request, context):
                import grpc
                from tensorflow_serving.apis import model_management_pb2

                response = model_management_pb2.ReloadConfigResponse()
                try:
                    if request.config.WhichOneof("config") != "model_config_list":
                        raise errors.invalid_argument(
                            "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                            "Only ModelConfigList is currently supported"
                        )
                    manager.reload_config(request.config)
                    return response
                except errors.ServingError as e:
                    log.error("ReloadConfig failed: %s", e.message)
                    response.status.error_code = errors.CODES[e.code][0]
                    response.status.error_message = e.message
                    context.set_code(grpc.StatusCode[e.code])
                    context.set_details(e.message)
                    return response

        return ModelServicer()
