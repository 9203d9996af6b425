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
