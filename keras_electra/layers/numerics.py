"""Shared numeric choices of the ELECTRA layers."""

import keras

ELECTRA_INITIALIZER_STDDEV = 0.02


def electra_initializer(initializer="electra"):
    """Google's ELECTRA initializer (truncated normal, stddev 0.02) by name."""
    if initializer == "electra":
        return keras.initializers.TruncatedNormal(
            stddev=ELECTRA_INITIALIZER_STDDEV
        )
    return keras.initializers.get(initializer)


# Compute dtypes of reduced (half) precision, pure or mixed.
HALF_PRECISION = ("float16", "bfloat16")


def float32_policy(dtype_policy):
    """The policy for layers that must compute in float32 (norms, softmax).

    Under `bfloat16`/`float16` (pure or mixed) precision, layer norms and the
    attention softmax lose too many digits, so they always run in float32.
    """
    policy = keras.dtype_policies.get(dtype_policy)
    if policy.compute_dtype in HALF_PRECISION:
        return "float32"
    return policy


class Float32LogitsMixin:
    """For heads whose last layer computes in float32 under every policy.

    Keras derives a layer's symbolic output dtype from its compute dtype;
    this makes the functional task's output spec (and so its exported
    signature) say float32, as the computed logits are.
    """

    def compute_output_spec(self, inputs, *args, **kwargs):
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype="float32")


@keras.saving.register_keras_serializable(package="keras_electra")
def gelu_approximate(x):
    """Tanh-approximate GELU (HF `gelu_new`), for checkpoints that use it."""
    return keras.activations.gelu(x, approximate=True)


def activate(activation, x, training=False):
    """`activation(x)`, with exact GELU computed faster on JAX and, when
    training, on TensorFlow.

    See `jax_fast_path.exact_gelu` and `tf_fast_path.exact_gelu`; every
    other activation, and the PyTorch backend, calls `activation` itself.
    TensorFlow's is XLA-compiled, so inference graphs (and exported
    models) keep Keras' own GELU, as does training with op determinism
    (Keras keeps XLA off then too).
    """
    if activation is not keras.activations.gelu:
        return activation(x)
    backend = keras.config.backend()
    if backend == "jax":
        from keras_electra.layers import jax_fast_path

        return jax_fast_path.exact_gelu(x)
    if backend == "tensorflow" and training:
        from keras_electra.layers import tf_fast_path

        if tf_fast_path.may_use_xla():
            return tf_fast_path.exact_gelu(x)
    return activation(x)
