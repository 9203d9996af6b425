"""TFLite conversion of a model's mobile signatures, with LiteRT parity checks."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import tensorflow as tf

from ecomtf.export.servable import as_servable
from ecomtf.export.servable import call_signature
from ecomtf.export.servable import signature_input_specs

QUANTIZATIONS = (None, "dynamic", "float16", "int8")

# Custom ops that tensorflow-text's TFLite kernels implement (the names its
# registrar adds to LiteRT, tensorflow-text 2.21). ``allow_custom_ops`` lets
# the converter write *any* unsupported TensorFlow op as a custom op, which
# would then fail on the phone at the first call; ``to_tflite`` refuses every
# custom op outside this set.
TF_TEXT_CUSTOM_OPS = frozenset({
    "FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "RaggedTensorToTensor",
    "TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets", "TFText>FastSentencepieceDetokenize",
    "TFText>FastSentencepieceTokenize", "TFText>FastWordpieceDetokenize", "TFText>NgramsStringJoin",
    "TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize",
    "TFText>WhitespaceTokenizeWithOffsetsV2",
})

# Ops that int8 quantization leaves in float: the in-graph preprocessing of raw
# inputs (signed log, standardization, NaN handling, concatenation). Raw
# seconds and counts span many orders of magnitude; quantizing them to 8 bits
# before the log cost 0.05-0.10 AUC on Online Shoppers, keeping them float
# costs 0.0004 (docs/decisions.md).
INT8_FLOAT_OPS = (
    "SIGN", "ABS", "LOG", "NOT_EQUAL", "SELECT_V2", "SUB", "DIV", "ADD", "MUL",
    "CONCATENATION", "PACK", "CAST",
)


def to_tflite(
    model,
    path,
    *,
    quantization: str | None = None,
    representative_inputs=None,
    signature_keys: list[str] | None = None,
) -> pathlib.Path:
    """Converts ``model``'s mobile signatures to a ``.tflite`` file.

    Only TFLite builtin ops are allowed (never Flex/SELECT_TF_OPS, which the
    LiteRT runtime on phones does not run); a model that tokenizes text also
    uses the TF Text TFLite kernels, which the app must link.

    Args:
        model: a trained ecomtf model, or an ``ecomtf.export.Servable``.
        path: the ``.tflite`` file to write.
        quantization: None (float32), ``"dynamic"`` (int8 weights),
            ``"float16"`` (float16 weights) or ``"int8"`` (int8 weights and
            activations, calibrated on ``representative_inputs``, except the
            raw-input preprocessing ops in ``INT8_FLOAT_OPS``, which stay
            float; inputs and outputs stay float/string because ids arrive as
            strings).
        representative_inputs: for ``"int8"``: an iterable of input dicts
            (name -> numpy array, batch 1) of the first mobile signature.
        signature_keys: which mobile signatures to convert (default all).

    Returns:
        The path written.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    servable = as_servable(model)
    mobile = servable.mobile_signatures()
    keys = list(signature_keys or mobile)
    if quantization == "int8":
        _check_calibratable(mobile[keys[0]])
    with tempfile.TemporaryDirectory() as tmp:
        # Saving first (rather than from_concrete_functions) keeps each
        # signature's name and its input/output names in the .tflite file.
        tf.saved_model.save(
            servable,
            tmp,
            signatures={k: mobile[k].get_concrete_function() for k in keys},
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=keys)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = servable.uses_tf_text
        if quantization:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantization == "int8":
            if representative_inputs is None:
                raise ValueError("int8 quantization needs representative_inputs")
            samples = list(representative_inputs)
            converter.representative_dataset = lambda: iter(samples)
            # Selective quantization: everything int8 except INT8_FLOAT_OPS.
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter,
                debug_dataset=lambda: iter(samples),
                debug_options=tf.lite.experimental.QuantizationDebugOptions(
                    denylisted_ops=list(INT8_FLOAT_OPS)
                ),
            )
            flatbuffer = debugger.get_nondebug_quantized_model()
        else:
            flatbuffer = converter.convert()
    unknown = sorted(custom_ops(flatbuffer) - TF_TEXT_CUSTOM_OPS)
    if unknown:
        raise ValueError(
            f"the model uses ops with no TFLite builtin and no TF Text kernel: {', '.join(unknown)}. "
            "The converter wrote them as custom ops, which fail when the app first calls the model. "
            "Rewrite them with supported ops (e.g. tf.expand_dims for a tf.newaxis slice).")
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(flatbuffer)
    return out


def custom_ops(flatbuffer: bytes) -> set[str]:
    """Names of the custom (non-builtin) ops a ``.tflite`` flatbuffer uses."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    codes = (model.OperatorCodes(i).CustomCode() for i in range(model.OperatorCodesLength()))
    return {c.decode() for c in codes if c}


def _check_calibratable(fn) -> None:
    """Fails early where TFLite's int8 calibrator cannot feed the inputs.

    The calibrator (TF 2.21) crashes with ``ValueError: basic_string::_M_create``
    (or a segmentation fault) on string inputs of rank 2 or more, such as a
    sequence of item ids; rank-1 strings (session features) work.
    """
    bad = sorted(k for k, s in signature_input_specs(fn).items() if s.dtype == tf.string and s.shape.rank != 1)
    if bad:
        raise ValueError(
            f"int8 quantization cannot calibrate string inputs of rank >= 2 ({', '.join(bad)}): "
            "TFLite's calibrator does not feed them. Use quantization='dynamic' (int8 weights) "
            "or 'float16' for sequence models."
        )


def litert_interpreter(path_or_bytes, num_threads: int | None = None):
    """A LiteRT interpreter for a ``.tflite`` file, with TF Text kernels registered."""
    from ai_edge_litert import interpreter as litert

    kwargs = {"num_threads": num_threads}
    if isinstance(path_or_bytes, (bytes, bytearray)):
        kwargs["model_content"] = bytes(path_or_bytes)
    else:
        kwargs["model_path"] = str(path_or_bytes)
    try:
        import tensorflow_text as tf_text

        registrars = tf_text.tflite_registrar.SELECT_TFTEXT_OPS
    except (ImportError, AttributeError):
        registrars = []
    return litert.InterpreterWithCustomOps(custom_op_registerers=registrars, **kwargs)


def run_tflite(path, inputs: dict[str, np.ndarray], signature_key: str | None = None,
               batch_size: int = 256) -> dict[str, np.ndarray]:
    """Runs a ``.tflite`` signature over ``inputs`` in batches with LiteRT."""
    interpreter = litert_interpreter(path)
    if signature_key is None:
        signature_key = next(iter(interpreter.get_signature_list()))
    runner = interpreter.get_signature_runner(signature_key)
    n = len(next(iter(inputs.values())))
    parts: dict[str, list] = {}
    for start in range(0, n, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in inputs.items()}
        for k, v in runner(**batch).items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) for k, v in parts.items()}


def check_tflite_parity(
    model, path, inputs: dict[str, np.ndarray], signature_key: str | None = None
) -> dict[str, float]:
    """Max |TFLite - TF| per output of a mobile signature, over ``inputs``.

    The reference is the same mobile signature run by TensorFlow, so the
    figure isolates what conversion (and quantization) changed.
    """
    servable = as_servable(model)
    mobile = servable.mobile_signatures()
    signature_key = signature_key or next(iter(mobile))
    got = run_tflite(path, inputs, signature_key)
    want = {k: v.numpy() for k, v in call_signature(mobile[signature_key], inputs).items()}
    return {
        k: float(np.max(np.abs(got[k].astype(np.float64) - want[k].astype(np.float64))))
        for k in want
        if np.issubdtype(want[k].dtype, np.number)
    }
