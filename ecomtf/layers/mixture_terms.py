"""Training terms shared by the table components of the next-item mixture (neighbours, session kNN).

Both components score the catalog from stored tables looked up with the last
``history`` steps before each training position, and both enter the loss the
same way: the component's gate is its log mass in the softmax's normalizer and
the label's share of the component's votes is the target's log mass. One copy
of that arithmetic keeps the two components' losses from drifting apart.
"""

import tensorflow as tf

from ecomtf.layers.repeat_pointer import MASKED


def history_windows(cols, valid, history: int, per_row=None):
    """The columns of the ``history`` steps up to each valid position, most recent first.

    Args:
        cols: int ``[batch, steps]`` score column of each step (negative for
            padding and unknown items), oldest first.
        valid: bool ``[batch, steps]`` positions with a trainable label.
        history: steps looked back (``-1`` before the sequence starts).
        per_row: optional ``[batch]`` value of each row (a fold, a stored
            session index), repeated for each of its valid positions.

    Returns:
        ``(back, per_position)``: int ``[positions, history]`` with
        ``back[p, d]`` the column ``d`` steps before position ``p``, and
        ``per_row`` as ``[positions]`` int32 (``None`` when not given).
    """
    cols = tf.cast(cols, tf.int32)
    batch, steps = tf.shape(cols)[0], tf.shape(cols)[1]
    padded = tf.concat([tf.fill([batch, history], -1), cols], axis=1)
    back = tf.stack([padded[:, history - d : history - d + steps] for d in range(history)], axis=2)
    back = tf.boolean_mask(back, valid)
    if per_row is None:
        return back, None
    return back, tf.boolean_mask(tf.tile(tf.cast(per_row, tf.int32)[:, None], [1, steps]), valid)


def component_target_terms(gate, weights, hit_weights):
    """``(gate, target_log_mass)`` of a table component, each ``[positions]``.

    Args:
        gate: float ``[positions]`` the component's learned log gate.
        weights: float ``[positions, ...]`` every vote the component casts.
        hit_weights: float ``[positions, ...]`` the votes cast for the label.

    Returns:
        The gate (``MASKED`` where the component casts no vote) and the
        label's log mass ``gate + log(hit / total)`` (``MASKED`` where the
        label gets no vote).
    """
    axes = list(range(1, len(weights.shape)))
    total = tf.reduce_sum(weights, axis=axes)
    hit = tf.reduce_sum(hit_weights, axis=axes)
    target = gate + tf.math.log(tf.where(hit > 0.0, hit, 1.0) / tf.where(total > 0.0, total, 1.0))
    return tf.where(total > 0.0, gate, MASKED), tf.where(hit > 0.0, target, MASKED)
