"""`fast_dropout.Dropout`: Keras' dropout, with faster masks on JAX and on
PyTorch's CPU. Same distribution as Keras' own, other draws."""

import keras
import numpy as np
import pytest

from keras_electra.layers import fast_dropout

pytestmark = pytest.mark.backend_sensitive

RATE = 0.1
# What Keras' inverted dropout multiplies kept values by.
SCALE = np.float32(1.0) / np.float32(1.0 - RATE)


def dropout_and_input_gradient(layer, x, readout):
    """`layer(x, training=True)` and the gradient of `sum(output * readout)`
    with respect to `x`, from the same draw, through the backend's autodiff.
    """
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        def loss(x, state):
            outputs, _ = layer.stateless_call([], state, x, training=True)
            return (outputs * readout).sum(), outputs

        state = [v.value for v in layer.non_trainable_variables]
        gradient, outputs = jax.grad(loss, has_aux=True)(x, state)
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(outputs * readout)
        gradient = tape.gradient(loss, x)
    else:
        import torch

        x = torch.tensor(x, requires_grad=True)
        outputs = layer(x, training=True)
        (outputs * torch.tensor(readout)).sum().backward()
        gradient = x.grad
    return keras.ops.convert_to_numpy(outputs), np.asarray(gradient)


def inputs(shape=(8, 4, 64, 64), seed=0):
    # Nowhere zero, so that a zero output marks a dropped value.
    return np.random.default_rng(seed).uniform(1, 2, shape).astype("float32")


def test_dropout_keeps_one_minus_rate_and_scales_what_it_keeps():
    x = inputs()
    readout = np.random.default_rng(1).normal(size=x.shape).astype("float32")
    layer = fast_dropout.Dropout(RATE)
    outputs, gradient = dropout_and_input_gradient(layer, x, readout)
    kept = outputs != 0
    # 131,072 draws: one standard deviation of the kept share is 0.0008.
    assert abs(kept.mean() - (1 - RATE)) < 0.004
    # No block of the tensor (a batch row, a head) misses the rate.
    per_row = kept.reshape(8 * 4, -1).mean(axis=1)
    assert np.all(np.abs(per_row - (1 - RATE)) < 0.03)
    np.testing.assert_allclose(outputs[kept], x[kept] * SCALE, rtol=1e-6)
    np.testing.assert_allclose(
        gradient, np.where(kept, readout * SCALE, 0), rtol=1e-6
    )


def test_successive_calls_draw_other_masks():
    layer = fast_dropout.Dropout(RATE)
    x = inputs((4, 1024))
    first = keras.ops.convert_to_numpy(layer(x, training=True)) != 0
    second = keras.ops.convert_to_numpy(layer(x, training=True)) != 0
    # Independent masks agree on 0.9^2 + 0.1^2 = 82 % of the positions.
    assert 0.79 < (first == second).mean() < 0.85


def test_seeded_layers_draw_the_same_masks():
    x = inputs((4, 1024))
    masks = [
        keras.ops.convert_to_numpy(
            fast_dropout.Dropout(RATE, seed=7)(x, training=True)
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(masks[0], masks[1])


def test_unseeded_masks_follow_keras_global_seed():
    x = inputs((4, 1024))
    masks = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        layer = fast_dropout.Dropout(RATE)
        masks.append(keras.ops.convert_to_numpy(layer(x, training=True)))
    np.testing.assert_array_equal(masks[0], masks[1])


@pytest.mark.parametrize("training", [False, None])
def test_outside_training_the_input_passes_unchanged(training):
    x = inputs((4, 16))
    outputs = fast_dropout.Dropout(RATE)(x, training=training)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs), x)


def test_noise_shape_takes_keras_path_and_shares_the_mask():
    x = inputs((4, 16, 8))
    layer = fast_dropout.Dropout(0.5, noise_shape=(4, 1, 8))
    outputs = keras.ops.convert_to_numpy(layer(x, training=True)) != 0
    # The mask is broadcast along the length axis.
    assert np.all(outputs == outputs[:, :1, :])


def fast_mask_calls(monkeypatch):
    """The list the backend's fast `dropout` appends its arguments to at
    each call, or None on TensorFlow, which keeps Keras' dropout."""
    from keras_electra.layers import jax_fast_path
    from keras_electra.layers import torch_fast_path

    backend = keras.config.backend()
    module = {"jax": jax_fast_path, "torch": torch_fast_path}.get(backend)
    if module is None:
        return None
    calls = []
    original = module.dropout

    def counted(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(module, "dropout", counted)
    return calls


def test_jax_and_torch_cpu_take_the_fast_masks(monkeypatch):
    backend = keras.config.backend()
    calls = fast_mask_calls(monkeypatch)
    if calls is None:
        pytest.skip("TensorFlow keeps Keras' dropout")
    x = inputs((4, 16))
    fast_dropout.Dropout(RATE)(x, training=True)
    assert len(calls) == 1
    # PyTorch draws a seeded layer's mask from the layer's own generator,
    # as Keras does; JAX's fast mask is drawn from it.
    fast_dropout.Dropout(RATE, seed=1)(x, training=True)
    assert len(calls) == (2 if backend == "jax" else 1)


def test_bfloat16_dropout_keeps_one_minus_rate_and_scales_in_bfloat16(
    monkeypatch,
):
    # Mixed-precision training drops bfloat16 activations. Kept values are
    # the input times the scale rounded to bfloat16, as Keras' own dropout
    # multiplies them on every backend.
    calls = fast_mask_calls(monkeypatch)
    x = keras.ops.cast(inputs(), "bfloat16")
    layer = fast_dropout.Dropout(RATE, dtype="bfloat16")
    outputs = keras.ops.convert_to_numpy(
        keras.ops.cast(layer(x, training=True), "float32")
    )
    kept = outputs != 0
    assert abs(kept.mean() - (1 - RATE)) < 0.004
    per_row = kept.reshape(8 * 4, -1).mean(axis=1)
    assert np.all(np.abs(per_row - (1 - RATE)) < 0.03)
    scaled = x * keras.ops.cast(1 / (1 - RATE), "bfloat16")
    expected = keras.ops.convert_to_numpy(keras.ops.cast(scaled, "float32"))
    np.testing.assert_array_equal(outputs[kept], expected[kept])
    # JAX and PyTorch take their fast masks for bfloat16 too.
    assert calls is None or len(calls) == 1


def test_torch_rates_round_to_16_bits_only_where_that_is_close():
    if keras.config.backend() != "torch":
        pytest.skip("PyTorch's mask only")
    from keras_electra.layers import torch_fast_path

    # 0.1 * 65536 = 6553.6: 6554 draws of 65536 drop (rate 0.100006).
    assert torch_fast_path._threshold16(0.1) == 6554 - 32768
    assert torch_fast_path._threshold16(0.5) == 0
    # 66 of 65536 (0.00101) is 0.7 % off 0.001: a float32 draw decides.
    assert torch_fast_path._threshold16(0.001) is None
    assert torch_fast_path._threshold16(1 - 2**-20) is None
    x = inputs((64, 1024))
    for rate in (0.001, 0.5):
        kept = keras.ops.convert_to_numpy(
            fast_dropout.Dropout(rate)(x, training=True)
        ) != 0
        assert abs(kept.mean() - (1 - rate)) < 0.006


def test_models_with_other_dropout_counts_train_one_after_another():
    # On JAX a constant closed over by the cached dropout function once
    # passed a second model's compiled step too few arguments. A rate no
    # other test uses, so that the first trace happens here, under `jit`.
    rate = 0.25
    x = inputs((16, 8))
    y = np.arange(16) % 2
    for count in (1, 2):
        stack = [keras.Input((8,))]
        for _ in range(count):
            stack += [keras.layers.Dense(8), fast_dropout.Dropout(rate)]
        model = keras.Sequential(stack + [keras.layers.Dense(2)])
        model.compile("sgd", "sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
