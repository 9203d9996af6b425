"""The intent and FAQ recipes end to end through the CLI: user CSV -> train -> export (-> convert)."""

import csv
import itertools
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.cli import main

OOS = "oos"
INTENT_PHRASES = {
    "track_order": ["where is my order", "track my parcel", "has my package shipped",
                    "when does my delivery arrive"],
    "cancel_order": ["cancel my order", "stop the purchase", "i do not want the order anymore",
                     "cancel the item i bought"],
    "get_refund": ["i want a refund", "give me my money back", "refund the payment",
                   "reimburse my card"],
    "change_address": ["change my shipping address", "update the delivery address",
                       "send it to another address", "wrong address on the order"],
}
OOS_PHRASES = ["what is the weather in paris", "tell me a joke", "who won the football match",
               "how tall is mount everest", "play some jazz music", "what time is it in tokyo",
               "recommend a good novel", "how do i boil an egg", "translate hello to german",
               "what is the capital of peru"]
POLITE = ["", "please ", "hi, ", "hello "]
TAIL = ["", " now", " thanks", " asap", " today"]


def _variants(phrases):
    return [f"{p}{x}{t}" for p, x, t in itertools.product(POLITE, phrases, TAIL)]


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def intent_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = []
    for intent, phrases in INTENT_PHRASES.items():
        texts = _variants(phrases)  # 80 per intent
        rows += [(t, intent) for t in rng.choice(texts, 40, replace=False)]
    rows += [(t, OOS) for t in rng.choice(_variants(OOS_PHRASES), 60, replace=False)]
    rng.shuffle(rows)
    return _write_csv(tmp_path_factory.mktemp("intent") / "queries.csv", ["query", "intent"], rows)


def _train_intent_cli(intent_csv, run, *flags):
    """``ecomtf train intent`` on the fixture's CSV, small and fast, with extra ``flags``."""
    main(["train", "intent", "--data", str(intent_csv), "--text-col", "query", "--label-col", "intent",
          "--out-of-scope-label", OOS, "--output-dim", "16", "--vocab-size", "300", "--batch-size", "32",
          *flags, "--out", str(run)])


def test_intent_cli_wide_ensemble_calibrates_on_the_oos_rows_and_exports(intent_csv, tmp_path, capsys):
    run = tmp_path / "run"
    _train_intent_cli(intent_csv, run, "--epochs", "8", "--learning-rate", "0.02", "--members", "2", "--wide")
    out = capsys.readouterr().out
    # 60 OOS rows: 12 go to test (--test-fraction 0.2), the other 48 calibrate.
    m = re.search(r"out-of-scope \('oos'\): (\d+) validation rows for calibration, (\d+) test rows", out)
    assert m, out
    assert (int(m.group(1)), int(m.group(2))) == (48, 12)
    metrics = json.loads((run / "metrics.json").read_text())
    training, test = metrics["training"], metrics["test"]
    assert training["out_of_scope_val_rows"] == 48
    assert training["intents"] == len(INTENT_PHRASES)  # OOS is not a class
    # Two deep members trained apart, the first with the linear member next to
    # it: exported and converted below as one graph.
    assert training["members"] == 2 and training["wide"] and len(training["member_epochs"]) == 2
    by_members = training["val_accuracy_by_members"]
    assert len(by_members) == 3 and by_members[-1] == training["val_accuracy"]
    assert 0.0 <= training["val_accuracy_linear_member"] <= 1.0
    # 160 in-scope rows: 32 test, 12 validation (10% per intent, rounded), 116 training.
    assert (training["train_rows"], training["val_rows"], test["test_rows"]) == (116, 12, 32)
    # Calibrated on OOS rows the threshold rejects most OOS test queries while
    # keeping in-scope ones (OOS texts share no words with the intents).
    assert test["out_of_scope_recall"] >= 0.75, test
    assert test["in_scope_accuracy"] >= 0.75, test

    base = tmp_path / "export" / "intent"
    main(["export", "--run", str(run), "--out", str(base)])
    main(["convert", "--run", str(run), "--out", str(tmp_path / "intent.tflite")])
    out = capsys.readouterr().out
    assert (tmp_path / "intent.tflite").stat().st_size > 1000
    diff = re.search(r"max \|diff\| = (\S+)", out)
    assert diff and float(diff.group(1)) < 1e-4, out

    loaded = tf.saved_model.load(str(base / "1"))
    queries = ["please where is my order now", "refund the payment thanks", "tell me a joke"]
    answer = loaded.signatures["serving_default"](text=tf.constant(queries))
    intents = [x.decode() for x in answer["intent"].numpy()]
    assert set(intents) <= set(INTENT_PHRASES), intents
    assert intents[:2] == ["track_order", "get_refund"]
    assert answer["is_out_of_scope"].numpy().tolist() == [False, False, True]


def test_intent_cli_ngram_and_transformer_join_in_one_exported_model(intent_csv, tmp_path, capsys):
    run = tmp_path / "run"
    _train_intent_cli(intent_csv, run, "--epochs", "6", "--learning-rate", "0.01", "--encoder",
                      "ngram+transformer", "--wide")
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["encoder"] == "ngram+transformer" and len(training["member_epochs"]) == 2
    assert set(training["val_accuracy_by_model"]) == {"ngram", "transformer"}
    assert training["out_of_scope_val_rows"] == 48 and training["threshold"] > 0
    base = tmp_path / "export" / "intent"
    main(["export", "--run", str(run), "--out", str(base)])
    capsys.readouterr()
    loaded = tf.saved_model.load(str(base / "1"))
    answer = loaded.signatures["serving_default"](text=tf.constant(["please where is my order now"]))
    assert answer["intent"].numpy()[0].decode() == "track_order"
    assert answer["probabilities"].shape == (1, len(INTENT_PHRASES))


def test_intent_cli_fine_tunes_a_local_checkpoint_next_to_ngrams(intent_csv, tmp_path, capsys):
    from tests.text.tiny_bert import save_tiny_bert

    with open(intent_csv, newline="") as f:
        checkpoint = save_tiny_bert(tmp_path / "bert", [row["query"] for row in csv.DictReader(f)])
    with pytest.raises(SystemExit, match="--checkpoint goes with --encoder pretrained"):
        _train_intent_cli(intent_csv, tmp_path / "no", "--checkpoint", str(checkpoint))
    run = tmp_path / "run"
    # The n-gram model takes --learning-rate too; the checkpoint's own default (3e-5) is
    # for real BERTs, too slow for this random one in 6 epochs.
    _train_intent_cli(intent_csv, run, "--epochs", "6", "--learning-rate", "0.01", "--encoder",
                      "ngram+pretrained", "--checkpoint", str(checkpoint))
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["encoder"] == "ngram+pretrained" and len(training["member_epochs"]) == 2
    assert set(training["val_accuracy_by_model"]) == {"ngram", "pretrained"}
    base = tmp_path / "export" / "intent"
    main(["export", "--run", str(run), "--out", str(base)])
    capsys.readouterr()
    # The export is self-contained: it answers with the checkpoint gone.
    for f in sorted(checkpoint.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    loaded = tf.saved_model.load(str(base / "1"))
    answer = loaded.signatures["serving_default"](text=tf.constant(["please where is my order now"]))
    assert answer["intent"].numpy()[0].decode() == "track_order"


def test_intent_recipe_refuses_ambiguous_ensembles():
    from ecomtf.recipes import intent
    from ecomtf.text import TextExamples

    data = TextExamples(np.array(["a b", "c d"] * 10), np.array(["x", "y"] * 10))
    with pytest.raises(ValueError, match="ambiguous"):
        intent.train(data, encoder="ngram+transformer", feature_dropout=0.1)
    with pytest.raises(ValueError, match="each encoder once"):
        intent.train(data, encoder="ngram+ngram")
    with pytest.raises(ValueError, match="checkpoint's"):
        intent.train(data, encoder="pretrained", checkpoint="any", vocab_size=100)
    with pytest.raises(ValueError, match="encoder must be one of"):
        intent.train(data, encoder="bert")


FAQ = {
    "shipping": "Orders ship within two working days from our warehouse. You can follow the parcel "
                "on the tracking page with the number from your confirmation email.",
    "returns": "You can return any unused item within thirty days for a full refund. Print the "
               "label from your account, pack the item and drop it at any post office.",
    "payment": "We accept credit and debit cards, PayPal and bank transfer. Your card is charged "
               "only when the order ships, never before.",
    "account": "To reset your password, open the login page and choose forgot password. A link "
               "valid for one hour is sent to the email address on your account.",
}
FAQ_QUESTIONS = {
    "shipping": ["when will my order ship", "how long does shipping take", "where is my parcel",
                 "how can i track my package"],
    "returns": ["how do i return an item", "can i send this back", "what is the return policy",
                "i want to return my shoes"],
    "payment": ["which payment methods do you take", "can i pay with paypal",
                "when is my card charged", "do you accept bank transfer"],
    "account": ["i forgot my password", "how do i reset my password", "i cannot log in",
                "the reset link does not work"],
}


@pytest.fixture(scope="module")
def faq_csv(tmp_path_factory):
    rows = [(f"{p}{q}{t}", FAQ[a]) for a, qs in FAQ_QUESTIONS.items()
            for p, q, t in itertools.product(POLITE[:3], qs, TAIL[:1] + TAIL[2:3])]  # 24 per answer
    return _write_csv(tmp_path_factory.mktemp("faq") / "faq.csv", ["question", "answer"], rows)


def _training_keys(argv):
    """One question per answer that the recipe trains on and indexes (not held out)."""
    from ecomtf.cli import build_parser
    from ecomtf.recipes import faq

    args = build_parser().parse_args(argv)
    _, train_q, _, answers = faq.load_data_from_args(args)
    val = faq.held_out_mask(train_q.labels, faq.train.__kwdefaults__["val_fraction"], args.seed)
    keys = {}
    for q, a in zip(train_q.texts[~val], answers[~val]):
        keys.setdefault(str(a), str(q))
    return keys


def test_faq_cli_with_document_chars_and_time_budget_exports(faq_csv, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "faq", "--data", str(faq_csv), "--epochs", "30", "--max-seconds", "0.01",
            "--document-chars", "40", "--output-dim", "16", "--embedding-dim", "16",
            "--vocab-size", "300", "--top-k", "2", "--out", str(run)]
    main(argv)
    keys = _training_keys(argv)
    capsys.readouterr()
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["epochs_run"] == 1  # --max-seconds stops after the first epoch
    assert training["faq_answers"] == len(FAQ)

    base = tmp_path / "export" / "faq"
    main(["export", "--run", str(run), "--out", str(base)])
    loaded = tf.saved_model.load(str(base / "1"))
    assert sorted(keys) == sorted(FAQ.values())
    answer = loaded.signatures["serving_default"](text=tf.constant(list(keys.values())))
    answers = answer["answers"].numpy()
    assert answers.shape == (len(FAQ), 2)
    # A training question is a key of its own answer; the full answer comes back,
    # not the 40 characters that were encoded.
    assert [a.decode() for a in answers[:, 0]] == list(keys)
    scores = answer["scores"].numpy()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
    assert (scores[:, 0] >= scores[:, 1]).all()


def test_faq_cli_fine_tunes_a_local_checkpoint_and_exports(faq_csv, tmp_path, capsys):
    from tests.text.tiny_bert import save_tiny_bert

    with open(faq_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    checkpoint = save_tiny_bert(tmp_path / "bert", [r["question"] for r in rows] + list(FAQ.values()))
    run = tmp_path / "run"
    argv = ["train", "faq", "--data", str(faq_csv), "--epochs", "3", "--learning-rate", "0.01",
            "--encoder", "pretrained", "--checkpoint", str(checkpoint), "--embedding-dim", "16",
            "--top-k", "2", "--out", str(run)]
    with pytest.raises(SystemExit, match="--checkpoint goes with --encoder pretrained"):
        main([a for a in argv if a not in ("--encoder", "pretrained")])
    main(argv)
    keys = _training_keys(argv)
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["encoder"] == "pretrained" and training["faq_answers"] == len(FAQ)
    base = tmp_path / "export" / "faq"
    main(["export", "--run", str(run), "--out", str(base)])
    capsys.readouterr()
    loaded = tf.saved_model.load(str(base / "1"))
    answer = loaded.signatures["serving_default"](text=tf.constant(list(keys.values())))
    # Each training question is indexed as a key of its answer: it finds itself at cosine 1.
    assert [a.decode() for a in answer["answers"].numpy()[:, 0]] == list(keys)
    np.testing.assert_allclose(answer["scores"].numpy()[:, 0], 1.0, atol=1e-4)
