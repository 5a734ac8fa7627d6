"""Keras `Dense` and `EinsumDense` whose matrix products take the faster
forms of `jax_fast_path.matmul` (JAX) and `tf_fast_path.matmul`
(TensorFlow).

Same variables, names and results as Keras' layers; LoRA, quantized kernels
and the PyTorch backend (whose block runs `torch_fast_path`) take Keras'
own `call`.
"""

import math

import keras
from keras import ops


def _matmul(layer):
    """The backend's faster `x @ kernel`, or None where Keras' call serves."""
    if layer.lora_enabled or layer.quantization_mode is not None:
        return None
    backend = keras.config.backend()
    if backend == "jax":
        from keras_electra.layers import jax_fast_path

        return jax_fast_path.matmul
    if backend == "tensorflow":
        from keras_electra.layers import tf_fast_path

        return tf_fast_path.matmul
    return None


class _SameVariables:
    """Keras quantizes only its own Dense classes unless `type_check=False`;
    these change `call` alone, so they quantize as their parents do."""

    def quantize(self, mode=None, type_check=True, **kwargs):
        super().quantize(mode, type_check=False, **kwargs)


def _finish(layer, x):
    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    if layer.activation is not None:
        x = layer.activation(x)
    return x


class Dense(_SameVariables, keras.layers.Dense):
    """`keras.layers.Dense` whose product is the backend's faster `matmul`."""

    def call(self, inputs, training=None):
        matmul = _matmul(self)
        if matmul is None:
            return super().call(inputs, training=training)
        return _finish(self, matmul(inputs, ops.convert_to_tensor(self.kernel)))


def _contracted_axes(equation):
    """How many trailing input axes `equation` contracts with the leading
    kernel axes, where it is a matrix product of reshaped operands."""
    operands, output = equation.split("->")
    inputs, kernel = operands.split(",")
    for axes in range(1, min(len(inputs), len(kernel)) + 1):
        if inputs[-axes:] == kernel[:axes] and (
            output == inputs[:-axes] + kernel[axes:]
        ):
            return axes
    return None


class EinsumDense(_SameVariables, keras.layers.EinsumDense):
    """`keras.layers.EinsumDense` as one `matmul`, where it is one.

    For equations whose input ends with the axes the kernel starts with
    (`btd,dnh->btnh`, `btnh,nhd->btd`), the einsum is a matrix product of
    reshaped operands. Written so, XLA keeps the kernel as it is stored
    (through `einsum` on JAX, it copied the attention output kernel into
    another layout on every call: 5.6 ms per layer at ELECTRA-Base,
    8 x 128), and TensorFlow multiplies 2-D operands instead of broadcasting
    the kernel over the batch.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self._contracted_axes = _contracted_axes(self.equation)

    def call(self, inputs, training=None):
        matmul = _matmul(self)
        contracted = getattr(self, "_contracted_axes", None)
        if matmul is None or not contracted:
            return super().call(inputs, training=training)
        kernel = ops.convert_to_tensor(self.kernel)
        # Dynamic where TensorFlow traces an unknown batch size.
        leading = tuple(ops.shape(inputs)[:-contracted])
        rows = math.prod(kernel.shape[:contracted])
        product = matmul(
            ops.reshape(inputs, (-1, rows)), ops.reshape(kernel, (rows, -1))
        )
        outputs = leading + tuple(kernel.shape[contracted:])
        return _finish(self, ops.reshape(product, outputs))
