"""The ``ecomtf`` command: a thin shell over ecomtf.recipes and ecomtf.export."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys
import time

import numpy as np

EPILOG = """\
examples:
  ecomtf demo                                   # simulated shop: train, export, query every model
  ecomtf train purchase --dataset online-shoppers --out runs/shoppers
  ecomtf train purchase --events log.csv.gz --no-header \\
      --user-col 0 --item-col 1 --event-col 3 --time-col 4 \\
      --event-map pv=view,cart=cart,fav=favorite,buy=purchase --timezone Asia/Shanghai
  ecomtf export  --run runs/shoppers --out export/purchase      # -> export/purchase/<N>/
  ecomtf convert --run runs/shoppers --out export/tflite/purchase.tflite --quantization dynamic
  ecomtf predict --model export/purchase/1 --json '{"Month": ["Nov"], ...}'

`ecomtf train <model> --help` lists that model's data-mapping and training flags.
"""


def _recipe_names():
    from ecomtf import recipes

    return list(recipes.available())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecomtf",
        description="Train e-commerce models on your own files, export them for "
        "TensorFlow Serving and TFLite.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from ecomtf import recipes
    from ecomtf.cli_args import DefaultsHelpFormatter

    p_train = sub.add_parser("train", help="train a model on your data and save a run directory")
    models = p_train.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    for name in _recipe_names():
        recipe = recipes.get(name)
        p = models.add_parser(name, help=recipe.HELP, description=recipe.HELP,
                              formatter_class=DefaultsHelpFormatter)
        recipe.add_train_arguments(p)
        p.set_defaults(func=recipe.train_from_args)

    p = sub.add_parser("evaluate", help="print the test metrics a run recorded")
    p.add_argument("--run", required=True, help="run directory written by `ecomtf train`")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export", help="export a run as a TF Serving SavedModel version")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True, help="model base path; writes <out>/<next version>/")
    p.add_argument("--version", type=int, default=None)
    p.set_defaults(func=_export)

    p = sub.add_parser("convert", help="convert a run to a .tflite file, parity-checked with LiteRT")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True, help=".tflite file to write")
    p.add_argument("--quantization", choices=["dynamic", "float16", "int8"], default=None)
    p.add_argument("--calibration", metavar="FILE",
                   help="int8 only: raw input rows to calibrate activations on (a JSON "
                        "columnar object or JSON lines of instances, as for `predict "
                        f"--input`); a few hundred training rows, at least {MIN_CALIBRATION_ROWS}")
    p.set_defaults(func=_convert)

    p = sub.add_parser("predict", help="call an exported SavedModel (what TF Serving would run)")
    p.add_argument("--model", required=True, help="a version directory, e.g. export/purchase/1")
    p.add_argument("--signature", default="serving_default")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--json", help='columnar inputs, e.g. \'{"item_id": [["a", "b"]]}\'')
    g.add_argument("--input", help="JSON file: columnar object, or a JSON-lines file of instances")
    p.add_argument("--output", metavar="FILE", default=None,
                   help="write the outputs to FILE (JSON; .csv: one row per instance and output step) "
                        "instead of printing them")
    p.set_defaults(func=_predict)

    p = sub.add_parser("demo", help="generate a shop, train every model, export, convert and query them")
    p.add_argument("--out", default="export", help="export directory (default: export/)")
    p.add_argument("--only", default="", help="comma-separated models (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub):
    """Commands whose implementations live with their feature."""
    import importlib

    for command, module, stem, help_text in (
        ("serve", "ecomtf.serving.cli", "serve",
         "run the local TF-Serving-compatible server (development/CI; production is TF Serving)"),
        ("serving-config", "ecomtf.serving.cli", "config",
         "generate models.config for TF Serving from an export directory"),
        ("export-index", "ecomtf.recipes.retrieval", "export_index",
         "rebuild a retrieval index from a new catalog as a new version"),
        ("prepare", "ecomtf.recipes.prepared", "prepare",
         "turn a big event log into sharded training data (bounded memory)"),
    ):
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:  # the parent package is not installed
            continue
        mod = importlib.import_module(module)
        adder = getattr(mod, f"add_{stem}_arguments", None)
        runner = getattr(mod, f"{stem}_from_args", None)
        if adder and runner:
            p = sub.add_parser(command, help=help_text)
            adder(p)
            p.set_defaults(func=runner)


def _evaluate(args):
    path = pathlib.Path(args.run) / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"{args.run}: no metrics.json (train with `ecomtf train` first)")
    print(json.dumps(json.loads(path.read_text()), indent=2))


def _export(args):
    from ecomtf import recipes
    from ecomtf.export import save_for_serving

    model = recipes.load_run(args.run)
    path = save_for_serving(model, args.out, version=args.version)
    print(f"exported {args.run} -> {path}")


#: int8 activation ranges from fewer rows than this are guesses.
MIN_CALIBRATION_ROWS = 100


def _convert(args):
    from ecomtf import recipes
    from ecomtf.export import as_servable
    from ecomtf.export import check_tflite_parity
    from ecomtf.export import signature_input_specs
    from ecomtf.export import call_signature
    from ecomtf.export import to_tflite

    if args.calibration and args.quantization != "int8":
        raise SystemExit("--calibration is only used with --quantization int8")
    if args.quantization == "int8" and not args.calibration:
        raise SystemExit(
            "int8 quantization calibrates activations on real inputs: pass --calibration FILE "
            f"with at least {MIN_CALIBRATION_ROWS} raw training rows (JSON lines of instances), "
            "or use --quantization dynamic (int8 weights, no calibration needed)"
        )
    servable = as_servable(recipes.load_run(args.run))
    representative = None
    if args.calibration:
        columns = _read_inputs(args.calibration)
        n = len(next(iter(columns.values())))
        if n < MIN_CALIBRATION_ROWS:
            raise SystemExit(f"{args.calibration}: {n} rows; int8 calibration needs at least "
                             f"{MIN_CALIBRATION_ROWS}")
        specs = signature_input_specs(next(iter(servable.mobile_signatures().values())))
        missing = sorted(set(specs) - set(columns))
        if missing:
            raise SystemExit(f"{args.calibration}: missing inputs {missing}; the mobile signature "
                             f"takes {sorted(specs)}")
        # Strings as numpy str arrays: the form the calibrator is tested with.
        arrays = {k: np.asarray(columns[k], dtype=str if specs[k].dtype.name == "string"
                                else specs[k].dtype.as_numpy_dtype) for k in specs}
        representative = [{k: v[i : i + 1] for k, v in arrays.items()} for i in range(n)]
        print(f"int8: calibrating on {n:,} rows from {args.calibration}")
    try:
        path = to_tflite(servable, args.out, quantization=args.quantization,
                         representative_inputs=representative)
    except ValueError as e:  # a conversion this model cannot take: say why, no traceback
        raise SystemExit(f"convert: {e}") from e
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")
    inputs = servable.mobile_inputs()
    if inputs:
        diffs = check_tflite_parity(servable, path, inputs)
        worst = max(diffs.values()) if diffs else float("nan")
        # Relative to the outputs' size: 3e-2 on sales of 1e5 is float32
        # rounding, not a defect (the documented bound is relative).
        ref = call_signature(next(iter(servable.mobile_signatures().values())), inputs)
        size = max((float(np.max(np.abs(np.asarray(v, np.float64)))) for k, v in ref.items()
                    if k in diffs and np.asarray(v).size), default=0.0)
        print(f"LiteRT vs TensorFlow on {len(next(iter(inputs.values())))} example rows: "
              f"max |diff| = {worst:.2e} (relative to max |output| {size:.3g}: {worst / max(size, 1e-12):.2e})")


def _predict(args):
    import numpy as np
    import tensorflow as tf

    inputs = json.loads(args.json) if args.json else _read_inputs(args.input)
    model_dir = pathlib.Path(args.model)
    if not (model_dir / "saved_model.pb").is_file():
        raise SystemExit(f"{args.model}: no saved_model.pb (pass a version directory, e.g. export/purchase/1)")
    # TF Serving links the TF Text kernels; text exports (intent, faq) need
    # them registered before loading (e.g. FastBertNormalize).
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:  # pragma: no cover - an ecomtf dependency
        pass
    loaded = tf.saved_model.load(args.model)
    if args.signature not in loaded.signatures:
        raise SystemExit(f"no signature {args.signature!r}; has {sorted(loaded.signatures)}")
    fn = loaded.signatures[args.signature]
    specs = fn.structured_input_signature[1]
    tensors = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in inputs.items()}
    out = fn(**tensors)
    if getattr(args, "output", None):
        _write_outputs(args.output, {k: v.numpy() for k, v in out.items()})
        return
    print(json.dumps({k: _jsonable(v.numpy()) for k, v in out.items()}, indent=2))


def _write_outputs(path, out: dict) -> None:
    """Signature outputs to a file: JSON, or CSV (one row per instance, and per step for [B, H] outputs)."""
    import csv

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() != ".csv":
        path.write_text(json.dumps({k: _jsonable(v) for k, v in out.items()}))
    else:
        names = sorted(out)
        arrays = {k: np.asarray(out[k]) for k in names}
        batch = len(next(iter(arrays.values())))
        steps = max((a.shape[1] if a.ndim == 2 else 1) for a in arrays.values())
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["instance", "step", *names])
            for i in range(batch):
                for j in range(steps):
                    row = []
                    for k in names:
                        a = arrays[k]
                        x = a[i, j] if a.ndim == 2 and a.shape[1] == steps else a[i]
                        x = _jsonable(x)
                        row.append(json.dumps(x) if isinstance(x, list) else x)
                    w.writerow([i, j, *row])
    size = path.stat().st_size
    print(f"wrote {', '.join(sorted(out))} for {len(next(iter(out.values())))} instance(s) to {path} "
          f"({size / 1024:.1f} KiB)")


def _read_inputs(path) -> dict:
    """A JSON columnar object, or JSON lines of instances, as ``{input: list}``."""
    text = pathlib.Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{path}: no input rows")
    return {k: [r[k] for r in rows] for k in rows[0]}


def _jsonable(a):
    """Numpy output -> JSON values; string tensors of any rank decode to str."""
    a = np.asarray(a)
    if a.dtype.kind in "SO":
        if a.ndim == 0:
            x = a.item()
            return x.decode() if isinstance(x, bytes) else str(x)
        return [_jsonable(x) for x in a]
    return a.tolist()


def _demo(args):
    from ecomtf import recipes
    from ecomtf.datasets import simulate_shop

    out = pathlib.Path(args.out)
    started = time.perf_counter()
    shop = simulate_shop(seed=args.seed)
    data_dir = out / "data"
    shop.to_csv(data_dir)
    print(f"simulated shop: {len(shop.events):,} events -> {data_dir}/ (bayes-optimal AUC {shop.bayes_auc:.3f})")
    only = [x for x in args.only.split(",") if x]
    summaries, failed = {}, []
    for name in recipes.available():
        if only and name not in only:
            continue
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            summaries[name] = recipes.get(name).demo(out, shop)
        except Exception as e:  # report and go on: one model must not hide the others
            import traceback

            traceback.print_exc()
            failed.append(name)
            summaries[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"--- {name} done in {time.perf_counter() - t0:.0f} s", flush=True)
    try:
        from ecomtf.serving.config import write_model_config

        # Two configs: one for the TF Serving container (export dir mounted
        # at /models), one for `ecomtf serve` on this machine.
        write_model_config(out / "models.config", out, base_path="/models")
        write_model_config(out / "models.local.config", out)
        summaries["serving"] = {
            "tf_serving_config": str(out / "models.config"),
            "local": f"ecomtf serve --model_config_file {out / 'models.local.config'}",
        }
    except ImportError:
        pass
    print("\n=== summary ===")
    print(json.dumps(summaries, indent=2, default=str))
    print(f"\nSavedModels (TF Serving base paths): {out}/<model>/<version>/")
    print(f"TFLite files for the mobile team:     {out}/tflite/")
    print(f"demo data (CSV):                      {data_dir}/")
    print(f"total {time.perf_counter() - started:.0f} s")
    if failed:
        raise SystemExit(f"demo failed for: {', '.join(failed)}")


#: Exit code for bad input (argparse's own usage errors use it too).
USAGE_ERROR = 2


def _quiet_tensorflow_logs() -> None:
    """Silences TensorFlow's C++ log lines for the CLI (the ``cuInit`` error
    on machines without a GPU, oneDNN/CPU notes) unless the user chose a
    level: ``TF_CPP_MIN_LOG_LEVEL=0 ecomtf ...`` shows them again. Must run
    before TensorFlow is imported."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        _import_tensorflow_quietly.user_level = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# TensorFlow's start-up notes, written straight to file descriptor 2 before
# its logging is initialised (so TF_CPP_MIN_LOG_LEVEL does not reach them).
_TF_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} \d\d:\d\d:\d\d"
    r"|To enable the following instructions)"
)

#: Commands that never load TensorFlow.
_NO_TENSORFLOW = {"evaluate"}


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its info/warning start-up lines dropped
    (errors are kept), unless the user set TF_CPP_MIN_LOG_LEVEL."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3" \
            or getattr(_import_tensorflow_quietly, "user_level", False):
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if not _TF_STARTUP_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _is_user_error(e: BaseException) -> bool:
    # By name, so that this needs no import of ecomtf.data (and TensorFlow).
    if any(c.__name__ == "DataValidationError" for c in type(e).__mro__):
        return True
    return isinstance(
        e,
        (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
         json.JSONDecodeError, UnicodeDecodeError),
    )


def _user_error_text(e: BaseException) -> str:
    """One line (then the reject report, if the error carries one)."""
    if isinstance(e, IsADirectoryError):
        return f"{e.filename}: is a folder; pass a file"
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
    if isinstance(e, UnicodeDecodeError):
        return f"the file is not {e.encoding} text (byte {e.start}); pass --encoding if the recipe has it"
    text = str(e).strip() or type(e).__name__
    return text


class UsageError(SystemExit):
    """Exit code 2 after the message was printed (``str()`` is the message,
    so in-process callers can match it as they match argparse's exits)."""

    def __init__(self, message: str):
        super().__init__(USAGE_ERROR)
        self.message = message

    def __str__(self) -> str:
        return self.message


def report_user_error(e: BaseException, stream=None) -> UsageError:
    """Prints ``ecomtf: error: <message>`` (then any report lines) and
    returns the ``UsageError`` (exit code 2) to raise."""
    stream = sys.stderr if stream is None else stream
    text = _user_error_text(e)
    first, _, rest = text.partition("\n")
    print(f"ecomtf: error: {first}", file=stream)
    if rest.strip():
        print(rest.rstrip(), file=stream)
    return UsageError(text)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _quiet_tensorflow_logs()
    import ecomtf  # noqa: F401  (tf.keras -> tf_keras before any model code)

    args = build_parser().parse_args(argv)
    try:
        if args.command not in _NO_TENSORFLOW:
            _import_tensorflow_quietly()
        args.func(args)
    except KeyboardInterrupt:
        return 130
    except UsageError:
        raise
    except SystemExit as e:
        # Commands say what is wrong with `raise SystemExit("...")`: one
        # line on stderr and exit code 2, as argparse does for usage errors.
        if isinstance(e.code, str):
            raise report_user_error(e) from None
        raise
    except Exception as e:
        # Bad input (unusable data, a missing file or a folder, bad JSON):
        # one line, never a traceback. ECOMTF_DEBUG=1 shows the traceback.
        if not _is_user_error(e) or os.environ.get("ECOMTF_DEBUG"):
            raise
        raise report_user_error(e) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
