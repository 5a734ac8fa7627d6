import re

import keras
import numpy as np
import pytest
import torch
from hf_reference import keras_gradients

from keras_electra import layers
from keras_electra.layers import fast_dense

pytestmark = pytest.mark.backend_sensitive


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def gelu_exact(x):
    return to_numpy(torch.nn.functional.gelu(torch.tensor(x)))


def clone_layer(layer):
    """A fresh layer rebuilt from `get_config` (weights not copied)."""
    return layer.__class__.from_config(layer.get_config())


@pytest.mark.parametrize("embedding_dim, projected", [(8, True), (16, False)])
def test_embedding_shapes_config_and_projection(embedding_dim, projected):
    layer = layers.ElectraEmbedding(30, embedding_dim, 16, max_sequence_length=6)
    ids = np.array([[1, 2, 3, 0]], "int32")
    segments = np.array([[0, 0, 1, 1]], "int32")
    out = layer(ids, segments)
    assert out.shape == (1, 4, 16)
    assert layer.compute_output_shape((1, 4)) == (1, 4, 16)
    assert (layer.projection is not None) == projected
    clone = clone_layer(layer)
    clone(ids, segments)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(ids, segments)), to_numpy(out))


def test_embedding_start_index_selects_positions():
    layer = layers.ElectraEmbedding(30, 8, 8, max_sequence_length=6, dropout=0)
    ids = np.array([[4, 5, 6]], "int32")
    full = to_numpy(layer(ids))
    tail = to_numpy(layer(ids[:, 2:], start_index=2))
    np.testing.assert_allclose(tail[:, 0], full[:, 2], atol=1e-6)


def test_transformer_block_config_round_trip():
    block = layers.ElectraTransformerBlock(2, 24, dropout=0.0)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    out = block(x)
    assert block.compute_output_shape(x.shape) == x.shape
    clone = clone_layer(block)
    clone(x)
    clone.set_weights(block.get_weights())
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(out))
    assert clone.get_config() == block.get_config()


def test_transformer_block_causal_mask_ignores_the_future():
    block = layers.ElectraTransformerBlock(2, 24, dropout=0.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 8)).astype("float32")
    changed = x.copy()
    changed[:, 3:] = rng.normal(size=(1, 2, 8))
    a = to_numpy(block(x, use_causal_mask=True))
    b = to_numpy(block(changed, use_causal_mask=True))
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_transformer_block_cache_equals_full_causal_pass():
    block = layers.ElectraTransformerBlock(2, 24, dropout=0.0)
    x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    full = to_numpy(block(x, use_causal_mask=True))
    cache = np.zeros((2, 2, 4, 2, 4), "float32")
    for i in range(4):
        step, cache = block(
            x[:, i : i + 1], use_causal_mask=True, cache=cache,
            cache_update_index=i,
        )
        np.testing.assert_allclose(to_numpy(step)[:, 0], full[:, i], atol=1e-5)


def test_discriminator_head_is_dense_gelu_dense():
    head = layers.ElectraDiscriminatorHead(6)
    x = np.random.default_rng(0).normal(size=(2, 3, 6)).astype("float32")
    out = to_numpy(head(x))
    assert out.shape == (2, 3)
    w1, b1 = (to_numpy(v) for v in head.dense.weights)
    w2, b2 = (to_numpy(v) for v in head.prediction_dense.weights)
    expected = (gelu_exact(x @ w1 + b1) @ w2 + b2)[..., 0]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_generator_head_decodes_with_the_tied_embedding():
    embedding = keras.layers.ReversibleEmbedding(11, 4)
    embedding.build((None, None))
    head = layers.ElectraGeneratorHead(embedding)
    x = np.random.default_rng(0).normal(size=(2, 3, 6)).astype("float32")
    logits = to_numpy(head(x))
    assert logits.shape == (2, 3, 11)
    head.bias.assign(np.arange(11, dtype="float32"))
    w, b = (to_numpy(v) for v in head.dense.weights)
    h = gelu_exact(x @ w + b)
    mean, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    normed = (h - mean) / np.sqrt(var + 1e-12)
    table = to_numpy(embedding.embeddings)
    expected = normed @ table.T + np.arange(11)
    np.testing.assert_allclose(to_numpy(head(x)), expected, atol=1e-4)
    embedding.embeddings.assign(table * 2)
    assert not np.allclose(to_numpy(head(x)), expected)


def test_classification_head_uses_first_token_and_float32_logits():
    head = layers.ElectraClassificationHead(3, 6, dtype="mixed_bfloat16")
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    out = head(x)
    assert out.shape == (2, 3)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    changed = x.copy()
    changed[:, 1:] = 0
    np.testing.assert_array_equal(to_numpy(head(changed)), to_numpy(out))
    clone = clone_layer(head)
    assert clone.get_config() == head.get_config()


def reference_attention(query, key, value, mask, scale):
    """Softmax attention in float64; masked keys get -1e9, as in HF."""
    q, k, v = (np.asarray(t, "float64") for t in (query, key, value))
    scores = np.einsum("bqnh,bknh->bnqk", q, k) * scale
    scores = np.where(mask, scores, -1e9)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bnqk,bknh->bqnh", probs, v)


def attention_case():
    """Query, key, value `(2, 5, 3, 4)`, a mask, the float64 attention at
    scale 0.5, and a random generator for more draws. The second sequence
    masks every key: it attends uniformly."""
    rng = np.random.default_rng(0)
    query, key, value = rng.normal(size=(3, 2, 5, 3, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [0] * 5], bool)[:, None, None, :]
    expected = reference_attention(query, key, value, mask, 0.5)
    return query, key, value, mask, expected, rng


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="the JAX form of attention"
)
@pytest.mark.parametrize("dtype, atol", [("float32", 1e-6), ("bfloat16", 0.03)])
def test_jax_attention_matches_softmax_attention(dtype, atol):
    import jax
    import jax.numpy as jnp

    from keras_electra.layers import jax_fast_path

    query, key, value, mask, expected, rng = attention_case()

    def attention(q, k, v, dropout=None):
        q, k, v = (jnp.asarray(t, dtype) for t in (q, k, v))
        out = jax_fast_path.attention(q, k, v, mask, 0.5, dropout)
        assert out.dtype == dtype
        return out.astype("float32")

    late = attention(query, key, value)
    # An identity "dropout" selects the softmax-first form used in training.
    softmax_first = attention(query, key, value, dropout=lambda p: p)
    for out in (late, softmax_first):
        np.testing.assert_allclose(np.asarray(out), expected, atol=atol)
    if dtype == "float32":
        readout = rng.normal(size=expected.shape).astype("float32")
        grads = [
            jax.grad(lambda *t, d=d: jnp.vdot(attention(*t, d), readout),
                     argnums=(0, 1, 2))(query, key, value)
            for d in (None, lambda p: p)
        ]
        for a, b in zip(*grads):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def lowered_products(function, *arguments):
    """(operand dtypes, result dtype) of each product in `function`'s
    StableHLO."""
    import jax

    text = jax.jit(function).lower(*arguments).as_text()
    return re.findall(
        r"stablehlo\.dot_general .*: \(tensor<[0-9x]*x(\w+)>, "
        r"tensor<[0-9x]*x(\w+)>\) -> tensor<[0-9x]*x(\w+)>",
        text,
    )


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="the JAX products"
)
def test_jax_bfloat16_products_ask_for_float32_results():
    import jax
    import jax.numpy as jnp

    from keras_electra.layers import jax_fast_path

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 5, 8)), "bfloat16")
    kernel = jnp.asarray(rng.normal(size=(8, 12)), "bfloat16")
    readout = rng.normal(size=(2, 5, 12)).astype("float32")

    def loss(x, kernel):
        product = jax_fast_path.matmul(x, kernel)
        return jnp.sum(product.astype("float32") * readout)

    # The forward product and both gradients' products.
    step = jax.value_and_grad(loss, argnums=(0, 1))
    products = lowered_products(step, x, kernel)
    assert products == [("bf16", "bf16", "f32")] * 3
    query, key, value, mask, _, _ = attention_case()
    q, k, v = (jnp.asarray(t, "bfloat16") for t in (query, key, value))
    products = lowered_products(
        lambda q, k, v: jax_fast_path.attention(q, k, v, mask, 0.5), q, k, v
    )
    assert products == [("bf16", "bf16", "f32")] * 2
    # float32 operands are left as they were.
    products = lowered_products(
        jax_fast_path.matmul, x.astype("float32"), kernel.astype("float32")
    )
    assert products == [("f32", "f32", "f32")]
    # The same numbers as the product of the float32 values, rounded once.
    expected = (x.astype("float32") @ kernel.astype("float32")).astype(
        "bfloat16"
    )
    ours = jax_fast_path.matmul(x, kernel)
    assert ours.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(ours, "float32"), np.asarray(expected, "float32"),
        rtol=2**-8,
    )


def compiled_products(function, *arguments):
    """Operand dtypes of each product XLA compiled `function` into."""
    import jax

    text = jax.jit(function).lower(*arguments).compile().as_text()
    dtypes = dict(re.findall(r"(%[\w.-]+) = (\w+)\[", text))
    return [
        (dtypes[lhs], dtypes[rhs])
        for lhs, rhs in re.findall(r" dot\((%[\w.-]+), (%[\w.-]+)\)", text)
    ]


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="the JAX products"
)
@pytest.mark.parametrize("units", [256, 32])
def test_jax_bfloat16_gradients_stay_bfloat16_products_once_compiled(units):
    # XLA folds a transposed operand into the product, and its CPU backend
    # multiplies that form only in float32: both gradients must reach it
    # row-major, as the forward product does. Both orders of the kernel
    # gradient (the narrower operand is transposed) are covered.
    import jax
    import jax.numpy as jnp

    from keras_electra.layers import jax_fast_path

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 128, 64)), "bfloat16")
    kernel = jnp.asarray(rng.normal(size=(64, units)) / 8, "bfloat16")
    readout = rng.normal(size=(4, 128, units)).astype("float32")

    def loss(x, kernel):
        product = jax_fast_path.matmul(x, kernel)
        return jnp.sum(product.astype("float32") * readout)

    gradients = jax.grad(loss, argnums=(0, 1))
    forward = compiled_products(jax_fast_path.matmul, x, kernel)
    assert len(forward) == 1
    assert compiled_products(gradients, x, kernel) == forward * 2
    # The gradients of the float32 product, within bfloat16's rounding.
    expected = jax.grad(
        lambda x, kernel: jnp.sum((x @ kernel) * readout), argnums=(0, 1)
    )(x.astype("float32"), kernel.astype("float32"))
    for ours, reference in zip(gradients(x, kernel), expected):
        scale = float(jnp.abs(reference).max())
        np.testing.assert_allclose(
            np.asarray(ours, "float32"), np.asarray(reference),
            atol=scale * 2**-7,
        )


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="the JAX products"
)
def test_jax_bfloat16_attention_products_stay_bfloat16_once_compiled(
    monkeypatch,
):
    # The key, moved and transposed, would reach XLA as a transposed
    # operand (multiplied in float32 only): it is written out, and so are
    # the query and value moved heads-first. The gradients go back through
    # plain transposes.
    import jax
    import jax.numpy as jnp

    from keras_electra.layers import jax_fast_path

    # XLA multiplies odd sizes such as attention_case()'s in float32 anyway.
    rng = np.random.default_rng(0)
    q, k, v = (
        jnp.asarray(t, "bfloat16") for t in rng.normal(size=(3, 2, 8, 2, 8))
    )
    mask = np.array([[1] * 8, [1] * 5 + [0] * 3], bool)[:, None, None, :]

    def attention(q, k, v):
        return jax_fast_path.attention(q, k, v, mask, 0.5).astype("float32")

    forward = compiled_products(
        jax_fast_path.matmul, q.reshape(-1, 16), k.reshape(16, -1)
    )
    assert compiled_products(attention, q, k, v) == forward * 2
    readout = rng.normal(size=q.shape).astype("float32")

    def gradients(*operands):
        return jax.grad(
            lambda *t: jnp.vdot(attention(*t), readout), argnums=(0, 1, 2)
        )(*operands)

    exact = gradients(*(t.astype("float32") for t in (q, k, v)))
    for ours, reference in zip(gradients(q, k, v), exact):
        assert ours.shape == reference.shape
        np.testing.assert_allclose(
            np.asarray(ours, "float32"), np.asarray(reference), atol=0.05
        )
    # In training the operands are moved as before: the copies only cost
    # memory there.
    copies = []
    write_out = jax_fast_path._row_major_transpose

    def counted(*arguments):
        copies.append(arguments[1])
        return write_out(*arguments)

    monkeypatch.setattr(jax_fast_path, "_row_major_transpose", counted)
    jax_fast_path.attention(q, k, v, mask, 0.5, training=True)
    assert copies == []
    jax_fast_path.attention(q, k, v, mask, 0.5)
    assert copies == [(0, 2, 1, 3), (0, 2, 1, 3), (0, 2, 3, 1)]


# (fast class, Keras class, arguments, input shape)
FAST_DENSE_CASES = {
    "dense-widening": (fast_dense.Dense, keras.layers.Dense,
                       dict(units=12), (4, 6, 8)),
    "dense-narrowing": (fast_dense.Dense, keras.layers.Dense,
                        dict(units=3), (4, 6, 8)),
    "einsum-to-heads": (fast_dense.EinsumDense, keras.layers.EinsumDense,
                        dict(equation="btd,dnh->btnh",
                             output_shape=(None, 2, 3), bias_axes="nh"),
                        (4, 6, 8)),
    "einsum-from-heads": (fast_dense.EinsumDense, keras.layers.EinsumDense,
                          dict(equation="btnh,nhd->btd",
                               output_shape=(None, 5), bias_axes="d"),
                          (4, 6, 2, 3)),
}


@pytest.mark.parametrize("case", sorted(FAST_DENSE_CASES))
def test_fast_dense_matches_keras_layer_and_its_gradients(case):
    fast_class, keras_class, kwargs, shape = FAST_DENSE_CASES[case]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    ours, theirs = fast_class(**kwargs), keras_class(**kwargs)
    ours.build(shape)
    theirs.build(shape)
    theirs.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in theirs.weights]
    )
    ours.set_weights(theirs.get_weights())
    expected = to_numpy(theirs(x))
    np.testing.assert_allclose(to_numpy(ours(x)), expected, atol=1e-5)
    readout = rng.normal(size=expected.shape).astype("float32")
    expected_gradients = keras_gradients(theirs, x, readout)
    for ours_g, theirs_g in zip(
        keras_gradients(ours, x, readout), expected_gradients
    ):
        np.testing.assert_allclose(ours_g, theirs_g, atol=1e-5)


def test_fast_einsum_dense_trains_with_an_unknown_batch_size():
    # The functional build and `fit` trace the batch axis as None.
    model = keras.Sequential([
        keras.Input((6, 8)),
        fast_dense.EinsumDense("btd,dnh->btnh", (None, 2, 3), bias_axes="nh"),
    ])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(5, 6, 8)).astype("float32")
    history = model.fit(x, np.zeros((5, 6, 2, 3), "float32"), batch_size=2,
                        epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
