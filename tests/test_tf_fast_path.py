"""TensorFlow's training forms of the block (`layers/tf_fast_path.py`)."""

import os
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
from lm_reference import tiny_backbone
from tensorflow.python.framework import config as tf_config
from tf_graphs import compiled_products
from tf_graphs import op_count
from tf_graphs import op_types
from tf_graphs import products_for_float32_results
from tf_graphs import xla_calls

from keras_electra.layers import fast_dense
from keras_electra.layers import fast_layer_norm
from keras_electra.layers import tf_fast_path
from keras_electra.layers.numerics import activate

pytestmark = pytest.mark.skipif(
    keras.config.backend() != "tensorflow", reason="TensorFlow's forms"
)


def gelu_and_gradient(x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = activate(keras.activations.gelu, x, training=training)
    return y, tape.gradient(y, x)


def test_training_gelu_is_exact_in_both_directions():
    values = np.linspace(-8, 8, 4001, dtype="float32")
    ours, ours_gradient = gelu_and_gradient(tf.constant(values), True)
    reference = torch.tensor(values, requires_grad=True)
    expected = torch.nn.functional.gelu(reference)
    expected.sum().backward()
    np.testing.assert_allclose(
        ours.numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        ours_gradient.numpy(), reference.grad.numpy(), rtol=1e-6, atol=1e-6
    )


def traced_gelu(training):
    function = tf.function(lambda x: gelu_and_gradient(x, training))
    function(tf.ones((2, 3)))
    return function


def test_gelu_is_xla_fused_in_training_only():
    assert xla_calls(traced_gelu(training=True)) == 2  # forward, gradient
    assert xla_calls(traced_gelu(training=False)) == 0
    tf_config.enable_op_determinism()
    try:
        assert xla_calls(traced_gelu(training=True)) == 0
    finally:
        tf_config.disable_op_determinism()


EDITED_SOURCE_FIT = """
import pathlib, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from lm_reference import tiny_backbone
from keras_electra import ElectraClassifier
from keras_electra.layers import tf_fast_path
classifier = ElectraClassifier(tiny_backbone(), num_classes=2)
source = pathlib.Path(tf_fast_path.__file__)
source.write_text('\"\"\"\\n\"\"\"\\n' + source.read_text())
inputs = {
    name: np.ones((4, 8), "int32")
    for name in ("token_ids", "segment_ids", "padding_mask")
}
classifier.fit(inputs, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
"""


def test_fit_survives_the_package_changing_underneath(tmp_path):
    # AutoGraph converts a function from its source file; one changed since
    # import (a package upgraded while a job runs) gave it another
    # function's source, and `fit` failed.
    package = pathlib.Path(tf_fast_path.__file__).parents[2]
    shutil.copytree(package / "keras_electra", tmp_path / "keras_electra")
    tests = pathlib.Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": str(tests), "KERAS_BACKEND": "tensorflow"}
    run = subprocess.run(
        [sys.executable, "-c", EDITED_SOURCE_FIT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]


def backbone_inputs():
    return {
        "token_ids": np.ones((2, 8), "int32"),
        "segment_ids": np.zeros((2, 8), "int32"),
        "padding_mask": np.ones((2, 8), "int32"),
    }


def test_backbone_uses_xla_only_for_training():
    backbone = tiny_backbone()
    inputs = backbone_inputs()

    def traced(training):
        function = tf.function(lambda x: backbone(x, training=training))
        function(inputs)
        return function

    # Per block one GELU and two layer norms; the embedding's layer norm.
    assert xla_calls(traced(True)) == 3 * backbone.num_layers + 1
    assert xla_calls(traced(False)) == 0


def test_every_bias_gradient_is_one_bias_add_grad():
    # Each block product adds its bias to the 2-D product (the attention
    # projections' biases span heads x head size): one `BiasAddGrad` each,
    # where a bias added over the 4-D heads took a slower `Sum`.
    backbone = tiny_backbone()
    inputs = backbone_inputs()

    @tf.function
    def gradients(x):
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(backbone(x, training=True))
        return tape.gradient(y, backbone.trainable_variables)

    gradients(inputs)
    # Six products per block and the embedding projection.
    expected = 6 * backbone.num_layers + 1
    assert op_count(gradients, "BiasAddGrad") == expected


@pytest.mark.parametrize(
    "shape, dtype, tolerance",
    [
        ((64, 16), "float32", 1e-5),
        ((3, 5, 16), "float32", 1e-5),
        # A mixed-precision block's: normalized in float32 and rounded to
        # bfloat16, as Keras does (one bfloat16 step apart at most).
        ((3, 5, 16), "bfloat16", 2e-2),
    ],
    ids=["2d", "3d", "3d-bfloat16"],
)
def test_training_layer_norm_matches_keras(shape, dtype, tolerance):
    layer = fast_layer_norm.LayerNormalization(epsilon=1e-12)
    layer.build(shape)
    rng = np.random.default_rng(0)
    layer.gamma.assign(rng.uniform(0.5, 1.5, shape[-1]).astype("float32"))
    layer.beta.assign(rng.normal(size=shape[-1]).astype("float32"))
    # An offset and a scale like a residual stream's.
    x = tf.constant(rng.normal(3.0, 2.0, size=shape).astype("float32"))
    x = tf.cast(x, dtype)
    dy = tf.constant(rng.normal(size=shape).astype("float32"))

    def outputs_and_gradients(call):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = call(x)
        grads = tape.gradient(y, [x, layer.gamma, layer.beta], dy)
        return [y, *grads]

    fast = tf.function(
        lambda: outputs_and_gradients(lambda x: layer(x, training=True))
    )
    ours = fast()
    assert xla_calls(fast) == 2  # The forward and the backward kernel.
    keras_own = outputs_and_gradients(
        lambda x: keras.layers.LayerNormalization.call(layer, x)
    )
    assert ours[0].dtype == keras_own[0].dtype == "float32"
    for a, b in zip(ours, keras_own):
        a, b = (tf.cast(t, "float32") for t in (a, b))
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: fast_dense.Dense(12), (None, 6, 8)),
        (lambda: fast_dense.EinsumDense(
            "btd,dnh->btnh", (None, 2, 3), bias_axes="nh"
        ), (None, 6, 8)),
        (lambda: fast_dense.EinsumDense(
            "btnh,nhd->btd", (None, 5), bias_axes="d"
        ), (None, 6, 2, 3)),
    ],
    ids=["dense", "einsum-to-heads", "einsum-from-heads"],
)
@pytest.mark.parametrize("training", [True, False])
def test_dense_products_are_two_dimensional(layer, shape, training):
    # One 2-D product forward, two backward; no batched product that
    # broadcasts the kernel.
    layer = layer()
    layer.build(shape)

    @tf.function(input_signature=[tf.TensorSpec(shape, "float32")])
    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
        return tape.gradient(y, [x, layer.kernel])

    gradients.get_concrete_function()
    types = op_types(gradients)
    assert "MatMul" in types
    assert not types & {"BatchMatMulV2", "BatchMatMulV3", "Einsum"}


@pytest.mark.parametrize("dtype, atol", [("float32", 1e-6), ("bfloat16", 0.03)])
def test_attention_matches_softmax_attention_and_its_gradient(dtype, atol):
    from test_layers import attention_case

    from keras_electra.layers import tf_fast_path

    query, key, value, mask, expected, rng = attention_case()
    readout = rng.normal(size=expected.shape).astype("float32")

    def attention_and_gradients(dropout):
        tensors = [tf.constant(t, dtype) for t in (query, key, value)]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            out = tf_fast_path.attention(*tensors, mask, 0.5, dropout)
            loss = tf.reduce_sum(tf.cast(out, "float32") * readout)
        assert out.dtype == dtype
        return out, tape.gradient(loss, tensors)

    out, gradients = attention_and_gradients(None)
    np.testing.assert_allclose(
        tf.cast(out, "float32").numpy(), expected, atol=atol
    )
    # An identity "dropout" must not change anything.
    same, same_gradients = attention_and_gradients(lambda p: p)
    np.testing.assert_array_equal(same.numpy(), out.numpy())
    if dtype == "float32":
        # Against float64 autodiff of the same attention in PyTorch.
        tensors = [
            torch.tensor(t, dtype=torch.float64, requires_grad=True)
            for t in (query, key, value)
        ]
        q, k, v = tensors
        scores = torch.einsum("bqnh,bknh->bnqk", q, k) * 0.5
        scores = scores.masked_fill(~torch.tensor(mask), -1e9)
        context = torch.einsum("bnqk,bknh->bqnh", scores.softmax(-1), v)
        (context * torch.tensor(readout, dtype=torch.float64)).sum().backward()
        for ours, reference in zip(gradients, tensors):
            np.testing.assert_allclose(
                ours.numpy(), reference.grad.numpy(), atol=1e-5
            )
        for ours, again in zip(gradients, same_gradients):
            np.testing.assert_array_equal(ours.numpy(), again.numpy())


def test_attention_and_its_gradient_are_batched_matmuls():
    from keras_electra.layers import tf_fast_path

    spec = tf.TensorSpec((None, 6, 2, 4), "float32")

    @tf.function(input_signature=[spec] * 3)
    def gradients(query, key, value):
        with tf.GradientTape() as tape:
            tape.watch([query, key, value])
            out = tf_fast_path.attention(query, key, value, None, 0.5)
        return tape.gradient(out, [query, key, value])

    gradients.get_concrete_function()
    types = op_types(gradients)
    assert types & {"BatchMatMulV2", "BatchMatMulV3"}
    assert "Einsum" not in types


def grappler_fused_products(function):
    """The `fused_ops` of each `_FusedMatMul` after TensorFlow's graph
    optimizer (run as `tf.function` does, every node on the CPU)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    concrete = function.get_concrete_function()
    meta_graph = tf.compat.v1.train.export_meta_graph(
        graph_def=concrete.graph.as_graph_def(), graph=concrete.graph
    )
    for node in meta_graph.graph_def.node:
        node.device = "/job:localhost/replica:0/task:0/device:CPU:0"
    fetches = meta_graph.collection_def["train_op"].node_list.value
    fetches.extend(output.name for output in concrete.outputs)
    optimized = tf_optimizer.OptimizeGraph(
        config_pb2.ConfigProto(), meta_graph
    )
    return [
        tuple(op.decode() for op in node.attr["fused_ops"].list.s)
        for node in optimized.node
        if node.op == "_FusedMatMul"
    ]


def test_inference_products_fuse_with_bias_and_gelu():
    # Every block product runs as MatMul + BiasAdd, and the feed-forward's
    # exact GELU follows its BiasAdd directly: TensorFlow's graph optimizer
    # fuses each into one kernel, the GELU too where oneDNN is on.
    backbone = tiny_backbone()
    spec = tf.TensorSpec((None, 8), "int32")
    inputs = {
        "token_ids": spec,
        "segment_ids": spec,
        "padding_mask": spec,
    }
    function = tf.function(
        lambda x: backbone(x, training=False), input_signature=[inputs]
    )
    fused = grappler_fused_products(function)
    layers = backbone.num_layers
    gelu = layers if tf_fast_path.onednn_enabled() else 0
    assert fused.count(("BiasAdd", "GeluExact")) == gelu
    assert fused.count(("BiasAdd",)) == 6 * layers - gelu
    assert "Einsum" not in op_types(function)


def test_inference_dense_matches_keras():
    layer = fast_dense.Dense(6)
    layer.build((None, 4, 5))
    x = np.random.RandomState(0).randn(3, 4, 5).astype("float32")
    expected = keras.activations.gelu(keras.layers.Dense.call(layer, x))
    ours = layer(x, training=False, activation=keras.activations.gelu)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)


def test_bfloat16_products_ask_for_float32_results_under_xla_only():
    # XLA's CPU backend multiplies bfloat16 with the CPU's bfloat16
    # instructions only for a float32 result; outside XLA TensorFlow has no
    # kernel for that form.
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 5, 8)), tf.bfloat16)
    kernel = tf.Variable(tf.constant(rng.normal(size=(8, 12)), tf.bfloat16))
    readout = tf.constant(rng.normal(size=(2, 5, 12)), tf.float32)

    def product_and_gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            product = tf_fast_path.matmul(x, kernel)
            loss = tf.reduce_sum(tf.cast(product, tf.float32) * readout)
        return [product, *tape.gradient(loss, [x, kernel])]

    expected = tf.cast(
        tf.cast(x, tf.float32) @ tf.cast(kernel, tf.float32), tf.bfloat16
    )
    for jit_compile, products in [(True, 3), (False, 0)]:
        function = tf.function(product_and_gradients, jit_compile=jit_compile)
        product, dx, dkernel = function(x)
        assert products_for_float32_results(function) == products
        assert product.dtype == dx.dtype == dkernel.dtype == tf.bfloat16
        np.testing.assert_allclose(
            tf.cast(product, tf.float32), tf.cast(expected, tf.float32),
            rtol=2**-8,
        )
    attention = tf.function(
        lambda q, k, v: tf_fast_path.attention(q, k, v, None, 0.5),
        jit_compile=True,
    )
    q = tf.constant(rng.normal(size=(2, 5, 3, 4)), tf.bfloat16)
    assert attention(q, q, q).dtype == tf.bfloat16
    assert products_for_float32_results(attention) == 2


def test_bfloat16_attention_products_stay_bfloat16_once_compiled(
    monkeypatch,
):
    # Under XLA the moved query and value and the transposed key would reach
    # the products as transposed operands, which XLA's CPU backend
    # multiplies in float32 only: they are written out. As the dense
    # product's operands are kept on this CPU, so are the attention's, and
    # the gradients go back through plain transposes.
    rng = np.random.default_rng(0)
    q, k, v = (
        tf.constant(t, tf.bfloat16) for t in rng.normal(size=(3, 2, 8, 2, 8))
    )
    mask = tf.constant([[True] * 8, [True] * 5 + [False] * 3])[:, None, None]
    readout = tf.constant(rng.normal(size=q.shape), tf.float32)

    def attention(q, k, v):
        out = tf_fast_path.attention(q, k, v, mask, 0.5)
        return tf.cast(out, tf.float32)

    def gradients(q, k, v):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            loss = tf.reduce_sum(attention(q, k, v) * readout)
        return tape.gradient(loss, [q, k, v])

    dense = tf.function(
        lambda x, kernel: tf_fast_path.matmul(x, kernel), jit_compile=True
    )
    forward = compiled_products(
        dense, tf.reshape(q, (-1, 16)), tf.reshape(k, (16, -1))
    )
    compiled = tf.function(attention, jit_compile=True)
    assert compiled_products(compiled, q, k, v) == forward * 2
    np.testing.assert_allclose(
        compiled(q, k, v), attention(q, k, v), atol=0.05
    )
    exact = gradients(*(tf.cast(t, tf.float32) for t in (q, k, v)))
    ours = tf.function(gradients, jit_compile=True)(q, k, v)
    for mine, reference in zip(ours, exact):
        assert mine.shape == reference.shape
        np.testing.assert_allclose(
            tf.cast(mine, tf.float32), reference, atol=0.05
        )
    # In training the operands are moved as before: the copies only cost
    # memory there.
    copies = []
    write_out = tf_fast_path._row_major_transpose

    def counted(x, perm):
        copies.append(tuple(perm))
        return write_out(x, perm)

    monkeypatch.setattr(tf_fast_path, "_row_major_transpose", counted)
    for training in (True, False):
        tf.function(
            lambda q, k, v: tf_fast_path.attention(
                q, k, v, mask, 0.5, training=training
            ),
            jit_compile=True,
        ).get_concrete_function(q, k, v)
    # Training: only the key, for the product's transposed operand.
    assert copies == [(0, 1, 3, 2), (0, 2, 1, 3), (0, 2, 1, 3), (0, 2, 3, 1)]
