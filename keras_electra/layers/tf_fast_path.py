"""The transformer block's Dense products, attention, exact GELU and layer
norm on TensorFlow, in forms its CPU kernels run faster.

In a TensorFlow training step (a `tf.function` without XLA, Keras' choice
on CPUs) four forms cost ELECTRA-Small time (32 x 128, one core, forward
and backward):

- `EinsumDense` (`btd,dnh->btnh`) runs as a batched product that broadcasts
  the kernel, and its kernel gradient as 32 small products and a sum: 21 ms
  for a 256 x 256 projection, 14.6 ms as one product of 2-D operands.
- The kernel gradient `x^T dy` of a layer that widens (256 -> 1024) ran at
  44 GFLOP/s: TensorFlow's matrix product is slow when the output has few
  rows and the contraction is long. `(dy^T x)^T`, the same numbers with the
  wider side as the rows, ran at 55: 77 -> 68 ms for the layer.
- Exact GELU is five element-wise kernels forward and more backward, each
  a pass over 16 MB: 32 ms per 4.2M floats; one XLA-compiled kernel each
  way, 17 ms.
- Layer norm (`layer_norm`, used by `fast_layer_norm`) is reductions and
  element-wise kernels each way: 8.1 ms forward and backward per 4096 x 256
  floats (Intel Xeon, one core); one XLA-compiled kernel each way, 4.6 ms.

Attention (`attention`): Keras' einsums transposed their operands for each
product and gradient; with the heads moved first once, both products and
their gradients are batched `MatMul`s with transpose flags.

Inference (`dense`): the product, its bias and the feed-forward's GELU as
`MatMul`, `BiasAdd` and `tf.nn.gelu` on 2-D operands, the pattern
TensorFlow's graph optimizer fuses into one kernel where oneDNN is on
(TensorFlow's default on x86 CPUs with AVX512-VNNI, AVX512-BF16 or AMX);
elsewhere `MatMul` and `BiasAdd` still fuse. Unfused, GELU was a pass of
its own over the widest activations: on a Xeon with AMX, one core, a
1024 x 256 by 256 x 1024 product with bias and exact GELU took 4.2 ms fused
against 7.8 as an einsum, an add and GELU (float32), 2.4 against 19.5 ms in
bfloat16, where TensorFlow's unfused erf is slow.

Under XLA on a CPU, products of bfloat16 operands (`dense`, `matmul` and
the attention's) ask for a float32 result and round it to bfloat16 themselves
(`_product`): asked for bfloat16, XLA's CPU backend multiplies in float32
after converting both operands; asked for float32, with the CPU's bfloat16
instructions (Intel Xeon with AMX, one core, 1,024 x 768 by 768 x 3,072:
118 against 594 GFLOP/s). Outside XLA, TensorFlow has no kernel for that
form, and its oneDNN products take bfloat16 as they are.

`matmul` computes `x @ kernel` as one product of 2-D operands and takes the
kernel gradient in the faster of the two forms (plain float32 products, as
Keras', up to summation order). `exact_gelu` and `layer_norm` are for
training only (see `numerics.activate` and `fast_layer_norm`): inference
graphs and exported models keep Keras' GELU and layer norm and need no XLA.
"""

import functools
import math

import numpy as np

_SQRT_HALF = math.sqrt(0.5)
_INVERSE_SQRT_TWO_PI = 1 / math.sqrt(2 * math.pi)


def _in_xla():
    """Whether the graph being traced is compiled with XLA."""
    import tensorflow as tf

    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return False
    graph = tf.compat.v1.get_default_graph()
    return control_flow_util.GraphOrParentsInXlaContext(graph)


def _product(a, b, transpose_a=False, transpose_b=False):
    """`tf.matmul(a, b, ...)`; under XLA on a CPU, bfloat16 operands
    through a float32 result, transposed ones written out first."""
    import tensorflow as tf

    if not _bfloat16_in_xla(a, b):
        return tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    if transpose_a:
        a = _row_major_transpose(a, _last_two_swapped(a))
    if transpose_b:
        b = _row_major_transpose(b, _last_two_swapped(b))
    return _bfloat16_product()(a, b)


@functools.cache
def _bfloat16_product():
    """`a @ b` of bfloat16 operands (same batch shape) through a float32
    result."""
    import tensorflow as tf

    # TensorFlow's own gradient of `BatchMatMulV3` multiplies the float32
    # gradient by the bfloat16 operands, which it cannot.
    @tf.custom_gradient
    def product(a, b):
        def gradient(dy):
            return (
                _product(dy, b, transpose_b=True),
                _product(a, dy, transpose_a=True),
            )

        result = tf.raw_ops.BatchMatMulV3(x=a, y=b, Tout=tf.float32)
        return tf.cast(result, tf.bfloat16), gradient

    return product


def _bfloat16_in_xla(*operands):
    """Whether products of `operands` are bfloat16 ones compiled by XLA for
    a CPU."""
    import tensorflow as tf

    return (
        all(operand.dtype == tf.bfloat16 for operand in operands)
        and _in_xla()
        and not tf.config.list_logical_devices("GPU")
    )


def _last_two_swapped(x):
    rank = x.shape.rank
    return list(range(rank - 2)) + [rank - 1, rank - 2]


def _row_major_transpose(x, perm):
    """`tf.transpose(x, perm)` written out, for a bfloat16 product's operand
    under XLA on a CPU.

    XLA folds a plain transpose (or an adjoint flag) into the product as a
    transposed operand, a form its CPU backend multiplies only after
    converting both bfloat16 operands to float32; a gather it does not
    fold. ELECTRA-Small's attention at 32 x 128, one core: 9.9 -> 8.0 ms per
    layer. The gradient is the plain inverse transpose.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def transpose(x):
        moved = tf.transpose(x, perm)
        # Along the heads of a 4-D attention operand; never a length-1 axis,
        # which XLA would turn back into a plain slice.
        axis = 1 if moved.shape.rank > 2 else 0
        indices = tf.range(tf.shape(moved)[axis])
        written_out = tf.gather(moved, indices, axis=axis)

        def gradient(dy):
            return tf.transpose(dy, np.argsort(perm))

        return written_out, gradient

    return transpose(x)


@functools.cache
def _custom_product():
    import tensorflow as tf

    @tf.custom_gradient
    def product(rows, kernel):
        def gradient(dy):
            drows = _product(dy, kernel, transpose_b=True)
            if rows.shape[-1] >= kernel.shape[-1]:
                dkernel = _product(rows, dy, transpose_a=True)
            else:
                dkernel = tf.transpose(_product(dy, rows, transpose_a=True))
            return drows, dkernel

        return _product(rows, kernel), gradient

    return product


def matmul(x, kernel):
    """`x @ kernel` for TensorFlow tensors (`kernel` 2-D, its shape known)."""
    import tensorflow as tf

    # Read a variable here, outside the custom gradient, so that its
    # gradient flows through the read.
    kernel = tf.convert_to_tensor(kernel)
    rows = tf.reshape(x, (-1, kernel.shape[0]))
    product = _custom_product()(rows, kernel)
    return _restore_leading(product, x, kernel.shape[1])


def dense(x, kernel, bias=None, activation=None):
    """`activation(x @ kernel + bias)` for inference, `kernel` 2-D with its
    shape known and `bias` 1-D (see the module docstring)."""
    import tensorflow as tf

    rows = tf.reshape(x, (-1, kernel.shape[0]))
    product = _product(rows, kernel)
    if bias is not None:
        product = tf.nn.bias_add(product, bias)
    if activation is not None:
        product = activation(product)
    return _restore_leading(product, x, kernel.shape[1])


def _restore_leading(product, x, units):
    """`product` (2-D) reshaped to `x`'s leading axes and `units`."""
    import tensorflow as tf

    leading = tf.shape(x)[:-1]
    outputs = tf.reshape(product, tf.concat([leading, [units]], 0))
    if x.shape.rank is not None:
        outputs.set_shape(x.shape[:-1] + [units])
    return outputs


@functools.cache
def _gelu():
    import tensorflow as tf

    # Plain ops, nothing for AutoGraph to convert; converting reads the
    # source file again, and a file changed since import (an upgrade while a
    # job runs) gave it another function's source mid-`fit`.
    @tf.function(jit_compile=True, autograph=False)
    def fused(x):
        return x * (0.5 * tf.math.erfc(x * -_SQRT_HALF))

    @tf.function(jit_compile=True, autograph=False)
    def fused_gradient(x, dy):
        cdf = 0.5 * tf.math.erfc(x * -_SQRT_HALF)
        pdf = tf.exp(-0.5 * x * x) * _INVERSE_SQRT_TWO_PI
        return dy * (cdf + x * pdf)

    @tf.custom_gradient
    def gelu(x):
        return fused(x), lambda dy: fused_gradient(x, dy)

    return gelu


@functools.cache
def _layer_norm(epsilon):
    import tensorflow as tf

    @tf.function(jit_compile=True, autograph=False)
    def fused(rows, gamma, beta):
        mean = tf.reduce_mean(rows, -1, keepdims=True)
        centered = rows - mean
        variance = tf.reduce_mean(centered * centered, -1, keepdims=True)
        inverse = tf.math.rsqrt(variance + epsilon)
        return centered * (inverse * gamma) + beta, mean, inverse

    @tf.function(jit_compile=True, autograph=False)
    def fused_gradient(rows, mean, inverse, gamma, dy):
        normed = (rows - mean) * inverse
        dnormed = dy * gamma
        drows = inverse * (
            dnormed
            - tf.reduce_mean(dnormed, -1, keepdims=True)
            - normed * tf.reduce_mean(dnormed * normed, -1, keepdims=True)
        )
        return drows, tf.reduce_sum(dy * normed, 0), tf.reduce_sum(dy, 0)

    @tf.custom_gradient
    def layer_norm(rows, gamma, beta):
        outputs, mean, inverse = fused(rows, gamma, beta)

        def gradient(dy):
            return fused_gradient(rows, mean, inverse, gamma, dy)

        return outputs, gradient

    return layer_norm


def layer_norm(x, gamma, beta, epsilon):
    """Layer norm of float32 `x` over its last axis for training, each
    direction one XLA-fused kernel (see `fast_layer_norm`)."""
    import tensorflow as tf

    # Variables read here, outside the custom gradient (as in `matmul`).
    gamma, beta = tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta)
    units = gamma.shape[0]
    rows = tf.reshape(x, (-1, units))
    normed = _layer_norm(float(epsilon))(rows, gamma, beta)
    return _restore_leading(normed, x, units)


def may_use_xla():
    """False under op determinism, where Keras keeps XLA off."""
    # Where Keras' `model_supports_jit` reads it.
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return not is_op_determinism_enabled()


def onednn_enabled():
    """Whether TensorFlow runs its CPU kernels through oneDNN.

    On by default on x86 CPUs with AVX-512 VNNI, bfloat16 or AMX; off where
    `TF_ENABLE_ONEDNN_OPTS=0`. False where TensorFlow no longer answers.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def exact_gelu(x):
    """Exact (erf) GELU of a TensorFlow tensor for training, each direction
    one XLA-fused kernel; half precision computes in float32."""
    import tensorflow as tf

    return tf.cast(_gelu()(tf.cast(x, "float32")), x.dtype)


def attention(query, key, value, mask, scale, dropout=None, training=False):
    """Softmax attention of `(batch, length, heads, head_dim)` tensors.

    The scores are float32, masked positions get -1e9 (a fully masked row
    attends uniformly, as in HF), and `dropout`, where given, is applied to
    the probabilities. Heads are moved ahead of the length first, so that
    both products, and their gradients, are batched `MatMul`s with
    transpose flags; as einsums (`bqnh,bknh->bnqk`, Keras' own form) each
    product and gradient transposed its operands first: 56 against 45 ms
    forward and backward with dropout, ELECTRA-Small at 32 x 128, one core.
    In bfloat16 inference under XLA on a CPU the moved operands are written
    out (`_row_major_transpose`); not in `training`, where the copies cost
    memory (see `jax_fast_path.attention`).
    """
    import tensorflow as tf

    if not training and _bfloat16_in_xla(query, key, value):
        query, value = (
            _row_major_transpose(t, (0, 2, 1, 3)) for t in (query, value)
        )
        scores = _product(query, _row_major_transpose(key, (0, 2, 3, 1)))
    else:
        query, key, value = (
            tf.transpose(t, (0, 2, 1, 3)) for t in (query, key, value)
        )
        scores = _product(query, key, transpose_b=True)
    scores = tf.cast(scores, "float32") * scale
    if mask is not None:
        scores = tf.where(mask, scores, -1e9)
    probs = tf.nn.softmax(scores, axis=-1)
    if dropout is not None:
        probs = dropout(probs)
    context = _product(tf.cast(probs, value.dtype), value)
    return tf.transpose(context, (0, 2, 1, 3))
