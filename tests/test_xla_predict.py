"""`predict` compiled with XLA on CPU-only TensorFlow (`XlaPredictMixin`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hf_reference import backbone_parity_case
from hf_reference import hf_config
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch
from lm_reference import tiny_backbone
from tf_graphs import products_for_float32_results
from tf_graphs import xla_calls
from tf_graphs import xla_calls_in_branches

from keras_electra import ElectraClassifier
from keras_electra.models import xla_predict

pytestmark = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="Keras already compiles every JAX step; PyTorch has no XLA",
)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch, request):
    """The choice of XLA or not, as on one thread; the halves of a batch
    that two threads run side by side are tested on their own below."""
    if "halves" not in request.node.name:
        monkeypatch.setattr(xla_predict, "concurrent_threads", lambda: 1)
    if "without_amx" not in request.node.name:
        # The rule for CPUs with AMX, on any machine the suite runs on.
        monkeypatch.setattr(xla_predict, "lacks_amx", lambda: False)


def tiny_inputs():
    return padded_batch(hf_config("factorized", vocab_size=50), length=12)


def tiny_classifier():
    return ElectraClassifier(tiny_backbone(), num_classes=3)


def test_backbone_predicts_through_xla_and_matches_hf():
    backbone, inputs, expected = backbone_parity_case()
    ours = backbone.predict_on_batch(inputs)
    assert xla_calls(backbone.predict_function) == 1
    diff = max_abs_diff_at_real_positions(
        ours, expected, inputs["padding_mask"]
    )
    assert diff <= 1e-5
    backbone.compile(jit_compile=False)
    np.testing.assert_allclose(
        backbone.predict(inputs, verbose=0), ours, atol=1e-5
    )
    assert xla_calls(backbone.predict_function) == 0


def test_compiled_task_predicts_through_xla_and_trains_without():
    classifier = tiny_classifier()
    classifier.compile()  # jit_compile="auto"
    inputs = tiny_inputs()
    classifier.predict(inputs, batch_size=3, verbose=0)
    assert xla_calls(classifier.predict_function) == 1
    # Keras builds the train step with XLA exactly when this is True.
    assert classifier.jit_compile is False
    classifier.fit(inputs, np.array([0, 1, 2]), epochs=1, verbose=0)
    classifier.predict(inputs, batch_size=3, verbose=0)
    assert xla_calls(classifier.predict_function) == 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(jit_compile=False), dict(run_eagerly=True), None],
    ids=["compile-jit-false", "run-eagerly", "attribute-jit-false"],
)
def test_explicit_choices_keep_keras_predict(kwargs):
    classifier = tiny_classifier()
    if kwargs is None:  # Keras' other way to turn XLA off.
        classifier.compile()
        classifier.jit_compile = False
        kwargs = {}
    else:
        classifier.compile(**kwargs)
    expected = keras.ops.convert_to_numpy(
        classifier(tiny_inputs(), training=False)
    )
    out = classifier.predict_on_batch(tiny_inputs())
    np.testing.assert_allclose(out, expected, atol=1e-6)
    if kwargs.get("run_eagerly"):
        assert not isinstance(
            classifier.predict_function,
            tf.types.experimental.PolymorphicFunction,
        )
    else:
        assert xla_calls(classifier.predict_function) == 0


@pytest.mark.parametrize("jit_compile, calls", [("auto", 1), (False, 0)])
def test_a_reloaded_task_keeps_the_choice(tmp_path, jit_compile, calls):
    classifier = tiny_classifier()
    classifier.compile(jit_compile=jit_compile)
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored.predict_on_batch(tiny_inputs()),
        classifier.predict_on_batch(tiny_inputs()),
        atol=1e-6,
    )
    assert xla_calls(restored.predict_function) == calls


@pytest.mark.parametrize(
    "dtype, calls",
    [("bfloat16", 1), ("mixed_bfloat16", 1), ("float16", 0)],
)
def test_bfloat16_predicts_through_xla_and_float16_does_not(dtype, calls):
    # Under XLA, bfloat16 products ask for float32 results, which XLA's CPU
    # backend computes with the CPU's bfloat16 instructions.
    classifier = ElectraClassifier(tiny_backbone(dtype=dtype), num_classes=3)
    classifier.compile()
    out = classifier.predict_on_batch(tiny_inputs())
    assert xla_calls(classifier.predict_function) == calls
    # Per block: query, key, value, two attention products, attention
    # output and two feed-forward products.
    blocks = len(classifier.backbone.transformer_layers)
    assert products_for_float32_results(classifier.predict_function) == (
        8 * blocks if calls else 0
    )
    expected = classifier(tiny_inputs(), training=False)
    # Graph and eager kernels round bfloat16 differently (about 3 digits).
    np.testing.assert_allclose(
        out, keras.ops.convert_to_numpy(expected), rtol=0.05, atol=1e-4
    )


@pytest.mark.parametrize(
    "hidden_dim, onednn, dtype, threads, calls",
    [
        (768, True, None, 1, 0),
        (768, True, None, 2, 0),
        (768, False, None, 1, 1),
        (32, True, None, 1, 1),
        (768, True, "bfloat16", 1, 0),
        (768, True, "bfloat16", 2, 2),
    ],
    ids=["wide-onednn", "wide-onednn-two-threads", "wide-eigen",
         "narrow-onednn", "wide-bfloat16", "wide-bfloat16-two-threads"],
)
def test_wide_models_predict_without_xla_where_onednn_multiplies(
    monkeypatch, hidden_dim, onednn, dtype, threads, calls
):
    # Where TensorFlow's graph multiplies with oneDNN, its products outrun
    # XLA's; from ELECTRA-Base's width on that outweighs what XLA saves.
    # In bfloat16 on two threads, XLA's halves of the batch are the faster.
    from keras_electra.layers import tf_fast_path

    monkeypatch.setattr(tf_fast_path, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(xla_predict, "concurrent_threads", lambda: threads)
    backbone = tiny_backbone(
        vocabulary_size=50, num_layers=1, hidden_dim=hidden_dim, dtype=dtype
    )
    inputs = tiny_inputs()
    out = backbone.predict_on_batch(inputs)
    assert xla_calls(backbone.predict_function) == calls
    expected = keras.ops.convert_to_numpy(backbone(inputs, training=False))
    if dtype is None:
        np.testing.assert_allclose(out, expected, atol=1e-5)
    else:
        np.testing.assert_allclose(out, expected, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("dtype", [None, "bfloat16"])
@pytest.mark.parametrize("threads, calls", [(1, 0), (2, 2)])
def test_without_amx_one_thread_predicts_in_the_graph(
    monkeypatch, dtype, threads, calls
):
    # On one thread of a CPU without AMX the graph's oneDNN products outran
    # XLA at ELECTRA-Small too; two threads keep XLA's halves.
    from keras_electra.layers import tf_fast_path

    monkeypatch.setattr(tf_fast_path, "onednn_enabled", lambda: True)
    monkeypatch.setattr(xla_predict, "lacks_amx", lambda: True)
    monkeypatch.setattr(xla_predict, "concurrent_threads", lambda: threads)
    backbone = tiny_backbone(vocabulary_size=50, num_layers=1, dtype=dtype)
    inputs = tiny_inputs()
    out = backbone.predict_on_batch(inputs)
    assert xla_calls(backbone.predict_function) == calls
    expected = keras.ops.convert_to_numpy(backbone(inputs, training=False))
    tolerance = 1e-5 if dtype is None else 0.05
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(
    "cpuinfo, lacks, amd",
    [("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512f avx512_bf16\n",
      True, True),
     ("vendor_id\t: GenuineIntel\nflags\t\t: fpu amx_bf16 amx_tile\n",
      False, False),
     (None, False, False)],
    ids=["epyc", "xeon-amx", "no-cpuinfo"],
)
def test_cpu_rules_read_linux_cpu_flags(tmp_path, cpuinfo, lacks, amd):
    from keras_electra import cpu_info

    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text("processor\t: 0\n" + cpuinfo)
    assert cpu_info.lacks_amx(str(path)) is lacks
    assert cpu_info.is_amd(str(path)) is amd


@pytest.mark.parametrize("threads", [2, 1])
def test_two_threads_predict_the_halves_of_a_batch_side_by_side(
    monkeypatch, threads
):
    # Two XLA calls on the halves, which TensorFlow runs side by side on
    # two threads (ELECTRA-Small at 8 x 128, two cores: 87.5 against
    # 102.5 ms per call); one thread keeps one call on the whole batch.
    monkeypatch.setattr(xla_predict, "concurrent_threads", lambda: threads)
    backbone, inputs, expected = backbone_parity_case()
    ours = backbone.predict_on_batch(inputs)
    assert xla_calls(backbone.predict_function) == threads
    diff = max_abs_diff_at_real_positions(
        ours, expected, inputs["padding_mask"]
    )
    assert diff <= 1e-5


def test_predict_in_halves_of_any_batch_size(monkeypatch):
    monkeypatch.setattr(xla_predict, "concurrent_threads", lambda: 2)
    classifier = tiny_classifier()
    classifier.compile()
    inputs = padded_batch(hf_config("factorized", vocab_size=50), length=12)
    more = {k: np.concatenate([v] * 3) for k, v in inputs.items()}  # 9 rows
    expected = keras.ops.convert_to_numpy(classifier(more, training=False))
    # Batches of 4, 4 and 1: the last shape makes Keras trace again with
    # an unknown batch size, where a `tf.cond` picks halves or one call.
    out = classifier.predict(more, batch_size=4, verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert (2, 1) in xla_calls_in_branches(classifier.predict_function)
    for rows in (1, 2, 5):
        part = {k: v[:rows] for k, v in more.items()}
        np.testing.assert_allclose(
            classifier.predict_on_batch(part), expected[:rows], atol=1e-5
        )
