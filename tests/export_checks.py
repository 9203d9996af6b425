"""Checks every exported model gets (STYLE.md: shared helpers, no copies).

- ``run_export_test``: save_for_serving, then load and call every warmup
  signature in a fresh process without ecomtf, compare with in-process
  outputs, check the op set and the version layout.
- ``run_tflite_test``: convert, run under LiteRT, compare with TensorFlow.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import ecomtf.export as ex


def call_signature(fn, inputs):
    return {k: v.numpy() for k, v in ex.call_signature(fn, inputs).items()}


def assert_outputs_close(got, want, atol=1e-5):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        g, w = np.asarray(got[k]), np.asarray(want[k])
        assert g.shape == w.shape, (k, g.shape, w.shape)
        if np.issubdtype(w.dtype, np.number):
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5, err_msg=k)
        else:
            np.testing.assert_array_equal(g.astype(bytes), w.astype(bytes), err_msg=k)


def run_export_test(model, base_dir, inputs_by_signature=None, atol=1e-5):
    """Exports ``model`` and checks the export answers the same in a fresh process.

    Returns the version directory.
    """
    servable = ex.as_servable(model)
    path = ex.save_for_serving(servable, base_dir)
    assert path.name == str(ex.existing_versions(base_dir)[-1])
    assert (path / "saved_model.pb").is_file()
    used = ex.check_serving_ops(path)
    assert used["core"], "no ops found: the op check read nothing"
    warm = ex.read_warmup(path)
    inputs_by_signature = inputs_by_signature or servable.warmup_inputs()
    assert {log.predict_log.request.model_spec.signature_name for log in warm} == set(
        servable.warmup_inputs()
    )
    sigs = servable.signatures()
    # One child process answers every signature (a TensorFlow import each costs seconds).
    calls = list(inputs_by_signature.items())
    answers = ex.run_calls_in_fresh_process(path, calls)
    assert len(answers) == len(calls)
    for (name, inputs), got in zip(calls, answers):
        assert_outputs_close(got, call_signature(sigs[name], inputs), atol=atol)
    return path


def run_tflite_test(model, path, inputs, signature_key=None, atol=1e-4, **convert_kwargs):
    """Converts to TFLite and checks LiteRT against TensorFlow; returns max diffs."""
    out = ex.to_tflite(model, path, signature_keys=[signature_key] if signature_key else None,
                       **convert_kwargs)
    diffs = ex.check_tflite_parity(model, out, inputs, signature_key)
    assert diffs, "parity check compared nothing"
    for k, d in diffs.items():
        assert d <= atol, f"{k}: max |tflite - tf| = {d} > {atol}"
    return diffs
