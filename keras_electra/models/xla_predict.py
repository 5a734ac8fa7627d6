"""`predict` through XLA on CPU-only TensorFlow, where Keras leaves it off.

With `jit_compile="auto"` (the default) Keras compiles TensorFlow steps with
XLA only where a GPU or TPU is present. For an ELECTRA forward pass XLA is
the faster choice on CPUs too (ELECTRA-Small, AMD EPYC with AVX2, CPU time
per `predict_on_batch`: one thread 1.01-1.05x HF's speed with it against
0.86-0.96x without at 8 x 128 and above; two threads 1.01-1.21x against
0.69-0.82x), so with `"auto"` the predict step is compiled with XLA there.
Each new input shape then compiles once (about 1-3 s for ELECTRA-Small).

Training and evaluation stay as Keras resolves them: XLA made TensorFlow's
training step slower on CPUs (2,210 against 1,760 ms at Small 8 x 128).
An explicit `compile(jit_compile=False)` keeps `predict` off XLA, and so do
`run_eagerly=True` and `tf.distribute` strategies (as Keras does).
"""

import keras


class XlaPredictMixin:
    """Compiles TensorFlow's predict step with XLA under `"auto"`."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        choice = kwargs.get("jit_compile", "auto")
        # Past Keras' attribute tracking: a setting, not state.
        object.__setattr__(self, "_electra_jit_compile", choice)
        if choice == "auto":
            # Keras saves the value "auto" resolved to on this machine; keep
            # the choice, so that a reloaded model resolves it where it runs.
            self._compile_config.config["jit_compile"] = "auto"

    def make_predict_function(self, force=False):
        if not predicts_with_xla(self) or self.jit_compile:
            return super().make_predict_function(force)
        # Keras reads `jit_compile` while it builds the function.
        resolved = self._jit_compile
        self._jit_compile = True
        try:
            return super().make_predict_function(force)
        finally:
            self._jit_compile = resolved


def predicts_with_xla(model):
    """Whether `model`'s predict step is XLA-compiled by this mixin."""
    if keras.config.backend() != "tensorflow":
        return False
    # Where Keras' `model_supports_jit` reads it.
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return (
        model.__dict__.get("_electra_jit_compile", "auto") == "auto"
        and not model.run_eagerly
        and model._distribute_strategy is None
        and all(layer.supports_jit for layer in model._flatten_layers())
        and not is_op_determinism_enabled()
    )
