"""Every recurrent layer in the library can take tf.keras's cuDNN path on a GPU.

tf_keras picks the cuDNN LSTM/GRU kernel only for a strictly right-padded mask
(``gru_lstm_utils.is_sequence_right_padded``), no fully masked row, and the
settings tanh / sigmoid / recurrent_dropout 0 / unroll False / use_bias
(and reset_after for the GRU); otherwise it silently runs the generic kernel.
These checks run on CPU: they test the inputs the kernel choice is made on.
"""

import numpy as np
import pytest
import tensorflow as tf
from tf_keras.src.layers.rnn import gru_lstm_utils

from ecomtf.layers.behavior_sequence_encoder import BehaviorSequenceEncoder
from ecomtf.layers.recurrent_sequence_encoder import RecurrentSequenceEncoder
from tests.layer_checks import run_layer_test


def _rnn_settings_ok(rnn) -> bool:
    ok = (
        rnn.activation is tf.keras.activations.tanh
        and rnn.recurrent_activation is tf.keras.activations.sigmoid
        and rnn.recurrent_dropout == 0
        and not rnn.unroll
        and rnn.use_bias
    )
    if isinstance(rnn, tf.keras.layers.GRU):
        ok = ok and rnn.reset_after
    return ok


# Left-padded (next-item layout), right-padded, unpadded, and an empty row.
MASK = tf.constant(
    [
        [False, False, True, True, True],
        [True, True, False, False, False],
        [True, True, True, True, True],
        [False, True, False, True, False],
        [False, False, False, False, False],
    ]
)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_encoder_runs_cudnn_eligible(cell):
    enc = RecurrentSequenceEncoder(6, cell_type=cell, num_layers=2)
    x = tf.random.stateless_normal([5, 5, 3], seed=[1, 2])
    out = enc(x, mask=MASK)
    assert enc.cudnn_eligible and all(_rnn_settings_ok(r) for r in enc.rnns)
    order, packed = enc.pack(MASK)
    # The mask the recurrent layers see: right-padded, no fully masked row.
    assert bool(gru_lstm_utils.is_sequence_right_padded(packed))
    assert not bool(gru_lstm_utils.has_fully_masked_sequence(packed))
    # Padding outputs zeros at the input positions.
    np.testing.assert_array_equal(out.numpy()[~MASK.numpy()], 0.0)
    # Each row's output equals running it alone, without padding: the layout
    # of the padding does not change a state.
    for row in range(4):
        real = MASK.numpy()[row]
        alone = enc(tf.boolean_mask(x[row], real)[None], mask=tf.ones([1, int(real.sum())], tf.bool))
        np.testing.assert_allclose(out.numpy()[row][real], alone.numpy()[0], atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unrolled_twin_matches_and_is_the_only_ineligible_setting(cell):
    a = RecurrentSequenceEncoder(4, cell_type=cell)
    b = RecurrentSequenceEncoder(4, cell_type=cell, unroll=True)
    x = tf.random.stateless_normal([5, 5, 3], seed=[3, 4])
    a(x, mask=MASK), b(x, mask=MASK)
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(a(x, mask=MASK).numpy(), b(x, mask=MASK).numpy(), atol=1e-5)
    assert not b.cudnn_eligible


def test_recurrent_encoder_serializes():
    run_layer_test(
        RecurrentSequenceEncoder, {"units": 4, "cell_type": "gru", "num_layers": 1},
        tf.ones([2, 3, 2]), expected_shape=(2, 3, 4), fit=False,
    )


def test_behavior_encoder_settings_are_cudnn_eligible():
    enc = BehaviorSequenceEncoder(item_vocabulary=["i1"], event_vocabulary=["view"], length=4, units=4)
    enc(tf.constant([["", "i1"]]), tf.constant([["", "view"]]))
    assert enc.cudnn_eligible and _rnn_settings_ok(enc.lstm)
    _, mask = enc.packed_inputs(tf.constant([["", "", "i1"], ["", "", ""]]), tf.constant([["", "", "view"]] * 2))
    assert bool(gru_lstm_utils.is_sequence_right_padded(mask))
    assert not bool(gru_lstm_utils.has_fully_masked_sequence(mask))


def test_every_recurrent_layer_in_the_library_is_covered():
    # A new LSTM/GRU in ecomtf/ must come with a cuDNN check here. The
    # forecaster's encoder LSTM reads unmasked windows with default settings.
    import pathlib
    import re

    import ecomtf

    root = pathlib.Path(ecomtf.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        if re.search(r"layers\.(LSTM|GRU)\b", path.read_text()):
            found.add(path.relative_to(root).as_posix())
    assert found <= {
        "layers/recurrent_sequence_encoder.py",
        "layers/behavior_sequence_encoder.py",
        "models/sales_forecaster.py",
    }, found
    lstm = tf.keras.layers.LSTM(4, return_state=True)  # as sales_forecaster builds it
    assert _rnn_settings_ok(lstm)
