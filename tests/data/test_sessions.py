import numpy as np

from ecomtf.data import sessionize
from tests.data.logs import make_log


def test_gap_splits_strictly_longer_gaps():
    log = make_log([
        ("u", "a", "view", 0),
        ("u", "b", "view", 1800),    # exactly the gap: same session
        ("u", "c", "view", 3601),    # 1801 s later: new session
        ("v", "d", "view", 100),
        ("u", "e", "view", 3700),
    ])
    s = sessionize(log, gap_seconds=1800)
    assert s.user_id.tolist() == ["u", "u", "u", "u", "v"]
    assert s.item_id.tolist() == ["a", "b", "c", "e", "d"]
    assert s.session_id.tolist() == ["u/0", "u/0", "u/1", "u/1", "v/0"]
    assert s.session_id.dtype.kind == "U"
    # The input is unchanged.
    assert log.session_id is None and log.item_id[4] == "e"


def test_unsorted_input_and_many_sessions():
    rng = np.random.default_rng(0)
    times = np.sort(rng.integers(0, 100_000, 200))
    rows = [("u", f"i{k}", "view", int(t)) for k, t in enumerate(times)]
    log = make_log(rows[::-1])
    s = sessionize(log, gap_seconds=600)
    gaps = np.diff(times) > 600
    assert len(np.unique(s.session_id)) == gaps.sum() + 1
    assert (np.diff(s.timestamp) >= 0).all()
    assert s.session_id[-1] == f"u/{gaps.sum()}"


def test_given_session_ids_are_kept_and_namespaced():
    log = make_log(
        [
            ("u", "a", "view", 50),
            ("u", "b", "view", 0),
            ("u", "c", "view", 10),     # session 2 starts first
            ("w", "d", "view", 5),
            ("u", "e", "view", 99999),  # same session 1, long after
        ],
        session=["1", "2", "2", "1", "1"],
    )
    s = sessionize(log, gap_seconds=60)
    assert s.session_id.tolist() == ["u/2", "u/2", "u/1", "u/1", "w/1"]
    assert s.item_id.tolist() == ["b", "c", "a", "e", "d"]


def test_rows_without_a_session_id_fall_back_to_the_gap_rule():
    log = make_log(
        [("u", "a", "view", 0), ("u", "b", "view", 10), ("u", "c", "view", 5000),
         ("u", "d", "view", 20)],
        session=["", " ", "", "s"],
    )
    s = sessionize(log, gap_seconds=1800)
    by_item = dict(zip(s.item_id.tolist(), s.session_id.tolist()))
    assert by_item == {"a": "u/~0", "b": "u/~0", "c": "u/~1", "d": "u/s"}


def test_empty_log():
    log = make_log([("u", "a", "view", 0)]).take(np.zeros(0, int))
    s = sessionize(log)
    assert len(s) == 0 and s.session_id is not None


def _reference_sessionize(log, gap_seconds):
    """sessionize's contract in plain Python: names, then sort by (user, start, name, time)."""
    rows = list(range(len(log)))
    given = ([str(s).strip() for s in log.session_id] if log.session_id is not None
             else [""] * len(log))
    prefix = "~" if log.session_id is not None else ""
    names = [None] * len(log)
    for r in rows:
        if given[r]:
            names[r] = f"{log.user_id[r]}/{given[r]}"
    gap_rows = sorted((r for r in rows if not given[r]),
                      key=lambda r: (str(log.user_id[r]), int(log.timestamp[r])))
    k, prev = 0, None
    for r in gap_rows:
        u, t = str(log.user_id[r]), int(log.timestamp[r])
        if prev is None or prev[0] != u:
            k = 0
        elif t - prev[1] > gap_seconds * 1000:
            k += 1
        names[r] = f"{u}/{prefix}{k}"
        prev = (u, t)
    start = {}
    for r in rows:
        key = (str(log.user_id[r]), names[r])
        start[key] = min(start.get(key, int(log.timestamp[r])), int(log.timestamp[r]))
    def key(r):
        user = str(log.user_id[r])
        return user, start[(user, names[r])], names[r], int(log.timestamp[r])

    order = sorted(rows, key=key)
    return order, [names[r] for r in order]


def test_sessionize_matches_its_contract_on_random_logs_with_ties():
    """Equal session starts, ids that look like gap names ("~0"), padding and unicode."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 40))
        rows = [(str(rng.choice(["a", "b", "a/b", "ü", "10", "9"])), f"i{k}", "view",
                 int(rng.integers(0, 6)) * 600) for k in range(n)]
        for session in (None, list(rng.choice(["", " ", "1", "~0", "x ", "10", "9", "ß"], n))):
            log = make_log(rows, session=session)
            s = sessionize(log, gap_seconds=1800)
            order, names = _reference_sessionize(log, 1800)
            assert s.item_id.tolist() == [f"i{r}" for r in order], seed
            assert s.session_id.tolist() == names, seed


def test_session_layout_codes_and_names_agree_with_sessionize():
    from ecomtf.data.sessions import session_layout

    rng = np.random.default_rng(1)
    rows = [(f"u{rng.integers(0, 5)}", f"i{k}", "view", int(rng.integers(0, 20_000)))
            for k in range(300)]
    log = make_log(rows, session=list(rng.choice(["", "a", "b"], 300)))
    ordered, code, names = session_layout(log, gap_seconds=1800)
    s = sessionize(log, gap_seconds=1800)
    assert ordered.item_id.tolist() == s.item_id.tolist()
    assert names(np.arange(len(s))).tolist() == s.session_id.tolist()
    # One code per session, different between sessions.
    change = code[1:] != code[:-1]
    assert change.tolist() == (s.session_id[1:] != s.session_id[:-1]).tolist()


def test_string_ranks_sort_like_the_strings_sorted_or_not():
    from ecomtf.data.sessions import string_ranks

    for values in (["b", "a", "c", "a", "ü", ""], ["", "a", "a", "b", "ü"], ["x"], []):
        a = np.array(values, dtype=str)
        expected = np.unique(a, return_inverse=True)[1].reshape(-1) if len(a) else []
        assert string_ranks(a).tolist() == list(expected)
