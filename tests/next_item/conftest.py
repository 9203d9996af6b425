"""Small synthetic event logs with a known next-item rule."""

import numpy as np
import pytest

from ecomtf.data.event_log import EventLog

CYCLE = [f"i{k}" for k in range(12)]


def cyclic_log(n_users=60, length=14, seed=0, items=CYCLE, start_ms=1_700_000_000_000, prefix="u"):
    """Users walk a fixed cycle of items (i0 -> i1 -> ... -> i11 -> i0) from random starts.

    Every third event is a cart of the item just viewed, with the item repeated,
    so event types carry information too.
    """
    rng = np.random.default_rng(seed)
    users, items_out, kinds, times = [], [], [], []
    for u in range(n_users):
        pos = int(rng.integers(len(items)))
        t = start_ms + int(rng.integers(0, 86_400_000))
        for _ in range(length):
            users.append(f"{prefix}{u}")
            items_out.append(items[pos % len(items)])
            kinds.append("view")
            times.append(t)
            pos += 1
            t += int(rng.integers(5_000, 600_000))
    return EventLog(
        user_id=np.array(users),
        item_id=np.array(items_out),
        event_type=np.array(kinds),
        timestamp=np.array(times, dtype=np.int64),
    )


def write_csv(log, path, header="user_id,item_id,event_type,timestamp"):
    """Write an EventLog as the CSV the CLI reads (unix-ms times); returns the path as a string."""
    with open(path, "w") as f:
        f.write(header + "\n")
        for u, i, e, t in zip(log.user_id, log.item_id, log.event_type, log.timestamp):
            f.write(f"{u},{i},{e},{int(t)}\n")
    return str(path)


@pytest.fixture
def cycle_log():
    return cyclic_log()


def plant_pairs(log, rate=0.6, seed=0):
    """After a view of item a, with probability ``rate`` a view of its fixed partner (a random pairing)."""
    rng = np.random.default_rng(seed)
    items = np.unique(log.item_id)
    partner = dict(zip(items, rng.permutation(items)))
    order = np.lexsort((log.timestamp, log.user_id))
    users, item_ids, kinds, times = [], [], [], []
    for i in order:
        users.append(log.user_id[i])
        item_ids.append(log.item_id[i])
        kinds.append(log.event_type[i])
        times.append(log.timestamp[i])
        if log.event_type[i] == "view" and rng.random() < rate:
            users.append(log.user_id[i])
            item_ids.append(partner[log.item_id[i]])
            kinds.append("view")
            times.append(log.timestamp[i] + 1)
    return EventLog(user_id=np.array(users), item_id=np.array(item_ids), event_type=np.array(kinds),
                    timestamp=np.array(times, np.int64))


def planted_pair_runs(**component):
    """Metrics of the same short training on the simulated shop with planted pairs, without and with ``component``.

    Same seed, leave-one-out split and metric code; the second run also carries the recipe's baselines.
    """
    from ecomtf.datasets import simulate_shop
    from ecomtf.recipes import next_item

    shop = simulate_shop(n_users=400, n_items=300, n_days=30, seed=2)
    data = next_item.prepare(plant_pairs(shop.events), by="user")
    settings = dict(epochs=4, verbose=0, embedding_dim=16, max_len=20, num_blocks=1, learning_rate=3e-3,
                    seed=1, baselines=False)
    _, without = next_item.train(data, **settings)
    _, with_component = next_item.train(data, **component, **dict(settings, baselines=True))
    return without, with_component
