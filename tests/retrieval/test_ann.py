import importlib.util
import sys

import numpy as np
import pytest

from ecomtf import ann

HAS_SCANN = importlib.util.find_spec("scann") is not None


def test_brute_force_top_k_is_exact():
    rng = np.random.default_rng(0)
    q, c = rng.standard_normal((7, 4)), rng.standard_normal((50, 4))
    idx, val = ann.brute_force_top_k(q, c, k=5, batch_size=3)
    full = q @ c.T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :5])
    np.testing.assert_allclose(val, np.sort(full, axis=1)[:, ::-1][:, :5], rtol=1e-5)
    assert ann.recall_at_k(idx, idx) == 1.0
    assert ann.recall_at_k(idx[:, :1], idx[:, 1:2]) == 0.0


def test_missing_scann_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scann", None)  # what an uninstalled package looks like
    with pytest.raises(ImportError, match="pip install scann"):
        ann.scann_index(np.zeros((10, 4), np.float32))


@pytest.mark.skipif(not HAS_SCANN, reason="the optional `scann` package is not installed (pip install scann)")
def test_scann_recall_against_brute_force():
    rng = np.random.default_rng(0)
    # Clustered embeddings (what trained towers give): the defaults find the exact top 10.
    centers = 3.0 * rng.standard_normal((50, 16))
    c = (centers[rng.integers(0, 50, 5000)] + rng.standard_normal((5000, 16))).astype(np.float32)
    q = (centers[rng.integers(0, 50, 100)] + rng.standard_normal((100, 16))).astype(np.float32)
    assert ann.scann_recall(q, c, k=10) >= 0.95
    # Isotropic noise is the hard case for a tree: recall grows with the leaves searched.
    c = rng.standard_normal((5000, 16)).astype(np.float32)
    q = rng.standard_normal((100, 16)).astype(np.float32)
    few, half = (ann.scann_recall(q, c, k=10, num_leaves_to_search=n) for n in (7, 35))
    assert few < half and half >= 0.9
