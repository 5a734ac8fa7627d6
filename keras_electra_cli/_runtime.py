"""What every command shares: quiet heavy imports, errors, argument types.

This module and the command modules import only the standard library at
import time, so that `keras-electra --help` answers without importing
TensorFlow (which `keras` and `keras_electra` do). Each command imports its
heavy modules inside `run()`, through `heavy_imports()`.
"""

import argparse
import contextlib
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")


class CommandError(Exception):
    """A failure the user can fix: printed as one line, exit code 1."""


def common_options():
    """The options every command takes (`--verbose`; `--backend`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--verbose", action="store_true",
        help="show TensorFlow's native logs, Keras' own progress lines and "
        "a traceback on errors")
    return parent


def backend_option():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="Keras backend to run on; default: KERAS_BACKEND, else "
        "tensorflow")
    return parent


def training_options():
    """`--keep-freed-memory`, for the commands that train."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--keep-freed-memory", action=argparse.BooleanOptionalAction,
        default=True,
        help="JAX on a CPU: glibc keeps freed memory for reuse, so that "
        "XLA's temporary buffer is not faulted in again every step "
        "(keras_electra.keep_freed_memory(); up to a sixth of a step's "
        "CPU); resident memory then stays near its peak")
    return parent


def add_command(commands, name, module_doc, parents, epilog=None):
    """A subcommand parser whose help shows every default."""
    summary, _, description = module_doc.strip().partition("\n\n")
    return commands.add_parser(
        name, help=summary.rstrip("."), description=module_doc.strip(),
        epilog=epilog, parents=parents,
        formatter_class=HelpFormatter,
    )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Shows every default and keeps the description's own line breaks.

    An option whose default is None or off says in its help what happens
    without it, so only real values are appended.
    """

    def _get_help_string(self, action):
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; received {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0; received {text}")
    return value


def fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"must be in [0, 1); received {text}")
    return value


def layer_decay(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"must be in (0, 1]; received {text}")
    return value


def prepare_environment(args):
    """Environment for the heavy imports, set before they happen."""
    backend = getattr(args, "backend", None)
    if backend:
        if "keras" in sys.modules:
            import keras

            if keras.config.backend() != backend:
                raise CommandError(
                    f"--backend {backend}: Keras is already running on "
                    f"{keras.config.backend()} in this process; run the "
                    "command in a new process")
        os.environ["KERAS_BACKEND"] = backend
    if not args.verbose:
        # 3 also hides the C++ ERROR lines (a failed cuInit on a machine
        # without GPUs); Python exceptions still reach the user. Set even
        # over a user's own value: --verbose is the switch for these logs.
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def quiet_native_stderr(verbose):
    """Send file descriptor 2 to /dev/null while the block runs.

    TensorFlow 2.21 writes its import-time lines ("All log messages before
    absl::InitializeLog() ...", oneDNN and CUDA notices) from C++ before
    it reads TF_CPP_MIN_LOG_LEVEL, so only the file descriptor can hide
    them. Python exceptions raised in the block are reported after it.
    """
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def heavy_imports(args):
    """Import keras and keras_electra quietly; returns `keras_electra`."""
    prepare_environment(args)
    with quiet_native_stderr(args.verbose):
        import keras  # noqa: F401
        import keras_electra
    if not args.verbose:
        _quiet_python_loggers()
    if getattr(args, "keep_freed_memory", False):
        keep_freed_memory_on_jax_cpu()
    return keras_electra


def keep_freed_memory_on_jax_cpu():
    """`keras_electra.keep_freed_memory()` where it helps: Keras on JAX,
    JAX on a CPU, and no JAX computation yet in this process (after one,
    the settings no longer reach XLA's threads)."""
    import keras

    from keras_electra import host_memory

    if (keras.config.backend() == "jax" and not host_memory.xla_started()
            and not _jax_may_use_an_accelerator()):
        host_memory.keep_freed_memory()


def _jax_may_use_an_accelerator():
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() != "cpu"
    import importlib.metadata

    return any(
        (dist.metadata["Name"] or "").lower().startswith(
            ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu"))
        for dist in importlib.metadata.distributions())


def _quiet_python_loggers():
    import logging

    # tf.saved_model and tf.function report through absl / "tensorflow".
    for name in ("absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def resolve_preset_path(name):
    """A bundled preset's folder for its name; other handles unchanged."""
    from keras_electra.presets.bundled_presets import bundled_presets

    if name in bundled_presets:
        return bundled_presets[name]["path"]
    return name
