"""`predict_on_batch` on JAX without Keras' per-call variable round trip.

Keras' JAX `predict_on_batch` donates every variable to its compiled step
and assigns all of them back afterwards, so that a batch-1 ELECTRA-Small call
spends about 2.5 of its 15 ms of CPU moving 236 variables in and out. Here
the step keeps its inputs and returns only the non-trainable variables that
the model assigned while tracing it (none, in inference, for ELECTRA), which
are then assigned as Keras would.

On two or more cores it runs the step on each half of the batch, from two
threads, so that XLA runs both at once; `predict` keeps Keras' own loop and
runs each of its batches the same way.
"""

import keras
import numpy as np
from keras import tree

# Keras has no public name for the stateless and autocast scope lookups.
from keras.src import backend

from keras_electra.models.xla_predict import available_cores


class JaxPredictOnBatchMixin:
    """Takes `predict_on_batch` past Keras' variable round trip on JAX, and
    `predict`'s batches in halves on two or more cores."""

    def predict_on_batch(self, x):
        if not _applies(self, x):
            return super().predict_on_batch(x)
        return _predict_on_batch(self, x)

    def make_predict_function(self, force=False):
        if self.predict_function is not None and not force:
            return self.predict_function
        super().make_predict_function(force)
        if _halves_apply(self):
            self.predict_function = _predict_in_halves(
                self, self.predict_function
            )
        return self.predict_function


def _predict_on_batch(model, x):
    trainable, non_trainable = _split_variables(model)
    variables = (_values(trainable), _values(non_trainable))
    results = _run(_lean_step(model), variables, (x,))
    for _, assigned in results:
        for index, value in assigned.items():
            non_trainable[index].assign(value)
    return _joined_outputs(results)


def _predict_in_halves(model, keras_function):
    """`keras_function`, Keras' `predict` step on the next batch of an
    iterator, as the lean step on each half of the batch side by side."""

    def predict_function(state, iterator):
        data = next(iterator)
        if not all(_is_numeric_array(leaf) for leaf in tree.flatten(data)):
            return keras_function(state, iter([data]))
        results = _run(_lean_step(model), state, data)
        non_trainable = list(state[1])
        for _, assigned in results:
            for index, value in assigned.items():
                non_trainable[index] = value
        return _joined_outputs(results), (state[0], non_trainable)

    return predict_function


def _lean_step(model):
    """The model's compiled lean step, traced again whenever Keras drops its
    `predict_function` because the computation may have changed (`compile`,
    `quantize`)."""
    model.make_predict_function()
    keras_function, step = model.__dict__.get(
        "_electra_lean_predict_step", (None, None)
    )
    if keras_function is not model.predict_function:
        step = _compile_step(model)
        # Past Keras' attribute tracking: a compiled function is not state.
        object.__setattr__(
            model,
            "_electra_lean_predict_step",
            (model.predict_function, step),
        )
    return step


def _split_variables(model):
    """`model.trainable_variables` and `model.non_trainable_variables`.

    Each of those properties walks all layers for `model.variables` (0.15
    ms for ELECTRA-Small's 236 variables); one walk serves both here.
    """
    variables = model.variables
    if not model.trainable:
        return [], variables
    trainable = [v for v in variables if v.trainable]
    return trainable, [v for v in variables if not v.trainable]


def _values(variables):
    """`[v.value for v in variables]`, read directly where `value` would
    return the stored array anyway: outside stateless and autocast scopes
    (`value` looks both up for each variable, 0.15 ms for ELECTRA-Small)."""
    scoped = backend.get_autocast_scope() is not None
    if scoped or backend.in_stateless_scope():
        return [v.value for v in variables]
    values = [v._value for v in variables]
    if any(value is None for value in values):
        return [v.value for v in variables]
    return values


def _joined_outputs(results):
    if len(results) == 1:
        return tree.map_structure(np.array, results[0][0])
    return tree.map_structure(
        lambda *parts: np.concatenate([np.asarray(p) for p in parts]),
        *[outputs for outputs, _ in results],
    )


def _run(step, variables, data):
    """`[step(*variables, data)]`, or on two cores, the step on each half of
    the batch, the halves side by side: from two Python threads XLA runs
    the two calls at once (ELECTRA-Small at 8 x 128, two cores: 92-95
    against 79-81 ms), where one call leaves a core waiting on the other."""
    size = len(tree.flatten(data)[0])
    if size < 2 or not _two_cores():
        return [step(*variables, data)]
    half = (size + 1) // 2
    first, second = (
        tree.map_structure(lambda t: t[part], data)
        for part in (slice(None, half), slice(half, None))
    )
    import jax

    other = _side_thread().submit(
        lambda: jax.block_until_ready(step(*variables, second))
    )
    return [jax.block_until_ready(step(*variables, first)), other.result()]


_SIDE_THREAD = []


def _side_thread():
    if not _SIDE_THREAD:
        from concurrent.futures import ThreadPoolExecutor

        _SIDE_THREAD.append(ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="electra-predict-half"))
    return _SIDE_THREAD[0]


def _two_cores():
    """Whether this process may run on two or more cores, with JAX on the
    CPU."""
    import jax

    return available_cores() > 1 and jax.default_backend() == "cpu"


def _applies(model, x):
    return (
        _compiled_on_jax(model)
        # Anything else (raw strings, TensorFlow tensors) gets Keras' errors.
        and all(_is_numeric_array(leaf) for leaf in tree.flatten(x))
        # Mid-`fit`, the variables live in Keras' JAX state, not in `.value`.
        and getattr(model, "_jax_state_synced", True) is not False
        and all(layer.built for layer in model._flatten_layers())
    )


def _halves_apply(model):
    """Whether `predict` runs its batches in halves: two cores, and one
    batch per step as the lean step takes them."""
    return (
        _compiled_on_jax(model)
        and model.steps_per_execution == 1
        and _two_cores()
    )


def _compiled_on_jax(model):
    return (
        keras.config.backend() == "jax"
        and not model.run_eagerly
        and model.jit_compile
        and keras.distribution.distribution() is None
    )


def _is_numeric_array(value):
    import jax

    return (
        isinstance(value, (np.ndarray, jax.Array))
        and value.dtype.kind in "biuf"
    )


def _compile_step(model):
    import jax

    def step(trainable, non_trainable, data):
        outputs, updated = model.predict_step((trainable, non_trainable), data)
        # Unassigned variables come back as the very tracers passed in; the
        # dict's keys are part of the output structure, known after tracing.
        assigned = {
            index: new
            for index, (new, old) in enumerate(zip(updated, non_trainable))
            if new is not old
        }
        return outputs, assigned

    return jax.jit(step)
