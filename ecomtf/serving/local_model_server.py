"""A TF-Serving-compatible model server in Python, for development and CI."""

from __future__ import annotations

import logging
import pathlib
import threading
import time

from ecomtf.serving import config as cfg
from ecomtf.serving import errors

log = logging.getLogger("ecomtf.serving")


class LocalModelServer:
    """Serves SavedModels with TF Serving's REST and gRPC contract.

    For development, CI and demos only: production is
    ``tensorflow/serving`` (see docs/serving.md and the ``serving/`` kit).
    It keeps TF Serving's wire format, routes, status codes and messages, so
    client code and tests run unchanged against either, but it runs models
    in Python (one process, the GIL) and is not tuned or hardened for load.

    Args:
        model_config: a ``ModelServerConfig`` message, its text, or the path
            of a ``models.config`` file (``--model_config_file``).
        model_name: with ``model_base_path``, serve one model (``--model_name``).
        model_base_path: ``--model_base_path``.
        host: interface for both ports; 127.0.0.1 unless told otherwise.
        rest_api_port: REST port; 0 = any free port; None = no REST.
        grpc_port: gRPC port (``--port``); 0 = any free port; None = no gRPC.
        file_system_poll_wait_seconds: how often base paths are scanned.
        model_config_file_poll_wait_seconds: re-read the config file this
            often (0 = read once), applying changes as a reload.
        enable_batching: merge concurrent predict calls.
        batching_parameters: ``BatchingParameters`` message, text or file path.
        monitoring_config: ``MonitoringConfig`` message, text or file path;
            with ``prometheus_config { enable: true }`` metrics are served on
            the REST port.
        enable_model_warmup: replay ``assets.extra`` warmup records on load.
        num_request_iterations_for_warmup: replays per warmup record.
        allow_version_labels_for_unavailable_models: as the TF Serving flag.
        max_request_bytes: REST body and gRPC message limit.
        rest_api_enable_cors_support: as the TF Serving flag.
        max_num_load_retries: as the TF Serving flag (retries after a failed
            load; a changed version directory is also retried at once).
        load_retry_interval_micros: as the TF Serving flag (1 minute).

    Example:
        >>> with LocalModelServer(model_name="purchase",
        ...                       model_base_path="export/purchase",
        ...                       rest_api_port=0, grpc_port=0) as server:
        ...     client = ServingClient(server.rest_url)
        ...     client.predict("purchase", instances=[...])
    """

    def __init__(
        self,
        model_config=None,
        *,
        model_name: str | None = None,
        model_base_path=None,
        host: str = "127.0.0.1",
        rest_api_port: int | None = 8501,
        grpc_port: int | None = 8500,
        file_system_poll_wait_seconds: float = 1.0,
        model_config_file_poll_wait_seconds: float = 0.0,
        enable_batching: bool = False,
        batching_parameters=None,
        monitoring_config=None,
        enable_model_warmup: bool = True,
        num_request_iterations_for_warmup: int = 1,
        allow_version_labels_for_unavailable_models: bool = False,
        max_request_bytes: int | None = None,
        rest_api_enable_cors_support: bool = False,
        max_num_load_retries: int = 5,
        load_retry_interval_micros: int = 60_000_000,
    ):
        from ecomtf.serving.batcher import Batcher
        from ecomtf.serving.model_manager import ModelManager
        from ecomtf.serving.server_metrics import ServerMetrics

        self._config_path = None
        if model_base_path is not None:
            if model_config is not None:
                raise ValueError("pass model_config or model_base_path, not both")
            base = pathlib.Path(model_base_path)
            config = cfg.single_model_config(model_name or base.name, base.resolve())
        elif model_config is None:
            raise ValueError("pass model_config (a models.config) or model_base_path")
        elif isinstance(model_config, pathlib.Path) or (
            isinstance(model_config, str) and "{" not in model_config
        ):
            # A file name (the text of a config always has a "{").
            self._config_path = pathlib.Path(model_config)
            if not self._config_path.is_file():
                raise FileNotFoundError(f"model config file {model_config} not found")
            config = cfg.read_model_server_config(self._config_path)
        elif isinstance(model_config, str):
            config = cfg.parse_model_server_config(model_config)
        else:
            config = model_config
        self.host = host
        self.metrics = ServerMetrics()
        monitoring = cfg.load_text_or_file(monitoring_config, cfg.parse_monitoring_config)
        self.metrics_path = None
        if monitoring is not None and monitoring.prometheus_config.enable:
            self.metrics_path = monitoring.prometheus_config.path or cfg.DEFAULT_PROMETHEUS_PATH
        self.batcher = None
        if enable_batching:
            params = cfg.load_text_or_file(batching_parameters, cfg.parse_batching_parameters)
            self.batcher = Batcher.from_parameters(params) if params is not None else Batcher()
        self.manager = ModelManager(
            config,
            file_system_poll_wait_seconds=file_system_poll_wait_seconds,
            enable_model_warmup=enable_model_warmup,
            num_request_iterations_for_warmup=num_request_iterations_for_warmup,
            allow_version_labels_for_unavailable_models=allow_version_labels_for_unavailable_models,
            max_num_load_retries=max_num_load_retries,
            load_retry_interval_seconds=max(0, load_retry_interval_micros) / 1e6,
        )
        self.metrics.set_gauge_source(
            ":ecomtf:serving:loaded_versions",
            lambda: {(("model_name", m),): len(v) for m, v in self.manager.loaded_versions().items()},
        )
        self._rest_port_wanted = rest_api_port
        self._grpc_port_wanted = grpc_port
        self._config_poll = model_config_file_poll_wait_seconds
        self._max_request_bytes = max_request_bytes
        self._cors = rest_api_enable_cors_support
        self.rest = None
        self.grpc = None
        self._stop = threading.Event()
        self._config_thread = None

    # === Lifecycle ===

    def start(self) -> "LocalModelServer":
        """Loads the models, then opens the ports."""
        from ecomtf.serving.grpc_server import DEFAULT_MAX_MESSAGE_BYTES
        from ecomtf.serving.grpc_server import GrpcServer
        from ecomtf.serving.rest_api_handler import RestApiHandler
        from ecomtf.serving.rest_server import DEFAULT_MAX_REQUEST_BYTES
        from ecomtf.serving.rest_server import RestServer

        self.manager.start()
        try:
            if self._rest_port_wanted is not None:
                handler = RestApiHandler(self.manager, batcher=self.batcher, metrics=self.metrics)
                self.rest = RestServer(
                    handler,
                    self.host,
                    self._rest_port_wanted,
                    max_request_bytes=self._max_request_bytes or DEFAULT_MAX_REQUEST_BYTES,
                    metrics=self.metrics,
                    metrics_path=self.metrics_path,
                    enable_cors=self._cors,
                ).start()
            if self._grpc_port_wanted is not None:
                self.grpc = GrpcServer(
                    self.manager,
                    self.host,
                    self._grpc_port_wanted,
                    batcher=self.batcher,
                    metrics=self.metrics,
                    max_message_bytes=self._max_request_bytes or DEFAULT_MAX_MESSAGE_BYTES,
                ).start()
        except BaseException:
            self.stop()
            raise
        if self._config_path is not None and self._config_poll > 0:
            self._config_thread = threading.Thread(target=self._watch_config, daemon=True)
            self._config_thread.start()
        log.info(
            "serving %s: REST %s, gRPC %s", ", ".join(self.manager.model_names()),
            self.rest_url or "off", self.grpc_target or "off",
        )
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.rest is not None:
            self.rest.stop()
        if self.grpc is not None:
            self.grpc.stop()
        if self.batcher is not None:
            self.batcher.close()
        self.manager.stop()

    def __enter__(self) -> "LocalModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Blocks until interrupted (Ctrl-C)."""
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _watch_config(self) -> None:
        last = self._config_path.read_text()
        while not self._stop.wait(self._config_poll):
            try:
                text = self._config_path.read_text()
                if text != last:
                    last = text
                    config = cfg.parse_model_server_config(text)
                    self.manager.reload_config(config)
                    log.info("applied the changed %s", self._config_path)
            except (OSError, errors.ServingError) as e:
                log.error("reloading %s failed: %s", self._config_path, e)

    # === Addresses ===

    @property
    def rest_port(self) -> int | None:
        return self.rest.port if self.rest is not None else None

    @property
    def grpc_port(self) -> int | None:
        return self.grpc.port if self.grpc is not None else None

    @property
    def rest_url(self) -> str | None:
        return f"http://{self._url_host()}:{self.rest_port}" if self.rest is not None else None

    @property
    def grpc_target(self) -> str | None:
        return f"{self._url_host()}:{self.grpc_port}" if self.grpc is not None else None

    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host

    def wait_for_version(self, model: str, version: int, timeout: float = 30.0) -> None:
        """Blocks until ``version`` of ``model`` is the one served by default."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.manager.servable(model).version == version:
                    return
            except errors.ServingError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{model} version {version} not served after {timeout}s")
