import functools

import keras
import numpy as np
import pytest

from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_classifier import ElectraClassifier
from keras_electra.optimizers import LayerwiseDecayAdamW

NUM_LAYERS = 3
DECAY = 0.8


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def tiny_classifier(dropout=0.1):
    keras.utils.set_random_seed(0)
    backbone = ElectraBackbone(
        vocabulary_size=30, num_layers=NUM_LAYERS, num_heads=2, hidden_dim=8,
        embedding_dim=4, intermediate_dim=16, max_sequence_length=8,
        dropout=dropout,
    )
    return ElectraClassifier(backbone, num_classes=3, dropout=dropout)


def expected_multipliers(classifier, decay=DECAY):
    """{id(variable): multiplier}, from the model's structure (not paths)."""
    backbone = classifier.backbone
    num_layers = len(backbone.transformer_layers)
    expected = {}
    for variable in backbone.embeddings.trainable_variables:
        expected[id(variable)] = decay ** (num_layers + 1)
    for i, layer in enumerate(backbone.transformer_layers):
        for variable in layer.trainable_variables:
            expected[id(variable)] = decay ** (num_layers - i)
    for variable in classifier.classifier_head.trainable_variables:
        expected[id(variable)] = 1.0
    assert len(expected) == len(classifier.trainable_variables)
    return [expected[id(v)] for v in classifier.trainable_variables]


def random_gradients(variables, seed=0):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=tuple(v.shape)).astype("float32") for v in variables
    ]


def one_step_deltas(optimizer, variables, gradients):
    """Apply one step from the current values; return deltas, then undo."""
    start = [to_numpy(v).copy() for v in variables]
    optimizer.apply([keras.ops.convert_to_tensor(g) for g in gradients],
                    variables)
    deltas = [to_numpy(v) - s for v, s in zip(variables, start)]
    for variable, value in zip(variables, start):
        variable.assign(value)
    return deltas


def three_steps(optimizer, variables, start, seeds=(0, 1, 2)):
    """Weights after `optimizer` applies three random gradients from `start`."""
    for variable, value in zip(variables, start):
        variable.assign(value)
    for seed in seeds:
        gradients = random_gradients(variables, seed=seed)
        optimizer.apply(
            [keras.ops.convert_to_tensor(g) for g in gradients], variables
        )
    return [to_numpy(v) for v in variables]


def assert_scaled(deltas, bases, multipliers, starts):
    """`deltas == multipliers * bases`, up to float32 rounding of weights."""
    for delta, base, multiplier, start in zip(
        deltas, bases, multipliers, starts
    ):
        # A delta is a difference of two float32 weights, so it carries
        # their rounding (an ulp of the weight), on top of the step's own.
        expected = multiplier * base
        tolerance = 1e-5 * np.abs(expected) + 2 * np.spacing(
            np.abs(start).astype("float32")
        )
        assert np.all(np.abs(delta - expected) <= tolerance), (
            np.max(np.abs(delta - expected) - tolerance)
        )


def integer_batch(count=6, length=8, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, 30, size=(count, length)).astype("int32")
    token_ids[:, 0] = 2
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros((count, length), "int32"),
        "padding_mask": np.ones((count, length), "int32"),
    }, rng.integers(0, 3, size=count).astype("int32")


def test_multipliers_follow_depth_from_the_top():
    classifier = tiny_classifier()
    optimizer = LayerwiseDecayAdamW(1e-3, layer_decay=DECAY)
    optimizer.build(classifier.trainable_variables)
    by_path = optimizer.learning_rate_multipliers()
    ours = [by_path[v.path] for v in classifier.trainable_variables]
    np.testing.assert_allclose(ours, expected_multipliers(classifier))
    # The head at the full rate, the embeddings at decay^(L + 1).
    assert by_path["classifier_head/output_dense/kernel"] == 1.0
    assert by_path["transformer_layer_2/query/kernel"] == pytest.approx(0.8)
    assert by_path["transformer_layer_0/query/kernel"] == pytest.approx(0.512)
    assert by_path["embeddings/token_embedding/embeddings"] == pytest.approx(
        0.8**4
    )


def test_num_layers_counts_from_the_given_depth():
    classifier = tiny_classifier()
    # With a deeper declared stack every backbone layer sits one step lower.
    optimizer = LayerwiseDecayAdamW(1e-3, layer_decay=0.5, num_layers=4)
    optimizer.build(classifier.trainable_variables)
    by_path = optimizer.learning_rate_multipliers()
    assert by_path["transformer_layer_2/query/kernel"] == 0.25
    assert by_path["embeddings/layer_norm/gamma"] == 0.5**5


@pytest.mark.backend_sensitive
def test_update_is_scaled_not_the_gradient():
    classifier = tiny_classifier()
    variables = classifier.trainable_variables
    # From zero weights a step's delta is exact (no float32 cancellation).
    for variable in variables:
        variable.assign(keras.ops.zeros(variable.shape))
    gradients = random_gradients(variables)
    multipliers = expected_multipliers(classifier)
    plain = one_step_deltas(
        keras.optimizers.Adam(1e-3, epsilon=1e-6), variables, gradients
    )
    layerwise = one_step_deltas(
        LayerwiseDecayAdamW(1e-3, layer_decay=DECAY, weight_decay=0.0),
        variables, gradients,
    )
    # Same gradients: each variable's update is the plain update times its
    # multiplier, element for element.
    for delta, base, multiplier in zip(layerwise, plain, multipliers):
        np.testing.assert_allclose(delta, multiplier * base, rtol=1e-6,
                                   atol=0)
    # Scaling the gradients instead would not do it: Adam divides the
    # scale out again, so every layer would move as far as the head.
    scaled = one_step_deltas(
        keras.optimizers.Adam(1e-3, epsilon=1e-6),
        variables,
        [g * m for g, m in zip(gradients, multipliers)],
    )
    for delta, base, multiplier in zip(scaled, plain, multipliers):
        ratio = np.abs(delta).sum() / np.abs(base).sum()
        assert ratio == pytest.approx(1.0, rel=1e-2)
        if multiplier < 1.0:
            assert abs(ratio - multiplier) > 0.1


@pytest.mark.backend_sensitive
def test_fit_step_updates_in_the_expected_ratios():
    """The same check through `fit`'s compiled train step on each backend."""
    x, y = integer_batch()
    classifier = tiny_classifier(dropout=0.0)  # Identical gradients.
    variables = classifier.trainable_variables
    start = [to_numpy(v).copy() for v in variables]

    def one_fit_step(optimizer):
        for variable, value in zip(variables, start):
            variable.assign(value)
        # jit_compile="auto": XLA on TensorFlow, jit on JAX.
        classifier.compile(optimizer=optimizer)
        classifier.fit(x, y, batch_size=len(y), epochs=1, shuffle=False,
                       verbose=0)
        return [to_numpy(v) - s for v, s in zip(variables, start)]

    plain = one_fit_step(keras.optimizers.Adam(1e-3, epsilon=1e-6))
    layerwise = one_fit_step(
        LayerwiseDecayAdamW(1e-3, layer_decay=DECAY, weight_decay=0.0)
    )
    assert_scaled(layerwise, plain, expected_multipliers(classifier), start)


@pytest.mark.backend_sensitive
def test_weight_decay_skips_layer_norms_and_biases():
    classifier = tiny_classifier()
    variables = classifier.trainable_variables
    layer_norm_ids = {
        id(v)
        for layer in classifier._flatten_layers()
        if isinstance(layer, keras.layers.LayerNormalization)
        for v in layer.trainable_variables
    }
    assert layer_norm_ids
    multipliers = expected_multipliers(classifier)
    learning_rate, weight_decay = 0.01, 0.1
    optimizer = LayerwiseDecayAdamW(
        learning_rate, layer_decay=DECAY, weight_decay=weight_decay
    )
    # Zero gradients: Adam's own step is 0, only the decay moves weights.
    zeros = [np.zeros(tuple(v.shape), "float32") for v in variables]
    start = [to_numpy(v).copy() for v in variables]
    deltas = one_step_deltas(optimizer, variables, zeros)
    for variable, value, delta, multiplier in zip(
        variables, start, deltas, multipliers
    ):
        skipped = id(variable) in layer_norm_ids or variable.name == "bias"
        expected = 0.0 * value if skipped else (
            -value * learning_rate * multiplier * weight_decay
        )
        np.testing.assert_allclose(delta, expected, rtol=1e-4, atol=1e-9)


@pytest.mark.backend_sensitive
def test_no_decay_is_keras_adamw():
    classifier = tiny_classifier()
    variables = classifier.trainable_variables
    start = [to_numpy(v).copy() for v in variables]
    results = []
    for optimizer in (
        keras.optimizers.AdamW(1e-3, weight_decay=0.01, epsilon=1e-6),
        LayerwiseDecayAdamW(
            1e-3, layer_decay=1.0, weight_decay=0.01,
            exclude_from_weight_decay_patterns=(),
        ),
    ):
        results.append(three_steps(optimizer, variables, start))
    for ours, reference in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-8)


@pytest.mark.backend_sensitive
@pytest.mark.skipif(
    keras.config.backend() != "torch",
    reason="the grouped multi-tensor step exists on the torch backend only",
)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_grouped_torch_step_is_the_per_variable_step(amsgrad):
    """Three steps of the torch fast path against Keras' loop of
    `update_step` (the code path TensorFlow and JAX trace)."""
    classifier = tiny_classifier()
    variables = classifier.trainable_variables
    start = [to_numpy(v).copy() for v in variables]
    results = []
    for grouped in (True, False):
        optimizer = LayerwiseDecayAdamW(
            1e-2, layer_decay=DECAY, weight_decay=0.1, amsgrad=amsgrad
        )
        if not grouped:
            optimizer._backend_update_step = functools.partial(
                keras.optimizers.Optimizer._backend_update_step, optimizer
            )
        results.append(three_steps(optimizer, variables, start))
    moved = max(np.abs(r - s).max() for r, s in zip(results[1], start))
    assert moved > 1e-3
    for ours, loop in zip(results[0], results[1]):
        np.testing.assert_allclose(ours, loop, rtol=1e-6, atol=1e-7)


def test_config_round_trip():
    optimizer = LayerwiseDecayAdamW(
        keras.optimizers.schedules.PolynomialDecay(1e-4, 100, 0.0),
        layer_decay=0.9, weight_decay=0.02, num_layers=12,
        exclude_from_weight_decay_patterns=["norm"], global_clipnorm=1.0,
    )
    restored = keras.optimizers.deserialize(
        keras.optimizers.serialize(optimizer)
    )
    assert isinstance(restored, LayerwiseDecayAdamW)
    assert restored.get_config() == optimizer.get_config()
    assert restored.layer_decay == 0.9 and restored.num_layers == 12
    assert restored.exclude_from_weight_decay_patterns == ["norm"]


@pytest.mark.parametrize("decay", [0.0, 1.5])
def test_bad_layer_decay_raises(decay):
    with pytest.raises(ValueError, match=r"layer_decay.*\(0, 1\]"):
        LayerwiseDecayAdamW(1e-3, layer_decay=decay)


def test_model_without_transformer_layers_raises():
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    optimizer = LayerwiseDecayAdamW(1e-3, layer_decay=0.8)
    with pytest.raises(ValueError, match="no `transformer_layer_<i>/`"):
        optimizer.build(dense.trainable_variables)
    # With no decay there is nothing to place, so any model works.
    LayerwiseDecayAdamW(1e-3, layer_decay=1.0).build(dense.trainable_variables)


def test_too_small_num_layers_raises():
    classifier = tiny_classifier()
    optimizer = LayerwiseDecayAdamW(1e-3, num_layers=2)
    with pytest.raises(ValueError, match="transformer_layer_2.*num_layers=2"):
        optimizer.build(classifier.trainable_variables)
