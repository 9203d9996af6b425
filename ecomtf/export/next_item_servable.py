"""Serving and mobile signatures of a NextItemRecommender."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from ecomtf.export.servable import Servable
from ecomtf.export.servable import dict_signature
from ecomtf.export.servable import register_servable
from ecomtf.models.next_item_recommender import EVENT_TYPE
from ecomtf.models.next_item_recommender import ITEM_ID
from ecomtf.models.next_item_recommender import TIME_GAP
from ecomtf.models.next_item_recommender import NextItemRecommender

#: Request input names -> model input names.
REQUEST_INPUTS = {"item_ids": ITEM_ID, "event_types": EVENT_TYPE, "time_gaps": TIME_GAP}
#: The variable holding the model config in exports (read by warm starts).
CONFIG_VARIABLE = "ecomtf_config"


@register_servable(NextItemRecommender)
class NextItemServable(Servable):
    """Exports a NextItemRecommender: recent events -> top-k next items.

    Signatures:
        serving_default: ``item_ids`` and ``event_types`` (strings
            ``[batch, any length]``, oldest first, ``""`` padding), plus
            ``time_gaps`` (float seconds since the previous event, same shape)
            when the model uses them; ``k`` int32 ``[batch]`` (the batch
            returns ``max(k)`` columns, capped at the catalog size; columns a
            row did not ask for are ``""``/0); ``exclude_item_ids`` strings
            ``[batch, any length]`` never to recommend (``""`` padding) ->
            ``item_ids`` strings ``[batch, max(k)]`` best first and ``scores``
            float, the probability of each item among the non-excluded ones.
            Every input shares dim 0, so TF Serving's REST row format works.
        mobile (TFLite): the same with fixed ``steps`` events, a fixed
            ``exclude`` width and a fixed ``k`` (no ``k`` input), run by the
            unrolled twin for LSTM/GRU.

    The model's config is stored in the export as a string variable, so a
    later training run can warm-start from an export directory alone.

    Args:
        model: a trained NextItemRecommender.
        mobile_steps: events per mobile request (default ``min(max_len, 50)``).
        mobile_k: items the mobile signature returns.
        mobile_exclude: width of the mobile exclusion list (default
            ``mobile_steps``).
    """

    def __init__(
        self,
        model: NextItemRecommender,
        mobile_steps: int | None = None,
        mobile_k: int = 10,
        mobile_exclude: int | None = None,
    ):
        super().__init__()
        self.model = model.ensure_built()
        self.mobile_steps = int(mobile_steps or min(model.max_len, 50))
        self.mobile_k = int(min(mobile_k, model.num_items))
        self.mobile_exclude = int(mobile_exclude or self.mobile_steps)
        self.ecomtf_config = tf.Variable(
            json.dumps(model.get_config()), trainable=False, dtype=tf.string, name=CONFIG_VARIABLE
        )

    def request_specs(self, steps: int | None = None, exclude: int | None = None, with_k=True):
        model_specs = self.model.input_specs(steps)
        specs = {}
        for name, key in REQUEST_INPUTS.items():
            if key in model_specs:
                specs[name] = tf.TensorSpec(model_specs[key].shape, model_specs[key].dtype, name=name)
        if with_k:
            specs["k"] = tf.TensorSpec([None], tf.int32, name="k")
        specs["exclude_item_ids"] = tf.TensorSpec([None, exclude], tf.string, name="exclude_item_ids")
        return specs

    def signatures(self):
        model = self.model

        def serve(inputs):
            k = tf.clip_by_value(tf.reduce_max(inputs["k"]), 1, model.num_items)
            return top_k_items(model, inputs, k, inputs["k"])

        return {"serving_default": dict_signature(serve, self.request_specs())}

    def mobile_signatures(self):
        twin = self.model.mobile_twin()
        self.mobile_model = twin
        k = self.mobile_k

        def mobile(inputs):
            return top_k_items(twin, inputs, k, None)

        specs = self.request_specs(self.mobile_steps, self.mobile_exclude, with_k=False)
        return {"mobile": dict_signature(mobile, specs)}

    def warmup_inputs(self):
        return {"serving_default": example_request(self.model)}

    def mobile_inputs(self) -> dict[str, np.ndarray]:
        """The parity-check batch: the mobile signature's inputs and widths
        (no ``k``; fixed steps and exclusions), not the serving request."""
        return self.mobile_example()

    def mobile_example(self, batch: int = 2) -> dict[str, np.ndarray]:
        """A valid mobile request (fixed widths)."""
        req = example_request(self.model, batch=batch, steps=self.mobile_steps)
        req.pop("k")
        ex = req["exclude_item_ids"]
        out = np.full((batch, self.mobile_exclude), "", dtype=object)
        w = min(ex.shape[1], self.mobile_exclude)
        out[:, :w] = ex[:, :w]
        req["exclude_item_ids"] = out.astype(str)
        return req


def top_k_items(model: NextItemRecommender, inputs: dict, k, row_k=None) -> dict:
    """Top-``k`` item ids and probabilities, excluded items removed.

    Args:
        model: the recommender.
        inputs: request tensors (``item_ids``, ``event_types``,
            ``time_gaps``, ``exclude_item_ids``).
        k: scalar int, columns returned.
        row_k: optional int ``[batch]``: columns a row wants (the rest are
            returned as ``""``/0).
    """
    features = {REQUEST_INPUTS[n]: inputs[n] for n in REQUEST_INPUTS if n in inputs}
    logits = model(features, training=False)
    n_items = model.num_items
    batch = tf.shape(logits)[0]
    # Exclusions as a scatter (memory [batch, items]) rather than a one-hot
    # [batch, excluded, items]; unknown ids and padding land in a spare column.
    cols = model.item_columns(inputs["exclude_item_ids"])
    cols = tf.where(cols < 0, n_items, cols)
    width = tf.shape(cols)[1]
    rows = tf.tile(tf.range(batch)[:, None], [1, width])
    blocked = tf.scatter_nd(
        tf.stack([rows, cols], axis=-1), tf.ones_like(cols, tf.float32), tf.stack([batch, n_items + 1])
    )[:, :n_items]
    blocked = tf.reshape(blocked, [-1, n_items]) > 0.0
    probs = tf.nn.softmax(tf.where(blocked, -1e9, logits), axis=-1)
    top = tf.math.top_k(probs, k=k)
    keep = tf.logical_not(tf.gather(blocked, top.indices, batch_dims=1))
    if row_k is not None:
        keep = tf.logical_and(keep, tf.range(k)[None, :] < row_k[:, None])
    # Gathering from the vocabulary plus a trailing "" avoids a string select.
    vocab = tf.constant(model.item_vocabulary + [""])
    ids = tf.gather(vocab, tf.where(keep, top.indices, n_items))
    scores = tf.where(keep, top.values, 0.0)
    return {"item_ids": ids, "scores": scores}


def example_request(model: NextItemRecommender, batch: int = 2, steps: int = 3) -> dict[str, np.ndarray]:
    """A small valid serving request built from the model's vocabularies."""
    vocab = model.item_vocabulary
    events = model.event_vocabulary or ["view"]
    items = np.full((batch, steps), "", dtype=object)
    kinds = np.full((batch, steps), "", dtype=object)
    for r in range(batch):
        n = min(steps, r + 2)
        for j in range(n):
            items[r, steps - n + j] = vocab[(r + j) % len(vocab)]
            kinds[r, steps - n + j] = events[(r + j) % len(events)]
    req = {"item_ids": items.astype(str), "event_types": kinds.astype(str)}
    if model.use_time_gaps:
        gaps = np.where(items != "", 60.0, 0.0).astype(np.float32)
        req["time_gaps"] = gaps
    if not model.use_event_types:
        req.pop("event_types")
    req["k"] = np.array([min(5, len(vocab))] + [min(3, len(vocab))] * (batch - 1), dtype=np.int32)
    ex = np.full((batch, 2), "", dtype=object)
    ex[0, 0] = vocab[0]
    req["exclude_item_ids"] = ex.astype(str)
    return req
