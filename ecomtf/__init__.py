"""ecomtf: Keras/TensorFlow models for e-commerce, exported for TF Serving and TFLite.

Importing ecomtf routes ``tf.keras`` to Keras 2 (tf_keras), which
tensorflow-recommenders needs. TensorFlow resolves ``tf.keras`` lazily, so this
works even when ``tensorflow`` was imported first, as long as nothing has touched
``tf.keras`` yet.
"""

import importlib
import os
import sys

__version__ = "0.1.0"

os.environ["TF_USE_LEGACY_KERAS"] = "1"


def _check_keras() -> None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    loader = tf.__dict__.get("keras")
    if loader is None:
        return
    try:
        initialized = object.__getattribute__(loader, "_tfll_initialized")
        version = object.__getattribute__(loader, "_tfll_keras_version")
    except AttributeError:
        # TF replaced its lazy loader with the module it resolved to.
        initialized = True
        name = getattr(loader, "__name__", "")
        version = "tf_keras" if name.startswith("tf_keras") else name
    if initialized and version != "tf_keras":
        raise ImportError(
            "ecomtf needs Keras 2 (tf_keras), but tf.keras was already resolved "
            f"to {version!r} before ecomtf was imported. Either `import ecomtf` "
            "before anything touches tf.keras, or set the environment variable "
            "TF_USE_LEGACY_KERAS=1 before starting Python "
            "(and `pip install tf-keras==2.21.*`)."
        )


_check_keras()

_SUBMODULES = (
    "data",
    "datasets",
    "evaluation",
    "export",
    "layers",
    "models",
    "recipes",
    "serving",
    "text",
)


def __getattr__(name):
    # Submodules load on first use so that `ecomtf --help` does not pay for
    # importing TensorFlow.
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
