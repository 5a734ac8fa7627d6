"""`predict` through XLA on CPU-only TensorFlow, where Keras leaves it off.

With `jit_compile="auto"` (the default) Keras compiles TensorFlow steps with
XLA only where a GPU or TPU is present. For an ELECTRA forward pass XLA is
the faster choice on CPUs too (AMD EPYC with AVX2, `predict_on_batch` of
ELECTRA-Small at 8 x 128 and 32 x 128 and ELECTRA-Base at 8 x 128: with two
threads 0.95-1.19x HF's throughput with it against 0.65-0.90x without; with
one thread 1.02-1.08x HF's CPU time against 0.89-1.03x; Small 1 x 32 on
one thread level, 15.4 against 15.1 ms), so with `"auto"` the predict step
is compiled with XLA there. Each new input shape then compiles once (about
1-3 s for ELECTRA-Small).

Models that compute in bfloat16 predict through XLA too: their products
ask XLA for float32 results, which its CPU backend computes with the CPU's
bfloat16 instructions (`tf_fast_path._product`; asked for bfloat16 results
it multiplied in float32, and Keras' graph with oneDNN's kernels was the
faster). Intel Xeon with AMX, two threads, throughput against HF's float32:
ELECTRA-Small 1 x 32, 8 x 128, 32 x 128 and ELECTRA-Base 8 x 128 1.39x,
1.96x, 2.13x, 2.70x through XLA against 0.67x, 0.93x, 1.44x, 2.16x
through the graph. Wide bfloat16 models on one thread keep the graph
(ELECTRA-Base: 2.99x against 2.72x). Models that compute in float16 keep
Keras' choice.

Wide models keep Keras' choice where TensorFlow multiplies with oneDNN (on
by default on CPUs with AVX-512 VNNI, bfloat16 or AMX): XLA's CPU products
(Eigen) ran at 130-155 GFLOP/s there against the graph's 160-178 (Intel
Xeon with AMX, one core, ELECTRA-Base's products at 1,024 rows). From
hidden width 768 on the products outweigh what XLA saves around them:
ELECTRA-Base at 8 x 128 took 1,254 CPU ms per call with XLA, 1,079
without (HF 1,141). At width 256 (ELECTRA-Small) with two threads, the
default, XLA was far ahead at 1 x 32 and 8 x 128 (0.97x and 0.84x HF's
throughput against 0.63x and 0.72x) and level at 32 x 128; with one thread
the graph led by 5-6 % at 8 x 128 and 32 x 128, XLA by 7 % at 1 x 32.
On one thread of a CPU without AMX (`lacks_amx`) the graph was the faster
for ELECTRA-Small too, in float32 and bfloat16 (AMD EPYC with AVX-512 and
AVX512-BF16: 3-7 % at 1 x 32, 5 % at 32 x 128), so every model keeps
Keras' choice there.

Where TensorFlow has two or more threads for ops side by side, the
predict step is a graph around two XLA calls, one per half of the batch:
the graph runs them at once, which keeps both cores busy where one call
leaves one core waiting on the other (Intel Xeon, two cores,
ELECTRA-Small at 8 x 128: 87.5 against 102.5 ms per `predict_on_batch`,
the same outputs). A batch of one stays one call; an odd batch size
compiles both half sizes.

Training and evaluation stay as Keras resolves them: XLA made TensorFlow's
training step slower on CPUs (2,210 against 1,760 ms at Small 8 x 128).
An explicit `compile(jit_compile=False)` (or `model.jit_compile = False`)
keeps `predict` off XLA, and so do `run_eagerly=True` and `tf.distribute`
strategies (as Keras does).
"""

import os

import keras
from keras import tree

from keras_electra import cpu_info
from keras_electra.layers import tf_fast_path
from keras_electra.layers.electra_transformer_block import (
    ElectraTransformerBlock,
)


class XlaPredictMixin:
    """Compiles TensorFlow's predict step with XLA under `"auto"`."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        # keras-hub's tasks take `jit_compile` by keyword only.
        choice = kwargs.get("jit_compile", "auto")
        # Past Keras' attribute tracking: a setting, not state.
        object.__setattr__(self, "_electra_jit_compile", choice)
        if choice == "auto":
            # Keras saves the value "auto" resolved to on this machine; keep
            # the choice, so that a reloaded model resolves it where it runs.
            self._compile_config.config["jit_compile"] = "auto"

    def __setattr__(self, name, value):
        # `model.jit_compile = False` is Keras' other way to turn XLA off.
        # Not a property setter: TensorFlow's trackable `__setattr__` skips
        # the setter when the value is the current one (False, on a CPU).
        # `compile()` sets the value "auto" resolved to, then its choice.
        if name == "jit_compile":
            object.__setattr__(self, "_electra_jit_compile", value)
        super().__setattr__(name, value)

    def make_predict_function(self, force=False):
        # Keras asks on every predict call; the built function is cached.
        built = self.predict_function is not None and not force
        if built:
            return super().make_predict_function(force)
        object.__setattr__(self, "_electra_xla_halves", None)
        if self.jit_compile or not predicts_with_xla(self):
            return super().make_predict_function(force)
        if concurrent_threads() > 1:
            import tensorflow as tf

            # A graph around two XLA calls, one per half of the batch: the
            # graph runs them side by side (see `predict_step`).
            xla_step = tf.function(super().predict_step, jit_compile=True,
                                   reduce_retracing=True)
            object.__setattr__(self, "_electra_xla_halves", xla_step)
            return super().make_predict_function(force)
        # Keras reads `jit_compile` while it builds the function.
        resolved = self._jit_compile
        self._jit_compile = True
        try:
            return super().make_predict_function(force)
        finally:
            self._jit_compile = resolved

    def predict_step(self, *args, **kwargs):
        # (data) on TensorFlow, (state, data) on JAX.
        xla_step = self.__dict__.get("_electra_xla_halves")
        if xla_step is None:
            return super().predict_step(*args, **kwargs)
        return predict_in_halves(xla_step, *args, **kwargs)


def predict_in_halves(step, data):
    """`step(data)` as two calls on the halves of the batch, concatenated
    (one call for a batch of one)."""
    import tensorflow as tf

    first = tree.flatten(data)[0]
    size = tf.shape(first)[0]
    half = (size + 1) // 2

    def halves():
        outputs = [
            step(tree.map_structure(lambda t: t[:half], data)),
            step(tree.map_structure(lambda t: t[half:], data)),
        ]
        return tree.map_structure(lambda a, b: tf.concat([a, b], 0),
                                  *outputs)

    static = first.shape[0]
    if static is not None:
        return halves() if static > 1 else step(data)
    return tf.cond(size > 1, halves, lambda: step(data))


def available_cores():
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def concurrent_threads():
    """How many of TensorFlow's threads can run ops side by side: the
    smaller of its intra- and inter-op pools (0 there: one per core)."""
    import tensorflow as tf

    cores = available_cores()
    threading = tf.config.threading
    return min(threading.get_intra_op_parallelism_threads() or cores,
               threading.get_inter_op_parallelism_threads() or cores)


def predicts_with_xla(model):
    """Whether `model`'s predict step is XLA-compiled by this mixin."""
    if keras.config.backend() != "tensorflow":
        return False
    return (
        model.__dict__.get("_electra_jit_compile", "auto") == "auto"
        and not model.run_eagerly
        and model._distribute_strategy is None
        and all(layer.supports_jit for layer in model._flatten_layers())
        and not computes_in(model, "float16")
        and not multiplies_faster_in_graph(model)
        and tf_fast_path.may_use_xla()
    )


# The narrowest hidden width at which the graph's oneDNN products won.
GRAPH_FROM_HIDDEN_DIM = 768


def multiplies_faster_in_graph(model):
    """Whether TensorFlow's graph (oneDNN) products outrun XLA for `model`:
    on one thread of a CPU without AMX every model, elsewhere wide models,
    in bfloat16 only on one thread (on two, XLA's halves of the batch were
    the faster)."""
    if not tf_fast_path.onednn_enabled():
        return False
    one_thread = concurrent_threads() == 1
    if one_thread and lacks_amx():
        return True
    return hidden_dim(model) >= GRAPH_FROM_HIDDEN_DIM and (
        one_thread or not computes_in(model, "bfloat16")
    )


def lacks_amx():
    """Whether this CPU is known to have no AMX (`cpu_info.lacks_amx`).

    There, on one thread, the graph's oneDNN products outran XLA at
    ELECTRA-Small too (AMD EPYC with AVX-512 and AVX512-BF16, one core,
    the same process, CPU ms per `predict_on_batch`): float32 12.4 against
    12.9 at 1 x 32, 899 against 946 at 32 x 128, level at 8 x 128;
    bfloat16 9.7 against 10.4 at 1 x 32, 137 against 145 at 8 x 128. With
    AMX XLA led at 1 x 32 (7 %, float32) and in bfloat16 (Intel Xeon).
    """
    return cpu_info.lacks_amx()


def hidden_dim(model):
    """The widest transformer block of `model` (0 without one)."""
    return max(
        (
            layer.num_heads * layer.head_dim
            for layer in model._flatten_layers()
            if isinstance(layer, ElectraTransformerBlock)
        ),
        default=0,
    )


def computes_in(model, dtype):
    """Whether any layer of `model` computes in `dtype`."""
    return any(
        layer.compute_dtype == dtype for layer in model._flatten_layers()
    )
