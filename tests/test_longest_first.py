"""`truncate_longest_first` cuts rows as Python slicing does, with a graph
that holds no runtime checks (tf.data instantiates it for every iterator).
HF parity of the truncation itself: `test_electra_classifier.py::
test_pair_packing_and_truncation_match_hf`."""

import numpy as np
import tensorflow as tf
from tf_graphs import op_types_with_bodies

from keras_electra.models.longest_first import _first_items
from keras_electra.models.longest_first import truncate_longest_first


def test_first_items_equal_python_slices():
    rng = np.random.default_rng(0)
    for _ in range(100):
        rows = [
            rng.integers(0, 100, rng.integers(0, 9)).tolist()
            for _ in range(rng.integers(1, 6))
        ]
        # Counts past a row's end keep the whole row.
        counts = [int(rng.integers(0, len(row) + 3)) for row in rows]
        segment = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1)
        got = _first_items(segment, tf.constant(counts, tf.int64)).to_list()
        assert got == [row[:count] for row, count in zip(rows, counts)]


def test_unbatched_pair_is_cut_longest_first():
    first, second = truncate_longest_first(
        [tf.constant([1, 2, 3, 4, 5, 6]), tf.constant([7, 8, 9])], 6
    )
    # Room for 3 tokens besides [CLS] and two [SEP]: the longer gives first.
    assert first.numpy().tolist() == [1, 2]
    assert second.numpy().tolist() == [7]


def test_traced_truncation_holds_no_runtime_checks():
    spec = tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)

    @tf.function(input_signature=[spec, spec])
    def truncate(first, second):
        return truncate_longest_first([first, second], 16)

    truncate.get_concrete_function()
    assert "Assert" not in op_types_with_bodies(truncate)
