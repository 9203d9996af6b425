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
            "--session-col", "session_id", "--price-col", "price", "--max-length", "10",
            "--workers", "2")  # partitions in two (forked) worker processes
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
    assert r.returncode == 2
    assert "not a prepared directory" in r.stderr and "Traceback" not in r.stderr


def test_prepare_bad_input_is_one_line(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp\nu1,i1,2024-01-01\n")
    r = run("prepare", "purchase", "--events", str(path), "--out", str(tmp_path / "p"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "e.csv: column 'event_type' (for event_type) not found" in r.stderr


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_resume_after_one_is_killed(events, tmp_path):
    """MultiWorkerMirroredStrategy on 127.0.0.1; a worker killed mid-run resumes from backup."""
    import time

    import tensorflow as tf

    from ecomtf.data import EventSchema
    from ecomtf.data.prepare import prepare_purchase
    from ecomtf.recipes.prepared import evaluate_prepared

    prep = tmp_path / "prep"
    prepare_purchase(events, EventSchema(session="session_id", price="price"), prep, shards=4,
                     max_length=10)
    steps = ["--max-steps", "240", "--batch-size", "64", "--backup-every", "20"]
    r = run("train", "purchase", "--prepared", str(prep), *steps, "--out", str(tmp_path / "one"))
    assert r.returncode == 0, r.stderr[-2000:]
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())["auc"]

    ports = [_free_port(), _free_port()]
    backup = tmp_path / "backup"

    def start(i):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": i}}))
        return subprocess.Popen(
            [ECOMTF, "train", "purchase", "--prepared", str(prep), *steps,
             "--backup-dir", str(backup), "--out", str(tmp_path / "multi")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    procs = [start(0), start(1)]
    deadline = time.time() + 600
    while not any(backup.rglob("*.index")) and time.time() < deadline:
        assert all(p.poll() is None for p in procs), procs[0].communicate()[0][-3000:]
        time.sleep(1)
    assert any(backup.rglob("*.index")), "no backup was written"
    procs[1].kill()
    procs[1].wait()
    # The chief's collectives fail without its peer (or it waits): restart what died.
    try:
        procs[0].wait(timeout=90)
    except subprocess.TimeoutExpired:
        pass
    procs = [procs[0] if procs[0].poll() is None else start(0), start(1)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
    model = tf.keras.models.load_model(tmp_path / "multi" / "model.keras")
    multi = evaluate_prepared(model, prep)["auc"]
    print(f"test AUC: single worker {single:.4f}, two workers with a kill {multi:.4f}")
    # Tolerance: each worker reads other shards, and the restart replays from a backup.
    # Measured 2026-12-07: 0.7165 (two workers, one killed) vs 0.7530 (one worker).
    assert abs(multi - single) < 0.05, (multi, single)
