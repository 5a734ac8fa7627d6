"""Forward passes of the ELECTRA layers in plain `torch.nn.functional`.

On the PyTorch backend Keras runs eagerly, and each sub-layer `__call__`
(name and dtype scopes, input-spec checks, tree mapping) and each
`keras.ops` dispatch costs tens of microseconds: about 140 sub-layer calls
per ELECTRA-Small forward, which is half the time of a 1 x 32 call, and
`Dense` runs matmul and bias add separately where `F.linear` fuses them.
These functions compute exactly what the Keras sub-layers compute, from the
same variables (so weights, gradients, saving and conversion are untouched),
with one torch kernel per operation. Dropout still goes through the block's
`Dropout` layers (`fast_dropout.Dropout`), so seeded layers draw Keras'
masks.

They apply only where the result is the same as the Keras path: eager
PyTorch tensors under a float32, bfloat16 or float16 policy (mixed ones
included: inside the layer's autocast scope `variable.value` is already the
compute dtype) with plain (not LoRA or quantized) sub-layers. Everything
else (TensorFlow and JAX, which compile the whole step anyway, quantized
policies, symbolic builds, causal masks and caches) takes the Keras path.

Inference on an x86 CPU (no autograd, float32 or bfloat16) multiplies by
frozen copies of the kernels, the query, key and value kernels side by side
as one: made on the first call, kept until the weights change (their tensor
versions), and costing one extra copy of the block weights in memory. Where
oneDNN's packed layout is faster (`_packs`: AVX-512 and bfloat16-capable
x86 CPUs, float32 kernels up to ELECTRA-Small's sizes, on AMD CPUs of
every size) the copies are packed; in float32 that changes the summation
order of the matmuls (within 5e-6 of HF at ELECTRA-Small and -Base
sizes); in bfloat16 the results are the same bits as unpacked. Under
`jit_compile=True` (`torch.compile`) on such a CPU the backbone's blocks
run eagerly, outside the compiled graph.
"""

import functools
import math
import platform
import weakref

import keras

from keras_electra import cpu_info

_FLOAT_DTYPES = ("float32", "bfloat16", "float16")


def applies(layer, inputs, dense_layers):
    """Whether `layer` may run its torch fast path on `inputs`."""
    if keras.config.backend() != "torch":
        return False
    import torch

    if not isinstance(inputs, torch.Tensor) or inputs.device.type == "meta":
        return False
    policy = layer.dtype_policy
    if policy.quantization_mode is not None:
        return False
    if policy.compute_dtype not in _FLOAT_DTYPES:
        return False
    return all(_is_plain(dense) for dense in dense_layers)


def _is_plain(layer):
    return (
        not getattr(layer, "lora_enabled", False)
        and getattr(layer, "quantization_mode", None) is None
    )


def _reader(layer):
    """How one forward reads the variables of `layer`'s parent.

    `variable.value` looks up the stateless scope, the autocast scope and
    the device at every read (about 5 us; `Dense.kernel` adds 9 us of
    quantization checks). Where the first kernel's `value` is its torch
    tensor itself, none of that changes anything for this forward, so the
    tensors are read directly (`applies` already ruled out LoRA and
    quantization).
    """
    probe = _kernel(layer)
    if probe.value is getattr(probe, "_value", None):
        return _read_tensor
    return _read_value


def _read_tensor(variable):
    return variable._value


def _read_value(variable):
    return variable.value


def _kernel(layer):
    kernel = getattr(layer, "_kernel", None)
    return layer.kernel if kernel is None else kernel


def _linear(x, layer, in_features, read):
    """`layer(x)` of a Dense or EinsumDense with a bias, as one matmul."""
    import torch.nn.functional as F

    return F.linear(
        x,
        read(_kernel(layer)).reshape(in_features, -1).t(),
        read(layer.bias).reshape(-1),
    )


# Where the frozen and packed matmuls were measured.
_X86 = platform.machine().lower() in ("x86_64", "amd64")


def _freezes(x):
    """Whether inference on `x` may run on frozen copies of the weights.

    Only without autograd (the copies have no backward), and on x86 CPUs in
    float32 or bfloat16, where it was measured. Not inside `torch.compile`
    (`jit_compile=True`): Inductor lowers oneDNN's packed products only for
    weights it froze itself, and raised on the copies.
    """
    import torch

    return (
        _X86
        and not torch.compiler.is_compiling()
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.bfloat16)
    )


# The largest float32 kernel (entries) packed: ELECTRA-Small's widest,
# 256 x 1024.
_PACKED_FLOAT32_ENTRIES = 256 * 1024


def _packs(kernel):
    """Whether `kernel` is multiplied in oneDNN's packed layout.

    oneDNN re-lays the kernel out into its blocked format on every
    `F.linear` call; on AVX-512 CPUs packing it once made ELECTRA-Small's
    matmuls 10-35 % faster on one core (32 and 1024 rows, float32 and
    bfloat16). On an AVX2-only CPU the packed float32 kernel was slower
    than `F.linear`'s (MKL) in 18 of 24 ELECTRA shapes, by up to 1.6x, so
    there the frozen kernels stay plain, and so do ELECTRA-Base's wider
    float32 kernels (768 x 768 and up) on Intel CPUs: a Base forward at
    8 x 128 took 1,059 ms packed against 1,018 plain (HF 1,002), where
    Small's took 126 against 135 (Intel Xeon, one core); on AMD CPUs they
    are packed too (`_mkl_trails`). bfloat16 results are bit-identical to
    `F.linear`'s; float32 ones differ by summation order.
    """
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    if kernel.dtype == torch.bfloat16:
        return _packs_bfloat16()
    return (
        kernel.dtype == torch.float32
        and (kernel.numel() <= _PACKED_FLOAT32_ENTRIES or _mkl_trails())
        and _has_avx512()
    )


def _mkl_trails():
    """Whether `F.linear`'s float32 products (MKL) trail oneDNN's packed
    ones at every width: on AMD CPUs. AMD EPYC with AVX-512, one core,
    1,024 rows, ELECTRA-Base's four products: packed 8-13 % faster (768 ->
    3,072: 44.1 against 50.9 ms); a Base forward at 8 x 128 1,744 against
    2,005 ms (HF 1,915). On the Intel Xeon MKL won at Base widths.
    """
    return cpu_info.is_amd()


@functools.cache
def _packs_bfloat16():
    """Whether oneDNN can pack bfloat16 kernels on this CPU.

    Its bfloat16 reorder needs AVX-512 (BW, VL, DQ) or AVX-NE-CONVERT and
    raises on an AVX2-only CPU; there `F.linear` runs them unpacked.
    """
    import torch

    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


@functools.cache
def _has_avx512():
    import torch

    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def _infers_frozen(layer, x, training):
    """Whether `layer` may run on the frozen copy of its weights."""
    return not training and _freezes(x) and _reader(layer) is _read_tensor


# layer -> (its variables, weak references to their tensors, the tensors'
# versions, what `_frozen` made of them). Weak keys and references: a
# freed layer drops its entry, and a replaced tensor is noticed.
_FROZEN = weakref.WeakKeyDictionary()


def _frozen(layer, make):
    """`make(layer)`, made again only after one of its weights changed.

    An optimizer step, `assign` and loading weights update the tensors in
    place, which bumps their versions; `_initialize` replaces them. Checking
    the variables' tensors costs microseconds where reading them through the
    sub-layers and packing them again costs a millisecond per forward.
    """
    entry = _FROZEN.get(layer)
    if entry is not None:
        variables, references, versions, made = entry
        tensors = [variable._value for variable in variables]
        if [tensor._version for tensor in tensors] == versions and all(
            reference() is tensor
            for reference, tensor in zip(references, tensors)
        ):
            return made
    variables = layer.weights
    tensors = [variable._value for variable in variables]
    made = make(layer)
    _FROZEN[layer] = (
        variables,
        [weakref.ref(tensor) for tensor in tensors],
        [tensor._version for tensor in tensors],
        made,
    )
    return made


def _freeze_linear(layers, in_features):
    """`(linear, kernel, bias)`: the kernels of `layers` side by side (packed
    where `_packs`), their biases, and the function multiplying by them.

    One 32 x 256 x 768 bfloat16 matmul took 98 us where three of 256
    columns took 161 (one core); at 1024 rows it made no difference.
    """
    import torch
    import torch.nn.functional as F

    kernels = [
        _kernel(layer)._value.detach().reshape(in_features, -1).t()
        for layer in layers
    ]
    biases = [layer.bias._value.detach().reshape(-1) for layer in layers]
    kernel, bias = torch.cat(kernels), torch.cat(biases)
    if _packs(kernel):
        kernel = torch.ops.mkldnn._reorder_linear_weight(kernel)
        return _onednn_linear, kernel, bias
    return F.linear, kernel, bias


def _onednn_linear(x, kernel, bias):
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, kernel, bias, "none", [], "")


def _frozen_linear(x, frozen):
    linear, kernel, bias = frozen
    return linear(x, kernel, bias)


def _frozen_linear_add(x, frozen, residual):
    """`residual + _frozen_linear(x, frozen)`.

    With a packed kernel and at least `_FUSED_ADD_ROWS` rows, oneDNN adds
    the residual to its float32 accumulator in the same call (bfloat16:
    one rounding fewer). ELECTRA-Small bfloat16, one core: 153 against 160
    ms at 32 x 128, 41.8 against 43.2 at 8 x 128; at 1 x 32 the fused call
    was slower (5.9 against 5.7 ms), and float32 at 8 x 128 level.
    """
    linear, kernel, bias = frozen
    rows = math.prod(x.shape[:-1])
    if linear is not _onednn_linear or rows < _FUSED_ADD_ROWS:
        return residual + linear(x, kernel, bias)
    return _onednn_linear_add(x, residual, kernel, bias)


_FUSED_ADD_ROWS = 1024


def _onednn_linear_add(x, residual, kernel, bias):
    import torch

    return torch.ops.mkldnn._linear_pointwise.binary(
        x, residual, kernel, bias, "add"
    )


def _layer_norm(x, layer, read):
    """`layer` (a LayerNormalization) of `x`, in `x`'s dtype.

    A reduced-precision block keeps its layer norms in float32.
    """
    import torch.nn.functional as F

    gamma, beta = read(layer.gamma), read(layer.beta)
    if x.dtype == gamma.dtype or _norms_mixed(x):
        return F.layer_norm(x, x.shape[-1:], gamma, beta, layer.epsilon)
    normed = F.layer_norm(
        x.to(gamma.dtype), x.shape[-1:], gamma, beta, layer.epsilon
    )
    return normed.to(x.dtype)


def _norms_mixed(x):
    """Whether `F.layer_norm` takes `x` with weights of another dtype.

    PyTorch's CPU kernel takes bfloat16 inputs with float32 weights and
    computes in float32; its CUDA kernel refuses them ("expected scalar
    type BFloat16 but found Float"), so there the input is cast up and the
    result back, as Keras' own layer does.
    """
    return x.device.type == "cpu"


def _activation(x, activation):
    return _torch_activation(activation)(x)


def _torch_activation(activation):
    """The torch function computing `activation`, or `activation` itself."""
    import torch.nn.functional as F

    from keras_electra.layers.numerics import gelu_approximate

    if activation is keras.activations.gelu:
        return F.gelu
    if activation is gelu_approximate:
        return functools.partial(F.gelu, approximate="tanh")
    return activation


def attention_mask(padding_mask):
    """A `(batch, 1, 1, length)` boolean mask, or None when nothing is masked.

    Like HF's SDPA path, a mask of all ones is dropped: the attention kernel
    then skips the masking.
    """
    import torch

    if padding_mask is None or isinstance(padding_mask, _PreparedMask):
        return None if padding_mask is None else padding_mask.mask
    mask = _on_keras_device(padding_mask).to(torch.bool)
    # Reading a tensor's value would split a `torch.compile` graph.
    if not torch.compiler.is_compiling() and bool(mask.all()):
        return None
    return mask[:, None, None, :]


def _on_keras_device(x):
    """`x` as a torch tensor on the device of Keras' variables.

    Keras' own ops move a tensor from another device (a CPU tensor on a
    machine with a GPU) there; the fast path's raw torch ops would raise.
    """
    return keras.ops.convert_to_tensor(x)


class _PreparedMask:
    """An `attention_mask` result, made once for all blocks of a forward."""

    def __init__(self, padding_mask):
        self.mask = attention_mask(padding_mask)


def transformer_block(block, inputs, padding_mask, training):
    """`ElectraTransformerBlock.call` without a causal mask or cache."""
    inputs = _on_keras_device(inputs)
    mask = attention_mask(padding_mask)
    if _infers_frozen(block.query_dense, inputs, training):
        return _inference_block(_frozen(block, _freeze_block), inputs, mask)
    batch, length, hidden = inputs.shape
    heads, head_dim = block.num_heads, block.head_dim

    def split_heads(x):
        return x.view(batch, length, heads, head_dim).transpose(1, 2)

    read = _reader(block.query_dense)
    query, key, value = (
        split_heads(_linear(inputs, dense, hidden, read))
        for dense in (block.query_dense, block.key_dense, block.value_dense)
    )
    dropout = None
    if training and block.dropout > 0:
        dropout = functools.partial(
            block.attention_probs_dropout.call, training=training
        )
    context = _attend(query, key, value, mask, dropout)
    context = context.transpose(1, 2).reshape(batch, length, hidden)
    attended = _linear(context, block.attention_output_dense, hidden, read)
    attended = block.attention_dropout.call(attended, training=training)
    x = _layer_norm(inputs + attended, block.attention_layer_norm, read)
    ffn = _linear(x, block.intermediate_dense, hidden, read)
    ffn = _activation(ffn, block.activation)
    ffn = _linear(ffn, block.output_dense, block.intermediate_dim, read)
    ffn = block.output_dropout.call(ffn, training=training)
    return _layer_norm(x + ffn, block.output_layer_norm, read)


def _freeze_block(block):
    """What `_inference_block` reads: frozen kernels, norms, sizes."""
    hidden = block.num_heads * block.head_dim

    def norm(layer):
        return layer.gamma._value, layer.beta._value, layer.epsilon

    attention = (block.query_dense, block.key_dense, block.value_dense)
    return (
        block.num_heads,
        _freeze_linear(attention, hidden),
        _freeze_linear((block.attention_output_dense,), hidden),
        norm(block.attention_layer_norm),
        _freeze_linear((block.intermediate_dense,), hidden),
        _torch_activation(block.activation),
        _freeze_linear((block.output_dense,), block.intermediate_dim),
        norm(block.output_layer_norm),
    )


def _inference_block(frozen, inputs, mask):
    """`transformer_block` without dropout, from `_freeze_block`'s copies.

    Python between the kernels was a third of a bfloat16 ELECTRA-Small
    forward at 1 x 32; here it is read from one tuple.
    """
    import torch.nn.functional as F

    heads, qkv, output, norm, intermediate, activation, down, last = frozen
    batch, length, hidden = inputs.shape
    query, key, value = (
        _frozen_linear(inputs, qkv)
        .view(batch, length, 3, heads, hidden // heads)
        .permute(2, 0, 3, 1, 4)
    )
    context = _attend(query, key, value, mask, None)
    context = context.transpose(1, 2).reshape(batch, length, hidden)
    x = F.layer_norm(
        _frozen_linear_add(context, output, inputs), (hidden,), *norm
    )
    ffn = activation(_frozen_linear(x, intermediate))
    return F.layer_norm(_frozen_linear_add(ffn, down, x), (hidden,), *last)


def _attend(query, key, value, mask, dropout):
    """Scaled dot-product attention of `(batch, heads, length, head_dim)`
    tensors; `dropout` (None for none) is applied to the probabilities."""
    import torch
    import torch.nn.functional as F

    scale = 1.0 / math.sqrt(query.shape[-1])
    if not _explicit_attention(query, dropout is not None):
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, scale=scale
        )
    scores = _scaled_scores(query, key, scale)
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    probs = torch.softmax(scores, dim=-1)
    if dropout is not None:
        probs = dropout(probs)
    return torch.matmul(probs, value)


def _scaled_scores(query, key, scale):
    """`query @ key^T * scale`, the scale applied inside the product.

    `baddbmm`'s `alpha` multiplies the accumulator before it is written,
    saving a pass over the scores (AMD EPYC, one core, bfloat16, CPU ms per
    `predict_on_batch` against a product and a multiply: ELECTRA-Small
    126.6 against 130.3 at 8 x 128, 493 against 499 at 32 x 128). The
    outputs were the same bits (a power-of-two scale rounds alike either
    way).
    """
    import torch

    *batch, length, depth = query.shape
    query = query.reshape(-1, length, depth)
    key = key.reshape(-1, key.shape[-2], depth)
    # Ignored at `beta=0`; `baddbmm` still wants a broadcastable input.
    ignored = query.new_empty(()).expand(query.shape[0], length, key.shape[1])
    scores = torch.baddbmm(
        ignored, query, key.transpose(1, 2), beta=0, alpha=scale
    )
    return scores.view(*batch, length, key.shape[1])


def drops_fast(x, seed_generator):
    """Whether `dropout` may stand in for Keras' dropout of `x`: a float
    tensor on the CPU, from an unseeded layer (Keras itself draws those
    from PyTorch's global generator, seeded ones from their own)."""
    import torch

    # Where Keras' own torch `dropout` reads it; were it renamed, Keras'
    # path would serve.
    unseeded = getattr(seed_generator, "_initial_seed", 0) is None
    return (
        unseeded
        and x.dtype in (torch.float32, torch.bfloat16, torch.float16)
        and x.device.type == "cpu"
    )


def dropout(x, rate):
    """Inverted dropout of `x` at `rate`, from PyTorch's global generator.

    `F.dropout`, which Keras calls, draws a float per value with
    `bernoulli_` and then divides the mask. Here each value gets 16 random
    bits (a quarter of a 64-bit draw), kept where they reach the rate's
    16-bit threshold, and the mask is scaled in `x`'s dtype as
    `F.dropout` scales it. One attention-probability dropout of
    ELECTRA-Small at 32 x 128 (2.1M values), forward and backward, one
    core (AMD EPYC): float32 9.4 ms against 17.1 for `F.dropout` and 16.1
    for a float32 uniform draw; bfloat16 7.0 against 15.8, where
    `bernoulli_` was 15 % of a mixed-precision training step.
    """
    keep = _kept(x, rate)
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - rate))


def _kept(x, rate):
    """A boolean mask of `x`'s shape, true with probability `1 - rate`."""
    import torch

    threshold = _threshold16(rate)
    if threshold is None:
        return torch.rand(x.shape, device=x.device).ge_(rate)
    count = x.numel()
    # All 64 bits random (`random_()` alone leaves the sign bit clear).
    words = torch.empty(-(-count // 4), dtype=torch.int64, device=x.device)
    words.random_(-(2**63), None)
    return words.view(torch.int16)[:count].view(x.shape).ge(threshold)


@functools.cache
def _threshold16(rate):
    """The signed 16-bit draw at or above which a value is kept, or None
    where 16 bits miss `rate` by more than 0.1 % of it (then a float32
    draw, 24 bits, decides)."""
    dropped = rate * 2**16
    threshold = round(dropped)
    if not 0 < threshold < 2**16 or abs(threshold - dropped) > 1e-3 * dropped:
        return None
    return threshold - 2**15


def _explicit_attention(query, dropout):
    """Whether to write attention out instead of calling SDPA.

    With dropout SDPA cannot draw Keras' seeded masks. On a CPU without
    AMX, in bfloat16 or float16 at lengths 128 to 256, two matmuls and a
    softmax beat PyTorch's fused kernel (AMD EPYC, 4 heads of 64, one core:
    1.5 against 2.4 ms at 8 x 128, 0.69 against 0.98 ms at 1 x 256); at
    32-64 and at 512, and in float32, the fused kernel is the faster one.
    With AMX the fused kernel multiplies on the tiles and wins at every
    length (Xeon, one core, from the fused query/key/value output: 0.75
    against 1.31 ms at 8 x 128, 2.9 against 4.7 at 32 x 128, 2.2 against
    3.6 with 12 heads, 0.28 against 0.86 at 1 x 256; float16 1.43 against
    1.60 ms at 8 x 128).
    """
    import torch

    reduced = query.dtype in (torch.bfloat16, torch.float16)
    cpu = query.device.type == "cpu"
    written_out = reduced and cpu and 128 <= query.shape[-2] <= 256
    return dropout or (written_out and not _has_amx())


@functools.cache
def _has_amx():
    import torch

    # A private helper of PyTorch's; where it is missing, the AMX-less rule.
    supported = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return bool(supported())


def embedding(layer, token_ids, segment_ids, start_index, training):
    """`ElectraEmbedding.call` for integer torch inputs."""
    import torch.nn.functional as F

    token_ids = _on_keras_device(token_ids).long()
    length = token_ids.shape[-1]
    positions = layer.position_embedding.position_embeddings.value
    x = F.embedding(token_ids, layer.token_embedding.embeddings.value)
    x = x + positions[start_index : start_index + length]
    segments = layer.segment_embedding.embeddings.value
    if segment_ids is None:
        x = x + segments[0]
    else:
        x = x + F.embedding(_on_keras_device(segment_ids).long(), segments)
    x = _layer_norm(x, layer.layer_norm, _read_value)
    x = layer.dropout_layer.call(x, training=training)
    if layer.projection is not None:
        x = _project(x, layer.projection, training)
    return x.to(_torch_dtype(layer.compute_dtype))


def _project(x, dense, training):
    if _infers_frozen(dense, x, training):
        return _frozen_linear(x, _frozen(dense, _freeze_dense))
    return _linear(x, dense, _kernel(dense).shape[0], _read_value)


def _freeze_dense(dense):
    return _freeze_linear((dense,), _kernel(dense).shape[0])


def _torch_dtype(name):
    import torch

    return getattr(torch, name)


def backbone(model, inputs, training):
    """`ElectraBackbone.call` with its sub-layers' fast paths chained.

    Returns None where one of them does not apply (the caller then runs the
    functional graph). Skipping the graph walk and the 13 sub-layer
    `__call__`s took a float32 ELECTRA-Small 1 x 32 `predict_on_batch` from
    28-36 to 25-26 ms of CPU.
    """
    if keras.config.backend() != "torch":
        return None
    # `predict_on_batch` hands the functional model numpy arrays.
    inputs = {
        key: None if value is None else _on_keras_device(value)
        for key, value in inputs.items()
    }
    token_ids = inputs["token_ids"]
    if not _applies_everywhere(model, token_ids):
        return None
    if _compiled_on_cpu(model, token_ids):
        import torch

        # Inductor's code for these blocks on a CPU was slower than the
        # eager kernels (ELECTRA-Small, one core, eager against compiled).
        # Inference, on weights Inductor did not freeze: float32 679
        # against 768 ms at 32 x 128, 169 against 184 at 8 x 128; bfloat16
        # 160 against 187 at 32 x 128, 44 against 57 at 8 x 128 (at 1 x 32
        # compiled 12.4 ms, 9.4 with the blocks eager). A training step at
        # 32 x 128: float32 2.7 against 3.5 s, mixed bfloat16 1.3 against
        # 2.0 s, after 1.5-2 minutes of compiling.
        return torch.compiler.disable(_blocks)(model, inputs, training)
    return _blocks(model, inputs, training)


def _compiled_on_cpu(model, token_ids):
    """Whether `torch.compile` traces the blocks on an x86 CPU, where the
    eager kernels were measured."""
    import torch

    return (
        torch.compiler.is_compiling()
        and _X86
        and token_ids.device.type == "cpu"
        and model.compute_dtype in ("float32", "bfloat16")
    )


def _blocks(model, inputs, training):
    token_ids = inputs["token_ids"]
    x = embedding(
        model.embeddings, token_ids, inputs["segment_ids"], 0, training
    )
    mask = _PreparedMask(inputs["padding_mask"])
    blocks = model.transformer_layers
    if blocks and _infers_frozen(blocks[0].query_dense, x, training):
        # One check for all blocks: `_applies_everywhere` saw one policy.
        for block in blocks:
            x = _inference_block(_frozen(block, _freeze_block), x, mask.mask)
        return x
    for block in blocks:
        x = transformer_block(block, x, mask, training)
    return x


def _applies_everywhere(model, token_ids):
    policy = model.dtype_policy.name
    return all(
        layer.dtype_policy.name == policy
        and applies(layer, token_ids, layer._dense_layers())
        for layer in [model.embeddings, *model.transformer_layers]
    )
