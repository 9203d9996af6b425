"""One loaded SavedModel version: the servable the local server answers with."""

from __future__ import annotations

import logging
import pathlib

import numpy as np

from ecomtf.serving import errors
from ecomtf.serving import tensors as T

log = logging.getLogger("ecomtf.serving")

DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
SERVE_TAG = "serve"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
WARMUP_FILE = ("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def _import_tf_text() -> None:
    # Registers the TF Text kernels; the stock model server links them too.
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency of ecomtf
        pass


def tf_error_with_raw_bytes(e: UnicodeDecodeError) -> errors.ServingError:
    """TensorFlow's error whose message holds bytes that are not UTF-8.

    TF's Python layer decodes an op's status message as UTF-8; when the
    message quotes request bytes (``Could not parse example input, value:
    '...'`` for a bad serialized tf.Example) that decode fails and the
    status code is lost. The message is still in ``e.object``; TF Serving
    returns it with the raw bytes. Such messages come from ops rejecting
    their input, so the code is INVALID_ARGUMENT.
    """
    raw = e.object if isinstance(e.object, (bytes, bytearray)) else b""
    if not raw:
        return errors.invalid_argument(str(e))
    return errors.invalid_argument(bytes(raw).decode("utf-8", errors="surrogateescape"))


def read_meta_graph(path, tags=(SERVE_TAG,)):
    """The MetaGraphDef of ``path`` whose tag set is exactly ``tags``."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    path = pathlib.Path(path)
    saved = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").is_file():
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    elif (path / "saved_model.pbtxt").is_file():
        text_format.Parse((path / "saved_model.pbtxt").read_text(), saved)
    else:
        raise errors.not_found(f"SavedModel not found in export directory: {path}")
    for meta in saved.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    found = [sorted(m.meta_info_def.tags) for m in saved.meta_graphs]
    raise errors.not_found(
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. "
        f"Available tags: {found}"
    )


def _shape(info) -> list[int] | None:
    if info.tensor_shape.unknown_rank:
        return None
    return [d.size for d in info.tensor_shape.dim]


def _compatible(shape: tuple, expected: list[int] | None) -> bool:
    if expected is None:
        return True
    return len(shape) == len(expected) and all(e < 0 or e == s for s, e in zip(shape, expected))


def _shape_str(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]" if shape is not None else "[?]"


class LoadedVersion:
    """A SavedModel version loaded for serving, with TF Serving's semantics.

    Calls run the SavedModel's signature functions (``tf.saved_model.load``);
    validation and error messages follow TF Serving's predict, classify and
    regress implementations, so a client sees the same errors as in
    production. Signatures are read from ``saved_model.pb`` for metadata.

    Args:
        name: the model name.
        version: the version number.
        path: the version directory (``<base_path>/<version>``).

    Example:
        >>> v = LoadedVersion("hp2", 1, "export/hp2/1")
        >>> v.predict({"x": np.array([1.0], np.float32)})[1]["y"]
        array([2.5], dtype=float32)
    """

    def __init__(self, name: str, version: int, path):
        import tensorflow as tf

        _import_tf_text()
        self.name = name
        self.version = int(version)
        self.path = pathlib.Path(path)
        self.meta_graph = read_meta_graph(self.path)
        self.signature_defs = dict(self.meta_graph.signature_def)
        self._module = tf.saved_model.load(str(self.path), tags=[SERVE_TAG])
        self._functions = dict(self._module.signatures)
        self._tf = tf

    # === Signatures ===

    def signature(self, signature_name: str = ""):
        """The SignatureDef for a (possibly empty = default) name."""
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(key)
        if sig is None or key not in self._functions:
            raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
        return key, sig

    def input_dtypes(self, signature_name: str = "") -> dict[str, int]:
        """Input name -> dtype enum; the REST error for an unknown signature."""
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(key)
        if sig is None or key not in self._functions:
            raise errors.invalid_argument(
                f'Serving signature name: "{key}" not found in signature def'
            )
        return {name: info.dtype for name, info in sig.inputs.items()}

    def output_dtypes(self, signature_name: str = "") -> dict[str, int]:
        key, sig = self.signature(signature_name)
        return {name: info.dtype for name, info in sig.outputs.items()}

    def signature_def_map(self):
        """A ``SignatureDefMap`` proto of every signature (for metadata)."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        out = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.signature_defs.items():
            out.signature_def[key].CopyFrom(sig)
        return out

    # === Predict ===

    def validate_predict(self, inputs: dict, signature_name: str = "", output_filter=()):
        """TF Serving's checks before running (``predict_util.cc``)."""
        key, sig = self.signature(signature_name)
        expected = set(sig.inputs)
        sent = set(inputs)
        if len(sent) != len(expected):
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
            )
        for name in sorted(sent):
            if name not in expected:
                raise errors.invalid_argument(
                    f"input tensor alias not found in signature: {name}. Inputs expected to "
                    f"be in the set {{{','.join(sorted(expected))}}}."
                )
        seen = set()
        for alias in output_filter:
            if alias not in sig.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected "
                    f"to be in the set {{{','.join(sorted(sig.outputs))}}}."
                )
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        for i, name in enumerate(sorted(expected)):
            info = sig.inputs[name]
            got = T.dtype_of(inputs[name])
            if got != info.dtype:
                raise errors.invalid_argument(
                    f"Expects arg[{i}] to be {T.dtype_name(info.dtype)} but "
                    f"{T.dtype_name(got)} is provided"
                )
            # TF Serving feeds placeholders without checking shapes; checking
            # here means what works locally also works in production.
            if not _compatible(inputs[name].shape, _shape(info)):
                raise errors.invalid_argument(
                    f"input {name} has shape {_shape_str(inputs[name].shape)}, which is not "
                    f"compatible with the signature's {_shape_str(_shape(info))}"
                )
        return key, sig

    def run(self, signature_key: str, inputs: dict[str, np.ndarray], output_filter=()):
        """Runs a signature function; outputs as numpy arrays."""
        tf = self._tf
        fn = self._functions[signature_key]
        try:
            feeds = {k: tf.constant(v) for k, v in inputs.items()}
            result = fn(**feeds)
        except tf.errors.OpError as e:
            raise errors.error_for(errors.CODE_NAMES.get(e.error_code, "UNKNOWN"), e.message) from None
        except UnicodeDecodeError as e:
            raise tf_error_with_raw_bytes(e) from None
        except (TypeError, ValueError) as e:
            raise errors.invalid_argument(str(e)) from None
        names = list(output_filter) or list(result)
        return {k: result[k].numpy() for k in names}

    def predict(self, inputs: dict, signature_name: str = "", output_filter=(), batcher=None):
        """Validates and runs a predict call.

        Args:
            inputs: input name -> numpy array (strings as bytes objects).
            signature_name: default ``serving_default``.
            output_filter: output aliases to return (default: all).
            batcher: an ``ecomtf.serving.Batcher`` to merge concurrent calls.

        Returns:
            (signature key, {output name: array}, {output name: dtype enum}).
        """
        inputs = {k: T.as_array(v) for k, v in inputs.items()}
        key, sig = self.validate_predict(inputs, signature_name, output_filter)
        output_filter = tuple(output_filter)
        if batcher is not None:
            outputs = batcher.run(
                (id(self), key, output_filter),
                inputs,
                lambda merged: self.run(key, merged, output_filter),
            )
        else:
            outputs = self.run(key, inputs, output_filter)
        dtypes = {k: sig.outputs[k].dtype for k in outputs}
        return key, outputs, dtypes

    # === Classify / regress (TF2 signatures on serialized tf.Example) ===

    def _example_signature(self, signature_name: str, kind: str):
        """``PreProcessClassification`` / ``PreProcessRegression``: one input,
        then the output count, then the input and output names; every
        failure is INVALID_ARGUMENT."""
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(key)
        if sig is None or key not in self._functions:
            raise errors.invalid_argument(f"No signature was found with the name: {key}")
        if len(sig.inputs) != 1:
            raise errors.invalid_argument("Expected one input Tensor.")
        if kind == "classification":
            if len(sig.outputs) not in (1, 2):
                raise errors.invalid_argument(
                    f"Expected one or two output Tensors, found {len(sig.outputs)}"
                )
        elif len(sig.outputs) != 1:
            raise errors.invalid_argument("Expected one output Tensor.")
        if CLASSIFY_INPUTS not in sig.inputs:
            raise errors.invalid_argument(f"No {kind} inputs found in SignatureDef: {sig}")
        return key, sig

    def _run_examples(self, key: str, serialized: list[bytes], outputs: list[str]):
        if not serialized:
            raise errors.invalid_argument("Input is empty.")
        batch = np.empty(len(serialized), dtype=object)
        batch[:] = serialized
        return self.run(key, {CLASSIFY_INPUTS: batch}, outputs)

    def classify(self, serialized: list[bytes], signature_name: str = ""):
        """Classify on serialized tf.Examples (``classifier.cc`` rules).

        Returns:
            (signature key, per example a list of (label, score)).
        """
        key, sig = self._example_signature(signature_name, "classification")
        wanted = [n for n in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if n in sig.outputs]
        if not wanted:
            raise errors.invalid_argument(
                'Expected classification signature outputs to contain at least one of '
                f'"{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". Signature was: {sig}'
            )
        out = self._run_examples(key, serialized, wanted)
        n = len(serialized)
        classes = out.get(CLASSIFY_CLASSES)
        scores = out.get(CLASSIFY_SCORES)
        for name, tensor, dtype in (
            ("classes", classes, T.DT_STRING),
            ("scores", scores, T.DT_FLOAT),
        ):
            if tensor is None:
                continue
            if tensor.ndim != 2:
                raise errors.invalid_argument(
                    f"Expected Tensor shape: [batch_size num_classes] but got {_shape_str(tensor.shape)}"
                )
            if T.dtype_of(tensor) != dtype:
                raise errors.invalid_argument(
                    f"Expected {name} Tensor of {T.dtype_enum_name(dtype)}. "
                    f"Got: {T.dtype_enum_name(T.dtype_of(tensor))}"
                )
            if tensor.shape[0] != n:
                raise errors.invalid_argument(
                    f"Expected {name} output batch size of {n}. Got: {tensor.shape[0]}"
                )
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise errors.invalid_argument(
                "Tensors class and score should match in dim_size(1). "
                f"Got {classes.shape[1]} vs. {scores.shape[1]}"
            )
        width = (classes if classes is not None else scores).shape[1]
        results = []
        for i in range(n):
            row = []
            for c in range(width):
                label = classes[i, c] if classes is not None else b""
                label = label.decode("utf-8", errors="replace") if isinstance(label, bytes) else str(label)
                score = float(scores[i, c]) if scores is not None else 0.0
                row.append((label, score))
            results.append(row)
        return key, results

    def regress(self, serialized: list[bytes], signature_name: str = ""):
        """Regress on serialized tf.Examples (``regressor.cc`` rules).

        Returns:
            (signature key, one float per example).
        """
        key, sig = self._example_signature(signature_name, "regression")
        if REGRESS_OUTPUTS not in sig.outputs:
            raise errors.invalid_argument(f"No regression outputs found in SignatureDef: {sig}")
        out = self._run_examples(key, serialized, [REGRESS_OUTPUTS])[REGRESS_OUTPUTS]
        n = len(serialized)
        if not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)):
            raise errors.invalid_argument(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                f"but got {_shape_str(out.shape)}"
            )
        if T.dtype_of(out) != T.DT_FLOAT:
            raise errors.invalid_argument(
                f"Expected output Tensor of DT_FLOAT.  Got: {T.dtype_enum_name(T.dtype_of(out))}"
            )
        if out.shape[0] != n:
            raise errors.invalid_argument(
                f"Input batch size did not match output batch size: {n} vs. {out.shape[0]}"
            )
        return key, [float(v) for v in out.reshape(-1)]

    # === Warmup ===

    def warmup_records(self) -> list:
        """The PredictionLog records of ``assets.extra/tf_serving_warmup_requests``."""
        from tensorflow_serving.apis import prediction_log_pb2

        path = self.path.joinpath(*WARMUP_FILE)
        if not path.is_file():
            return []
        records = []
        for raw in self._tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            if len(records) >= MAX_WARMUP_RECORDS:
                raise errors.invalid_argument(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            records.append(prediction_log_pb2.PredictionLog.FromString(raw))
        return records

    def warmup(self, iterations: int = 1) -> int:
        """Replays the warmup records; any failure fails the load, as in TF Serving.

        Returns:
            The number of requests replayed.
        """
        from ecomtf.serving import prediction_api

        records = self.warmup_records()
        for _ in range(max(1, iterations)):
            for record in records:
                prediction_api.replay_warmup_record(self, record)
        return len(records) * max(1, iterations) if records else 0
