"""`ecomtf prepare` then `ecomtf train --prepared`, through the console command."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ecomtf.datasets import simulate_shop

ECOMTF = str(pathlib.Path(sys.executable).parent / "ecomtf")


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([ECOMTF, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    simulate_shop(n_users=400, n_items=80, n_days=30, seed=3).to_csv(folder)
    return folder / "events.csv"


def test_prepare_then_train_from_shards(events, tmp_path):
    prep = tmp_path / "prep"
    r = run("prepare", "purchase", "--events", str(events), "--out", str(prep), "--shards", "3",
            "--session-col", "session_id", "--price-col", "price", "--max-length", "10")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "prepared" in r.stdout and "rejected 0" in r.stdout
    manifest = json.loads((prep / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] > 0 and manifest["shards"] == 3

    r = run("train", "purchase", "--prepared", str(prep), "--max-steps", "30",
            "--batch-size", "64", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 30
    # A real model, scored on the streamed test shards: better than chance.
    assert metrics["auc"] > 0.6, metrics


def test_train_from_a_directory_that_was_not_prepared(tmp_path):
    r = run("train", "purchase", "--prepared", str(tmp_path), "--max-steps", "5",
            "--out", str(tmp_path / "run"))
    assert r.returncode != 0
    assert "not a prepared directory" in r.stderr
