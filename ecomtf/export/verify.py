"""Load and run an export the way a server would: in a fresh process, without ecomtf."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

# The child process imports TensorFlow and tensorflow-text only; an import of
# ecomtf fails loudly, which proves the export does not need it.
_RUN = r"""
import importlib.abc, json, os, sys
class _NoEcomtf(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ecomtf" or name.startswith("ecomtf."):
            raise ImportError("the export must not need ecomtf")
sys.meta_path.insert(0, _NoEcomtf())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Serving links the TF Text kernels)
args = json.loads(sys.argv[1])
loaded = tf.saved_model.load(args["model"])
for call in args["calls"]:
    fn = loaded.signatures[call["signature"]]
    inputs = dict(np.load(call["inputs"], allow_pickle=True))
    out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    np.savez(call["outputs"], **{k: v.numpy() for k, v in out.items()})  # strings: object arrays
print(json.dumps({"modules": sorted(m for m in sys.modules if m.split(".")[0] == "ecomtf")}))
"""


def run_in_fresh_process(
    saved_model_dir, inputs: dict[str, np.ndarray], signature: str = "serving_default"
) -> dict[str, np.ndarray]:
    """Calls a signature of a SavedModel in a new Python process.

    The process imports only TensorFlow and tensorflow-text, as TF Serving's
    stock server links only those; importing ecomtf there is an error.

    Returns:
        The signature's outputs (string tensors come back as bytes arrays).
    """
    return run_calls_in_fresh_process(saved_model_dir, [(signature, inputs)])[0]


def run_calls_in_fresh_process(saved_model_dir, calls) -> list[dict[str, np.ndarray]]:
    """Several signature calls of one SavedModel in one new Python process.

    Like ``run_in_fresh_process``, but the process (TensorFlow import and
    model load, most of the cost) is paid once for all ``calls``.

    Args:
        saved_model_dir: the SavedModel (a version directory).
        calls: ``(signature_name, inputs)`` pairs, run in order.

    Returns:
        One output dict per call, in order.
    """
    calls = list(calls)
    if not calls:
        raise ValueError("no calls given")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        specs = []
        for i, (signature, inputs) in enumerate(calls):
            np.savez(tmp / f"in{i}.npz", **{k: _portable(v) for k, v in inputs.items()})
            specs.append({"signature": signature, "inputs": str(tmp / f"in{i}.npz"),
                          "outputs": str(tmp / f"out{i}.npz")})
        args = {"model": str(pathlib.Path(saved_model_dir).resolve()), "calls": specs}
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [sys.executable, "-c", _RUN, json.dumps(args)],
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env,
        )
        if proc.returncode != 0:
            names = ", ".join(sorted({s for s, _ in calls}))
            raise RuntimeError(
                f"fresh-process call of {saved_model_dir} [{names}] failed:\n" + proc.stderr[-4000:]
            )
        answers = []
        for spec in specs:
            with np.load(spec["outputs"], allow_pickle=True) as out:
                answers.append({k: out[k] for k in out.files})
        return answers


def _portable(value) -> np.ndarray:
    # Object arrays (bytes such as serialized tf.Examples) travel pickled:
    # fixed-width bytes arrays would strip trailing NUL bytes.
    return np.asarray(value)
