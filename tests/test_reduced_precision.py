"""bfloat16 policies: float32 logits from every task, and the PyTorch fast
path (keras_electra/layers/torch_fast_path.py) against the Keras layers."""

import math

import keras
import numpy as np
import pytest
from hf_reference import max_abs_diff_at_real_positions

import keras_electra
from keras_electra import ElectraBackbone
from keras_electra.layers import ElectraTransformerBlock
from keras_electra.layers import torch_fast_path

TASKS = {
    "ElectraClassifier": {"num_classes": 3},
    "ElectraTokenClassifier": {"num_classes": 3},
    "ElectraQuestionAnswerer": {},
    "ElectraMultipleChoice": {"num_choices": 2},
    "ElectraDiscriminator": {},
    "ElectraMaskedLM": {},
    "ElectraCausalLM": {},
}
on_torch_only = pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="the fast path exists on the PyTorch backend only",
)


def tiny_backbone(dtype=None, dropout=0.0):
    return ElectraBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16,
        embedding_dim=8, intermediate_dim=32, max_sequence_length=12,
        dropout=dropout, dtype=dtype,
    )


def batch(shape=(2, 7)):
    rng = np.random.default_rng(0)
    mask = np.ones(shape, "int32")
    mask[..., 0, 4:] = 0  # one padded row, one full
    return {
        "token_ids": rng.integers(1, 50, size=shape).astype("int32") * mask,
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": mask,
    }


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_returns_float32_logits_under_bfloat16(name):
    task = getattr(keras_electra, name)(
        backbone=tiny_backbone("bfloat16"), preprocessor=None, **TASKS[name]
    )
    inputs = batch((2, 2, 7) if name == "ElectraMultipleChoice" else (2, 7))
    if name == "ElectraCausalLM":
        del inputs["segment_ids"]
    if name == "ElectraMaskedLM":
        inputs["mask_positions"] = np.array([[1, 2], [3, 0]], "int32")
    symbolic = keras.tree.flatten(task.outputs)
    computed = keras.tree.flatten(task.predict_on_batch(inputs))
    for tensor in symbolic + computed:
        assert keras.backend.standardize_dtype(tensor.dtype) == "float32"
    assert task.backbone.transformer_layers[0].compute_dtype == "bfloat16"


@pytest.mark.backend_sensitive
@pytest.mark.skipif(
    keras.config.backend() == "torch",
    reason="jit_compile=True means torch.compile on PyTorch",
)
def test_mixed_bfloat16_classifier_trains_under_xla():
    # On TensorFlow the attention's float32-result products once had no
    # usable gradient under XLA (a float32 gradient times bfloat16).
    classifier = keras_electra.ElectraClassifier(
        backbone=tiny_backbone("mixed_bfloat16"), num_classes=2,
        preprocessor=None, dtype="mixed_bfloat16",
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    before = [
        keras.ops.convert_to_numpy(w) for w in classifier.trainable_weights
    ]
    history = classifier.fit(
        batch(), np.array([0, 1]), epochs=2, verbose=0
    )
    assert np.all(np.isfinite(history.history["loss"]))
    after = [
        keras.ops.convert_to_numpy(w) for w in classifier.trainable_weights
    ]
    assert all(np.any(a != b) for a, b in zip(after, before))


@pytest.mark.backend_sensitive
@on_torch_only
@pytest.mark.parametrize(
    "dtype, tolerance", [("float32", 1e-5), ("bfloat16", 0.05)]
)
def test_predict_under_torch_compile(monkeypatch, dtype, tolerance):
    # `jit_compile=True` is `torch.compile`; Inductor once raised on the
    # fast path's frozen oneDNN kernels in float32 and bfloat16. The blocks
    # now run eagerly on those kernels.
    classifier = keras_electra.ElectraClassifier(
        backbone=tiny_backbone(dtype), num_classes=3, preprocessor=None
    )
    classifier.compile(jit_compile=True)
    compiling = record_compiling(monkeypatch, "_inference_block")
    compiled = classifier.predict_on_batch(batch())
    assert compiling == [False, False]  # both blocks, eagerly
    classifier.compile(jit_compile=False)
    keras_layers_only(monkeypatch)
    expected = classifier.predict_on_batch(batch())
    assert compiled.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(compiled, expected, atol=tolerance)


@pytest.mark.backend_sensitive
@on_torch_only
def test_fit_under_torch_compile_runs_the_blocks_eagerly(monkeypatch):
    classifier = keras_electra.ElectraClassifier(
        backbone=tiny_backbone(), num_classes=3, preprocessor=None,
        dropout=0.0,
    )
    initial = classifier.get_weights()

    def fit(jit_compile):
        classifier.set_weights(initial)
        classifier.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile,
        )
        history = classifier.fit(batch(), np.array([0, 2]), epochs=2, verbose=0)
        return history.history["loss"], classifier.get_weights()

    compiling = record_compiling(monkeypatch, "transformer_block")
    compiled_loss, compiled_weights = fit(True)
    assert compiling and not any(compiling)
    loss, weights = fit(False)
    np.testing.assert_allclose(compiled_loss, loss, rtol=1e-5)
    for ours, theirs in zip(compiled_weights, weights):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def record_compiling(monkeypatch, name):
    """`torch.compiler.is_compiling()` at each call of
    `torch_fast_path.<name>` (see `spy`)."""
    import torch

    return spy(monkeypatch, name, lambda *args: torch.compiler.is_compiling())


def spy(monkeypatch, name, note):
    """Wraps `torch_fast_path.<name>`; returns the list of `note(*args)`
    of its calls."""
    notes = []
    original = getattr(torch_fast_path, name)

    def recorded(*args):
        notes.append(note(*args))
        return original(*args)

    monkeypatch.setattr(torch_fast_path, name, recorded)
    return notes


def keras_layers_only(monkeypatch):
    monkeypatch.setattr(torch_fast_path, "applies", lambda *args: False)


def forward_and_gradients(backbone, inputs):
    import torch

    tensors = {k: torch.as_tensor(v) for k, v in inputs.items()}
    outputs = backbone(tensors, training=True)
    weights = [w.value for w in backbone.trainable_weights]
    # A fixed random read-out: the sum of squares of layer-normed outputs
    # is nearly constant and its gradients are rounding noise.
    readout = keras.ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=tuple(outputs.shape)), "float32"
    )
    loss = (outputs.float() * readout).sum()
    gradients = torch.autograd.grad(loss, weights)
    return (
        keras.ops.convert_to_numpy(outputs.detach().float()),
        [keras.ops.convert_to_numpy(g.float()) for g in gradients],
    )


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "dtype, tolerance, norms",
    [
        ("float32", 1e-5, "native"),
        ("mixed_bfloat16", 0.1, "native"),
        ("mixed_bfloat16", 0.1, "cast"),
    ],
)
def test_torch_fast_path_matches_the_keras_layers(
    monkeypatch, dtype, tolerance, norms
):
    # "cast" takes the layer norms' path for devices whose kernel refuses
    # bfloat16 inputs with float32 weights (CUDA), here on the CPU.
    asked = []
    if norms == "cast":
        monkeypatch.setattr(
            torch_fast_path, "_norms_mixed", lambda x: asked.append(x) and False
        )
    backbone = tiny_backbone(dtype)
    inputs = batch()
    fast, fast_grads = forward_and_gradients(backbone, inputs)
    # The embeddings' layer norm and two per block took the cast branch.
    assert len(asked) == (5 if norms == "cast" else 0)
    keras_layers_only(monkeypatch)
    slow, slow_grads = forward_and_gradients(backbone, inputs)
    mask = inputs["padding_mask"]
    assert max_abs_diff_at_real_positions(fast, slow, mask) < tolerance
    for fast_grad, slow_grad in zip(fast_grads, slow_grads):
        scale = max(1.0, float(np.abs(slow_grad).max()))
        np.testing.assert_allclose(fast_grad, slow_grad, atol=tolerance * scale)


def packs_natively(dtype):
    """Whether this CPU should multiply `dtype` kernels in oneDNN's layout:
    float32 on AVX-512, bfloat16 where oneDNN supports it (not AVX2)."""
    import torch

    if dtype == "bfloat16":
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "dtype, tolerance, packing",
    [
        ("float32", 1e-5, "native"),
        ("float32", 1e-5, "plain"),
        ("float32", 1e-5, "packed"),
        ("bfloat16", 0.05, "native"),
        ("bfloat16", 0.05, "plain"),
    ],
)
def test_a_block_called_without_autograd_matches_the_keras_layers(
    monkeypatch, dtype, tolerance, packing
):
    # Without autograd a block runs on frozen copies of its weights, in
    # oneDNN's packed layout only where that is faster and supported (the
    # bfloat16 reorder raises on AVX2-only CPUs). "plain" and "packed" force
    # a layout, so both run on any x86 CPU.
    import torch
    import torch.nn.functional as F

    if packing == "native":
        packed = packs_natively(dtype)
    else:
        packed = packing == "packed"
        monkeypatch.setattr(torch_fast_path, "_packs", lambda _: packed)
    block = ElectraTransformerBlock(
        num_heads=2, intermediate_dim=32, dropout=0.0, dtype=dtype
    )
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(2, 7, 16)).astype("float32"))
    mask = torch.from_numpy(batch()["padding_mask"])
    with torch.no_grad():
        fast = keras.ops.convert_to_numpy(block(x, padding_mask=mask).float())
        # Frozen copies only on x86 CPUs, where they were measured.
        on_cpu = keras.ops.convert_to_tensor(x).device.type == "cpu"
        assert (block in torch_fast_path._FROZEN) == (
            torch_fast_path._X86 and on_cpu
        )
        if block in torch_fast_path._FROZEN:
            frozen = torch_fast_path._FROZEN[block][-1]
            linears = {frozen[i][0] for i in (1, 2, 4, 6)}
            expected = torch_fast_path._onednn_linear if packed else F.linear
            assert linears == {expected}
        keras_layers_only(monkeypatch)
        slow = keras.ops.convert_to_numpy(block(x, padding_mask=mask).float())
    assert max_abs_diff_at_real_positions(fast, slow, mask.numpy()) < tolerance


@on_torch_only
@pytest.mark.backend_sensitive
def test_only_small_float32_kernels_are_packed_off_amd(monkeypatch):
    # At ELECTRA-Base's widths (768 x 768 and up) MKL's plain float32
    # product beat the packed one on an Intel Xeon; Small's kernels (up to
    # 256 x 1024) pack. (AMD CPUs: the test below.)
    import torch
    import torch.nn.functional as F

    monkeypatch.setattr(torch_fast_path, "_mkl_trails", lambda: False)

    block = ElectraTransformerBlock(
        num_heads=2, intermediate_dim=64, dropout=0.0
    )
    x = torch.from_numpy(
        np.random.default_rng(0).normal(size=(2, 5, 768)).astype("float32")
    )
    with torch.no_grad():
        fast = keras.ops.convert_to_numpy(block(x))
        if block not in torch_fast_path._FROZEN:
            pytest.skip("frozen inference kernels only on x86 CPUs")
        frozen = torch_fast_path._FROZEN[block][-1]
        # Query/key/value 768 x 2304 and the 768 x 768 output: plain. The
        # feed-forward's 768 x 64 and 64 x 768: packed where float32 packs.
        small = (
            torch_fast_path._onednn_linear
            if packs_natively("float32")
            else F.linear
        )
        assert [frozen[i][0] for i in (1, 2, 4, 6)] == [
            F.linear, F.linear, small, small
        ]
        keras_layers_only(monkeypatch)
        slow = keras.ops.convert_to_numpy(block(x))
    np.testing.assert_allclose(fast, slow, atol=1e-5)


@on_torch_only
@pytest.mark.backend_sensitive
def test_predict_on_batch_skips_the_sub_layer_calls(monkeypatch):
    backbone = tiny_backbone()
    expected = keras.ops.convert_to_numpy(backbone(batch()))
    called = []
    monkeypatch.setattr(
        ElectraTransformerBlock, "call", lambda self, *a, **k: called.append(1)
    )
    # Not bit-equal: inference multiplies by the query, key and value
    # kernels as one (oneDNN-packed on AVX-512), the direct call (autograd
    # on) by each separately.
    np.testing.assert_allclose(
        backbone.predict_on_batch(batch()), expected, atol=1e-6
    )
    assert not called


def predict_and_hf(backbone, hf_model, inputs):
    import torch
    from hf_reference import hf_forward_kwargs

    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    ours = backbone.predict_on_batch(inputs).astype("float32")
    return max_abs_diff_at_real_positions(
        ours, expected.numpy(), inputs["padding_mask"]
    )


@on_torch_only
@pytest.mark.backend_sensitive
def test_packed_kernels_follow_every_weight_change():
    # Inference runs frozen copies of the kernels, made once and kept:
    # loading other weights and an optimizer step must reach them.
    import transformers
    from hf_reference import hf_config
    from hf_reference import keras_backbone_from_hf
    from hf_reference import padded_batch
    from hf_reference import random_hf_model
    from hf_reference import state_dict_numpy

    from keras_electra.convert.weight_map import assign_weights
    from keras_electra.convert.weight_map import backbone_weights

    config = hf_config("factorized")
    first = random_hf_model(transformers.ElectraModel, config, seed=0)
    second = random_hf_model(transformers.ElectraModel, config, seed=1)
    backbone = keras_backbone_from_hf(first, prefix="")
    inputs = padded_batch(config)
    assert predict_and_hf(backbone, first, inputs) <= 1e-5
    assert len(torch_fast_path._FROZEN), "predict_on_batch did not freeze"
    assign_weights(backbone_weights(backbone, ""), state_dict_numpy(second))
    assert predict_and_hf(backbone, second, inputs) <= 1e-5

    before = backbone.predict_on_batch(inputs)
    backbone.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    backbone.train_on_batch(inputs, np.ones_like(before))
    after = backbone.predict_on_batch(inputs)
    unpacked = keras.ops.convert_to_numpy(backbone(inputs, training=False))
    assert np.abs(after - before).max() > 1e-2
    np.testing.assert_allclose(after, unpacked, atol=1e-5)


def hf_and_backbone_at_length_128(dtype):
    """A random HF `ElectraModel` (positions up to 128) and our backbone with
    its weights, computing in `dtype`."""
    import transformers
    from hf_reference import hf_config
    from hf_reference import keras_backbone_from_hf
    from hf_reference import random_hf_model

    config = hf_config("factorized", max_position_embeddings=128)
    hf_model = random_hf_model(transformers.ElectraModel, config)
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    if dtype == "bfloat16":
        weights = backbone.get_weights()
        backbone = keras_electra.ElectraBackbone.from_config(
            {**backbone.get_config(), "dtype": "bfloat16"}
        )
        backbone.set_weights(weights)
    return config, hf_model, backbone


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "dtype, tolerance", [("float32", 1e-5), ("bfloat16", 0.1)]
)
def test_written_out_attention_matches_hf_at_length_128(
    monkeypatch, dtype, tolerance
):
    # bfloat16 inference at lengths 128-256 writes attention out on CPUs
    # without AMX (faster than SDPA there); both dtypes are forced onto that
    # path to check it against HF on any CPU, float32 at HF's precision,
    # padding included.
    from hf_reference import padded_batch

    config, hf_model, backbone = hf_and_backbone_at_length_128(dtype)
    written_out = []

    def record(query, dropout):
        written_out.append(query.shape[-2])
        return True

    monkeypatch.setattr(torch_fast_path, "_explicit_attention", record)
    inputs = padded_batch(config, batch=3, length=128)
    assert predict_and_hf(backbone, hf_model, inputs) <= tolerance
    assert written_out == [128] * config.num_hidden_layers


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "dtype, tolerance", [("float32", 1e-5), ("bfloat16", 0.1)]
)
def test_residuals_added_inside_packed_products_match_hf(
    monkeypatch, dtype, tolerance
):
    # From 1,024 rows a packed product adds the block's residual itself;
    # 8 x 128 reaches that, padding included.
    from hf_reference import padded_batch

    config, hf_model, backbone = hf_and_backbone_at_length_128(dtype)
    fused = spy(
        monkeypatch, "_onednn_linear_add", lambda x, *rest: tuple(x.shape[:-1])
    )
    inputs = padded_batch(config, batch=8, length=128)
    assert predict_and_hf(backbone, hf_model, inputs) <= tolerance
    packs = torch_fast_path._packs(
        backbone.get_layer("transformer_layer_0").output_dense.kernel.value
    )
    assert fused == [(8, 128)] * (2 * config.num_hidden_layers * packs)


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize("amd", [True, False])
def test_wide_float32_kernels_pack_on_amd_cpus_and_match_hf(monkeypatch, amd):
    # MKL's float32 products trailed oneDNN's packed ones at ELECTRA-Base's
    # widths on an AMD EPYC and led on an Intel Xeon.
    import torch
    import transformers
    from hf_reference import hf_config
    from hf_reference import keras_backbone_from_hf
    from hf_reference import padded_batch
    from hf_reference import random_hf_model

    monkeypatch.setattr(torch_fast_path, "_mkl_trails", lambda: amd)
    monkeypatch.setattr(torch_fast_path, "_has_avx512", lambda: True)
    config = hf_config(
        "factorized", hidden_size=768, num_attention_heads=12,
        intermediate_size=3072, num_hidden_layers=1,
    )
    hf_model = random_hf_model(transformers.ElectraModel, config)
    backbone = keras_backbone_from_hf(hf_model, prefix="")
    packed = spy(monkeypatch, "_onednn_linear", lambda x, kernel, bias: 1)
    inputs = padded_batch(config, batch=2, length=16)
    assert predict_and_hf(backbone, hf_model, inputs) <= 1e-5
    if torch_fast_path._X86 and torch.backends.mkldnn.is_available():
        # Four products in the block (query, key and value as one), the
        # embedding's projection below Small's widths in either case.
        assert len(packed) == (5 if amd else 1)


@on_torch_only
@pytest.mark.backend_sensitive
def test_scores_scaled_inside_the_product_equal_scaled_products():
    # Heads split from one query/key/value output (a strided view, as the
    # inference block has them), keys longer than queries, gradients too
    # (training's written-out attention takes the same scores).
    import torch

    generator = torch.Generator().manual_seed(0)
    fused = torch.randn((2, 5, 3, 3, 8), generator=generator)
    query = fused[:, :, 0].permute(0, 2, 1, 3).requires_grad_()
    key = torch.randn((2, 3, 7, 8), generator=generator, requires_grad=True)
    scale = 1 / math.sqrt(8)
    scores = torch_fast_path._scaled_scores(query, key, scale)
    expected = torch.matmul(query, key.transpose(-1, -2)) * scale
    assert scores.shape == (2, 3, 5, 7)
    torch.testing.assert_close(scores, expected, rtol=0, atol=1e-6)
    weights = torch.randn(scores.shape, generator=generator)
    grads = torch.autograd.grad((scores * weights).sum(), (query, key))
    expected_grads = torch.autograd.grad(
        (expected * weights).sum(), (query, key)
    )
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-6)


@on_torch_only
@pytest.mark.backend_sensitive
@pytest.mark.parametrize("amx", [True, False])
def test_attention_is_written_out_only_where_sdpa_is_slower(
    monkeypatch, amx
):
    import torch

    monkeypatch.setattr(torch_fast_path, "_has_amx", lambda: amx)

    def written_out(dtype, length, dropout=False):
        query = torch.zeros((1, 4, length, 64), dtype=dtype)
        return torch_fast_path._explicit_attention(query, dropout)

    for length in (128, 256):
        assert written_out(torch.bfloat16, length) is not amx
        assert written_out(torch.float16, length) is not amx
        assert not written_out(torch.float32, length)
    for length in (32, 512):
        assert not written_out(torch.bfloat16, length)
    # Only the written-out attention draws Keras' dropout masks.
    assert written_out(torch.float32, 32, dropout=True)
