import gzip

import numpy as np
import pytest

from ecomtf.data import DataValidationError
from ecomtf.data.table_reader import read_table


def test_rejects_are_counted_with_their_lines(tmp_path):
    text = ("a,b,c,y\n"
            "1,x,3,1\n"
            "2,y,,no\n"      # empty numeric: NaN, kept
            "3,z\n"          # wrong number of fields
            "oops,w,1,0\n"   # non-numeric
            "4,v,1,maybe\n"  # bad label
            "\n"
            "5,u,2,TRUE\n")
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    feats, y, report = read_table(path, label="y", numeric=["a", "c"], categorical=["b"])
    assert y.tolist() == [1.0, 0.0, 1.0]
    assert feats["b"].tolist() == ["x", "y", "u"]
    assert np.isnan(feats["c"][1]) and feats["a"].dtype == np.float32
    assert report.rows_read == 6
    assert dict(report.rejected) == {"wrong number of fields": 1, "bad label": 1,
                                     "non-numeric value in a numeric column": 1}
    assert report.examples["wrong number of fields"][0][0] == 4
    assert report.examples["non-numeric value in a numeric column"][0][0] == 5
    assert report.examples["bad label"][0][0] == 6
    assert any("1 empty numeric" in n for n in report.notes)
    with pytest.raises(DataValidationError, match="strict"):
        read_table(path, label="y", numeric=["a"], strict=True)


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;2\n")
    with pytest.raises(DataValidationError, match=r"\['z'\] not found"):
        read_table(path, label=None, numeric=["z"])
