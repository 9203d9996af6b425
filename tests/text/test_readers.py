"""Text readers: user CSV/JSONL with reject reports, and the public sets (counts from SOURCE.md)."""

import gzip
import json

import numpy as np
import pytest

from ecomtf.data.reject_report import DataValidationError
from ecomtf import text


def test_csv_reader_keeps_multiline_fields_and_reports_rejects(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('text,intent,response\n"where is\nmy order",track,"Line 1\nLine 2"\n'
                    ',track,x\nrefund please,,y\n  cancel it  ,cancel,z\n', encoding="utf-8")
    ex = text.read_text_table(path, text="text", label="intent", columns=["response"])
    assert ex.texts.tolist() == ["where is\nmy order", "cancel it"]
    assert ex.labels.tolist() == ["track", "cancel"]
    assert ex.columns["response"].tolist() == ["Line 1\nLine 2", "z"]
    assert ex.report.rows_read == 4 and ex.report.rows_rejected == 2
    assert dict(ex.report.rejected) == {"empty text": 1, "empty label": 1}
    with pytest.raises(DataValidationError, match="strict"):
        text.read_text_table(path, text="text", label="intent", strict=True)
    with pytest.raises(DataValidationError, match="missing column"):
        text.read_text_table(path, text="question", label="intent")


def test_csv_reader_counts_rows_with_the_wrong_number_of_fields(tmp_path):
    """Arrow's parser hands such rows to the report (the csv module padded them with None)."""
    path = tmp_path / "q.tsv"
    path.write_text("text\tintent\nwhere is it\ttrack\ntoo\tmany\tfields\nrefund\trefund\n",
                    encoding="utf-8")
    ex = text.read_text_table(path, text="text", label="intent")
    assert ex.texts.tolist() == ["where is it", "refund"]
    assert ex.report.rows_read == 3
    assert dict(ex.report.rejected) == {"wrong number of fields": 1}


def test_truncated_gzip_csv_is_one_error_naming_the_file(tmp_path):
    rows = "".join(f"question {i},intent{i % 3}\n" for i in range(5000))
    blob = gzip.compress(("text,intent\n" + rows).encode())
    path = tmp_path / "q.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataValidationError, match="q.csv.gz.*truncated or corrupt"):
        text.read_text_table(path, text="text", label="intent")


def test_jsonl_gz_reader_counts_bad_lines(tmp_path):
    path = tmp_path / "q.jsonl.gz"
    rows = [json.dumps({"q": "我想退货", "y": "refund"}), "{not json", json.dumps([1, 2]),
            json.dumps({"q": "track", "y": "track"})]
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n\n")
    ex = text.read_text_table(path, text="q", label="y")
    assert ex.texts.tolist() == ["我想退货", "track"]
    assert ex.report.rejected["not a JSON object"] == 2


def test_text_examples_split_is_stratified_and_seeded():
    labels = np.array(["a"] * 50 + ["b"] * 10 + ["c"] * 1)
    ex = text.TextExamples(np.array([f"t{i}" for i in range(61)]), labels)
    rest, held = ex.split(0.2, seed=1)
    assert sorted(held.labels.tolist()) == ["a"] * 10 + ["b"] * 2
    assert "c" in rest.labels  # a singleton stays in the training part
    again, _ = ex.split(0.2, seed=1)
    np.testing.assert_array_equal(rest.texts, again.texts)


def test_bundled_bitext_matches_its_source():
    ex = text.load_bitext()
    assert len(ex) == 4514 and ex.report.rows_rejected == 0
    assert len(ex.label_set) == 27 and "track_order" in ex.label_set
    assert len(set(ex.columns["category"].tolist())) == 11
    faq = text.bitext_faq(ex)
    assert len(faq) == 27 and len(faq.queries) == 4514
    assert "{{" in faq.answer_for("cancel_order") or len(faq.answer_for("cancel_order")) > 100


def test_bundled_bitext_is_the_shared_file(shared_data):
    import hashlib

    src = shared_data / "bitext-customer-support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    assert hashlib.sha256(src.read_bytes()).hexdigest() == hashlib.sha256(
        text.public_datasets.BITEXT_BUNDLED.read_bytes()).hexdigest()


def test_banking77(shared_data):
    splits = text.load_banking77(shared_data / "banking77")
    assert (len(splits["train"]), len(splits["test"])) == (10003, 3080)
    assert len(splits["train"].label_set) == 77 == len(splits["test"].label_set)
    assert not any(t != t.strip() for t in splits["train"].texts)


def test_clinc150(shared_data):
    s = text.load_clinc150(shared_data / "clinc150")
    assert {k: len(v) for k, v in s.items()} == {
        "train": 15000, "val": 3000, "test": 4500, "oos_train": 100, "oos_val": 100, "oos_test": 1000}
    assert len(s["train"].label_set) == 150 and s["oos_test"].label_set == ["oos"]
    assert len(set(s["train"].columns["domain"].tolist())) == 10


def test_stackfaq(shared_data):
    faq = text.load_stackfaq(shared_data / "stackfaq")
    # 1,250 paraphrase slots; one (thread 93) is empty in the published XML.
    assert len(faq) == 125 and faq.queries.report.rows_read == 1250
    assert dict(faq.queries.report.rejected) == {"empty paraphrase": 1} and len(faq.queries) == 1249
    assert sum(np.bincount(faq.queries.columns["half"]).tolist()) == 1249
    assert faq.questions[0] == "Strikethrough with GitHub Markdown"
    assert faq.answers[0].startswith("Use ~~tildes around the words~~.")


def test_crosswoz(shared_data):
    val = text.load_crosswoz(shared_data / "crosswoz", "val")
    assert val.report.rows_read == 4229 and val.report.rejected["no dialogue act"] == 16
    assert len(val) == 4213
    assert set(val.columns["domain"].tolist()) == {"餐馆", "景点", "酒店", "地铁", "出租", "general", ""}
    test = text.load_crosswoz(shared_data / "crosswoz", "test")
    assert test.report.rows_read == 4238 and test.report.rejected["no dialogue act"] == 23


def test_amazon_pqa(shared_data):
    s = text.load_amazon_pqa(shared_data / "amazon-pqa")
    assert {k: len(v) for k, v in s.items()} == {
        "epqa_dev": 9770, "hetpqa_train": 3693, "hetpqa_dev": 398, "hetpqa_test": 2289,
        "hetpqa_evidence_dev": 2731}
    assert np.unique(s["epqa_dev"].labels, return_counts=True)[1].tolist() == [6415, 1042, 2313]
    assert len(set(s["epqa_dev"].columns["qid"].tolist())) == 977
    assert (s["hetpqa_evidence_dev"].labels == "1").sum() == 648
