"""Reload `.keras` files compiled as saved, for tasks with a custom compile."""

import keras


class SavedCompileMixin:
    """Replays a saved compile config through the task's own `compile()`.

    Keras skips `compile()` on load, with a warning, when a model overrides
    it. The tasks' `compile()` only fills in `"auto"` defaults, so the
    arguments a `.keras` file saved (the optimizer with its schedule, the
    loss, the metrics) can be passed back through it as they are. Building
    the optimizer here gives Keras variables to load its saved state into.

    Put it first in the bases: `class ElectraClassifier(SavedCompileMixin,
    ..., TextClassifier)`.
    """

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)
