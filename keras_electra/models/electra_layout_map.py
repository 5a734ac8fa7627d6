"""Tensor-parallel sharding of ELECTRA's weights for `keras.distribution`."""

import keras

# Megatron-style pairs: the first matmul of attention and of the
# feed-forward is split by columns (heads, intermediate units), the second
# by rows, so each block needs one all-reduce per pair. Embedding tables are
# split along `embedding_dim`, which every ELECTRA size divides by 8, unlike
# the vocabulary (30,522). Patterns are searched in variable paths
# (`transformer_layer_3/query/kernel`), so they cover both networks of the
# pre-trainer and every task head; they must not overlap, because Keras
# refuses a path that matches two of them.
_SHARDING = {
    r"embeddings/(token|position|segment)_embedding/embeddings": (None, "M"),
    r"embeddings/projection/kernel": (None, "M"),
    r"transformer_layer_\d+/(query|key|value)/kernel": (None, "M", None),
    r"transformer_layer_\d+/(query|key|value)/bias": ("M", None),
    r"transformer_layer_\d+/attention_output/kernel": ("M", None, None),
    r"transformer_layer_\d+/intermediate/kernel": (None, "M"),
    r"transformer_layer_\d+/intermediate/bias": ("M",),
    r"transformer_layer_\d+/output/kernel": ("M", None),
    r"(classifier|discriminator|generator)_head/dense/kernel": (None, "M"),
    r"summary_dense/kernel": (None, "M"),
}


def electra_layout_map(
    device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"
):
    """A `keras.distribution.LayoutMap` that shards ELECTRA along a mesh axis.

    See `ElectraBackbone.get_layout_map`, which documents the arguments.
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            "`device_mesh` must be a `keras.distribution.DeviceMesh`, for "
            "example `keras.distribution.DeviceMesh((1, 2), ('batch', "
            f"'model'), keras.distribution.list_devices())`; received "
            f"{type(device_mesh).__name__}."
        )
    for argument, name in (
        ("model_parallel_dim_name", model_parallel_dim_name),
        ("data_parallel_dim_name", data_parallel_dim_name),
    ):
        if name not in device_mesh.axis_names:
            raise ValueError(
                f"`{argument}={name!r}` is not an axis of the device mesh, "
                f"whose axes are {list(device_mesh.axis_names)}. Pass one of "
                "those names."
            )
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in _SHARDING.items():
        layout_map[pattern] = tuple(
            model_parallel_dim_name if axis == "M" else None for axis in axes
        )
    return layout_map
