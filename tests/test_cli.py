"""The CLI end to end on files: train from mapping flags, export, convert, predict."""

import gzip
import json

import numpy as np
import pytest

from ecomtf.cli import main
from ecomtf.datasets import simulate_shop


@pytest.fixture(scope="module")
def shop_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    shop = simulate_shop(n_users=400, n_items=80, n_days=30, seed=3)
    shop.to_csv(folder)
    # Re-write the log as a shop might have it: no header, ';', Taobao-style
    # event names, unix seconds, gzip.
    rows = (folder / "events.csv").read_text().splitlines()[1:]
    names = {"view": "pv", "cart": "cart", "purchase": "buy"}
    out = []
    for r in rows:
        user, item, ev, ts, _session, price = r.split(",")
        secs = int(np.datetime64(ts.rstrip("Z"), "s").astype(np.int64))
        out.append(";".join([user, item, names[ev], str(secs), price]))
    out.append("u_truncated;i1;pv")  # a cut-off last line must be a reject, not a crash
    path = folder / "log.csv.gz"
    path.write_bytes(gzip.compress(("\r\n".join(out)).encode()))
    return path


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for cmd in ("train", "evaluate", "export", "convert", "predict", "demo"):
        assert cmd in text


def test_train_export_convert_predict_from_mapping_flags(shop_log, tmp_path, capsys):
    run = tmp_path / "run"
    main([
        "train", "purchase", "--events", str(shop_log), "--no-header",
        "--user-col", "0", "--item-col", "1", "--event-col", "2", "--time-col", "3",
        "--price-col", "4", "--timestamp-format", "unix_s",
        "--event-map", "pv=view,cart=cart,buy=purchase",
        "--epochs", "1", "--lstm-units", "8", "--item-dim", "4", "--hidden-units", "8",
        "--out", str(run),
    ])
    out = capsys.readouterr().out
    assert "rejected 1" in out and "wrong number of fields" in out  # the reject report is printed
    assert "auc" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["auc"] <= 1.0
    # The count baselines, on the same split, printed and stored.
    assert "logistic regression on counts" in out and "best count rule" in out
    assert 0.0 <= metrics["baselines"]["logistic regression on counts"]["auc"] <= 1.0

    main(["export", "--run", str(run), "--out", str(tmp_path / "export" / "purchase")])
    version = tmp_path / "export" / "purchase" / "1"
    assert (version / "saved_model.pb").is_file()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()

    main(["convert", "--run", str(run), "--out", str(tmp_path / "p.tflite"), "--quantization", "dynamic"])
    assert (tmp_path / "p.tflite").stat().st_size > 1000
    assert "max |diff|" in capsys.readouterr().out

    int8 = ["convert", "--run", str(run), "--out", str(tmp_path / "q.tflite"), "--quantization", "int8"]
    capsys.readouterr()
    with pytest.raises(SystemExit, match="--calibration") as e:  # one line on stderr, exit code 2
        main(int8)
    assert e.value.code == 2 and "--calibration" in capsys.readouterr().err
    calibration = tmp_path / "calibration.jsonl"
    row = {"item_id": ["", "i1"], "event_type": ["", "view"], "time_delta": [0.0, 3.0],
           "dwell_time": [0.0, 1.0], "price": [0.0, 9.5]}
    calibration.write_text(json_lines([row] * 120))
    # TFLite's calibrator cannot feed [batch, steps] strings: a clear refusal.
    with pytest.raises(SystemExit, match="rank >= 2.*item_id"):
        main(int8 + ["--calibration", str(calibration)])
    assert not (tmp_path / "q.tflite").exists()

    capsys.readouterr()
    request = {"item_id": [["", "never-seen-item"]], "event_type": [["", "view"]],
               "time_delta": [[0.0, 3.0]], "dwell_time": [[0.0, 0.0]], "price": [[0.0, 9.5]]}
    main(["predict", "--model", str(version), "--json", json.dumps(request)])
    answer = json.loads(capsys.readouterr().out)
    p = answer["purchase_probability"][0]
    assert 0.0 < p < 1.0


def json_lines(rows: list[dict]) -> str:
    return "\n".join(json.dumps(r) for r in rows)


def test_int8_convert_calibrates_on_a_file_of_real_rows(tmp_path, capsys):
    from ecomtf.recipes import purchase

    run = tmp_path / "shoppers"
    main(["train", "purchase", "--dataset", "online-shoppers", "--epochs", "1",
          "--hidden-units", "8", "--out", str(run)])
    train = purchase.online_shoppers_examples(seed=42).train.features
    rows = [{k: v[i].item() for k, v in train.items()} for i in range(150)]
    calibration = tmp_path / "calibration.jsonl"
    calibration.write_text(json_lines(rows))
    capsys.readouterr()
    out_file = tmp_path / "int8.tflite"
    main(["convert", "--run", str(run), "--out", str(out_file), "--quantization", "int8",
          "--calibration", str(calibration)])
    out = capsys.readouterr().out
    assert "calibrating on 150 rows" in out and "max |diff|" in out
    assert out_file.stat().st_size > 1000
    calibration.write_text(json_lines(rows[:20]))
    with pytest.raises(SystemExit, match="at least 100") as e:
        main(["convert", "--run", str(run), "--out", str(tmp_path / "x.tflite"),
              "--quantization", "int8", "--calibration", str(calibration)])
    assert e.value.code == 2 and "at least 100" in capsys.readouterr().err


def test_strict_mode_fails_on_rejects(shop_log, tmp_path, capsys):
    # A DataValidationError reaches the user as one line (and the report), exit code 2.
    with pytest.raises(SystemExit) as e:
        main([
            "train", "purchase", "--events", str(shop_log), "--no-header", "--strict",
            "--user-col", "0", "--item-col", "1", "--event-col", "2", "--time-col", "3",
            "--event-map", "pv=view,cart=cart,buy=purchase", "--out", str(tmp_path / "r"),
        ])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ecomtf: error: ") and "Traceback" not in err


def test_jsonable_decodes_string_tensors_of_any_rank():
    from ecomtf.cli import _jsonable

    assert _jsonable(np.array([[b"2024-01-01", b"2024-01-02"]], dtype=object)) == [["2024-01-01", "2024-01-02"]]
    assert _jsonable(np.array(b"a", dtype=object)) == "a"
    assert _jsonable(np.array([0.5, 1.0], np.float32)) == [0.5, 1.0]
