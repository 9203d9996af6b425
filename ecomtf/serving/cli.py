"""Command-line entry points: ``ecomtf serve`` and ``ecomtf serving-config``.

``ecomtf/cli.py`` adds these as sub-commands; ``python -m ecomtf.serving serve``
and ``python -m ecomtf.serving config`` run them directly. ``serve`` takes
tensorflow_model_server's flag names (``--rest_api_port``,
``--model_config_file``, ...; dashes work too), so commands move between the
local server and production unchanged.
"""

from __future__ import annotations

import argparse
import logging
import sys


def _bool(text) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _flag(parser, name: str, **kwargs) -> None:
    """``--name_with_underscores`` and ``--name-with-dashes``."""
    dashed = name.replace("_", "-")
    names = [f"--{name}"] + ([f"--{dashed}"] if dashed != name else [])
    parser.add_argument(*names, dest=name, **kwargs)


def _bool_flag(parser, name: str, default: bool, help: str) -> None:
    _flag(parser, name, type=_bool, nargs="?", const=True, default=default, metavar="BOOL", help=help)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ecomtf serve`` (tensorflow_model_server's names)."""
    _flag(parser, "model_config_file", help="models.config (text ModelServerConfig)")
    _flag(parser, "model_name", help="serve one model under this name (with --model_base_path)")
    _flag(parser, "model_base_path", help="directory holding <version>/saved_model.pb")
    _flag(parser, "host", default="127.0.0.1",
          help="interface for both ports (default 127.0.0.1; 0.0.0.0 exposes the server)")
    _flag(parser, "port", type=int, default=8500, help="gRPC port (0: any free port; -1: no gRPC)")
    _flag(parser, "rest_api_port", type=int, default=8501,
          help="REST port (0: any free port; -1: no REST)")
    _flag(parser, "file_system_poll_wait_seconds", type=float, default=1.0,
          help="how often base paths are scanned for new versions (0: once)")
    _flag(parser, "model_config_file_poll_wait_seconds", type=float, default=0.0,
          help="re-read --model_config_file this often (0: read once)")
    _bool_flag(parser, "enable_batching", False, "merge concurrent predict calls")
    _flag(parser, "batching_parameters_file", help="text BatchingParameters")
    _flag(parser, "monitoring_config_file", help="text MonitoringConfig (Prometheus endpoint)")
    _bool_flag(parser, "enable_model_warmup", True, "replay assets.extra warmup requests on load")
    _flag(parser, "num_request_iterations_for_warmup", type=int, default=1)
    _flag(parser, "max_num_load_retries", type=int, default=5,
          help="retries after a failed load, --load_retry_interval_micros apart")
    _flag(parser, "load_retry_interval_micros", type=int, default=60_000_000,
          help="time between load retries (1 minute)")
    _bool_flag(parser, "allow_version_labels_for_unavailable_models", False,
               "accept labels naming versions that are not loaded")
    _bool_flag(parser, "rest_api_enable_cors_support", False, "send CORS headers")
    _flag(parser, "max_request_bytes", type=int, default=None,
          help="largest REST body / gRPC message (default 32 MiB)")
    _flag(parser, "log_level", default="INFO")


def make_server(args):
    """The LocalModelServer that ``args`` describe (not started)."""
    from ecomtf.serving.local_model_server import LocalModelServer

    if bool(args.model_config_file) == bool(args.model_base_path):
        raise SystemExit("pass --model_config_file or --model_base_path (with --model_name)")
    return LocalModelServer(
        args.model_config_file,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        host=args.host,
        rest_api_port=None if args.rest_api_port < 0 else args.rest_api_port,
        grpc_port=None if args.port < 0 else args.port,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        enable_batching=args.enable_batching,
        batching_parameters=args.batching_parameters_file,
        monitoring_config=args.monitoring_config_file,
        enable_model_warmup=args.enable_model_warmup,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        max_request_bytes=args.max_request_bytes,
        rest_api_enable_cors_support=args.rest_api_enable_cors_support,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_micros=args.load_retry_interval_micros,
    )


def serve_from_args(args) -> int:
    """Runs the local server until Ctrl-C."""
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = make_server(args).start()
    print(
        "ecomtf local model server (development/CI only; production is tensorflow/serving)\n"
        f"  models: {server.manager.loaded_versions()}\n"
        f"  REST:   {server.rest_url or 'off'}\n"
        f"  gRPC:   {server.grpc_target or 'off'}",
        flush=True,
    )
    if server.metrics_path:
        print(f"  metrics: {server.rest_url}{server.metrics_path}", flush=True)
    server.serve_forever()
    return 0


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ecomtf serving-config``."""
    parser.add_argument("--export-dir", help="holds <model>/<version>/saved_model.pb")
    parser.add_argument("--out", help="write models.config here (default: print it)")
    parser.add_argument("--policy", choices=["latest", "all", "specific"], default="latest")
    parser.add_argument("--num-versions", type=int, default=1, help="for --policy latest")
    parser.add_argument("--versions", help="for --policy specific: comma-separated versions")
    parser.add_argument(
        "--label", action="append", default=[], metavar="[MODEL:]LABEL=VERSION",
        help="version label, e.g. stable=previous, canary=latest, ranker:stable=3 (repeatable)",
    )
    parser.add_argument("--base-path", help="where the export dir is mounted for the server, e.g. /models")
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--check-models", metavar="FILE", help="only validate a models.config")
    parser.add_argument("--check-batching", metavar="FILE", help="only validate a batching parameters file")
    parser.add_argument("--check-monitoring", metavar="FILE", help="only validate a monitoring config")


def _labels(specs: list[str]) -> dict:
    out: dict = {}
    for spec in specs:
        if "=" not in spec:
            raise SystemExit(f"--label {spec!r}: expected [MODEL:]LABEL=VERSION")
        key, version = spec.split("=", 1)
        model, _, label = key.rpartition(":")
        value = int(version) if version.isdigit() else version
        out.setdefault(model or "*", {})[label] = value
    return out


def config_from_args(args) -> int:
    """Generates (or validates) TF Serving config files."""
    import pathlib

    from ecomtf.serving import config as cfg

    checks = [
        (args.check_models, cfg.read_model_server_config),
        (args.check_batching, lambda p: cfg.parse_batching_parameters(pathlib.Path(p).read_text())),
        (args.check_monitoring, lambda p: cfg.parse_monitoring_config(pathlib.Path(p).read_text())),
    ]
    if any(path for path, _ in checks):
        for path, check in checks:
            if path:
                check(path)
                print(f"{path}: OK")
        return 0
    if not args.export_dir:
        raise SystemExit("pass --export-dir (or one of the --check-* options)")
    kwargs = dict(
        policy=args.policy,
        num_versions=args.num_versions,
        versions=[int(v) for v in args.versions.split(",")] if args.versions else None,
        labels=_labels(args.label),
        base_path=args.base_path,
        models=args.models.split(",") if args.models else None,
    )
    if args.out:
        path = cfg.write_model_config(args.out, args.export_dir, **kwargs)
        print(f"wrote {path}")
    else:
        sys.stdout.write(cfg.generate_model_config(args.export_dir, **kwargs))
    return 0


def main(argv=None) -> int:
    """``python -m ecomtf.serving {serve,config} ...``."""
    parser = argparse.ArgumentParser(prog="python -m ecomtf.serving")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local TF-Serving-compatible server (dev/CI)")
    add_serve_arguments(serve)
    config = sub.add_parser("config", help="generate or validate TF Serving config files")
    add_config_arguments(config)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_from_args(args)
    return config_from_args(args)


# The names ecomtf/cli.py looks up for `ecomtf serving-config`.
add_serving_config_arguments = add_config_arguments
serving_config_from_args = config_from_args
