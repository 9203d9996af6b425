"""CLI failures found by trying the CLI on unseen data (issue 18), through the
real ``ecomtf`` console command in a child process where it matters: bad input
is one line on stderr and exit code 2 (never a traceback), no TensorFlow
start-up noise, and the commands that crashed (predict on an intent export,
convert on a next-item run) work."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from ecomtf.cli import main
from ecomtf.datasets import simulate_shop

REPO = pathlib.Path(__file__).resolve().parents[1]


def ecomtf(*args, timeout=600):
    """Runs the console command with this checkout's code."""
    script = pathlib.Path(sys.executable).with_name("ecomtf")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "ecomtf.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI's own default is under test
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)


def assert_one_line_error(result, expected: str, extra_lines_ok=False):
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("ecomtf: error: ") and expected in lines[0], lines
    if not extra_lines_ok:
        assert len(lines) == 1, lines
    # TensorFlow's start-up lines (the cuInit error on machines without a GPU,
    # oneDNN/CUDA notes) are not shown.
    assert "cuInit" not in result.stderr and "I0000" not in result.stderr, result.stderr
    return lines


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    simulate_shop(n_users=300, n_items=60, n_days=20, seed=5).to_csv(folder)
    return folder


def test_a_folder_as_data_is_one_line(shop_dir):
    # Event logs may be a folder of part files (issue 15); a folder of
    # unrelated tables is one line naming the file whose columns do not fit.
    result = ecomtf("train", "purchase", "--events", shop_dir, "--out", shop_dir / "run")
    line = assert_one_line_error(result, "column 'user_id' (for user_id) not found")[0]
    assert "catalog.csv" in line or "sales.csv" in line, line
    # A reader that takes one file says so.
    result = ecomtf("train", "intent", "--data", shop_dir, "--out", shop_dir / "run")
    assert_one_line_error(result, f"{shop_dir}: is a folder; pass a file")


def test_an_event_map_that_keeps_nothing_is_one_line_and_the_report(shop_dir):
    result = ecomtf("train", "purchase", "--events", shop_dir / "events.csv", "--event-map", "pv=view",
                    "--out", shop_dir / "run")
    lines = assert_one_line_error(result, "no row was kept (check --event-map", extra_lines_ok=True)
    assert "kept 0" in lines[1] and "unknown event type" in result.stderr


def _exit_2(argv, capsys) -> str:
    # In-process: the same main() and code path as the console command, cheaper.
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ecomtf: error: ") and "Traceback" not in err, err
    return err


def test_other_bad_inputs_are_one_line_exit_2(shop_dir, tmp_path, capsys):
    err = _exit_2(["train", "purchase", "--events", str(tmp_path / "missing.csv"), "--out", str(tmp_path)],
                  capsys).strip().splitlines()
    assert len(err) == 1 and "missing.csv" in err[0], err
    # --strict: a DataValidationError with its report.
    bad = tmp_path / "events.csv"
    text = (shop_dir / "events.csv").read_text().splitlines()
    bad.write_text("\n".join(text[:200] + ["u1,i1,view,not-a-time,s1,1.0"]) + "\n")
    _exit_2(["train", "purchase", "--events", str(bad), "--strict", "--out", str(tmp_path / "r")], capsys)
    # A command's own refusal (SystemExit with a message) is exit code 2 too.
    assert "no saved_model.pb" in _exit_2(["predict", "--model", str(tmp_path), "--json", "{}"], capsys)
    # Bad --json.
    assert "not valid JSON" in _exit_2(["predict", "--model", str(tmp_path), "--json", "{x"], capsys)


def test_help_prints_each_default_once(capsys):
    from ecomtf import recipes

    for name in recipes.available():
        with pytest.raises(SystemExit):
            main(["train", name, "--help"])
        text = capsys.readouterr().out
        flat = re.sub(r"\s+", " ", text)
        assert not re.search(r"\(default[ :][^()]*\) \(default", flat), (name, flat)
        assert "(default: None)" not in flat, name
    with pytest.raises(SystemExit):
        main(["train", "intent", "--help"])
    flat = re.sub(r"\s+", " ", capsys.readouterr().out)
    for flag in ("--members MEMBERS", "--wide, --no-wide"):
        entry = flat[flat.rindex(flag):][:600]
        assert "Measured" in entry and "more accurate" not in entry, entry


def test_purchase_reports_pr_auc_and_a_threshold_chosen_on_validation(shop_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "purchase", "--events", str(shop_dir / "events.csv"), "--epochs", "1",
                 "--lstm-units", "8", "--item-dim", "4", "--hidden-units", "8", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    for key in ("pr_auc", "val_f1_threshold", "precision_at_val_threshold", "f1_at_val_threshold"):
        assert key in out, out
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["pr_auc"] <= 1.0
    assert 0.0 < metrics["val_f1_threshold"] < 1.0
    assert 0.0 <= metrics["f1_at_val_threshold"] <= 1.0


def test_predict_loads_an_intent_export(tmp_path, capsys):
    rows = ["text,label"]
    for label, words in {"track": "where is my order parcel", "refund": "refund my money back"}.items():
        for k in range(30):
            w = words.split()
            rows.append(f"{' '.join(np.roll(w, k % len(w)))} please {k},{label}")
    data = tmp_path / "intents.csv"
    data.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["train", "intent", "--data", str(data), "--epochs", "2", "--output-dim", "8",
                 "--vocab-size", "200", "--batch-size", "16", "--out", str(run)]) == 0
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "export")]) == 0
    capsys.readouterr()
    result = ecomtf("predict", "--model", tmp_path / "export" / "1", "--json",
                    '{"text": ["where is my parcel"]}')
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["intent"][0] in ("track", "refund")


def test_convert_a_next_item_run(tmp_path, capsys):
    from tests.next_item.conftest import cyclic_log
    from tests.next_item.conftest import write_csv

    data = write_csv(cyclic_log(n_users=30), tmp_path / "events.csv")
    run = tmp_path / "run"
    assert main(["train", "next-item", "--data", str(data), "--timestamp-format", "unix_ms",
                 "--encoder", "lstm", "--max-len", "8", "--dim", "8", "--epochs", "1",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    result = ecomtf("convert", "--run", run, "--out", tmp_path / "next_item.tflite")
    assert result.returncode == 0, result.stderr[-3000:]
    diff = re.search(r"max \|diff\| = (\S+)", result.stdout)
    assert diff and float(diff.group(1)) < 1e-3, result.stdout
