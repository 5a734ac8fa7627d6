"""The one place where keras_electra uses keras-hub's private `keras_hub.src`.

Everything else in keras_electra uses keras-hub's public API
(`keras_hub.models`, `keras_hub.layers`, `keras_hub.tokenizers`,
`keras_hub.samplers`) or keras_electra's own copies of small keras-hub
helpers (`keras_electra._keras_hub_compat`). The names below have no public
counterpart; each entry of `PRIVATE_NAMES` says why it is needed.

keras-hub may move or change private names in any release, which is why
pyproject.toml keeps an upper bound on keras-hub. When a release moves one,
importing keras_electra fails here with an `ImportError` that names the symbol
and the installed keras-hub version, and `tests/test_keras_hub_private_api.py`
fails the same way. The keras-hub versions these names were checked with are
in docs/versions.md.
"""

import importlib

import keras_hub

# The keras-hub releases the names below were checked with (docs/versions.md).
TESTED_KERAS_HUB = "0.29 to 0.32"

# (module, name, why there is no public way).
PRIVATE_NAMES = (
    (
        "keras_hub.src.utils.tensor_utils",
        "preprocessing_function",
        # keras-hub's tokenizers and packers convert their outputs to backend
        # tensors unless called inside this decorator's "no convert" scope
        # (a thread-local counter of keras-hub's). A preprocessor that chains
        # them must enter that scope, and only this decorator can.
        "enters keras-hub's no-convert scope around a preprocessor's call",
    ),
    (
        "keras_hub.src.utils.preset_utils",
        "get_preset_loader",
        # The public entry is `cls.from_preset`, which keras_electra's
        # classes override (to convert HF / TF1 checkpoints first); loading
        # a given class from a local preset folder, with or without the task
        # head's weights, is only possible through keras-hub's loader.
        "keras-hub's preset loader behind `from_preset`",
    ),
    (
        "keras_hub.src.utils.preset_utils",
        "check_file_exists",
        # Asks whether a preset handle (local folder, `kaggle://`, `hf://`)
        # has a file, downloading as keras-hub does; keras-hub presets given
        # as Kaggle handles need it.
        "whether a keras-hub preset handle has a file, for any handle kind",
    ),
)


def _private(module, name):
    """`module.name`, or an ImportError that says what moved where."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ImportError(
            f"keras_electra needs keras-hub's private `{module}.{name}`, "
            f"which keras-hub {keras_hub.__version__} does not have ({e}). "
            f"keras_electra was tested with keras-hub {TESTED_KERAS_HUB}; "
            "install one of those (see docs/versions.md)."
        ) from e


preprocessing_function = _private(*PRIVATE_NAMES[0][:2])
get_preset_loader = _private(*PRIVATE_NAMES[1][:2])
check_file_exists = _private(*PRIVATE_NAMES[2][:2])

# Private hooks of `keras_hub.tokenizers.WordPieceTokenizer` that
# `ElectraTokenizer` relies on by subclassing (attribute, why).
WORD_PIECE_HOOKS = (
    (
        "_fast_word_piece",
        # The tf.text `FastWordpieceTokenizer` keras-hub's `tokenize` and
        # `detokenize` use. ElectraTokenizer builds its own (HF's word-length
        # limit in characters, not bytes) in its `_set_vocabulary_tf`.
        "the tf.text WordPiece model that keras-hub tokenizes with",
    ),
    (
        "_maybe_initialized_tf",
        # keras-hub 0.32 builds `_fast_word_piece` lazily: `set_vocabulary`
        # clears it, `_maybe_initialized_tf` calls `_set_vocabulary_tf`.
        # Earlier releases build keras-hub's own in `set_vocabulary`.
        "keras-hub 0.32's lazy construction of `_fast_word_piece`",
    ),
)


# `keras_hub.layers.PreprocessingLayer._use_tf_workflow` (keras-hub 0.32):
# whether a preprocessing layer runs its TensorFlow path or, new in 0.32,
# its pure-Python one. A preprocessor with both paths asks it; earlier
# releases have only the TensorFlow path.
USE_TF_WORKFLOW = "_use_tf_workflow"


def use_tf_workflow(layer):
    """Whether keras-hub runs `layer`'s TensorFlow path (always before 0.32)."""
    method = getattr(layer, USE_TF_WORKFLOW, None)
    return True if method is None else method()


def ensure_word_piece(tokenizer):
    """Make `tokenizer._fast_word_piece` the one its `_set_vocabulary_tf`
    builds, on any keras-hub release (see `WORD_PIECE_HOOKS`)."""
    if hasattr(type(tokenizer), "_maybe_initialized_tf"):  # keras-hub 0.32
        tokenizer._maybe_initialized_tf()
        return
    # keras-hub <= 0.31 built its own in `set_vocabulary`: replace it once
    # per vocabulary (not tracked by Keras: set through `__dict__`).
    key = id(tokenizer.vocabulary)
    if tokenizer.__dict__.get("_keras_electra_word_piece_of") != key:
        import tensorflow as tf

        # Built outside any `tf.function` / `tf.data` graph being traced,
        # as keras-hub's own was.
        with tf.init_scope():
            tokenizer._set_vocabulary_tf()
        tokenizer.__dict__["_keras_electra_word_piece_of"] = key
