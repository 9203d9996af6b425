"""A deterministic simulated shop with a planted, known purchase signal.

``simulate_shop`` generates users, a catalog, browsing sessions (views, carts,
purchases) and a daily sales table from one seed. Unlike a real log, the
simulator knows the true purchase probability of every session, so a model's
AUC can be compared with the best AUC any model can reach on the same sample
(``SimulatedShop.bayes_auc``).

How it works (all randomness from ``numpy.random.default_rng(seed)``):

- **Catalog.** Each item has a category, a brand, a price (lognormal around a
  per-category level), a latent *appeal* (a brand effect plus noise) and a
  title made of the brand, an adjective, a colour and the category's noun. The
  adjective is more often a "premium" word (``premium``, ``bestselling``, ...)
  the higher the item's appeal, so text models can pick appeal up from titles.
- **Users** have latent category tastes (a sparse Dirichlet draw), an activity
  level and a favourite category.
- **Traffic.** Sessions arrive per day as a Poisson count with weekly
  seasonality (busier weekends) and a mild upward trend, mostly in the
  evening. A user's sessions are at least 45 minutes apart, so a 30-minute
  inactivity rule finds the same sessions as ``session_id``.
- **A session** is a sequence of item views. Each view's item is a revisit of
  an item already seen in the session (sometimes), or an item from the current
  category (sticky) or from a category drawn from the user's tastes, chosen by
  appeal, promotion and price. Each view has a dwell time (longer for
  appealing items and engaged sessions) and may be followed by a cart event.
  A latent per-session *intent* makes sessions longer, dwell longer and cart
  more; it is never shown to a model.
- **Planted repeats** (``repeat_views > 0``; off by default, which leaves the
  generated arrays unchanged). Before each view after the first, with
  probability ``repeat_views`` the user goes back to an item: the most recently
  carted item other than the one just viewed, else the item viewed two views
  ago (an "A, B, back to A" comparison) when it differs from the last one.
  The rule reads event types and order, so a sequence model can learn it, and
  "the history, most recent first" (the repeat baseline) ranks its target
  second at best. Such a view counts as a revisit everywhere below (dwell,
  cart, the purchase logit's revisit term), so the purchase signal stays
  exactly P(purchase | observed prefix).
- **The planted purchase signal.** After the browsing prefix is generated, the
  session ends in a purchase with probability ``p = sigmoid(f(prefix))``, where
  ``f`` depends only on what the event log shows (item ids, event types,
  timestamps, prices) plus fixed per-item values (appeal, category) that a
  model can learn from item ids::

      f = -3.7
          + 1.0 * min(carts, 3)                   # cart events in the prefix
          + 0.6 * mean appeal of carted items     # 0 when nothing was carted
          + 0.5 * min(revisits, 2)                # views of an item seen before
          + 0.8 * focus                           # max category share of the
                                                  #   views, if >= 3 views, else 0
          + 0.5 * dwell                           # mean log(gap / 20 s) after
                                                  #   the last <= 3 views that
                                                  #   have a next event
          - 0.4 * log(last viewed price / median catalog price)
                                                  # (the price the event shows;
                                                  #   median taken over log prices)

  (weights in ``PURCHASE_LOGIT_WEIGHTS``; the per-session terms are in
  ``SimulatedShop.session_logit_terms``). The intent that shaped the prefix
  does not enter ``f``, so ``p`` is exactly P(purchase | observed prefix).
  When the coin says yes, a purchase of a carted item (uniformly among them)
  or, with no cart, of the last viewed item follows 10-90 s after the last
  event. A purchase never comes before the prefix, so a model that sees the
  session cut before its purchase sees the whole prefix.
- **Daily sales** per (item, date): the session purchases of that day plus
  demand from other channels, Poisson with weekly seasonality, a global and a
  per-category trend, a promotion lift and item popularity (appeal, price);
  20% of items sell rarely, so series have many zeros. Promotions (``promo``
  = 1, 20% off) run for 3-7 days at random and are known in advance; on
  promotion days the price in events is the discounted price, and promoted
  items get more views.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib

import numpy as np

from ecomtf.data.event_log import EventLog
from ecomtf.evaluation.classification_metrics import roc_auc

# Weights of the planted purchase logit f (see the module docstring).
PURCHASE_LOGIT_WEIGHTS = {
    "bias": -3.7,
    "carts": 1.0,
    "cart_appeal": 0.6,
    "revisits": 0.5,
    "focus": 0.8,
    "dwell": 0.5,
    "log_price": -0.4,
}
DWELL_REFERENCE_SECONDS = 20.0
PROMO_DISCOUNT = 0.2
SESSION_GAP_SECONDS = 45 * 60

CATEGORY_WORDS = (
    "sneakers", "backpack", "headphones", "jacket", "watch", "desk lamp",
    "coffee mug", "summer dress", "novel", "blender", "sunglasses", "yoga mat",
    "kettle", "phone case", "scarf", "office chair", "perfume", "board game",
    "tent", "bike helmet", "wallet", "water bottle", "keyboard", "pillow",
)
PLAIN_ADJECTIVES = (
    "classic", "compact", "basic", "lightweight", "slim", "everyday", "soft",
    "foldable", "travel", "simple",
)
PREMIUM_ADJECTIVES = (
    "premium", "bestselling", "handcrafted", "professional", "deluxe",
    "award-winning",
)
COLORS = ("black", "white", "red", "blue", "green", "grey", "navy", "beige")
BRANDS = (
    "Acme", "Northwind", "Lumina", "Vertex", "Orbit", "Kestrel", "Nimbus",
    "Solace", "Tandem", "Zephyr", "Pioneer", "Harbor", "Juniper", "Quarry",
    "Meridian", "Alder",
)
# Relative traffic and demand Monday..Sunday.
WEEKLY_PROFILE = np.array([0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 1.3])


@dataclasses.dataclass
class SimulatedShop:
    """The output of ``simulate_shop``: an event log, a catalog, sales, and the truth.

    Attributes:
        events: ``EventLog`` sorted by time; canonical event types ``view``,
            ``cart``, ``purchase``; ``session_id`` set; timestamps in whole
            seconds (as unix ms); ``price`` is the price paid or shown that day.
        catalog: columns ``item_id``, ``category``, ``price`` (regular, float64),
            ``title``, ``brand``, one row per item.
        users: columns ``user_id``, ``favorite_category``.
        daily_sales: long table, one row per (item, date): ``item_id``,
            ``date`` (datetime64[D]), ``units`` (float32), ``promo`` (int8 0/1),
            ``price`` (float32, the day's price), ``category``.
        session_ids: str array, one per session, in the order they were
            simulated (by start time, except that a session moved later
            because its user was still busy keeps its place).
        session_purchase_probability: float64, the true P(purchase | prefix).
        session_labels: float32 0/1, whether the session ended in a purchase.
        session_logit_terms: name -> float64 per session: the terms of ``f``
            before weighting (keys of ``PURCHASE_LOGIT_WEIGHTS`` except bias).
        item_appeal: float64 per catalog row: the latent appeal.
        user_taste: float64 ``[n_users, n_categories]`` category preferences.
        bayes_auc: rank AUC of ``session_purchase_probability`` against
            ``session_labels``: the AUC of the Bayes-optimal score on this
            sample, the ceiling to compare a model's AUC with.
        seed: the seed used.
    """

    events: EventLog
    catalog: dict
    users: dict
    daily_sales: dict
    session_ids: np.ndarray
    session_purchase_probability: np.ndarray
    session_labels: np.ndarray
    session_logit_terms: dict
    item_appeal: np.ndarray
    user_taste: np.ndarray
    bayes_auc: float
    seed: int

    @property
    def purchase_rate(self) -> float:
        """Share of sessions that end in a purchase."""
        return float(self.session_labels.mean())

    def to_csv(self, folder) -> pathlib.Path:
        """Writes ``events.csv``, ``catalog.csv`` and ``daily_sales.csv``.

        ``events.csv`` has the header
        ``user_id,item_id,event_type,timestamp,session_id,price`` with ISO-8601
        UTC timestamps (``2024-01-01T19:02:11Z``), so it reads back with
        ``ecomtf.data.read_events(path, EventSchema(session="session_id",
        price="price"))``.

        Args:
            folder: directory to write (created if needed).

        Returns:
            The folder as a ``pathlib.Path``.
        """
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        ev = self.events
        stamps = np.datetime_as_string(ev.timestamp.astype("datetime64[ms]").astype("datetime64[s]"))
        _write_csv(
            folder / "events.csv",
            ["user_id", "item_id", "event_type", "timestamp", "session_id", "price"],
            [ev.user_id, ev.item_id, ev.event_type, np.char.add(stamps, "Z"), ev.session_id,
             _money(ev.price)],
        )
        cat = self.catalog
        _write_csv(
            folder / "catalog.csv",
            ["item_id", "category", "price", "title", "brand"],
            [cat["item_id"], cat["category"], _money(cat["price"]), cat["title"], cat["brand"]],
        )
        ds = self.daily_sales
        _write_csv(
            folder / "daily_sales.csv",
            ["item_id", "date", "units", "promo", "price", "category"],
            [ds["item_id"], ds["date"].astype(str), ds["units"].astype(np.int64).astype(str),
             ds["promo"].astype(str), _money(ds["price"]), ds["category"]],
        )
        return folder

    def __repr__(self) -> str:
        return (
            f"SimulatedShop(seed={self.seed}, {len(self.events):,} events, "
            f"{len(self.session_ids):,} sessions, purchase rate {self.purchase_rate:.1%}, "
            f"bayes_auc {self.bayes_auc:.3f}, {len(self.catalog['item_id']):,} items)"
        )


def simulate_shop(
    n_users: int = 2000,
    n_items: int = 500,
    n_categories: int = 12,
    n_days: int = 60,
    seed: int = 0,
    start: str = "2024-01-01",
    repeat_views: float = 0.0,
) -> SimulatedShop:
    """Generates a shop's event log, catalog and daily sales with a known purchase signal.

    The same arguments always give identical arrays. The module docstring
    describes the generative process and the planted purchase function.

    Args:
        n_users: number of users (each session draws a user by activity).
        n_items: catalog size.
        n_categories: number of categories (at least 1).
        n_days: length of the simulated period in days.
        seed: seed of ``numpy.random.default_rng``.
        start: first day, ISO date (UTC midnight).
        repeat_views: probability of a planted repeat view before each view
            after the first (see the module docstring); 0 keeps the shop
            exactly as without it.

    Returns:
        A ``SimulatedShop``.

    Example:
        >>> shop = simulate_shop(seed=0)
        >>> sorted(set(shop.events.event_type.tolist()))
        ['cart', 'purchase', 'view']
        >>> 0.5 < shop.bayes_auc < 1.0
        True
        >>> shop.to_csv("demo_data")  # doctest: +SKIP
    """
    if min(n_users, n_items, n_categories, n_days) < 1:
        raise ValueError("n_users, n_items, n_categories and n_days must be >= 1")
    if not 0.0 <= repeat_views <= 1.0:
        raise ValueError(f"repeat_views must be in [0, 1], got {repeat_views}")
    rng = np.random.default_rng(seed)
    start_day = np.datetime64(start, "D")
    catalog, appeal, item_cat, log_price = _make_catalog(rng, n_items, n_categories)
    taste, activity = _make_users(rng, n_users, n_categories)
    promo = _make_promotions(rng, n_items, n_days)
    price = catalog["price"]
    day_price = np.round(np.where(promo, price[:, None] * (1 - PROMO_DISCOUNT), price[:, None]), 2)

    sim = _SessionSimulator(rng, appeal, item_cat, log_price, day_price, promo, taste, n_categories,
                            repeat_views=repeat_views)
    sim.run(activity, start_day, n_days)

    events = sim.event_log(catalog["item_id"], n_users)
    labels = np.asarray(sim.labels, np.float32)
    probs = np.asarray(sim.probs, np.float64)
    daily_sales = _make_daily_sales(
        rng, sim, appeal, item_cat, log_price, promo, day_price, catalog, start_day, n_days
    )
    users = {
        "user_id": _ids("u", n_users),
        "favorite_category": catalog_categories(n_categories)[np.argmax(taste, axis=1)],
    }
    return SimulatedShop(
        events=events,
        catalog=catalog,
        users=users,
        daily_sales=daily_sales,
        session_ids=_ids("s", len(labels), width=6),
        session_purchase_probability=probs,
        session_labels=labels,
        session_logit_terms={k: np.asarray(v, np.float64) for k, v in sim.terms.items()},
        item_appeal=appeal,
        user_taste=taste,
        bayes_auc=roc_auc(labels, probs) if len(labels) else float("nan"),
        seed=seed,
    )


def purchase_logit(terms: dict) -> np.ndarray:
    """The planted logit ``f`` from its terms (as in ``session_logit_terms``)."""
    w = PURCHASE_LOGIT_WEIGHTS
    return w["bias"] + sum(w[k] * np.asarray(terms[k], np.float64) for k in w if k != "bias")


def catalog_categories(n_categories: int) -> np.ndarray:
    """Category names used for ``n_categories`` categories."""
    words = CATEGORY_WORDS
    return np.array(
        [words[c % len(words)] + ("" if c < len(words) else f" {c // len(words) + 1}")
         for c in range(n_categories)]
    )


# === Catalog, users, promotions ===
def _make_catalog(rng, n_items, n_categories):
    categories = catalog_categories(n_categories)
    item_cat = rng.integers(0, n_categories, n_items)
    cat_level = rng.normal(np.log(30.0), 0.7, n_categories)
    log_price = cat_level[item_cat] + rng.normal(0.0, 0.35, n_items)
    price = np.round(np.maximum(np.exp(log_price), 1.99), 2)
    log_price = np.log(price)
    brand_idx = rng.integers(0, len(BRANDS), n_items)
    brand_effect = rng.normal(0.0, 0.5, len(BRANDS))
    appeal = brand_effect[brand_idx] + rng.normal(0.0, 0.8, n_items)
    # Standardized so that purchase and cart rates vary little between seeds.
    appeal = (appeal - appeal.mean()) / (appeal.std() + 1e-12) if n_items > 1 else appeal * 0
    # Premium wording is likelier for appealing items: the title carries signal.
    premium = rng.random(n_items) < 1.0 / (1.0 + np.exp(-(1.8 * appeal - 1.0)))
    adjective = np.where(
        premium,
        np.array(PREMIUM_ADJECTIVES)[rng.integers(0, len(PREMIUM_ADJECTIVES), n_items)],
        np.array(PLAIN_ADJECTIVES)[rng.integers(0, len(PLAIN_ADJECTIVES), n_items)],
    )
    color = np.array(COLORS)[rng.integers(0, len(COLORS), n_items)]
    brands = np.array(BRANDS)[brand_idx]
    titles = np.array(
        [f"{b} {a} {c} {k}" for b, a, c, k in zip(brands, adjective, color, categories[item_cat])]
    )
    catalog = {
        "item_id": _ids("i", n_items),
        "category": categories[item_cat],
        "price": price.astype(np.float64),
        "title": titles,
        "brand": brands,
    }
    return catalog, appeal, item_cat, log_price


def _make_users(rng, n_users, n_categories):
    taste = rng.dirichlet(np.full(n_categories, 0.3), n_users)
    activity = rng.lognormal(0.0, 1.0, n_users)
    return taste, activity / activity.sum()


def _make_promotions(rng, n_items, n_days):
    promo = np.zeros((n_items, n_days), bool)
    for week_start in range(0, n_days, 7):
        on = np.flatnonzero(rng.random(n_items) < 0.08)
        starts = week_start + rng.integers(0, 7, len(on))
        lengths = rng.integers(3, 8, len(on))
        for i, s, n in zip(on, starts, lengths):
            promo[i, s : min(s + n, n_days)] = True
    return promo


# === Sessions ===
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class _SessionSimulator:
    """Generates sessions one by one; keeps the event columns and per-session truth."""

    def __init__(self, rng, appeal, item_cat, log_price, day_price, promo, taste, n_categories,
                 repeat_views=0.0):
        self.rng = rng
        self.repeat_views = float(repeat_views)
        self.appeal = appeal
        self.item_cat = item_cat
        self.log_price = log_price
        self.day_price = day_price
        self.promo = promo
        self.taste = taste
        self.by_category = [np.flatnonzero(item_cat == c) for c in range(n_categories)]
        self.median_log_price = float(np.median(log_price))
        self._choice_cache = {}
        self.cols = {k: [] for k in ("user", "item", "type", "time", "session", "price")}
        self.probs, self.labels = [], []
        self.terms = {k: [] for k in PURCHASE_LOGIT_WEIGHTS if k != "bias"}
        self.purchases = []  # (item, day)

    def run(self, activity, start_day, n_days):
        rng = self.rng
        n_users = len(activity)
        epoch_s = int((start_day - np.datetime64("1970-01-01", "D")).astype(np.int64)) * 86400
        horizon = n_days * 86400
        weekday0 = int((start_day.astype(np.int64) + 3) % 7)  # 1970-01-01 was a Thursday
        per_day = 0.03 * n_users
        starts, users = [], []
        for d in range(n_days):
            lam = per_day * WEEKLY_PROFILE[(weekday0 + d) % 7] * (1.0 + 0.3 * d / max(n_days, 1))
            k = rng.poisson(lam)
            # Mostly evening traffic, some around lunch.
            hours = np.where(rng.random(k) < 0.7, rng.normal(20.0, 2.0, k), rng.normal(12.5, 2.0, k))
            starts.append(d * 86400 + (np.mod(hours, 24.0) * 3600).astype(np.int64))
            users.append(rng.choice(n_users, size=k, p=activity))
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        users = np.concatenate(users) if users else np.zeros(0, np.int64)
        order = np.argsort(starts, kind="stable")
        free_at = {}
        for s, u in zip(starts[order], users[order]):
            s = int(s)
            if s < free_at.get(u, -1):
                s = free_at[u] + int(rng.integers(0, 3600))
            if s >= horizon:
                continue
            end = self._session(int(u), s, epoch_s, n_days)
            free_at[u] = end + SESSION_GAP_SECONDS

    def _session(self, user, t0, epoch_s, n_days):
        """Simulates one session starting at t0 (seconds from start); returns its end."""
        rng = self.rng
        day = min(t0 // 86400, n_days - 1)
        intent = rng.normal()
        n_views = 1 + rng.poisson(np.exp(1.0 + 0.35 * intent))
        sid = f"s{len(self.labels) + 1:06d}"
        taste = self.taste[user]
        t = t0
        views, view_times, carted = [], [], []
        cat = rng.choice(len(taste), p=taste)
        session_events = []  # (item, type, time)
        for j in range(n_views):
            planted = self._planted_repeat(views, carted) if j > 0 else None
            # No coin is drawn when nothing is planted, so the stream stays the same.
            revisit = planted is not None or (
                bool(views) and rng.random() < 0.1 + 0.05 * max(intent, 0.0))
            if planted is not None:
                item = planted
            elif revisit:
                item = views[rng.integers(len(views))]
            else:
                if j > 0 and rng.random() > 0.65:
                    cat = rng.choice(len(taste), p=taste)
                item = self._pick_item(cat, day)
            a = self.appeal[item]
            dwell = np.exp(
                np.log(DWELL_REFERENCE_SECONDS) + 0.35 * a + 0.35 * intent + 0.4 * revisit
                + rng.normal(0.0, 0.6)
            )
            dwell = int(np.clip(round(dwell), 2, 900))
            session_events.append((item, "view", t))
            views.append(item)
            view_times.append(t)
            p_cart = _sigmoid(
                -3.0 + 0.9 * a + 0.8 * intent + 0.6 * self.promo[item, day]
                + 0.5 * np.log(dwell / DWELL_REFERENCE_SECONDS) + 0.8 * revisit
            )
            if item not in carted and rng.random() < p_cart:
                session_events.append((item, "cart", t + max(1, int(dwell * rng.uniform(0.5, 0.95)))))
                carted.append(item)
            t += dwell + int(rng.integers(1, 6))
        terms = self._prefix_terms(session_events, day)
        for k, v in terms.items():
            self.terms[k].append(v)
        logit = purchase_logit(terms)
        p = float(_sigmoid(logit))
        bought = rng.random() < p
        end = session_events[-1][2]
        if bought:
            item = carted[rng.integers(len(carted))] if carted else views[-1]
            end = end + int(rng.integers(10, 91))
            session_events.append((item, "purchase", end))
            self.purchases.append((item, min(end // 86400, n_days - 1)))
        self.probs.append(p)
        self.labels.append(float(bought))
        c = self.cols
        for item, kind, when in session_events:
            c["user"].append(user)
            c["item"].append(item)
            c["type"].append(kind)
            c["time"].append(epoch_s + when)
            c["session"].append(sid)
            c["price"].append(self.day_price[item, min(when // 86400, n_days - 1)])
        return end

    def _planted_repeat(self, views, carted):
        """The item of a planted repeat view, or None (see the module docstring)."""
        if not self.repeat_views or self.rng.random() >= self.repeat_views:
            return None
        back = [i for i in carted if i != views[-1]]
        if back:
            return back[-1]
        if len(views) >= 2 and views[-2] != views[-1]:
            return views[-2]
        return None

    def _prefix_terms(self, session_events, day):
        """The terms of f, from the observed prefix (item ids, types, times, prices)."""
        items = [e[0] for e in session_events]
        kinds = [e[1] for e in session_events]
        times = [e[2] for e in session_events]
        views = [i for i, k in zip(items, kinds) if k == "view"]
        carts = [i for i, k in zip(items, kinds) if k == "cart"]
        revisits = len(views) - len(set(views))
        if len(views) >= 3:
            counts = np.bincount(self.item_cat[views])
            focus = counts.max() / len(views)
        else:
            focus = 0.0
        gaps = [times[j + 1] - times[j] for j in range(len(items) - 1) if kinds[j] == "view"]
        gaps = gaps[-3:]
        dwell = float(np.mean(np.log(np.asarray(gaps) / DWELL_REFERENCE_SECONDS))) if gaps else 0.0
        last = max(j for j, k in enumerate(kinds) if k == "view")
        last_view = items[last]
        last_day = min(times[last] // 86400, self.day_price.shape[1] - 1)
        return {
            "carts": float(min(len(carts), 3)),
            "cart_appeal": float(np.mean(self.appeal[carts])) if carts else 0.0,
            "revisits": float(min(revisits, 2)),
            "focus": float(focus),
            "dwell": dwell,
            "log_price": float(np.log(self.day_price[last_view, last_day]) - self.median_log_price),
        }

    def _pick_item(self, cat, day):
        key = (cat, day)
        cdf = self._choice_cache.get(key)
        pool = self.by_category[cat]
        if cdf is None:
            if len(pool) == 0:
                pool = np.arange(len(self.appeal))
            w = np.exp(0.8 * self.appeal[pool] + 0.8 * self.promo[pool, day] - 0.3 * self.log_price[pool])
            cdf = (np.cumsum(w) / w.sum(), pool)
            self._choice_cache[key] = cdf
        cum, pool = cdf
        return int(pool[min(np.searchsorted(cum, self.rng.random()), len(pool) - 1)])

    def event_log(self, item_ids, n_users):
        c = self.cols
        user_ids = _ids("u", n_users)
        time_ms = np.asarray(c["time"], np.int64) * 1000
        order = np.argsort(time_ms, kind="stable")
        return EventLog(
            user_id=user_ids[np.asarray(c["user"], np.int64)][order],
            item_id=item_ids[np.asarray(c["item"], np.int64)][order],
            event_type=np.asarray(c["type"], dtype="<U8")[order],
            timestamp=time_ms[order],
            session_id=np.asarray(c["session"])[order],
            price=np.asarray(c["price"], np.float64)[order],
        )


# === Daily sales ===
def _make_daily_sales(rng, sim, appeal, item_cat, log_price, promo, day_price, catalog, start_day, n_days):
    n_items = len(appeal)
    online = np.zeros((n_items, n_days))
    for item, day in sim.purchases:
        online[item, day] += 1
    weekday0 = int((start_day.astype(np.int64) + 3) % 7)
    weekly = np.log(WEEKLY_PROFILE[(weekday0 + np.arange(n_days)) % 7])
    n_categories = int(item_cat.max()) + 1 if n_items else 0
    cat_trend = rng.normal(0.0, 0.3, n_categories)
    cat_level = rng.normal(0.0, 0.3, n_categories)
    cat_mean_price = np.array(
        [log_price[item_cat == c].mean() if np.any(item_cat == c) else 0.0 for c in range(n_categories)]
    )
    base = (np.log(1.5) + 0.5 * appeal - 0.4 * (log_price - cat_mean_price[item_cat])
            + cat_level[item_cat])
    base = base - np.where(rng.random(n_items) < 0.2, 2.0, 0.0)  # slow movers: many zero days
    frac = np.arange(n_days) / max(n_days, 1)
    log_rate = (base[:, None] + weekly[None, :] + (0.3 + cat_trend[item_cat])[:, None] * frac[None, :]
                + 0.9 * promo)
    units = rng.poisson(np.exp(log_rate)) + online
    dates = start_day + np.arange(n_days)
    return {
        "item_id": np.repeat(catalog["item_id"], n_days),
        "date": np.tile(dates, n_items),
        "units": units.ravel().astype(np.float32),
        "promo": promo.ravel().astype(np.int8),
        "price": day_price.ravel().astype(np.float32),
        "category": np.repeat(catalog["category"], n_days),
    }


# === Helpers ===
def _ids(prefix, n, width=None):
    width = width or max(4, len(str(n)))
    return np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n)])


def _money(values) -> np.ndarray:
    return np.array([f"{v:.2f}" for v in np.asarray(values, np.float64)])


def _write_csv(path, header, columns):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(zip(*columns))
