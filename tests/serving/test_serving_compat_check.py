"""serving/check_serving_compat.py, the script `make check-serving-compat` runs
in a TF 2.20 environment; here its load-and-replay logic runs under the
project's TensorFlow on the test exports (one broken on purpose)."""

import importlib.util
import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "check_serving_compat", REPO / "serving" / "check_serving_compat.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replays_every_warmup_and_reports_a_broken_version(exported, tmp_path, capsys):
    check = _script()
    root = tmp_path / "export"
    shutil.copytree(exported / "shop", root / "shop")  # has a warmup file (predict + classify)
    shutil.copytree(exported / "hp2" / "1", root / "hp2" / "1")  # no warmup file
    broken = root / "broken" / "3"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    (root / "shop" / ".tmp-9").mkdir()  # not a version: ignored
    found = [p.relative_to(root).as_posix() for p in check.find_versions(root)]
    assert found == ["broken/3", "hp2/1", "shop/1"]
    assert check.main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL broken/3: load failed" in out
    assert "OK   hp2/1: loaded; no warmup file" in out
    shop_line = next(line for line in out.splitlines() if line.startswith("OK   shop/"))
    assert "warmup records answered" in shop_line and "classify" in shop_line
    assert out.rstrip().endswith("2 of 3 versions load and answer their warmup under TensorFlow "
                                 + __import__("tensorflow").__version__)


def test_no_exports_is_a_clear_error(tmp_path, capsys):
    assert _script().main([str(tmp_path)]) == 2
    assert "no <model>/<version>/saved_model.pb" in capsys.readouterr().err
