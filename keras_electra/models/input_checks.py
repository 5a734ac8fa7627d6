"""Clear errors for bad integer inputs, instead of backend stack traces."""

import numpy as np
from keras import ops

INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


def is_int_at_least(value, minimum):
    """Whether `value` is a Python or NumPy int (not a bool) >= `minimum`."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, np.integer))
        and value >= minimum
    )


def _static_shape(x):
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(_static_dim(d) for d in shape)
    except TypeError:  # An unknown rank.
        return None


def _static_dim(dim):
    """An int, or None for unknown and symbolic (jax2tf export) sizes."""
    try:
        return None if dim is None else int(dim)
    except Exception:  # jax's InconclusiveDimensionOperation and the like.
        return None


def concrete_value(x):
    """`x` as a numpy array when it holds values now (eager), else None.

    Symbolic tensors (functional construction, `tf.function`, `jax.jit`
    traces) have no values, so value checks are skipped for them.
    """
    if isinstance(x, np.ndarray):
        return x
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # Any tracer or graph tensor: nothing to check.
        return None


def check_backbone_inputs(backbone, inputs):
    """Validate the integer input dict of an `ElectraBackbone`."""
    if not isinstance(inputs, dict):
        raise ValueError(
            "ElectraBackbone expects a dict with keys "
            f"{list(INPUT_KEYS)}; received {type(inputs).__name__}. Use the "
            "task's preprocessor to turn raw strings into this dict."
        )
    missing = [key for key in INPUT_KEYS if key not in inputs]
    if missing:
        raise ValueError(
            f"ElectraBackbone input is missing {missing}; it needs "
            f"{list(INPUT_KEYS)} (got {sorted(inputs)})."
        )
    shapes = {key: _static_shape(inputs[key]) for key in INPUT_KEYS}
    known = {k: s for k, s in shapes.items() if s is not None}
    for key, shape in known.items():
        if len(shape) != 2:
            raise ValueError(
                f"ElectraBackbone input '{key}' must be 2-D (batch, length); "
                f"received shape {shape}."
            )
    _check_same_shapes(known)
    for shape in known.values():
        length = shape[1]
        if length is not None and length > backbone.max_sequence_length:
            raise ValueError(
                f"Input sequence length {length} exceeds the model's "
                f"max_sequence_length={backbone.max_sequence_length}. "
                "Truncate the inputs (the preprocessors' sequence_length "
                "does this)."
            )
    _check_id_range(
        inputs["token_ids"], "token_ids", backbone.vocabulary_size
    )
    _check_id_range(inputs["segment_ids"], "segment_ids", backbone.num_segments)


def _check_same_shapes(known):
    resolved = {}
    for key, shape in known.items():
        for other, other_shape in resolved.items():
            clash = any(
                a is not None and b is not None and a != b
                for a, b in zip(shape, other_shape)
            )
            if clash:
                raise ValueError(
                    f"ElectraBackbone inputs '{key}' {shape} and '{other}' "
                    f"{other_shape} must have the same shape."
                )
        resolved[key] = shape


def _check_id_range(x, name, limit):
    values = concrete_value(x)
    if values is None or values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= limit:
        raise ValueError(
            f"'{name}' must lie in [0, {limit}); found values in "
            f"[{low}, {high}]. Check that the tokenizer's vocabulary matches "
            "the model."
        )


def check_classes(owner, num_classes, label_names):
    """`num_classes` is a positive int and `label_names` one string each."""
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(
            f"{owner}: `num_classes` must be a positive int; received "
            f"{num_classes!r}. Pass the number of classes (2 for a binary "
            "label, 1 with problem_type='regression')."
        )
    if label_names is not None:
        names = list(label_names)
        if len(names) != num_classes or not all(
            isinstance(name, str) for name in names
        ):
            raise ValueError(
                f"{owner}: `label_names` must be a list of {num_classes} "
                f"strings (one per class); received {label_names!r}."
            )


def check_sequence_fits(task):
    """The task's preprocessor packs no more positions than its backbone has."""
    length = getattr(getattr(task, "preprocessor", None), "sequence_length",
                     None)
    limit = task.backbone.max_sequence_length
    if isinstance(length, (int, np.integer)) and length > limit:
        raise ValueError(
            f"{type(task).__name__}: the preprocessor's `sequence_length` "
            f"({length}) exceeds the backbone's max_sequence_length={limit} "
            "(its number of position embeddings). Pass sequence_length="
            f"{limit} or less (e.g. from_preset(..., sequence_length={limit}))."
        )
