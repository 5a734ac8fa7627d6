"""Keras `Dense` and `EinsumDense` whose matrix products take the faster
forms of `jax_fast_path.matmul` (JAX) and `tf_fast_path.matmul`
(TensorFlow).

Same variables, names and results as Keras' layers; LoRA, quantized kernels
and the PyTorch backend (whose block runs `torch_fast_path`) take Keras'
own `call`. `call` also takes the activation that follows the layer (the
feed-forward's GELU): TensorFlow inference then runs the product, the bias
and the activation as one fusable `tf_fast_path.dense`.
"""

import math

import keras
from keras import ops

from keras_electra.layers.numerics import activate


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


def _fused_inference(layer, training):
    """`tf_fast_path.dense` where TensorFlow infers through this layer."""
    if training or keras.config.backend() != "tensorflow":
        return None
    if layer.lora_enabled or layer.quantization_mode is not None:
        return None
    from keras_electra.layers import tf_fast_path

    return tf_fast_path.dense


def _then(x, then, training):
    return x if then is None else activate(then, x, training=training)


def _activations(layer, then, training):
    """The layer's own activation followed by `then` (if any)."""
    return lambda x: _then(layer.activation(x), then, training)


def _bias(layer):
    return None if layer.bias is None else ops.convert_to_tensor(layer.bias)


def _finish(layer, x, then, training):
    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    return _activations(layer, then, training)(x)


class Dense(_SameVariables, keras.layers.Dense):
    """`keras.layers.Dense` whose product is the backend's faster `matmul`.

    `activation`, where given, is applied after the layer's own.
    """

    def call(self, inputs, training=None, activation=None):
        fused = _fused_inference(self, training)
        if fused is not None:
            kernel = ops.convert_to_tensor(self.kernel)
            return fused(
                inputs,
                kernel,
                _bias(self),
                _activations(self, activation, training),
            )
        matmul = _matmul(self)
        if matmul is None:
            outputs = super().call(inputs, training=training)
            return _then(outputs, activation, training)
        kernel = ops.convert_to_tensor(self.kernel)
        return _finish(self, matmul(inputs, kernel), activation, training)

    def quantized_call(self, inputs, training=None, activation=None):
        outputs = super().quantized_call(inputs, training=training)
        return _then(outputs, activation, training)


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
        units = kernel.shape[contracted:]
        outputs = leading + tuple(units)
        inputs = ops.reshape(inputs, (-1, rows))
        kernel = ops.reshape(kernel, (rows, -1))
        if self.bias is None or tuple(self.bias.shape) != tuple(units):
            product = ops.reshape(matmul(inputs, kernel), outputs)
            return _finish(self, product, None, training)
        # A bias over every output unit, added to the 2-D product: a
        # `BiasAdd` that TensorFlow fuses into the product for inference,
        # and whose gradient is one `BiasAddGrad` in training (as a sum over
        # the 4-D heads it took twice as long).
        bias = ops.reshape(_bias(self), (-1,))
        fused = _fused_inference(self, training)
        if fused is not None:
            product = fused(inputs, kernel, bias, self.activation)
        else:
            product = self.activation(ops.add(matmul(inputs, kernel), bias))
        return ops.reshape(product, outputs)
