"""LSTM/GRU sequence encoder giving a state at every step (GRU4Rec-style)."""

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class RecurrentSequenceEncoder(tf.keras.layers.Layer):
    """Stacked LSTM or GRU over step embeddings, one output per step.

    The classic recurrent next-item encoder (GRU4Rec, Hidasi et al.): the
    state after step t summarizes the events up to t, so one pass gives a
    prediction at every position. Inputs may be padded anywhere (next-item
    models left-align them: most recent event last). Inside, the real steps of
    each row are packed to the front in order (padding last, as
    ``SequencePacker`` does for the purchase model), the recurrence runs, and
    its states are put back at the input positions; so the output at a step
    does not depend on the padding a request carries, and on a GPU tf.keras
    can use the cuDNN kernel, which needs a right-padded mask (plus the
    default activations, no recurrent dropout, no unroll, a bias and, for the
    GRU, ``reset_after``: ``cudnn_eligible``). Padding steps output zeros.

    For TFLite, build a twin with ``unroll=True`` (same config otherwise) and
    copy the weights: an unrolled LSTM/GRU converts to builtins with a dynamic
    batch size; a fixed number of steps is then needed.

    Args:
        units: state size (the output size).
        cell_type: ``"lstm"`` or ``"gru"``.
        num_layers: stacked recurrent layers.
        dropout: dropout between layers and on the output (training only).
        unroll: unroll the recurrence (the TFLite twin).

    Call arguments:
        inputs: float ``[batch, steps, dim]`` step embeddings.
        mask: bool ``[batch, steps]``, True for real steps.
        training: whether dropout is active.

    Returns:
        float ``[batch, steps, units]``.

    Example:
        >>> enc = RecurrentSequenceEncoder(8, cell_type="gru")
        >>> enc(tf.ones([2, 5, 4]), mask=tf.constant([[False] * 2 + [True] * 3] * 2)).shape
        TensorShape([2, 5, 8])

    Reference:
        Hidasi et al., "Session-based Recommendations with Recurrent Neural
        Networks", ICLR 2016.
    """

    def __init__(
        self,
        units: int,
        cell_type: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
        unroll: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell_type not in ("lstm", "gru"):
            raise ValueError(f"cell_type must be 'lstm' or 'gru', got {cell_type!r}")
        self.units = int(units)
        self.cell_type = cell_type
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.unroll = bool(unroll)
        # Settings spelled out: these are the ones that keep tf.keras on the
        # cuDNN kernel (see ``cudnn_eligible``).
        cudnn = dict(activation="tanh", recurrent_activation="sigmoid", recurrent_dropout=0.0,
                     use_bias=True)
        if cell_type == "gru":
            cudnn["reset_after"] = True
        rnn = tf.keras.layers.LSTM if cell_type == "lstm" else tf.keras.layers.GRU
        self.rnns = [
            rnn(self.units, return_sequences=True, unroll=self.unroll, name=f"{cell_type}_{i}",
                **cudnn)
            for i in range(self.num_layers)
        ]
        self.drop = tf.keras.layers.Dropout(self.dropout)
        self.supports_masking = True

    @property
    def cudnn_eligible(self) -> bool:
        """Whether every layer's settings let tf.keras pick the cuDNN kernel
        (the mask is right-padded by ``pack``)."""
        for rnn in self.rnns:
            ok = (
                rnn.activation is tf.keras.activations.tanh
                and rnn.recurrent_activation is tf.keras.activations.sigmoid
                and rnn.recurrent_dropout == 0
                and not rnn.unroll
                and rnn.use_bias
            )
            if isinstance(rnn, tf.keras.layers.GRU):
                ok = ok and rnn.reset_after
            if not ok:
                return False
        return True

    @staticmethod
    def pack(mask):
        """``(order, packed_mask)``: gather indices that move each row's real
        steps to the front in order (padding after them), and the mask of the
        packed rows. Only TOP_K and GATHER, so it converts to TFLite builtins.

        A row with no real step still gets step 0 in ``packed_mask``: cuDNN
        refuses zero-length sequences (its output is zeroed afterwards).
        """
        mask = tf.cast(mask, tf.bool)
        steps = tf.shape(mask)[1]
        pos = tf.range(steps)[None, :]
        # Ascending key: real steps (their position), then padding.
        key = tf.where(mask, pos, pos + steps)
        order = tf.math.top_k(-key, k=steps).indices
        packed = tf.gather(mask, order, batch_dims=1)
        first = tf.equal(tf.broadcast_to(pos, tf.shape(packed)), 0)
        return order, tf.logical_or(packed, first)

    def call(self, inputs, mask=None, training=None):
        x = inputs
        inverse = None
        run_mask = mask
        if mask is not None:
            order, run_mask = self.pack(mask)
            x = tf.gather(x, order, batch_dims=1)
            # The inverse permutation puts the states back at the input steps.
            inverse = tf.math.top_k(-order, k=tf.shape(order)[1]).indices
        for i, rnn in enumerate(self.rnns):
            if i:
                x = self.drop(x, training=training)
            x = rnn(x, mask=run_mask, training=training)
        x = self.drop(x, training=training)
        if mask is not None:
            x = tf.gather(x, inverse, batch_dims=1)
            # Padding steps carry the previous output; zero them so nothing
            # downstream reads a padding position by accident.
            x = x * tf.cast(mask, x.dtype)[:, :, None]
        return x

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[:-1]).concatenate([self.units])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "cell_type": self.cell_type,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "unroll": self.unroll,
        }
