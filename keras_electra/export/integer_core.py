"""Stage 1 of the export: the task's integer model as a SavedModel."""

import keras

# The SavedModel runs on CPU and on NVIDIA GPUs whichever device JAX had.
JAX_PLATFORMS = ("cpu", "cuda")


def export_integer_core(serving, path):
    """Write the integer core of `serving.task` to a SavedModel at `path`.

    The core has one endpoint, `serve`, that maps the integer input dict of
    `serving.core_signature()` (dynamic batch, fixed sequence length) to the
    task's outputs. TensorFlow saves the task's graph directly; JAX goes
    through `jax2tf` (Keras's `ExportArchive` derives the polymorphic batch
    from the signature); no gradient is exported, serving needs none.

    Args:
        serving: a `TaskServing` of the task.
        path: the folder to write.
    """
    backend = keras.config.backend()
    if backend not in ("tensorflow", "jax"):
        raise ValueError(
            "The integer core is exported with Keras's ExportArchive, on the "
            f"TensorFlow or JAX backend; this process runs {backend!r}. "
            "`export_for_serving` re-builds other backends' tasks under "
            "TensorFlow in a child process."
        )
    kwargs = {}
    if backend == "jax":
        kwargs["jax2tf_kwargs"] = {
            "with_gradient": False,
            "native_serialization_platforms": JAX_PLATFORMS,
        }
    archive = keras.export.ExportArchive()
    archive.track(serving.task)
    archive.add_endpoint(
        "serve",
        serving.core_function(),
        input_signature=[serving.core_signature()],
        **kwargs,
    )
    archive.write_out(path, verbose=False)
    return path
