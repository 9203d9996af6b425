"""A deterministic synthetic log with a multi-category store's monthly export schema.

Public monthly exports of a large multi-category online store (one CSV per
month, about 42M events and 5.3 GB for October 2019) have these columns::

    event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
    2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c

``write_store_month`` writes a file of that shape with any number of rows, in
chunks (memory does not grow with the row count), so readers and ``prepare``
can be measured at the real scale without the real data. Everything comes
from ``numpy.random.default_rng(seed)``: the same arguments give the same
bytes. Shape, not behaviour, is what it copies: times increase through one
month, users are Zipf-active and browse in sessions, ~95% views / ~3% carts /
~2% purchases, category ids are 19-digit integers, about a third of
category codes and an eighth of brands are empty, prices are positive with a
few zero prices (as in the real export).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
_MONTH_START = 1569888000  # 2019-10-01T00:00:00Z
_MONTH_SECONDS = 31 * 86400
_CODES = (
    "electronics.smartphone", "appliances.kitchen.refrigerators", "computers.notebook",
    "apparel.shoes", "furniture.living_room.sofa", "electronics.audio.headphone",
    "appliances.environment.vacuum", "kids.toys", "auto.accessories.player",
    "construction.tools.drill", "sport.bicycle", "accessories.bag",
)
_BRANDS = ("samsung", "apple", "xiaomi", "huawei", "lucente", "bosch", "sony", "lg",
           "acer", "shiseido", "respect", "oppo", "cordiant", "jessnail", "elenberg")


def write_store_month(path, rows: int, *, seed: int = 0, chunk_rows: int = 500_000) -> str:
    """Writes ``rows`` events in the monthly-export schema to a CSV file.

    Args:
        path: output file; a name ending in ``.gz`` is gzip-compressed.
        rows: number of events.
        seed: everything is drawn from ``default_rng(seed)``.
        chunk_rows: rows generated and written at a time (bounds memory).

    Returns:
        The path written.

    Example:
        >>> write_store_month("runs/store-1m.csv", 1_000_000)
        'runs/store-1m.csv'
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = os.fspath(path)
    rng = np.random.default_rng(seed)
    n_users = max(10, rows // 14)
    n_items = max(10, min(200_000, rows // 200 + 1_000))
    n_cats = max(5, min(700, n_items // 250 + 5))
    # Fixed per-item attributes (bounded by n_items, not rows).
    item_ids = 1_000_000 + rng.choice(99_000_000, n_items, replace=False).astype(np.int64)
    item_cat = rng.integers(0, n_cats, n_items)
    cat_ids = 2_053_013_552_226_107_603 + rng.integers(0, 10**17, n_cats).astype(np.int64)
    cat_code = rng.integers(-len(_CODES) // 2, len(_CODES), n_cats)  # <0: empty code
    item_brand = rng.integers(-2, len(_BRANDS) * 3, n_items)  # <0: empty brand
    item_price = np.round(np.exp(rng.normal(4.0, 1.2, n_items)), 2)
    item_price[rng.random(n_items) < 0.0005] = 0.0  # the real export has a few zero prices
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item_weight /= item_weight.sum()
    user_weight = 1.0 / np.arange(1, n_users + 1) ** 0.7
    user_weight /= user_weight.sum()
    code_text = np.array([""] + list(_CODES), dtype=object)
    brand_text = np.array([""] + [f"{b}{'' if i < len(_BRANDS) else i}" for i, b in
                                  enumerate(_BRANDS * 3)], dtype=object)

    opener = gzip.open if path.endswith(".gz") else open
    written = 0
    with opener(path, "wb") as raw:
        raw.write((",".join(COLUMNS) + "\n").encode())
        while written < rows:
            n = min(chunk_rows, rows - written)
            # Times increase through the month, as in the export.
            t = _MONTH_START + ((written + np.arange(n)) * _MONTH_SECONDS) // max(rows, 1)
            user_idx = rng.choice(n_users, n, p=user_weight)
            users = (512_000_000 + user_idx * 37).astype(np.int64)
            items = rng.choice(n_items, n, p=item_weight)
            u = rng.random(n)
            etype = np.where(u < 0.95, 0, np.where(u < 0.98, 1, 2))
            # A session per (user, 6-hour block): a UUID-like string from both.
            block = t // (6 * 3600)
            h = (user_idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                 ^ block.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
            hexes = np.char.zfill(np.char.mod("%x", (h >> np.uint64(1)).astype(np.int64)), 16)
            sess = np.char.add(
                np.char.add(np.char.add(np.strings.slice(hexes, 0, 8), "-"),
                            np.char.add(np.strings.slice(hexes, 8, 12), "-4")),
                np.char.add(np.strings.slice(hexes, 12, 15), "-8a1c-3f2e9b0c7d41"),
            )
            cats = item_cat[items]
            times = (t * 1000).astype("datetime64[ms]").astype("datetime64[s]").astype(str)
            times = np.char.add(np.strings.replace(times, "T", " "), " UTC")
            table = pa.table({
                "event_time": pa.array(times),
                "event_type": pa.DictionaryArray.from_arrays(
                    pa.array(etype, pa.int8()), pa.array(["view", "cart", "purchase"])
                ).cast(pa.string()),
                "product_id": pa.array(item_ids[items]),
                "category_id": pa.array(cat_ids[cats]),
                "category_code": pa.array(code_text[np.maximum(cat_code[cats], -1) + 1],
                                          pa.string()),
                "brand": pa.array(brand_text[np.maximum(item_brand[items], -1) + 1], pa.string()),
                "price": pa.array(item_price[items]),
                "user_id": pa.array(users),
                "user_session": pa.array(sess),
            })
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(
                include_header=False, quoting_style="none"))
            raw.write(sink.getvalue().to_pybytes())
            written += n
    return path
