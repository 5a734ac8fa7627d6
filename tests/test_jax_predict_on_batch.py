import keras
import numpy as np
import pytest
import tensorflow as tf
from hf_reference import backbone_parity_case
from hf_reference import hf_config
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch
from lm_reference import tiny_backbone

from keras_electra import ElectraClassifier
from keras_electra.models import jax_predict_on_batch
from keras_electra.models.jax_predict_on_batch import JaxPredictOnBatchMixin

# Every test here runs in the JAX (and PyTorch) passes of tests/run.sh.
pytestmark = pytest.mark.backend_sensitive
jax_only = pytest.mark.skipif(
    keras.config.backend() != "jax", reason="JAX's own predict_on_batch"
)
LEAN_STEP = "_electra_lean_predict_step"


@pytest.fixture(autouse=True)
def one_call_per_batch(monkeypatch, request):
    """The lean step on whole batches, as on one core (bit for bit Keras'
    results); the halves that two cores run side by side have their own
    test below."""
    if "halves" not in request.node.name:
        monkeypatch.setattr(jax_predict_on_batch, "_two_cores", lambda: False)


def tiny_inputs():
    return padded_batch(hf_config("factorized", vocab_size=50), length=12)


def keras_predict_on_batch(model, x):
    return keras.Model.predict_on_batch(model, x)


def test_backbone_predict_on_batch_matches_hf_and_keras():
    backbone, inputs, expected = backbone_parity_case()
    ours = backbone.predict_on_batch(inputs)
    diff = max_abs_diff_at_real_positions(ours, expected,
                                          inputs["padding_mask"])
    assert diff <= 1e-5
    np.testing.assert_array_equal(
        ours, keras_predict_on_batch(backbone, inputs)
    )
    # The lean step ran on JAX, and only there.
    assert (LEAN_STEP in backbone.__dict__) == (keras.config.backend() == "jax")


@jax_only
def test_leaves_variables_as_they_were():
    backbone = tiny_backbone()
    variables = list(backbone.variables)
    values = [np.array(v.value) for v in variables]
    backbone.predict_on_batch(tiny_inputs())
    backbone.predict_on_batch(tiny_inputs())
    assert list(backbone.variables) == variables
    for variable, value in zip(variables, values):
        np.testing.assert_array_equal(variable.value, value)


@jax_only
def test_task_predict_on_batch_takes_the_lean_step():
    classifier = ElectraClassifier(
        backbone=tiny_backbone(), num_classes=3, preprocessor=None
    )
    inputs = tiny_inputs()
    logits = classifier.predict_on_batch(inputs)
    assert LEAN_STEP in classifier.__dict__
    assert logits.shape == (len(inputs["token_ids"]), 3)
    np.testing.assert_array_equal(
        logits, keras_predict_on_batch(classifier, inputs)
    )


class Counter(keras.layers.Layer):
    """Counts its inference calls in a non-trainable variable."""

    def build(self, input_shape):
        self.count = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="count"
        )

    def call(self, x):
        self.count.assign(self.count + 1.0)
        return x + self.count


class LeanModel(JaxPredictOnBatchMixin, keras.Model):
    pass


def lean_model(*layers):
    """A `LeanModel` applying `layers` in turn to a batch of 2-vectors."""
    inputs = keras.Input((2,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return LeanModel(inputs, x)


@jax_only
def test_assignments_made_in_inference_are_kept():
    lean = lean_model(keras.layers.Dense(2), Counter())
    plain = lean_model(keras.layers.Dense(2), Counter())
    plain.set_weights(lean.get_weights())
    x = np.ones((3, 2), "float32")
    for _ in range(2):
        np.testing.assert_allclose(
            lean.predict_on_batch(x), keras_predict_on_batch(plain, x)
        )
    assert LEAN_STEP in lean.__dict__
    assert float(lean.layers[-1].count.value) == 2.0


@jax_only
@pytest.mark.parametrize(
    "frozen", ["model", "model, one variable thawed", "first layer",
               "one variable"]
)
def test_frozen_variables_are_read_as_keras_reads_them(frozen):
    lean = lean_model(keras.layers.Dense(2), Counter(), keras.layers.Dense(2))
    plain = lean_model(keras.layers.Dense(2), Counter(), keras.layers.Dense(2))
    plain.set_weights(lean.get_weights())
    for model in (lean, plain):
        if frozen.startswith("model"):
            model.trainable = False
        if frozen == "model, one variable thawed":
            # Keras then still counts every variable as non-trainable.
            model.layers[1].kernel.trainable = True
        elif frozen == "first layer":
            model.layers[1].trainable = False
        elif frozen == "one variable":
            model.layers[-1].kernel.trainable = False
    x = np.ones((3, 2), "float32")
    for _ in range(2):
        ours = lean.predict_on_batch(x)
        np.testing.assert_array_equal(ours, keras_predict_on_batch(plain, x))
    assert LEAN_STEP in lean.__dict__
    assert float(lean.layers[2].count.value) == 2.0
    ours[0, 0] = 0.0  # A copy of the caller's own, as Keras returns.


@jax_only
def test_stateless_scope_values_are_used():
    backbone = tiny_backbone()
    inputs = tiny_inputs()
    kernel = backbone.get_layer("transformer_layer_0").output_dense.kernel
    zeroed = keras.ops.zeros(kernel.shape, kernel.dtype)
    with keras.StatelessScope(state_mapping=[(kernel, zeroed)]):
        ours = backbone.predict_on_batch(inputs)
    kernel.assign(zeroed)
    np.testing.assert_array_equal(
        ours, keras_predict_on_batch(backbone, inputs)
    )


@jax_only
@pytest.mark.parametrize("compile_kwargs", [
    dict(jit_compile=False), dict(run_eagerly=True),
])
def test_uncompiled_steps_are_left_to_keras(compile_kwargs):
    backbone = tiny_backbone()
    backbone.compile(**compile_kwargs)
    inputs = tiny_inputs()
    outputs = backbone.predict_on_batch(inputs)
    assert LEAN_STEP not in backbone.__dict__
    np.testing.assert_allclose(
        outputs, keras.ops.convert_to_numpy(backbone(inputs)), atol=1e-6
    )


@jax_only
def test_raw_strings_get_keras_behaviour():
    classifier = ElectraClassifier(
        backbone=tiny_backbone(), num_classes=3, preprocessor=None
    )
    with pytest.raises(Exception) as ours:
        classifier.predict_on_batch({"token_ids": np.array(["a b"])})
    with pytest.raises(Exception) as theirs:
        keras_predict_on_batch(classifier, {"token_ids": np.array(["a b"])})
    assert type(ours.value) is type(theirs.value)
    assert LEAN_STEP not in classifier.__dict__


@jax_only
def test_quantizing_after_a_call_is_followed():
    backbone = tiny_backbone()
    inputs = tiny_inputs()
    before = backbone.predict_on_batch(inputs)
    backbone.quantize("int8")
    after = backbone.predict_on_batch(inputs)
    np.testing.assert_array_equal(
        after, keras_predict_on_batch(backbone, inputs)
    )
    assert not np.array_equal(after, before)


class Scale(keras.layers.Layer):
    """Multiplies by a Python number, read when the step is traced."""

    factor = 1.0

    def call(self, x):
        return x * self.factor


@jax_only
def test_recompiling_traces_the_step_again():
    scale = Scale()
    model = lean_model(scale)
    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(model.predict_on_batch(x), x)
    scale.factor = 3.0
    model.compile()  # As with Keras' own step, a change shows after compile.
    np.testing.assert_array_equal(model.predict_on_batch(x), 3 * x)


def record_lean_calls(monkeypatch):
    """The names of the threads that run each call of the lean step."""
    import threading

    threads = []
    compile_step = jax_predict_on_batch._compile_step

    def recording_step(model):
        step = compile_step(model)

        def run(*args):
            threads.append(threading.current_thread().name)
            return step(*args)

        return run

    monkeypatch.setattr(jax_predict_on_batch, "_compile_step", recording_step)
    return threads


def on_side_thread(threads):
    return [name for name in threads if "electra-predict-half" in name]


def direct_call(model, inputs):
    """The model's outputs through its own call: neither Keras' step nor
    ours."""
    return keras.ops.convert_to_numpy(model(inputs, training=False))


@jax_only
@pytest.mark.parametrize("rows", [1, 2, 3, 8])
def test_two_cores_run_the_halves_of_a_batch_side_by_side(monkeypatch, rows):
    monkeypatch.setattr(jax_predict_on_batch, "_two_cores", lambda: True)
    classifier = ElectraClassifier(tiny_backbone(), num_classes=3)
    inputs = tiny_inputs()
    inputs = {k: np.resize(v, (rows,) + v.shape[1:]) for k, v in inputs.items()}
    threads = record_lean_calls(monkeypatch)
    ours = classifier.predict_on_batch(inputs)
    expected = direct_call(classifier, inputs)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    # A batch of one stays one call, on the caller's thread.
    assert len(threads) == 1 + (rows > 1)
    assert len(on_side_thread(threads)) == (rows > 1)


@jax_only
def test_two_cores_predict_runs_each_batch_in_halves(monkeypatch):
    monkeypatch.setattr(jax_predict_on_batch, "_two_cores", lambda: True)
    classifier = ElectraClassifier(tiny_backbone(), num_classes=3)
    variables = [np.array(v.value) for v in classifier.variables]
    inputs = tiny_inputs()
    inputs = {k: np.resize(v, (10,) + v.shape[1:]) for k, v in inputs.items()}
    threads = record_lean_calls(monkeypatch)
    # A dataset, for Keras' own loop (in-memory inputs go through
    # `predict_on_batch`).
    batches = tf.data.Dataset.from_tensor_slices(inputs).batch(4)
    ours = classifier.predict(batches, verbose=0)
    np.testing.assert_allclose(
        ours, direct_call(classifier, inputs), atol=1e-6
    )
    # Batches of 4, 4 and 2 rows, each as two halves side by side.
    assert len(threads) == 6
    assert len(on_side_thread(threads)) == 3
    # Keras put the variables back after its loop, as they were.
    for variable, value in zip(classifier.variables, variables):
        np.testing.assert_array_equal(variable.value, value)
    np.testing.assert_array_equal(classifier.predict(batches, verbose=0), ours)


@jax_only
def test_two_cores_predict_keeps_assignments_made_in_inference(monkeypatch):
    monkeypatch.setattr(jax_predict_on_batch, "_two_cores", lambda: True)
    lean = lean_model(keras.layers.Dense(2), Counter())
    plain_inputs = keras.Input((2,))
    plain = keras.Model(
        plain_inputs, Counter()(keras.layers.Dense(2)(plain_inputs))
    )
    plain.set_weights(lean.get_weights())
    threads = record_lean_calls(monkeypatch)
    x = np.arange(12, dtype="float32").reshape(6, 2)
    for _ in range(2):
        np.testing.assert_allclose(
            lean.predict(x, batch_size=3, verbose=0),
            plain.predict(x, batch_size=3, verbose=0),
        )
    # One count per batch, as in Keras' loop, though each ran in halves.
    assert float(lean.layers[-1].count.value) == 4.0
    assert float(plain.layers[-1].count.value) == 4.0
    assert len(threads) == 8


@jax_only
@pytest.mark.parametrize("case", ["several_steps", "none_in_data"])
def test_predict_leaves_to_keras_what_halves_do_not_take(monkeypatch, case):
    monkeypatch.setattr(jax_predict_on_batch, "_two_cores", lambda: True)
    model = lean_model(keras.layers.Dense(2))
    threads = record_lean_calls(monkeypatch)
    x = np.arange(16, dtype="float32").reshape(8, 2)
    if case == "several_steps":
        model.compile(steps_per_execution=2)
        data = dict(x=x, batch_size=2)
    else:
        data = dict(x=((part, None) for part in (x[:4], x[4:])), steps=2)
    np.testing.assert_allclose(
        model.predict(verbose=0, **data), direct_call(model, x), atol=1e-6
    )
    assert threads == []
