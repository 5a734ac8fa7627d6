"""keras_electra's own copies of small helpers that keras-hub keeps private.

keras_electra once imported these from `keras_hub.src`; they moved between
keras-hub releases (`convert_to_numpy` appeared in 0.31, the `tf.data`
helpers of `pipeline_model` in 0.32). Each is a few lines, so keras_electra
keeps its own and depends on nothing of keras-hub's here. The preset file names
are keras-hub's on-disk preset format; `tests/test_keras_hub_private_api.py`
checks that they still equal keras-hub's. What must stay private is in
`keras_electra._keras_hub_private`.

Adapted from keras-hub (Apache License 2.0), `keras_hub/src/utils/`.
"""

import functools
import json
import math
import os

import keras
import numpy as np
from keras import ops
from keras import tree

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover - tensorflow is a dependency
    tf = None

try:
    import grain
except ImportError:
    grain = None

# keras-hub's preset format (`keras_hub/src/utils/preset_utils.py`).
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TASK_CONFIG_FILE = "task.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
TASK_WEIGHTS_FILE = "task.weights.h5"

UNBATCHED_INPUT_ERROR = (
    "`x`, `y`, and `sample_weight` must have a batch dimension when calling "
    "`fit()`, `evaluate()`, and `predict()`. Received an input with rank 0. "
    "Please add an outer dimension to your input, e.g., wrap it in a list."
)


class classproperty(property):
    """A property of the class (read on the class, not an instance)."""

    def __get__(self, _, owner_cls):
        return self.fget(owner_cls)


def load_json(preset, config_file):
    """The JSON file `config_file` of the local preset folder `preset`."""
    with open(os.path.join(os.fspath(preset), config_file),
              encoding="utf-8") as f:
        return json.load(f)


def check_config_class(config):
    """The registered Keras class a saved config (`task.json`, ...) names."""
    registered_name = config["registered_name"]
    if registered_name in ("Functional", "Sequential"):
        return keras.Model
    cls = keras.saving.get_registered_object(registered_name)
    if cls is None:
        raise ValueError(
            f"Attempting to load class {registered_name} with "
            "`from_preset()`, but there is no class registered with Keras "
            f"for {registered_name}. Make sure to register any custom "
            "classes with `register_keras_serializable()`."
        )
    return cls


def is_string_dtype(dtype):
    """Whether `dtype` is a string dtype."""
    return "string" in keras.backend.standardize_dtype(dtype)


def any_equal(inputs, values, padding_mask):
    """True where `inputs` equals any of `values`, and `padding_mask` is."""
    output = ops.equal(inputs, values[0])
    for value in values[1:]:
        output = ops.logical_or(output, ops.equal(inputs, value))
    return ops.logical_and(output, padding_mask)


def convert_to_numpy(x):
    """`x` as a NumPy array, whether a backend tensor or a `tf.Tensor`.

    `keras.ops.convert_to_numpy` only takes tensors of the active backend;
    preprocessing runs in TensorFlow whatever the backend.
    """
    if isinstance(x, np.ndarray):
        return x
    if tf is not None and isinstance(x, tf.RaggedTensor):
        return x.numpy()
    if tf is not None and isinstance(x, tf.Tensor):
        return np.asarray(x)
    if ops.is_tensor(x):
        return ops.convert_to_numpy(x)
    return np.array(x)


def is_grain_dataset(x):
    """Whether `x` is a `grain.MapDataset` or `grain.IterDataset`."""
    if grain is None:
        return False
    return isinstance(x, (grain.MapDataset, grain.IterDataset))


def inputs_to_tf_dataset(inputs, batch_size=None):
    """Slice in-memory `inputs` (arrays, lists of strings) into batches."""

    def convert(x):
        if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
            return x
        if hasattr(x, "__array__"):
            return ops.convert_to_numpy(x)
        return x

    try:
        ds = tf.data.Dataset.from_tensor_slices(
            tree.map_structure(convert, inputs)
        )
    except ValueError as e:
        if "only supported for rank >= 1" in str(e):
            raise ValueError(UNBATCHED_INPUT_ERROR) from e
        raise
    return ds.batch(batch_size or 32)


def train_validation_split(arrays, validation_split):
    """Split `arrays` into the first and last parts, as Keras does for
    `fit(validation_split=...)`."""
    flat_arrays = tree.flatten(arrays)
    unsplitable = [
        type(t) for t in flat_arrays
        if not (t is None or hasattr(t, "__array__"))
    ]
    if unsplitable:
        raise ValueError(
            "`validation_split` is only supported for Tensors or NumPy "
            f"arrays, found following types in the input: {unsplitable}"
        )
    if all(t is None for t in flat_arrays):
        return arrays, arrays
    first = next(t for t in flat_arrays if t is not None)
    batch_dim = int(first.shape[0])
    split_at = int(math.floor(batch_dim * (1.0 - validation_split)))
    if split_at == 0 or split_at == batch_dim:
        raise ValueError(
            f"Training data contains {batch_dim} samples, which is not "
            "sufficient to split it into a validation and training set as "
            f"specified by `validation_split={validation_split}`. Either "
            "provide more data, or a different value for the "
            "`validation_split` argument."
        )

    def _split(t, start, end):
        return None if t is None else t[start:end]

    train = tree.map_structure(
        functools.partial(_split, start=0, end=split_at), arrays
    )
    validation = tree.map_structure(
        functools.partial(_split, start=split_at, end=batch_dim), arrays
    )
    return train, validation
