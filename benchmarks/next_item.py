"""Next-item recommender benchmarks: ours next to baselines computed in the same run.

    .venv/bin/python -m benchmarks.next_item                        # all sections
    .venv/bin/python -m benchmarks.next_item --only movielens       # or taobao, diginetica
    .venv/bin/python -m benchmarks.next_item --only movielens --encoders sasrec,gru

Protocols (issue #7):
- movielens: MovieLens 100K, every rating is an interaction; each user's interactions ordered by
  (timestamp, item id ascending); last = test, second-to-last = validation, the rest train; at test
  time the history is train + the validation item. (a) full ranking over all 1,682 items except those
  the user interacted with before the target; (b) the target against 100 negatives drawn uniformly
  without replacement from the items the user never interacted with, one numpy.random.default_rng(42)
  over users in ascending id order. HR@10 / NDCG@10 (and MRR) over all 943 users; ties in scores go
  to the smaller item id. The model is trained on the train part only; the validation item selects
  the epoch (NDCG@10 every 10 epochs, best weights kept).
- taobao: Taobao UserBehavior head (84k events, 814 complete users; the cut-off user is dropped):
  per user, the last event's item is the target, the second-to-last validation; full ranking over every
  item of the log, excluding items the user touched before the target (the target itself is never
  excluded: repeat targets are common in e-commerce and their share is printed).
- diginetica: the DIGINETICA sample's view sessions, the last 7 days' sessions are test, every prefix
  predicts the next item (targets unseen in training dropped); Recall@20 / MRR@20, full ranking. The
  model's settings were chosen on the 7-day windows before the test cut-off (next_item_select).
- speed: training wall and CPU seconds; in-process latency of the serving signature (top-10 with
  exclusions) at batch 1 and 256, next to the co-occurrence baseline scoring the same requests.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import ecomtf  # noqa: F401
from benchmarks.common import machine
from benchmarks.common import paired_bootstrap
from benchmarks.common import paired_over_seeds
from benchmarks.common import print_table
from benchmarks.common import shared_data
from ecomtf.evaluation import ranking_metrics as rm
from ecomtf.recipes import next_item

# Figures measured by the issue author on this exact protocol (not run here).
ML_ANCHORS = [
    {"model": "reference SASRec (issue anchor)", "full HR@10": 0.163, "full NDCG@10": 0.086,
     "sampled HR@10": 0.698, "sampled NDCG@10": 0.419},
    {"model": "item-adjacency kNN (issue anchor)", "full HR@10": 0.153, "full NDCG@10": 0.080,
     "sampled HR@10": None, "sampled NDCG@10": None},
    {"model": "most popular (issue anchor)", "full HR@10": 0.050, "full NDCG@10": 0.025,
     "sampled HR@10": None, "sampled NDCG@10": None},
]

# Every ML-100K event is a rating: event types carry nothing; time gaps help a little.
ML_MODEL = dict(embedding_dim=64, max_len=200, num_blocks=2, num_heads=1, dropout=0.2,
                use_event_types=False, use_time_gaps=True)


def _row(name, m, sampled=True):
    row = {"model": name, "full HR@10": m["full_HR@10"], "full NDCG@10": m["full_NDCG@10"],
           "full MRR": m["full_MRR"]}
    if sampled:
        row["sampled HR@10"] = m.get("sampled_HR@10")
        row["sampled NDCG@10"] = m.get("sampled_NDCG@10")
    return row


def _baselines(data, sampled=True, keep_ranks=None):
    """Rows of every recipe baseline (``next_item.BASELINES``), same split, same metric code.

    ``keep_ranks``: a dict that receives each baseline's per-case ranks.
    """
    rows, timings = [], {}
    hist = data.test.histories.item_ids
    for name in next_item.BASELINES:
        base = next_item.make_baseline(name).fit(data.train.item_ids)
        started = time.perf_counter()
        scores = base.score(hist, data.catalog)
        timings[name] = (time.perf_counter() - started) / max(1, len(hist))
        if keep_ranks is not None:
            keep_ranks[name] = next_item.case_ranks(scores, data.test, data.catalog, by=data.by,
                                                    exclude_seen=data.exclude_seen)
        if data.by == "session":
            rows.append({"model": name, **next_item.evaluate_scores(scores, data.test, data.catalog,
                                                                    by="session")})
            continue
        m = next_item.evaluate_scores(scores, data.test, data.catalog, sampled=sampled,
                                      exclude_seen=data.exclude_seen)
        rows.append(_row(name, m, sampled))
    return rows, timings


def _model_ranks(model, data):
    scores = next_item.score_histories(model, data.test.histories, data.catalog)
    return next_item.case_ranks(scores, data.test, data.catalog, by=data.by,
                                exclude_seen=data.exclude_seen)


def _seed_report(label, per_seed, base_ranks, metrics):
    """Multi-seed means and paired tests of ours against the best baseline, per metric.

    Each metric is paired with the baseline that is best on that metric on
    this test set (a baseline has no seed), so a target "above the best
    baseline on both" is tested against each one's best. Per seed: paired
    bootstrap over cases; over seeds: paired t-test and Wilcoxon.
    """
    def figure(ranks, name):
        kind, k = name
        return {"HR": rm.hit_rate, "Recall": rm.recall, "NDCG": rm.ndcg, "MRR": rm.mrr}[kind](ranks, k)

    def per_case(ranks, name):
        kind, k = name
        if kind in ("HR", "Recall"):
            return (ranks <= k).astype(float)
        if kind == "NDCG":
            return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
        return np.where(ranks <= k, 1.0 / ranks, 0.0)

    rows = []
    for name in metrics:
        best = max(base_ranks, key=lambda n: figure(base_ranks[n], name))
        label_m = f"{name[0]}@{name[1]}"
        ours = [figure(r, name) for r in per_seed]
        base = [figure(base_ranks[best], name)] * len(per_seed)
        row = {"metric": label_m, "best baseline": best, **paired_over_seeds(ours, base)}
        boot = [paired_bootstrap(per_case(r, name), per_case(base_ranks[best], name), seed=i)
                for i, r in enumerate(per_seed)]
        row["per-seed bootstrap p"] = " ".join(f"{b['bootstrap p']:.3f}" for b in boot)
        row["ours per seed"] = " ".join(f"{x:.4f}" for x in ours)
        rows.append(row)
    print_table(f"{label}: ours over {len(per_seed)} seeds vs the best baseline (paired)", rows)
    return rows


def _train(data, label, epochs, budget, **kwargs):
    print(f"\n[{label}] training ...", flush=True)
    model, m = next_item.train(data, epochs=epochs, eval_every=10, patience=3, verbose=0,
                               time_budget_s=budget, **kwargs)
    print(f"[{label}] {m['epochs']} epochs (best {m.get('best_epoch')}), wall {m['train_seconds']} s, "
          f"CPU {m['train_cpu_seconds']} s", flush=True)
    return model, m


def movielens(args) -> dict:
    from ecomtf.datasets import load_movielens_100k

    ml = load_movielens_100k(shared_data("movielens-100k"))
    # A rating is never repeated: the MovieLens protocol ranks unseen items only.
    data = next_item.prepare(ml.ratings, by="user", exclude_seen=True)
    print(data.description)
    rows, base_timing = _baselines(data)
    results, speed = {}, []
    model = None
    for encoder in args.encoders.split(","):
        kwargs = dict(ML_MODEL, encoder=encoder)
        if encoder != "sasrec":
            kwargs.update(max_len=50, dropout=0.2)
        model_e, m = _train(data, f"movielens {encoder}", args.epochs, args.time_budget,
                            baselines=False, **kwargs)
        rows.append(_row(f"ours: {encoder}", m))
        speed.append({"model": f"ours: {encoder}", "epochs": m["epochs"], "best epoch": m.get("best_epoch"),
                      "train wall s": m["train_seconds"], "train CPU s": m["train_cpu_seconds"]})
        results[encoder] = m
        model = model or model_e
    print_table("MovieLens 100K, leave-one-out, 943 users: full ranking (all items except seen) | "
                "sampled (target vs 100 negatives, rng 42)", rows + ML_ANCHORS)
    print_table("MovieLens 100K training time (2 CPU cores shared with other work; CPU s = process CPU time)",
                speed)
    lat = latency(model, data, base_timing["item co-occurrence"])
    print_table("Serving latency in process (serving_default: top-10 with exclusions)", lat)
    return {"rows": rows, "speed": speed, "latency": lat}


def latency(model, data, cooc_seconds_per_request) -> list[dict]:
    import tensorflow as tf

    from ecomtf.data.next_item_pipeline import history_features
    from ecomtf.export.next_item_servable import NextItemServable

    servable = NextItemServable(model)
    fn = servable.signatures()["serving_default"]
    feats = history_features(data.test.histories, 50)
    out = []
    for batch in (1, 256):
        n = min(batch, len(data.test))
        request = {"item_ids": tf.constant(feats["item_id"][:n]),
                   "k": tf.constant(np.full(n, 10, np.int32)),
                   "exclude_item_ids": tf.constant(feats["item_id"][:n])}
        if model.use_event_types:
            request["event_types"] = tf.constant(feats["event_type"][:n])
        if model.use_time_gaps:
            request["time_gaps"] = tf.constant(feats["time_gap"][:n])
        fn(request)  # trace
        runs = 50 if batch == 1 else 10
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn(request)
            times.append(time.perf_counter() - started)
        median = float(np.median(times))
        out.append({"batch": n, "median ms": median * 1e3, "per request ms": median * 1e3 / n,
                    "co-occurrence per request ms": cooc_seconds_per_request * 1e3,
                    "ours / co-occurrence": (median / n) / cooc_seconds_per_request})
    return out


def _heads(settings) -> str:
    parts = ["repeat head"] + ["neighbours"] * bool(settings.get("neighbors"))
    return " + ".join(parts + ["session kNN"] * bool(settings.get("session_knn")))


def _seeds(args):
    return [int(x) for x in args.seeds.split(",")]


def taobao(args) -> dict:
    from ecomtf.datasets import load_taobao_user_behavior

    log, report = load_taobao_user_behavior(shared_data("taobao-userbehavior-head"))
    log = log.take(log.user_id != "100370")  # the cut-off user's history is partial
    # Event-log protocol: repeats are valid targets and nothing is excluded.
    data = next_item.prepare(log, by="user")
    targets = data.test.targets
    repeats = float(np.mean([t in set(s) for t, s in zip(targets, data.test.seen)]))
    known = set(np.concatenate(data.train.item_ids))
    in_train = float(np.mean([t in known for t in targets]))
    print(f"{data.description}; repeat targets {repeats:.1%}, targets seen in training {in_train:.1%}")
    base_ranks = {}
    rows, _ = _baselines(data, keep_ranks=base_ranks)
    per_seed, runs = [], []
    for seed in _seeds(args):
        model, m = _train(data, f"taobao sasrec+repeat seed {seed}", args.taobao_epochs, args.time_budget,
                          seed=seed, baselines=False, **TAOBAO_MODEL, **TAOBAO_NEIGHBORS)
        rows.append(_row(f"ours: sasrec + {_heads(TAOBAO_NEIGHBORS)}, seed {seed}", m))
        per_seed.append(_model_ranks(model, data))
        runs.append(m)
    if args.ablation:
        _, m = _train(data, "taobao sasrec, no repeat head", args.taobao_epochs, args.time_budget,
                      seed=_seeds(args)[0], baselines=False, **{**TAOBAO_MODEL, "repeat": False})
        rows.append(_row(f"ablation: sasrec without repeat head, seed {_seeds(args)[0]}", m))
    print_table(f"Taobao UserBehavior head, {len(targets)} users, next item after the last event, "
                f"full ranking over {len(data.catalog):,} items, nothing excluded (repeats are targets)", rows)
    paired = _seed_report("Taobao", per_seed, base_ranks, [("HR", 10), ("NDCG", 10)])
    # The protocol of the 2026-12-01 table: seen items excluded except the target. It leaks the
    # target whenever it is a repeat (every other seen item leaves the ranking), which is why the
    # figures above replace it; printed so the two can be compared.
    old = next_item.NextItemData("user", data.train, None, data.test, data.catalog, "", exclude_seen=True)
    old_rows, _ = _baselines(old)
    print_table("Taobao, old protocol (seen items excluded, target kept): baselines only", old_rows)
    return {"rows": rows, "paired": paired, "old_protocol_rows": old_rows, "repeat_targets": repeats,
            "targets_in_train": in_train, "train": runs}


# Chosen on the validation item (benchmarks/next_item_select.py; docs/benchmarks/next_item.md, session 4):
# every training item in the vocabulary (with min_item_count=2, 12% of the targets were re-views of
# items the copy head could not copy), 100 steps (users have ~100 events), copy keys without the item.
TAOBAO_MODEL = dict(embedding_dim=64, max_len=100, num_blocks=2, dropout=0.3, min_item_count=1,
                    loss="sampled_softmax", num_sampled=2000, learning_rate=1e-3, repeat=True,
                    repeat_item_keys=False)
# Session 5, also chosen on the validation item: the neighbour component, 50 neighbours of a
# co-occurrence window of 3 steps, 10 cross-fitting folds (docs/benchmarks/next_item.md, session 5).
# Session 6, also on the validation item: the neighbour gate's serving offset 4 (of 0-4; one training
# scored at each offset, next_item_select --neighbor-offsets 0,1,2,3,4).
TAOBAO_NEIGHBORS = dict(neighbors=50, neighbor_window=3, neighbor_folds=10, neighbor_offset=4.0)


# Chosen on validation sessions (the 7 days before the test cut-off; benchmarks/next_item_select.py).
SESSION_MODEL = dict(encoder="sasrec", embedding_dim=128, max_len=20, num_blocks=1, dropout=0.5,
                     use_event_types=False, repeat=True, repeat_by_item=True, repeat_item_keys=False)
# Session 5, on the same validation sessions: the neighbour component, 50 neighbours of a
# co-occurrence window of 10 steps (whole sessions), 10 cross-fitting folds.
SESSION_NEIGHBORS = dict(neighbors=50, neighbor_window=10, neighbor_folds=10)
# Session 6, chosen on three 7-day validation windows before the test cut-off (328 cases pooled;
# benchmarks/next_item_select.py --windows 3): the session-kNN component (100 most similar stored
# sessions, each one's vote divided by its size, serving offset 2 on its gate) instead of the
# neighbour component, and 15 epochs (docs/benchmarks/next_item.md, session 6).
# Session 7, on eight 7-day windows (1,135 cases pooled; next_item_select --windows 8 --offsets 0,2
# --blends 0,0.05,0.1,0.2,0.3,0.5): the votes blended into the scored distribution at weight 0.1, gate
# offset 0 (pooled Recall@20 / MRR@20 0.4855 / 0.2669; offset 2 without a blend 0.4599 / 0.2575, V-SKNN
# 0.4714 / 0.2260).
SESSION_KNN = dict(session_knn=100, session_knn_length_power=1.0, session_knn_offset=0.0, session_knn_blend=0.1)
SESSION_EPOCHS = 15


def diginetica(args) -> dict:
    from ecomtf.datasets import load_diginetica

    loaded = load_diginetica(shared_data("diginetica-sample"))
    log = loaded[0] if isinstance(loaded, tuple) else loaded
    data = next_item.prepare(log, by="session", test_days=7)
    print(data.description)
    base_ranks = {}
    rows, _ = _baselines(data, keep_ranks=base_ranks)
    out = {"rows": rows, "paired": {}}
    for encoder in args.session_encoders.split(","):
        per_seed = []
        for seed in _seeds(args):
            model, m = _train(data, f"diginetica {encoder} seed {seed}", args.session_epochs, args.time_budget,
                              seed=seed, baselines=False,
                              **{**SESSION_MODEL, **SESSION_KNN, "encoder": encoder})
            rows.append({"model": f"ours: {encoder} + {_heads(SESSION_KNN)}, seed {seed}",
                         **{k: m[k] for k in ("Recall@20", "MRR@20", "cases")}})
            per_seed.append(_model_ranks(model, data))
        out["paired"][encoder] = _seed_report(f"DIGINETICA {encoder}", per_seed, base_ranks,
                                              [("Recall", 20), ("MRR", 20)])
    print_table("DIGINETICA sample, session-based (last 7 days test, every prefix)", rows)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="movielens,taobao,diginetica")
    parser.add_argument("--encoders", default="sasrec", help="comma-separated: sasrec,lstm,gru")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--taobao-epochs", type=int, default=20)
    parser.add_argument("--session-epochs", type=int, default=SESSION_EPOCHS)
    parser.add_argument("--session-encoders", default="sasrec", help="comma-separated: sasrec,gru")
    parser.add_argument("--seeds", default="1,2,3,4,5", help="training seeds of the event-log models")
    parser.add_argument("--ablation", action="store_true", help="Taobao: also train without the repeat head")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="stop training after the first epoch past this many seconds")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    out = {}
    sections = {"movielens": movielens, "taobao": taobao, "diginetica": diginetica}
    for name in args.only.split(","):
        out[name] = sections[name](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=float)


if __name__ == "__main__":
    main()
