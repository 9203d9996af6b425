import csv

import numpy as np
import pytest

from ecomtf.data.event_reader import read_events
from ecomtf.data.schema import EventSchema
from ecomtf.datasets import PURCHASE_LOGIT_WEIGHTS
from ecomtf.datasets import simulate_shop
from ecomtf.datasets.simulator import DWELL_REFERENCE_SECONDS
from ecomtf.evaluation.classification_metrics import roc_auc

SMALL = dict(n_users=300, n_items=80, n_categories=5, n_days=14)


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(seed=0)


def _arrays(shop):
    ev = shop.events
    out = {f"events.{k}": v for k, v in ev.to_columns().items()}
    out.update({f"catalog.{k}": v for k, v in shop.catalog.items()})
    out.update({f"sales.{k}": v for k, v in shop.daily_sales.items()})
    out["p"] = shop.session_purchase_probability
    out["labels"] = shop.session_labels
    return out


def test_same_seed_same_arrays_other_seed_differs():
    a, b, c = simulate_shop(seed=7, **SMALL), simulate_shop(seed=7, **SMALL), simulate_shop(seed=8, **SMALL)
    xa, xb, xc = _arrays(a), _arrays(b), _arrays(c)
    assert xa.keys() == xb.keys()
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k], err_msg=k)
    assert a.bayes_auc == b.bayes_auc
    assert len(xa["events.user_id"]) != len(xc["events.user_id"]) or not np.array_equal(
        xa["events.timestamp"], xc["events.timestamp"]
    )
    assert not np.array_equal(xa["catalog.price"], xc["catalog.price"])


def test_default_size_and_rates(shop):
    assert 10_000 <= len(shop.events) <= 30_000
    assert 0.15 <= shop.purchase_rate <= 0.30
    assert 0.80 <= shop.bayes_auc <= 0.92
    assert set(shop.events.event_type) == {"view", "cart", "purchase"}


def _recompute_probability(shop):
    """f of the module docstring, recomputed from the event log alone."""
    ev = shop.events
    appeal = dict(zip(shop.catalog["item_id"].tolist(), shop.item_appeal.tolist()))
    category = dict(zip(shop.catalog["item_id"].tolist(), shop.catalog["category"].tolist()))
    median_log_price = np.median(np.log(shop.catalog["price"]))
    order = np.lexsort((ev.timestamp, ev.session_id))
    sess, item, kind, ts, price = (
        ev.session_id[order], ev.item_id[order], ev.event_type[order], ev.timestamp[order] // 1000,
        ev.price[order],
    )
    bounds = np.flatnonzero(np.r_[True, sess[1:] != sess[:-1], True])
    p = {}
    w = PURCHASE_LOGIT_WEIGHTS
    for a, b in zip(bounds[:-1], bounds[1:]):
        keep = [j for j in range(a, b) if kind[j] != "purchase"]
        views = [j for j in keep if kind[j] == "view"]
        carts = [item[j] for j in keep if kind[j] == "cart"]
        view_items = [item[j] for j in views]
        focus = 0.0
        if len(views) >= 3:
            cats = [category[i] for i in view_items]
            focus = max(cats.count(c) for c in set(cats)) / len(cats)
        gaps = [ts[keep[k + 1]] - ts[keep[k]] for k in range(len(keep) - 1) if kind[keep[k]] == "view"][-3:]
        f = (
            w["bias"]
            + w["carts"] * min(len(carts), 3)
            + w["cart_appeal"] * (np.mean([appeal[i] for i in carts]) if carts else 0.0)
            + w["revisits"] * min(len(view_items) - len(set(view_items)), 2)
            + w["focus"] * focus
            + w["dwell"] * (np.mean(np.log(np.array(gaps) / DWELL_REFERENCE_SECONDS)) if gaps else 0.0)
            + w["log_price"] * (np.log(price[views[-1]]) - median_log_price)
        )
        p[sess[a]] = 1 / (1 + np.exp(-f))
    return np.array([p[s] for s in shop.session_ids])


def test_planted_probability_is_a_function_of_the_observed_prefix(shop):
    np.testing.assert_allclose(_recompute_probability(shop), shop.session_purchase_probability, rtol=1e-9)


def test_logit_terms_give_the_probability(shop):
    from ecomtf.datasets import purchase_logit

    p = 1 / (1 + np.exp(-purchase_logit(shop.session_logit_terms)))
    np.testing.assert_allclose(p, shop.session_purchase_probability, rtol=1e-12)
    assert set(shop.session_logit_terms) == set(PURCHASE_LOGIT_WEIGHTS) - {"bias"}


def test_planted_probability_drives_labels(shop):
    p, y = shop.session_purchase_probability, shop.session_labels
    assert roc_auc(y, p) == pytest.approx(shop.bayes_auc)
    assert shop.bayes_auc > 0.75
    # Calibrated: the realized rate matches the mean probability, overall and by quintile.
    assert abs(y.mean() - p.mean()) < 3 * np.sqrt(p.mean() * (1 - p.mean()) / len(p))
    q = np.quantile(p, [0.2, 0.4, 0.6, 0.8])
    bins = np.digitize(p, q)
    for b in range(5):
        assert abs(y[bins == b].mean() - p[bins == b].mean()) < 0.05
    # Labels are exactly "the session has a purchase event", which comes last.
    ev = shop.events
    bought = set(ev.session_id[ev.event_type == "purchase"].tolist())
    np.testing.assert_array_equal(y, np.isin(shop.session_ids, list(bought)).astype(np.float32))
    last = {}
    for s, t, k in zip(ev.session_id, ev.timestamp, ev.event_type):
        last[s] = max(last.get(s, (0, "")), (t, k))
    assert all(last[s][1] == "purchase" for s in bought)


def test_purchased_item_was_carted_or_last_viewed(shop):
    ev = shop.events
    for s in shop.session_ids[shop.session_labels == 1][:300]:
        rows = np.flatnonzero(ev.session_id == s)
        kinds, items = ev.event_type[rows], ev.item_id[rows]
        bought = items[kinds == "purchase"][0]
        carted = items[kinds == "cart"]
        assert bought in carted if len(carted) else bought == items[kinds == "view"][-1]


def test_sessions_are_found_again_by_a_30_minute_gap(shop):
    ev = shop.events.sorted()
    new_user = np.r_[True, ev.user_id[1:] != ev.user_id[:-1]]
    gap = np.r_[np.inf, np.diff(ev.timestamp)] > 30 * 60 * 1000
    by_gap = np.cumsum(new_user | gap)
    changed = np.r_[True, ev.session_id[1:] != ev.session_id[:-1]]
    np.testing.assert_array_equal(by_gap, np.cumsum(changed))


def test_catalog_and_users(shop):
    cat = shop.catalog
    assert list(cat) == ["item_id", "category", "price", "title", "brand"]
    assert len(cat["item_id"]) == 500 and len(np.unique(cat["item_id"])) == 500
    assert len(np.unique(cat["category"])) == 12
    assert (cat["price"] > 0).all()
    for title, brand, category in zip(cat["title"], cat["brand"], cat["category"]):
        assert title.startswith(brand + " ") and title.endswith(" " + category)
    # Appeal is visible in the titles' wording.
    premium = np.array([any(w in t for w in ("premium", "bestselling", "handcrafted", "professional",
                                               "deluxe", "award-winning")) for t in cat["title"]])
    assert shop.item_appeal[premium].mean() > shop.item_appeal[~premium].mean() + 0.5
    assert len(shop.users["user_id"]) == 2000
    assert shop.user_taste.shape == (2000, 12)
    np.testing.assert_allclose(shop.user_taste.sum(axis=1), 1.0)


def test_event_prices_follow_catalog_and_promotions(shop):
    ev, cat, ds = shop.events, shop.catalog, shop.daily_sales
    regular = dict(zip(cat["item_id"].tolist(), cat["price"].tolist()))
    promo = {(i, d): p for i, d, p in zip(ds["item_id"].tolist(), ds["date"].astype(str).tolist(),
                                          ds["promo"].tolist())}
    days = ev.timestamp.astype("datetime64[ms]").astype("datetime64[D]").astype(str)
    for i, d, p in zip(ev.item_id[:2000], days[:2000], ev.price[:2000]):
        expected = round(regular[i] * 0.8, 2) if promo[(i, d)] else regular[i]
        assert p == pytest.approx(expected)


def test_daily_sales_is_a_forecastable_long_table(shop):
    ds = shop.daily_sales
    assert list(ds) == ["item_id", "date", "units", "promo", "price", "category"]
    assert len(ds["units"]) == 500 * 60
    assert ds["date"].dtype == np.dtype("datetime64[D]")
    assert ds["date"].min() == np.datetime64("2024-01-01") and ds["date"].max() == np.datetime64("2024-02-29")
    assert set(np.unique(ds["promo"]).tolist()) == {0, 1}
    assert 0.05 < (ds["units"] == 0).mean() < 0.6
    # Units include every purchase of the event log.
    ev = shop.events
    buy = ev.event_type == "purchase"
    bought_days = ev.timestamp[buy].astype("datetime64[ms]").astype("datetime64[D]")
    key = np.char.add(np.char.add(ev.item_id[buy], "|"), bought_days.astype(str))
    keys, counts = np.unique(key, return_counts=True)
    table = dict(zip(np.char.add(np.char.add(ds["item_id"], "|"), ds["date"].astype(str)).tolist(),
                     ds["units"].tolist()))
    assert all(table[k] >= c for k, c in zip(keys.tolist(), counts.tolist()))
    # Weekly seasonality (2024-01-01 is a Monday), promotion lift and trend.
    weekday = (ds["date"].astype(np.int64) + 3) % 7  # 0 = Monday
    weekend = ds["units"][weekday >= 5].mean()
    assert weekend > 1.2 * ds["units"][weekday <= 2].mean()
    units = ds["units"].reshape(500, 60)
    promo = ds["promo"].reshape(500, 60).astype(bool)
    item_mean = units.mean(axis=1, keepdims=True)
    lift = (units / np.maximum(item_mean, 1e-9))[promo].mean() / (units / np.maximum(item_mean, 1e-9))[~promo].mean()
    assert lift > 1.5
    assert units[:, 30:].sum() > 1.05 * units[:, :30].sum()


def test_to_csv_round_trip(shop, tmp_path):
    folder = shop.to_csv(tmp_path / "shop")
    with open(folder / "events.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["user_id", "item_id", "event_type", "timestamp", "session_id", "price"]
    assert rows[1][3].endswith("Z") and "T" in rows[1][3]
    log, report = read_events(folder / "events.csv", EventSchema(session="session_id", price="price"))
    assert report.rows_rejected == 0 and report.rows_read == len(shop.events)
    want = shop.events.sorted()
    for k, v in want.to_columns().items():
        np.testing.assert_array_equal(log.to_columns()[k], v, err_msg=k)
    with open(folder / "catalog.csv", newline="") as f:
        cat = list(csv.DictReader(f))
    assert len(cat) == 500 and cat[0]["title"] == shop.catalog["title"][0]
    assert float(cat[0]["price"]) == shop.catalog["price"][0]
    with open(folder / "daily_sales.csv", newline="") as f:
        sales = list(csv.DictReader(f))
    assert len(sales) == 30000
    assert sales[0]["date"] == "2024-01-01"
    assert sum(float(r["units"]) for r in sales) == shop.daily_sales["units"].sum()


def test_small_and_degenerate_sizes():
    tiny = simulate_shop(n_users=5, n_items=3, n_categories=30, n_days=2, seed=1)
    assert len(tiny.catalog["item_id"]) == 3
    assert len(tiny.daily_sales["units"]) == 6
    with pytest.raises(ValueError):
        simulate_shop(n_users=0)
