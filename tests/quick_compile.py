"""The `jit_compile` that keeps tiny-model tests quick on every backend."""

import keras

# On TensorFlow, XLA-compiling a tiny train step costs more than it saves.
# On JAX, `jit_compile=False` would run the step op by op, compiling each
# op for each new shape: a raw-text fit took 85 s instead of 13 s.
QUICK_JIT = False if keras.config.backend() == "tensorflow" else "auto"
