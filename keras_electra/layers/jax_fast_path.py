"""Exact GELU, attention, the Dense product and dropout on JAX, in forms
XLA's CPU compiler runs faster.

JAX compiles the whole training step, so what is left to win is in the
forms XLA is given. Two of them cost an ELECTRA-Small training step
(32 x 128, one core) about a fifth of its time:

- `jax.nn.gelu(approximate=False)`, behind Keras' exact `gelu`, computes
  `erfc` and is differentiated through it: 25 ms forward and backward per
  4.2M floats. `exact_gelu` computes erf as XLA itself does for float32 and
  writes the derivative out: 7 ms.
- The kernel gradient of `Dense` (`x^T dy`, a contraction over batch and
  length) reached XLA's CPU backend as a product with both operands
  transposed, which YNNPACK does not take: Eigen ran it at half speed, or
  XLA transposed the 16 MB activation first. `matmul` transposes the
  smaller operand itself, so the product is in the canonical form.
  `fast_dense.Dense` and `fast_dense.EinsumDense` use it on JAX.

On a CPU, products of bfloat16 operands (`matmul`, both of its gradients
and the attention's two) ask XLA for a float32 result and round it to bfloat16
themselves (`_product`). Asked for a bfloat16 result, XLA's CPU backend
converts both operands to float32 and multiplies in float32; asked for
float32, it multiplies the bfloat16 operands with the CPU's bfloat16
instructions (Intel Xeon with AMX, one core, 1,024 x 768 by 768 x 3,072:
116 against 716 GFLOP/s). The numbers are the same products of bfloat16
values summed in float32 and rounded once, up to summation order. XLA
takes a transposed bfloat16 operand into the product as such and then
multiplies in float32, so `matmul`'s gradients write their transposes out
(`_row_major_transpose`): an ELECTRA-Small-wide 4-layer mixed-bfloat16
training step, one core, 922 -> 752 ms.

`dropout` (behind `fast_dropout.Dropout`) draws its mask with
`jax.lax.rng_bit_generator` and keeps only the boolean mask for the
gradient: 10 ms forward and backward per 2.1M floats against 30 ms for
Keras' `bernoulli` and `select` (other draws, same distribution).

The GELU and the products compute what the Keras path computes (the GELU
within 2e-6 of float64, as `jax.nn`'s is within 4e-7; the products as plain
float32 matrix products, the einsums' up to summation order), use only
plain HLO operations (so JAX-to-TF export still serves), and apply only on
the JAX backend.
"""

import functools
import math

import numpy as np

from keras import ops

# XLA's own float32 erf (`ErfImpl32` in xla/hlo/builder/lib/math.cc): an odd
# rational function of x, clamped where float32 erf reaches +-1.
_ERF_CLAMP = 3.7439211627767994
_ERF_NUMERATOR = (
    0.00022905065861350646,
    0.0034082910107109506,
    0.050955695062380861,
    0.18520832239976145,
    1.128379143519084,
)
_ERF_DENOMINATOR = (
    -1.1791602954361697e-7,
    0.000023547966471313185,
    0.0010179625278914885,
    0.014070470171167667,
    0.11098505178285362,
    0.49746925110067538,
    1.0,
)


def _horner(x, coefficients):
    result = coefficients[0]
    for coefficient in coefficients[1:]:
        result = result * x + coefficient
    return result


def _normal_cdf(x):
    x = ops.clip(x * (1 / math.sqrt(2)), -_ERF_CLAMP, _ERF_CLAMP)
    x2 = x * x
    erf = x * _horner(x2, _ERF_NUMERATOR) / _horner(x2, _ERF_DENOMINATOR)
    return 0.5 + 0.5 * erf


@functools.cache
def _gelu():
    import jax

    @jax.custom_jvp
    def gelu(x):
        return x * _normal_cdf(x)

    @gelu.defjvp
    def gelu_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        cdf = _normal_cdf(x)
        pdf = ops.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return x * cdf, (cdf + x * pdf) * dx

    return gelu


def exact_gelu(x):
    """Exact (erf) GELU of a JAX array; half precision computes in float32."""
    return ops.cast(_gelu()(ops.cast(x, "float32")), x.dtype)


def attention(query, key, value, mask, scale, dropout=None, training=False):
    """Softmax attention of `(batch, length, heads, head_dim)` JAX arrays.

    The scores are float32, masked positions get -1e9 (a fully masked row
    attends uniformly, as in HF), and `dropout`, where given, is applied to
    the probabilities. Heads are moved ahead of the length first, so that
    both products are plain batched matrix products: in their `bqnh` forms
    XLA's CPU backend ran them at 40-55 GFLOP/s, against 70 on one core.
    Without dropout the softmax is normalised after the product with the
    values, one pass less over the probabilities: 9-12 ms against 15-18 ms
    for `jax.nn.dot_product_attention` at 32 x 4 heads x 128 x 128. In
    bfloat16 inference on a CPU the moved operands (the key transposed) are
    written out, so that XLA multiplies them in bfloat16: 6.2 -> 5.0 ms at
    that size (one core; ELECTRA-Small inference 6-9 % faster at 8 x 128 and
    32 x 128). Not in `training`: the backward products stay float32 there,
    and the copies raised a 12-layer training step's peak memory from 3.2
    to 4.8 GB at no gain in speed.
    """
    import jax
    import jax.numpy as jnp

    if not training and _bfloat16_on_cpu(query, key, value):
        query, value = (
            _row_major_transpose(t, (0, 2, 1, 3)) for t in (query, value)
        )
        key = _row_major_transpose(key, (0, 2, 3, 1))
        scores = _product(jnp.einsum, "bnqh,bnhk->bnqk", query, key)
    else:
        query, key, value = (
            jnp.swapaxes(t, 1, 2) for t in (query, key, value)
        )
        scores = _product(jnp.einsum, "bnqh,bnkh->bnqk", query, key)
    scores = scores.astype("float32") * scale
    if mask is not None:
        scores = jnp.where(mask, scores, -1e9)
    if dropout is None:
        peak = jax.lax.stop_gradient(scores.max(-1, keepdims=True))
        weights = jnp.exp(scores - peak)
        context = _product(
            jnp.einsum, "bnqk,bnkh->bnqh", weights.astype(value.dtype), value
        ) / weights.sum(-1, keepdims=True)
    else:
        probs = dropout(jax.nn.softmax(scores, axis=-1))
        probs = probs.astype(value.dtype)
        context = _product(jnp.einsum, "bnqk,bnkh->bnqh", probs, value)
    return jnp.swapaxes(context.astype(value.dtype), 1, 2)


def _product(operation, *arguments):
    """`operation(*arguments)` (`jnp.matmul`, `jnp.dot` or `jnp.einsum`,
    the operands last); on a CPU, bfloat16 operands through a float32
    result."""
    import jax.numpy as jnp

    if not _bfloat16_on_cpu(*arguments[-2:]):
        return operation(*arguments)
    product = operation(*arguments, preferred_element_type=jnp.float32)
    return product.astype(jnp.bfloat16)


def _bfloat16_on_cpu(*operands):
    import jax
    import jax.numpy as jnp

    bfloat16 = all(operand.dtype == jnp.bfloat16 for operand in operands)
    return bfloat16 and jax.default_backend() == "cpu"


def _row_major_transpose(a, axes=(1, 0)):
    """`jnp.transpose(a, axes)` written out, for a bfloat16 product's
    operand on a CPU.

    XLA folds a plain transpose into the product as a transposed operand,
    a form its CPU backend multiplies only after converting both bfloat16
    operands to float32 (optimization barriers and bit casts are seen
    through too); a gather it does not fold. One core, 4,096 x 1,024 by
    the transpose of 256 x 1,024: 15.3 ms folded against 3.4 ms. Its
    gradient is the plain inverse transpose, not the gather's scatter.
    """
    return _written_out_transpose()(a, tuple(axes))


@functools.cache
def _written_out_transpose():
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
    def transpose(a, axes):
        moved = jnp.transpose(a, axes)
        # Along the heads of a 4-D attention operand; never a length-1 axis,
        # which XLA would turn back into a plain slice.
        axis = 1 if moved.ndim > 2 else 0
        indices = jnp.arange(moved.shape[axis])
        return jnp.take(moved, indices, axis=axis, indices_are_sorted=True)

    def forward(a, axes):
        return transpose(a, axes), None

    def backward(axes, _, cotangent):
        return (jnp.transpose(cotangent, np.argsort(axes)),)

    transpose.defvjp(forward, backward)
    return transpose


@functools.cache
def _matmul():
    import jax
    import jax.numpy as jnp

    barrier = jax.lax.optimization_barrier

    @jax.custom_vjp
    def matmul(x, kernel):
        return _product(jnp.matmul, x, kernel)

    def forward(x, kernel):
        return matmul(x, kernel), (x, kernel)

    def backward(residuals, dy):
        x, kernel = residuals
        x2 = x.reshape(-1, x.shape[-1])
        dy2 = dy.reshape(-1, dy.shape[-1])
        if _bfloat16_on_cpu(x, kernel, dy):
            return _bfloat16_backward(x2, kernel, dy, dy2)
        # The barriers keep XLA from folding the transposes back into the
        # product.
        if x2.shape[1] <= dy2.shape[1]:
            dkernel = _product(jnp.dot, barrier(x2.T), dy2)
        else:
            dkernel = barrier(_product(jnp.dot, barrier(dy2.T), x2)).T
        return _product(jnp.matmul, dy, kernel.T), dkernel

    matmul.defvjp(forward, backward)
    return matmul


def _bfloat16_backward(x2, kernel, dy, dy2):
    """`matmul`'s gradients with every product operand row-major."""
    import jax.numpy as jnp

    transpose = _row_major_transpose
    if x2.shape[1] <= dy2.shape[1]:
        dkernel = _product(jnp.dot, transpose(x2), dy2)
    else:
        dkernel = _product(jnp.dot, transpose(dy2), x2).T
    return _product(jnp.matmul, dy, transpose(kernel)), dkernel


def matmul(x, kernel):
    """`x @ kernel` for JAX arrays (`kernel` 2-D), with the faster gradient."""
    return _matmul()(x, kernel)


@functools.cache
def _dropout(rate):
    import jax
    import jax.numpy as jnp

    # A numpy constant: a JAX array closed over here would be hoisted into
    # the first traced step as an argument, and a later model's step, which
    # reuses this function's cached trace, would be passed too few.
    threshold = np.uint32(min(round(rate * 2**32), 2**32 - 1))
    scale = 1.0 / (1.0 - rate)

    def kept(seed, shape):
        key = jnp.concatenate([seed, ~seed]).astype("uint32")
        _, bits = jax.lax.rng_bit_generator(
            key,
            shape,
            "uint32",
            algorithm=jax.lax.RandomAlgorithm.RNG_THREE_FRY,
        )
        return bits >= threshold

    def scaled(keep, x):
        return jnp.where(keep, x * jnp.asarray(scale, x.dtype), 0)

    @jax.custom_vjp
    def dropout(x, seed):
        return scaled(kept(seed, x.shape), x)

    def forward(x, seed):
        keep = kept(seed, x.shape)
        return scaled(keep, x), keep

    def backward(keep, dy):
        return scaled(keep, dy), None

    dropout.defvjp(forward, backward)
    return dropout


def dropout(x, rate, seed):
    """Inverted dropout of the JAX array `x` at `rate`, drawn from `seed`
    (the uint32 pair a Keras `SeedGenerator.next()` gives)."""
    return _dropout(float(rate))(x, seed)
