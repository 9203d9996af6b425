"""What gets exported: raw-in, raw-out graph functions around a trained model."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

_REGISTRY: dict[type, Callable] = {}


class Servable(tf.Module):
    """Base class of the modules ``save_for_serving`` and ``to_tflite`` export.

    As tensorflow-recommenders' ``BruteForce`` wraps a query model, a Servable
    wraps a trained ecomtf model and adds only what serving needs: signatures
    that take what a client has (string ids, event-type strings, numbers,
    text) and return answers. The model class itself knows nothing of serving.

    Subclasses implement:
        signatures(): name -> ``tf.function`` with an ``input_signature``, for
            TF Serving. ``"serving_default"`` must be one of them.
        warmup_inputs(): name -> example batch (dict of numpy arrays) for the
            signatures TF Serving should warm up with.
        mobile_signatures(): name -> ``tf.function`` for TFLite: fixed shapes
            where the converter needs them, only TFLite builtins (plus TF Text
            kernels when ``uses_tf_text``).
    """

    #: Whether the graph uses tensorflow-text ops (TFLite then needs the
    #: TF Text kernels registered, and the converter allows custom ops).
    uses_tf_text = False

    def signatures(self) -> dict:
        raise NotImplementedError

    def warmup_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        return {}

    def mobile_inputs(self) -> dict[str, np.ndarray]:
        """An example batch for the first mobile signature (parity checks)."""
        return self.warmup_inputs().get("serving_default", {})

    def mobile_signatures(self) -> dict:
        raise NotImplementedError(
            f"{type(self).__name__} has no mobile (TFLite) signature"
        )


def call_signature(fn, inputs: dict) -> dict:
    """Calls a signature ``tf.function`` with a dict of arrays, eagerly.

    Signatures take either one named argument per input, or (for inputs whose
    names are not Python identifiers) a single dict argument.
    """
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    sig = getattr(fn, "input_signature", None)
    if sig and len(sig) == 1 and isinstance(sig[0], dict):
        return fn(tensors)
    return fn(**tensors)


def signature_input_specs(fn) -> dict:
    """Input name -> ``tf.TensorSpec`` of a signature ``tf.function`` (either form)."""
    sig = fn.input_signature
    if len(sig) == 1 and isinstance(sig[0], dict):
        return dict(sig[0])
    return {spec.name: spec for spec in sig}


def dict_signature(fn, specs: dict):
    """A ``tf.function`` taking one dict of named raw inputs.

    The saved signature's inputs are named after the dict keys, so clients
    send ``{"item_id": ..., "Month": ...}`` whatever the names look like.
    """
    specs = {k: tf.TensorSpec(s.shape, s.dtype, name=k) for k, s in specs.items()}
    return tf.function(lambda inputs: fn(inputs), input_signature=[specs])


def register_servable(model_class: type):
    """Class decorator: ``as_servable`` wraps ``model_class`` instances in it."""

    def wrap(servable_factory):
        _REGISTRY[model_class] = servable_factory
        return servable_factory

    return wrap


def as_servable(model) -> Servable:
    """The Servable for ``model``: itself if it already is one."""
    if isinstance(model, Servable):
        return model
    for klass in type(model).__mro__:
        if klass in _REGISTRY:
            return _REGISTRY[klass](model)
    known = ", ".join(sorted(k.__name__ for k in _REGISTRY)) or "none registered"
    raise TypeError(
        f"don't know how to export a {type(model).__name__}: pass an "
        f"ecomtf.export.Servable or one of these models: {known}"
    )
