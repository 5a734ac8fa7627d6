"""keras_electra's hold on keras-hub's private API is in one module, and each
private name it uses still exists in the installed keras-hub.

When a keras-hub release moves one of them, these tests fail with the symbol
and the keras-hub version in the message: update
`keras_electra/_keras_hub_private.py` and the keras-hub bound in
pyproject.toml.
"""

import importlib
import inspect
import pathlib
import re

import keras
import keras_hub
import numpy as np
import pytest

from keras_electra import _keras_hub_compat as compat
from keras_electra import _keras_hub_private as private

ROOT = pathlib.Path(__file__).resolve().parents[1]
HUB = f"keras-hub {keras_hub.__version__}"


@pytest.mark.parametrize(
    "module, name", [entry[:2] for entry in private.PRIVATE_NAMES],
    ids=[entry[1] for entry in private.PRIVATE_NAMES])
def test_private_name_exists(module, name):
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"{HUB} has no `{module}.{name}` ({e}); keras_electra "
                    "uses it through keras_electra/_keras_hub_private.py.")
    assert getattr(private, name) is found, (
        f"keras_electra._keras_hub_private.{name} is not {module}.{name}")


def test_each_private_name_says_why():
    for module, name, why in private.PRIVATE_NAMES:
        assert module.startswith("keras_hub.src."), module
        assert len(why.split()) >= 4, f"{name}: give a reason"


def test_missing_private_name_fails_loudly():
    with pytest.raises(ImportError) as info:
        private._private("keras_hub.src.utils.preset_utils", "no_such_name")
    message = str(info.value)
    assert "keras_hub.src.utils.preset_utils.no_such_name" in message
    assert f"keras-hub {keras_hub.__version__}" in message
    assert private.TESTED_KERAS_HUB in message
    with pytest.raises(ImportError, match="keras_hub.src.no_such_module.x"):
        private._private("keras_hub.src.no_such_module", "x")


def test_preset_loader_has_what_keras_electra_calls(tmp_path):
    """The loader methods and arguments preset_loading.py relies on."""
    from keras_electra import ElectraTokenizer

    ElectraTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
    ).save_to_preset(tmp_path)
    (tmp_path / "config.json").write_text('{"registered_name": "x"}')
    loader = private.get_preset_loader(str(tmp_path))
    for method, arguments in {
        "load_task": ["cls", "load_weights", "load_task_weights"],
        "load_backbone": ["cls", "load_weights"],
        "load_preprocessor": ["cls", "config_file"],
        "load_tokenizer": ["cls", "config_file"],
        "check_backbone_class": [],
    }.items():
        assert hasattr(loader, method), f"{HUB}: loader has no {method}"
        parameters = list(inspect.signature(getattr(loader, method)).parameters)
        assert parameters[:len(arguments)] == arguments, (
            f"{HUB}: {method}{tuple(parameters)}")
    assert loader.config == {"registered_name": "x"}
    tokenizer = loader.load_tokenizer(ElectraTokenizer)
    assert tokenizer.token_to_id("a") == 5
    assert private.check_file_exists(str(tmp_path), "tokenizer.json")
    assert not private.check_file_exists(str(tmp_path), "task.json")


def test_preprocessing_function_converts_in_and_out():
    """Inside the decorator inputs are tf tensors (strings too); what the
    method returns comes back as tensors of the Keras backend."""
    import tensorflow as tf

    class Preprocessor:
        @private.preprocessing_function
        def call(self, x):
            assert isinstance(x, tf.Tensor), type(x)
            assert x.dtype == tf.string
            return tf.strings.length(x)

    out = Preprocessor().call(["ab", "cde"])
    assert keras.ops.is_tensor(out), type(out)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), [2, 3])


def test_preset_file_names_are_keras_hub_s():
    names = ["TOKENIZER_CONFIG_FILE", "TASK_CONFIG_FILE",
             "PREPROCESSOR_CONFIG_FILE", "METADATA_FILE", "TASK_WEIGHTS_FILE"]
    from keras_hub.src.utils import preset_utils

    for name in names:
        assert getattr(compat, name) == getattr(preset_utils, name, None), (
            f"{HUB} names its preset file {name} differently")


def test_compat_helpers():
    assert compat.is_string_dtype("string")
    assert not compat.is_string_dtype("int32")
    mask = compat.any_equal(np.array([[1, 2, 3, 2]]), [2, 3],
                            np.array([[True, True, True, False]]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask),
                                  [[False, True, True, False]])

    class Owner:
        @compat.classproperty
        def names(cls):
            return cls.__name__

    assert Owner.names == "Owner"
    assert compat.check_config_class(
        {"registered_name": "keras_electra>ElectraBackbone"}
    ).__name__ == "ElectraBackbone"
    with pytest.raises(ValueError, match="no class registered"):
        compat.check_config_class({"registered_name": "nobody>Nothing"})
    train, validation = compat.train_validation_split(
        (np.arange(10), None), validation_split=0.3)
    np.testing.assert_array_equal(train[0], np.arange(7))
    np.testing.assert_array_equal(validation[0], [7, 8, 9])
    assert train[1] is None


def test_keras_hub_src_is_imported_only_through_the_private_module():
    allowed = {ROOT / "keras_electra" / "_keras_hub_private.py"}
    offenders = []
    for package in ("keras_electra", "keras_electra_cli"):
        for path in (ROOT / package).rglob("*.py"):
            if path in allowed:
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"^\s*(from|import)\s+keras_hub\.src", text, re.M):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], (
        "import keras-hub's private names through "
        f"keras_electra/_keras_hub_private.py: {offenders}")


@pytest.mark.parametrize("attribute, why", private.WORD_PIECE_HOOKS,
                         ids=[h[0] for h in private.WORD_PIECE_HOOKS])
def test_word_piece_hooks_are_what_keras_hub_uses(attribute, why):
    source = inspect.getsource(keras_hub.tokenizers.WordPieceTokenizer)
    if attribute == "_maybe_initialized_tf" and attribute not in source:
        return  # keras-hub <= 0.31: built in `set_vocabulary`, also handled.
    assert f"self.{attribute}" in source or f"def {attribute}" in source, (
        f"{HUB}: WordPieceTokenizer no longer uses `{attribute}` ({why}); "
        "see ensure_word_piece in keras_electra/_keras_hub_private.py")


def test_electra_tokenizer_uses_its_own_word_piece():
    """HF's limit is 100 characters a word, whatever their bytes: a word of
    60 two-byte characters is one token (keras-hub's default model, 100
    bytes, would make it [UNK])."""
    from keras_electra import ElectraTokenizer

    word = "é" * 60
    tokenizer = ElectraTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", word],
        lowercase=False, strip_accents=False)
    assert keras.ops.convert_to_numpy(tokenizer([word])).tolist() == [[5]]


def test_use_tf_workflow_hook():
    """keras-hub 0.32 preprocessing layers choose between a TensorFlow and
    a Python path with `_use_tf_workflow` (TensorFlow inside `tf.function`
    and `tf.data`); earlier ones always run TensorFlow."""
    import tensorflow as tf
    from packaging.version import Version

    packer = keras_hub.layers.StartEndPacker(sequence_length=4)
    in_graph = tf.function(
        lambda: tf.constant(private.use_tf_workflow(packer)))
    assert bool(in_graph())
    if Version(keras_hub.__version__) >= Version("0.32"):
        assert hasattr(packer, private.USE_TF_WORKFLOW), (
            f"{HUB} has no PreprocessingLayer.{private.USE_TF_WORKFLOW}")
        assert private.use_tf_workflow(packer) is False  # eager: Python
    else:
        assert private.use_tf_workflow(packer) is True
