import numpy as np
import pytest
import tensorflow as tf

import ecomtf.export as ex
from ecomtf.export.two_tower_servable import PAD_SCORE
from ecomtf.export.two_tower_servable import TwoTowerServable
from ecomtf.recipes import retrieval
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test


@pytest.fixture(scope="module")
def servable(trained):
    model, _ = trained
    return TwoTowerServable(model, max_k=20)


def _request(data, rows, k, exclude, length=None):
    q = {}
    for name in ("user_id", "segment", "timestamp", "recent_item_ids"):
        q[name] = np.asarray(data.test[name][rows])
    if length:  # the mobile signature has a fixed number of recent-item slots
        recent = q["recent_item_ids"][:, -length:]
        pad = np.full((len(rows), length - recent.shape[1]), "")
        q["recent_item_ids"] = np.concatenate([pad, recent], axis=1)
    return {**q, "k": np.asarray(k, np.int32), "exclude_item_ids": np.asarray(exclude)}


def _brute_force(model, data, request):
    q = model({k: tf.constant(v) for k, v in request.items() if k in model.query_tower.input_names()}).numpy()
    c = model.candidate_embeddings({k: tf.constant(data.candidates[k]) for k in model.candidate_tower.input_names()})
    return q @ c.numpy().T


def test_serving_default_top_k_per_row_k_and_exclusions(trained, data, servable):
    model, _ = trained
    rows = [0, 1, 2]
    scores = _brute_force(model, data, _request(data, rows, [1, 1, 1], [[""]] * 3))
    ids = data.candidates["item_id"]
    best = [ids[np.argsort(-s, kind="stable")] for s in scores]
    request = _request(data, rows, [5, 2, 50], [[best[0][0], best[0][3]], ["", ""], [best[2][1], "nope"]])
    out = ex.call_signature(servable.signatures()["serving_default"], request)
    got = out["item_ids"].numpy().astype(str)
    assert got.shape == (3, 20)  # max(k) capped at max_k
    np.testing.assert_array_equal(got[0, :5], [b for b in best[0] if b not in (best[0][0], best[0][3])][:5])
    assert (got[0, 5:] == "").all() and (out["scores"].numpy()[0, 5:] == PAD_SCORE).all()
    np.testing.assert_array_equal(got[1, :2], best[1][:2])
    np.testing.assert_array_equal(got[2], [b for b in best[2] if b != best[2][1]][:20])
    want = np.sort(scores[2])[::-1]
    np.testing.assert_allclose(out["scores"].numpy()[2], np.delete(want, 1)[:20], rtol=1e-5, atol=1e-6)
    # One k for the whole batch; k beyond the catalog is capped, never fails.
    one = ex.call_signature(servable.signatures()["serving_default"], {**request, "k": np.array([3], np.int32)})
    assert one["item_ids"].shape == (3, 3)


def test_score_and_embedding_signatures(trained, data, servable):
    model, _ = trained
    sigs = servable.signatures()
    request = _request(data, [0, 1], [1, 1], [[""], [""]])
    query = {k: v for k, v in request.items() if k in model.query_tower.input_names()}
    items = np.array([["i1", "i2", "unknown"], ["i3", "i1", "i2"]])
    scores = ex.call_signature(sigs["score"], {**query, "item_ids": items})["scores"].numpy()
    full = _brute_force(model, data, request)
    col = {v: i for i, v in enumerate(data.candidates["item_id"])}
    np.testing.assert_allclose(scores[0, :2], full[0, [col["i1"], col["i2"]]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores[1], full[1, [col["i3"], col["i1"], col["i2"]]], rtol=1e-5, atol=1e-6)
    assert scores[0, 2] == PAD_SCORE
    q = ex.call_signature(sigs["query_embedding"], query)["embedding"].numpy()
    np.testing.assert_allclose(q, model(query), atol=1e-6)
    cand = {k: data.candidates[k][:3] for k in model.candidate_tower.input_names()}
    e = ex.call_signature(sigs["candidate_embedding"], cand)["embedding"].numpy()
    np.testing.assert_allclose(e, model.candidate_embeddings(cand), atol=1e-6)


def test_export_answers_in_a_fresh_process_and_over_rest_rows(servable, data, tmp_path):
    import json
    import urllib.request

    from ecomtf.serving.local_model_server import LocalModelServer

    path = run_export_test(servable, tmp_path / "retrieval")
    assert "TFText>WhitespaceTokenizeWithOffsetsV2" in ex.check_serving_ops(path)["text"]
    # TF Serving's row format: one object per row, every input sharing dim 0.
    rows = [
        {"user_id": "u1", "segment": "s1", "timestamp": 1_700_000_000_000,
         "recent_item_ids": ["i1", "i5"], "k": 3, "exclude_item_ids": ["i1", ""]},
        {"user_id": "unknown-user", "segment": "", "timestamp": 0,
         "recent_item_ids": ["", ""], "k": 1, "exclude_item_ids": ["", ""]},
    ]
    body = json.dumps({"instances": rows}).encode()
    with LocalModelServer(model_name="retrieval", model_base_path=path.parent, rest_api_port=0,
                          grpc_port=None) as server:
        server.wait_for_version("retrieval", 1)
        request = urllib.request.Request(f"{server.rest_url}/v1/models/retrieval:predict", body)
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]
    assert len(answer[0]["item_ids"]) == 3 and "i1" not in answer[0]["item_ids"]
    assert answer[1]["item_ids"][0] != "" and answer[1]["item_ids"][1:] == ["", ""]
    assert answer[1]["scores"][1] == pytest.approx(PAD_SCORE, rel=1e-5)


def test_tflite_recommend_and_query_embedding_match(servable, data, tmp_path):
    request = _request(data, list(range(6)), [10] * 6, [["i1", ""]] * 6, length=servable.mobile_history_length)
    out = tmp_path / "retrieval.tflite"
    diffs = run_tflite_test(servable, out, request, signature_key="recommend", atol=1e-4)
    assert diffs["scores"] <= 1e-4
    lite = ex.run_tflite(out, request, signature_key="recommend")["item_ids"].astype(str)
    want = ex.call_signature(servable.mobile_signatures()["recommend"], request)["item_ids"].numpy().astype(str)
    np.testing.assert_array_equal(lite, want)
    assert not (lite == "i1").any()
    query = {k: v for k, v in request.items() if k not in ("k", "exclude_item_ids")}
    run_tflite_test(servable, tmp_path / "query.tflite", query, signature_key="query_embedding")


def test_export_index_adds_a_version_with_new_items(trained, tmp_path):
    model, _ = trained
    first = ex.save_for_serving(TwoTowerServable(model, max_k=5), tmp_path / "retrieval")
    catalog = {
        "sku": np.array(["i1", "brand-new"]),
        "category": np.array(["c1", "c1"]),
        "price": np.array([20.0, 25.0]),
        "title": np.array(["red cat1 thing 1", "red cat1 thing"]),
    }
    second = retrieval.export_index(model, catalog, tmp_path / "retrieval", max_k=5, catalog_item_id="sku")
    assert (first.name, second.name) == ("1", "2")
    request = TwoTowerServable(model, max_k=5).example_request(1, k=5)
    fn = tf.saved_model.load(str(second)).signatures["serving_default"]
    out = fn(**{k: tf.constant(v) for k, v in request.items()})
    # k=5 over a 2-item catalog: capped at the catalog size.
    assert sorted(out["item_ids"].numpy()[0].astype(str)) == ["brand-new", "i1"]


def test_servable_needs_a_catalog():
    from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval

    model = TwoTowerRetrieval.from_dataset({"user_id": np.array(["u"]), "item_id": np.array(["a"])}, output_dim=2)
    with pytest.raises(ValueError, match="no catalog to index"):
        ex.as_servable(model)


def test_tflite_on_device_top_k_over_a_100k_item_catalog(trained, data, tmp_path):
    """Issue #3: on-device top-k over ~100k items, parity-checked with LiteRT."""
    model, _ = trained
    n, d = 100_000, model.candidate_tower.output_dim
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    ids = np.array([f"sku{i}" for i in range(n)])
    big = TwoTowerServable(model, max_k=20, candidate_embeddings=emb, candidate_ids=ids)
    assert big.mobile_max_items == n
    exclude = [["sku0", ""], ["", ""], ["sku5", "sku7"], ["", ""]]
    request = _request(data, list(range(4)), [10, 20, 5, 1], exclude, length=big.mobile_history_length)
    out = tmp_path / "retrieval_100k.tflite"
    diffs = run_tflite_test(big, out, request, signature_key="recommend", atol=1e-4)
    assert diffs["scores"] <= 1e-4
    assert out.stat().st_size > n * d * 4  # the whole index is in the file
    lite = ex.run_tflite(out, request, signature_key="recommend")
    want = ex.call_signature(big.mobile_signatures()["recommend"], request)
    np.testing.assert_array_equal(lite["item_ids"].astype(str), want["item_ids"].numpy().astype(str))
    # The top 10 of row 0 is the brute-force top 10 over all 100k items, sku0 excluded.
    q = model({k: tf.constant(v[:1]) for k, v in request.items()
               if k in model.query_tower.input_names()}).numpy()
    order = [i for i in np.argsort(-(emb @ q[0]), kind="stable") if i != 0][:10]
    assert lite["item_ids"][0][:10].astype(str).tolist() == ids[order].tolist()
