"""Do the exports load and answer their warmup in TF Serving's runtime?

``tensorflow/serving:2.20.0-gpu`` links TensorFlow 2.20 and TF Text 2.20 while
ecomtf writes SavedModels with TensorFlow 2.21. This script runs in a clean
environment with only those runtime versions (``make check-serving-compat``
builds it as ``.venv-serving-compat``; ecomtf is NOT importable there, as it
is not in the image) and, for every ``<export>/<model>/<version>/``:

1. loads the SavedModel (an op or attribute TF 2.20 does not know fails here),
2. replays every record of ``assets.extra/tf_serving_warmup_requests``
   (``PredictionLog``: predict, classify, regress, multi-inference) through the
   loaded signatures, as TF Serving does before it serves a version.

Prints one line per version and exits 1 if any version fails.

    python serving/check_serving_compat.py export/        # in the 2.20 venv
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WARMUP = ("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # saved_model_warmup_util.h kMaxNumRecords


def find_versions(root: pathlib.Path) -> list[pathlib.Path]:
    """``<model>/<integer version>/`` directories holding a SavedModel."""
    out = []
    for pb in sorted(root.rglob("saved_model.pb")):
        version = pb.parent
        if re.fullmatch(r"\d+", version.name):
            out.append(version)
    return out


def _examples(input_proto) -> list[bytes]:
    from tensorflow.core.example import example_pb2

    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [ex.SerializeToString() for ex in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        data = input_proto.example_list_with_context
        out = []
        for ex in data.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(data.context)
            for name, feature in ex.features.feature.items():
                merged.features.feature[name].CopyFrom(feature)
            out.append(merged.SerializeToString())
        return out
    raise ValueError("warmup input has no examples")


def _call(loaded, signature_name: str, feeds: dict) -> dict:
    import tensorflow as tf

    key = signature_name or "serving_default"
    if key not in loaded.signatures:
        raise KeyError(f'Serving signature key "{key}" not found.')
    fn = loaded.signatures[key]
    out = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    return {k: v.numpy() for k, v in out.items()}


def replay(loaded, record) -> str:
    """Runs one PredictionLog; returns what it called."""
    import tensorflow as tf

    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        req = record.predict_log.request
        feeds = {name: tf.make_ndarray(proto) for name, proto in req.inputs.items()}
        out = _call(loaded, req.model_spec.signature_name, feeds)
        missing = [a for a in req.output_filter if a not in out]
        if missing:
            raise KeyError(f"output tensor alias not found in signature: {missing[0]}")
        return f"predict:{req.model_spec.signature_name or 'serving_default'}"
    if kind in ("classify_log", "regress_log"):
        req = getattr(record, kind).request
        _call(loaded, req.model_spec.signature_name, {"inputs": _examples(req.input)})
        return f"{kind[:-4]}:{req.model_spec.signature_name or 'serving_default'}"
    if kind == "multi_inference_log":
        req = record.multi_inference_log.request
        examples = _examples(req.input)
        for task in req.tasks:
            _call(loaded, task.model_spec.signature_name, {"inputs": examples})
        return "multi_inference"
    raise ValueError(f"unsupported warmup log type {kind}")


def check_version(path: pathlib.Path) -> tuple[bool, str]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    started = time.perf_counter()
    try:
        loaded = tf.saved_model.load(str(path), tags=["serve"])
    except Exception as e:  # noqa: BLE001 - report every failure, go on
        return False, f"load failed: {type(e).__name__}: {_first_line(e)}"
    warmup = path.joinpath(*WARMUP)
    if not warmup.is_file():
        return True, f"loaded; no warmup file ({time.perf_counter() - started:.1f} s)"
    calls: dict[str, int] = {}
    n = 0
    try:
        for raw in tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator():
            n += 1
            if n > MAX_WARMUP_RECORDS:
                raise ValueError(f"more than {MAX_WARMUP_RECORDS} warmup records")
            what = replay(loaded, prediction_log_pb2.PredictionLog.FromString(raw))
            calls[what] = calls.get(what, 0) + 1
    except Exception as e:  # noqa: BLE001
        return False, f"warmup record {n} failed: {type(e).__name__}: {_first_line(e)}"
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(calls.items()))
    return True, f"loaded, {n} warmup records answered ({summary}; {time.perf_counter() - started:.1f} s)"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:500] if text else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", nargs="?", default="export",
                        help="holds <model>/<version>/saved_model.pb (default: export)")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.export_dir)
    versions = find_versions(root) if root.is_dir() else []
    if not versions:
        print(f"check-serving-compat: no <model>/<version>/saved_model.pb under {root}/ "
              "(run `make demo` or `ecomtf export` first)", file=sys.stderr)
        return 2

    import tensorflow as tf

    try:
        import tensorflow_text  # noqa: F401  (registers the ops the model server links)

        text_version = tensorflow_text.__version__
    except ImportError:
        text_version = "not installed"
    print(f"runtime: TensorFlow {tf.__version__}, TF Text {text_version} "
          "(tensorflow/serving:2.20.0 links TF 2.20 and TF Text 2.20)")
    failed = 0
    for path in versions:
        try:
            ok, message = check_version(path)
        except Exception:  # noqa: BLE001
            ok, message = False, traceback.format_exc(limit=1).strip().splitlines()[-1]
        failed += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {path.relative_to(root)}: {message}", flush=True)
    print(f"{len(versions) - failed} of {len(versions)} versions load and answer their warmup "
          f"under TensorFlow {tf.__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
