"""The feedback loop: train, export v1, warm-start on new events with new items, export v2."""

import argparse
import json

import numpy as np

import ecomtf.export as ex
from ecomtf.export.next_item_servable import NextItemServable
from ecomtf.recipes import next_item
from tests.next_item.conftest import CYCLE
from tests.next_item.conftest import cyclic_log
from tests.next_item.conftest import write_csv

NEW_ITEMS = [f"n{k}" for k in range(4)]


def test_warm_start_grows_vocabulary_and_learns_new_items():
    data = next_item.prepare(cyclic_log(n_users=40))
    model, metrics = next_item.train(data, epochs=4, verbose=0, embedding_dim=16, max_len=8,
                                     num_blocks=1, learning_rate=1e-2, eval_every=2)
    assert metrics["full_HR@10"] > 0.5 and metrics["full_cases"] == 40
    assert metrics["best_epoch"] in (2, 4) and metrics["validation_ndcg@10"] > 0

    # New events: the same cycle with four new items spliced in.
    items = CYCLE[:6] + NEW_ITEMS + CYCLE[6:]
    new_log = cyclic_log(n_users=30, items=items, seed=1, start_ms=1_800_000_000_000, prefix="w")
    new_data = next_item.prepare(new_log)
    grown = model.with_items(np.concatenate(new_data.train.item_ids))
    assert grown.item_vocabulary[: model.num_items] == model.item_vocabulary
    assert sorted(grown.item_vocabulary[model.num_items:]) == NEW_ITEMS
    old_rows = model.item_embedding.embeddings.numpy()
    np.testing.assert_array_equal(grown.item_embedding.embeddings.numpy()[: len(old_rows)], old_rows)

    model2, metrics2 = next_item.train(new_data, warm_start=model, epochs=10, batch_size=8,
                                       verbose=0, learning_rate=1e-2)
    assert model2.num_items == model.num_items + 4
    # The continued model recommends a new item where the new events put it.
    request = {"item_ids": np.array([["i4", "i5"]]), "event_types": np.array([["view", "view"]]),
               "time_gaps": np.array([[0, 60]], np.float32), "k": np.array([3], np.int32),
               "exclude_item_ids": np.array([[""]])}
    out = ex.call_signature(NextItemServable(model2).signatures()["serving_default"], request)
    assert out["item_ids"].numpy()[0, 0].decode() == "n0"


def test_cli_warm_start_from_export(tmp_path):
    """`ecomtf train next-item --data new.csv --warm-start export/next_item` -> version 2."""
    parser = argparse.ArgumentParser()
    next_item.add_train_arguments(parser)

    old = write_csv(cyclic_log(n_users=30), tmp_path / "old.csv")
    common = ["--timestamp-format", "unix_ms", "--max-len", "8", "--dim", "16", "--blocks", "1",
              "--learning-rate", "0.01"]
    base = tmp_path / "export" / "next_item"
    run1 = next_item.train_from_args(parser.parse_args(
        ["--data", old, "--epochs", "2", "--out", str(tmp_path / "run1"), "--export-dir", str(base),
         *common]))
    assert ex.existing_versions(base) == [1]
    items = CYCLE + NEW_ITEMS
    new = write_csv(cyclic_log(n_users=20, items=items, seed=2, start_ms=1_800_000_000_000),
                tmp_path / "new.csv")
    run2 = next_item.train_from_args(parser.parse_args(
        ["--data", new, "--warm-start", str(base), "--epochs", "1", "--out", str(tmp_path / "run2"),
         *common]))
    assert ex.existing_versions(base) == [1, 2]
    first, second = next_item.load_run(run1), next_item.load_run(run2)
    # Restored from the served export, version 1 is the first run's model exactly.
    v1 = next_item.load_model(base / "1")
    np.testing.assert_array_equal(v1.item_embedding.embeddings.numpy(),
                                  first.item_embedding.embeddings.numpy())
    assert second.item_vocabulary[: first.num_items] == first.item_vocabulary
    assert set(second.item_vocabulary[first.num_items:]) == set(NEW_ITEMS)
    served = next_item.load_model(base)
    assert served.item_vocabulary == second.item_vocabulary


# The documented mapping flags (docs/next_item.md): Taobao-style rows without a
# header, pv/cart/fav/buy, unix seconds.
TAOBAO_FLAGS = ["--no-header", "--user-col", "0", "--item-col", "1", "--event-col", "3",
                "--time-col", "4", "--timestamp-format", "unix_s",
                "--event-map", "pv=view,cart=cart,fav=favorite,buy=purchase",
                "--timezone", "Asia/Shanghai"]
SMALL = ["--max-len", "8", "--dim", "16", "--blocks", "1", "--learning-rate", "0.01", "--batch-size", "16"]


def _write_taobao(log, path):
    with open(path, "w") as f:
        for u, i, t in zip(log.user_id, log.item_id, log.timestamp):
            f.write(f"{u},{i},cat0,pv,{int(t) // 1000}\n")
    return str(path)


def _top(version_dir, items, k=5):
    import tensorflow as tf

    fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    request = {"item_ids": np.array([items]), "event_types": np.array([["view"] * len(items)]),
               "time_gaps": np.array([[0.0] + [60.0] * (len(items) - 1)], np.float32),
               "k": np.array([k], np.int32), "exclude_item_ids": np.array([[""]])}
    return [x.decode() for x in ex.call_signature(fn, request)["item_ids"].numpy()[0]]


def test_console_feedback_loop_exports_the_next_version_and_keeps_old_items(tmp_path, capsys):
    """The two commands of docs/next_item.md, through `ecomtf.cli.main`."""
    from ecomtf.cli import main as cli_main

    base = tmp_path / "export" / "next_item"
    old = _write_taobao(cyclic_log(n_users=40), tmp_path / "old.csv")
    assert cli_main(["train", "next-item", "--data", old, *TAOBAO_FLAGS, *SMALL, "--epochs", "8",
                     "--out", str(tmp_path / "run1"), "--export-dir", str(base)]) == 0
    assert ex.existing_versions(base) == [1]
    assert _top(base / "1", ["i1", "i2", "i3"])[0] == "i4"

    # New events only walk the second half of the cycle, through four new items
    # (i11 -> n0 -> ... -> n3 -> i6): nothing about what follows i3.
    new_log = cyclic_log(n_users=30, items=CYCLE[6:] + NEW_ITEMS, seed=1,
                         start_ms=1_800_000_000_000, prefix="w")
    new = _write_taobao(new_log, tmp_path / "new.csv")
    capsys.readouterr()
    # No --export-dir: the next version goes to the warm-start export's base dir.
    assert cli_main(["train", "next-item", "--data", new, *TAOBAO_FLAGS, *SMALL,
                     "--warm-start", str(base), "--epochs", "2",
                     "--out", str(tmp_path / "run2")]) == 0
    printed = capsys.readouterr().out
    assert "warm start: 12 items kept, 4 new items added" in printed
    assert f"exported as {base / '2'}" in printed
    assert ex.existing_versions(base) == [1, 2]
    # The baselines are printed under the model and stored in metrics.json.
    assert "same split, same metric code" in printed and "session kNN" in printed
    stored = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert set(stored["baselines"]) == {"most popular", "repeat", "item co-occurrence", "session kNN"}

    v1, v2 = next_item.load_model(base / "1"), next_item.load_model(base / "2")
    assert v2.item_vocabulary[: v1.num_items] == v1.item_vocabulary
    assert sorted(v2.item_vocabulary[v1.num_items:]) == NEW_ITEMS
    # What is served now still knows the old rule, and has learned the new one.
    assert "i4" in _top(base / "2", ["i1", "i2", "i3"])
    assert "n1" in _top(base / "2", ["i11", "n0"])
