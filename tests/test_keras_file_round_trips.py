"""Every task and the pre-trainer reload from `.keras` compiled as saved.

Fit one step, save, load: the reloaded model has the same optimizer (class,
config, iteration count and every slot variable), the same loss, gives the
same outputs, and loading emits no warning (Python warnings or logging,
which is where Keras reports skipped optimizer variables).
"""

import logging
import warnings

import keras
import numpy as np
import pytest

from keras_electra import ElectraBackbone
from keras_electra import ElectraCausalLM
from keras_electra import ElectraClassifier
from keras_electra import ElectraDiscriminator
from keras_electra import ElectraMaskedLM
from keras_electra import ElectraMultipleChoice
from keras_electra import ElectraPretrainer
from keras_electra import ElectraQuestionAnswerer
from keras_electra import ElectraTokenClassifier

VOCABULARY_SIZE = 20
LENGTH = 6
BATCH = 2
# One step is quicker run eagerly than traced on TensorFlow, and quicker
# compiled whole than dispatched op by op on JAX.
EAGER = keras.backend.backend() != "jax"


def backbone(hidden_dim=8, name=None):
    return ElectraBackbone(
        vocabulary_size=VOCABULARY_SIZE, num_layers=1, num_heads=1,
        hidden_dim=hidden_dim, embedding_dim=8, intermediate_dim=16,
        max_sequence_length=LENGTH, name=name,
    )


def features(rng, shape=(BATCH, LENGTH)):
    return {
        "token_ids": rng.integers(5, VOCABULARY_SIZE, shape).astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }


def classifier(rng):
    model = ElectraClassifier(backbone(), num_classes=3)
    return model, features(rng), np.array([0, 2])


def token_classifier(rng):
    model = ElectraTokenClassifier(backbone(), num_classes=3)
    return model, features(rng), rng.integers(0, 3, (BATCH, LENGTH))


def question_answerer(rng):
    model = ElectraQuestionAnswerer(backbone())
    return model, features(rng), np.array([[1, 2], [3, 3]])


def multiple_choice(rng):
    model = ElectraMultipleChoice(backbone(), num_choices=2)
    return model, features(rng, (BATCH, 2, LENGTH)), np.array([0, 1])


def discriminator(rng):
    model = ElectraDiscriminator(backbone())
    return model, features(rng), rng.integers(0, 2, (BATCH, LENGTH))


def masked_lm(rng):
    model = ElectraMaskedLM(backbone())
    x = {**features(rng), "mask_positions": np.array([[1, 2], [0, 3]])}
    return model, x, rng.integers(5, VOCABULARY_SIZE, (BATCH, 2))


def causal_lm(rng):
    model = ElectraCausalLM(backbone())
    x = features(rng)
    x.pop("segment_ids")
    return model, x, rng.integers(5, VOCABULARY_SIZE, (BATCH, LENGTH))


def pretrainer(rng):
    model = ElectraPretrainer(backbone(4, "generator_backbone"), backbone())
    model.compile(learning_rate=1e-3, warmup_steps=2, total_steps=10,
                  run_eagerly=EAGER)
    x = {
        **features(rng),
        "mask_positions": np.array([[1, 2], [0, 3]]),
        "mask_ids": rng.integers(5, VOCABULARY_SIZE, (BATCH, 2)),
        "mask_weights": np.ones((BATCH, 2), "float32"),
    }
    return model, x, None


TASKS = [classifier, token_classifier, question_answerer, multiple_choice,
         discriminator, masked_lm, causal_lm, pretrainer]


def deterministic_outputs(model, x):
    if isinstance(model, ElectraPretrainer):  # Sampling is random.
        return [
            part(
                {k: x[k] for k in part.input}, training=False
            ) for part in (model.generator, model.discriminator)
        ]
    return [model(x, training=False)]


def numpy(values):
    return [keras.ops.convert_to_numpy(v) for v in values]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("make", TASKS, ids=[t.__name__ for t in TASKS])
def test_reloads_compiled_with_optimizer_state_and_no_warning(
    make, tmp_path
):
    keras.utils.set_random_seed(0)
    model, x, y = make(np.random.default_rng(0))
    if not isinstance(model, ElectraPretrainer):
        # The task's own defaults, with an optimizer that has slots; eager
        # steps keep the test quick (no tracing).
        model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                      run_eagerly=EAGER)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)

    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            restored = keras.saving.load_model(path)
    finally:
        root.removeHandler(records)
    messages = [str(w.message) for w in caught] + [
        r.getMessage() for r in records.records
    ]
    assert messages == []

    assert type(restored) is type(model)
    assert restored.compiled
    assert type(restored.optimizer) is type(model.optimizer)
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert int(restored.optimizer.iterations) == 1
    ours, theirs = model.optimizer.variables, restored.optimizer.variables
    assert len(ours) == len(theirs) > 2  # The iteration count and slots.
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )
    assert type(restored.loss) is type(model.loss)
    for a, b in zip(numpy(deterministic_outputs(model, x)),
                    numpy(deterministic_outputs(restored, x))):
        np.testing.assert_array_equal(a, b)
