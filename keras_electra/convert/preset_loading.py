"""`from_preset` for every keras_electra class, on any ELECTRA checkpoint.

keras-hub's `from_preset` has no hook for new checkpoint formats, so this is
the one adapter: `load_preset` turns the handle into a local keras preset
folder (`preset_store.resolved_preset`) and then uses keras-hub's own preset
loader on it. Classes get it through `ElectraPresetMixin`. Tested with
keras-hub 0.32.
"""

import json
import os
import sys
import warnings

import keras
from keras_hub.models import Backbone
from keras_hub.models import Preprocessor
from keras_hub.models import Task
from keras_electra._keras_hub_compat import PREPROCESSOR_CONFIG_FILE
from keras_electra._keras_hub_compat import METADATA_FILE
from keras_electra._keras_hub_compat import TASK_CONFIG_FILE
from keras_electra._keras_hub_compat import TASK_WEIGHTS_FILE
from keras_electra._keras_hub_compat import TOKENIZER_CONFIG_FILE
from keras_electra._keras_hub_compat import check_config_class
from keras_electra._keras_hub_private import check_file_exists
from keras_electra._keras_hub_private import get_preset_loader
from keras_electra._keras_hub_compat import load_json
from keras_electra._keras_hub_compat import classproperty

from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.convert.atomic_dir import in_staging
from keras_electra.convert.keras_model import DEFAULT_SEQUENCE_LENGTH
from keras_electra.convert.keras_model import electra_class
from keras_electra.convert.keras_model import TASK_NAMES
from keras_electra.convert.keras_model import fitting_preprocessor_kwargs
from keras_electra.convert.keras_model import task_class
from keras_electra.convert.preset_store import resolved_preset
from keras_electra.presets import list_presets

GENERATOR_TASKS = ("ElectraMaskedLM", "ElectraCausalLM")
# Arguments of a task's `from_preset` that go to its preprocessor.
PREPROCESSOR_ARGUMENTS = ("sequence_length", "padding", "pad_to_multiple_of")


def _conversion_options(cls, handle, kwargs):
    """Pop the options that only matter while converting a checkpoint."""
    part = kwargs.pop("checkpoint_part", None)
    if part is None:
        names = {c.__name__ for c in cls.__mro__} if cls else set()
        part = "generator" if names & set(GENERATOR_TASKS) else "discriminator"
    options = {"part": part, "allow_pickle": kwargs.pop("allow_pickle", True)}
    # `num_heads` is invisible in TF1 tensor shapes, so it is a conversion
    # option there; elsewhere it stays a config override.
    if "num_heads" in kwargs and _is_tf1(handle):
        options["num_heads"] = kwargs.pop("num_heads")
    return options


def _is_tf1(handle):
    from keras_electra.convert.tf1_checkpoint import tf1_checkpoint_prefix

    try:
        return tf1_checkpoint_prefix(handle) is not None
    except (TypeError, OSError):
        return False


def _preprocessor_kwargs(preprocessor_cls, loader, path, sequence_length):
    """Constructor overrides so that the preprocessor fits the backbone."""
    if sequence_length is None and check_file_exists(
        path, PREPROCESSOR_CONFIG_FILE
    ):
        saved = load_json(path, PREPROCESSOR_CONFIG_FILE)
        if issubclass(check_config_class(saved), preprocessor_cls):
            return {}  # Saved for this very class: keep it.
    max_length = loader.config.get("config", {}).get(
        "max_sequence_length", DEFAULT_SEQUENCE_LENGTH
    )
    return fitting_preprocessor_kwargs(preprocessor_cls, max_length,
                                       sequence_length)


def _saved_task_class(path):
    if not check_file_exists(path, TASK_CONFIG_FILE):
        return None
    return check_config_class(load_json(path, TASK_CONFIG_FILE))


def _fresh_head_reason(cls, path, load_task_weights):
    """Why `cls.from_preset(path)` gets a freshly initialised head, or None."""
    saved = _saved_task_class(path)
    if saved is None:
        return "the preset holds no task head, only an encoder"
    if not issubclass(saved, cls):
        return f"the preset's head belongs to an {saved.__name__}"
    if not load_task_weights:
        return "`num_classes` was passed, which asks for a new head"
    if not check_file_exists(path, TASK_WEIGHTS_FILE):
        return f"the preset has no {TASK_WEIGHTS_FILE}"
    return None


def preset_learning_rate(path):
    """The fine-tuning rate a preset's metadata.json names, or None."""
    if not check_file_exists(path, METADATA_FILE):
        return None
    fine_tuning = load_json(path, METADATA_FILE).get("fine_tuning") or {}
    rate = fine_tuning.get("learning_rate")
    return None if rate is None else float(rate)


def warn_fresh_head(task, preset, reason):
    """Warn, as HF transformers does, which weights are untrained."""
    encoder = {id(v) for v in task.backbone.weights}
    fresh = [v.path for v in task.weights if id(v) not in encoder]
    if not fresh:
        return
    warnings.warn(
        f"Some weights of {type(task).__name__} were not initialized from "
        f"the preset {os.fspath(preset)!r} and are newly initialized "
        f"({reason}): {fresh}. You should probably TRAIN this model on a "
        "down-stream task to be able to use it for predictions and "
        "inference.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel():
    """The `stacklevel` that points a warning at the first caller outside
    keras_electra (the user's `from_preset` line)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _load_task(cls, path, load_weights, kwargs, preset=None):
    loader = get_preset_loader(path)
    given = {k: kwargs.pop(k) for k in PREPROCESSOR_ARGUMENTS if k in kwargs}
    given = {k: v for k, v in given.items() if v is not None}
    names = ", ".join(f"`{name}`" for name in given)
    preprocessor_cls = getattr(cls, "preprocessor_cls", None)
    if "preprocessor" not in kwargs and preprocessor_cls is not None:
        if check_file_exists(path, TOKENIZER_CONFIG_FILE):
            # keras-hub's Task.from_preset drops `sequence_length`; building
            # the preprocessor here honours it.
            sequence_length = given.pop("sequence_length", None)
            kwargs["preprocessor"] = loader.load_preprocessor(
                preprocessor_cls,
                **_preprocessor_kwargs(preprocessor_cls, loader, path,
                                       sequence_length),
                **given,
            )
        elif given:
            raise ValueError(
                f"{path} has no tokenizer (the checkpoint had no vocabulary), "
                f"so there is no preprocessor to take {names}; "
                "pass `preprocessor=` or feed integer inputs."
            )
        else:
            kwargs["preprocessor"] = None  # A checkpoint without vocabulary.
    elif given:
        raise ValueError(
            f"Pass either `preprocessor` or {names}, not both."
        )
    # As keras-hub: a new `num_classes` means a fresh head, and the saved
    # label names no longer fit it.
    load_task_weights = "num_classes" not in kwargs
    if not load_task_weights and check_file_exists(path, TASK_CONFIG_FILE):
        saved = load_json(path, TASK_CONFIG_FILE).get("config", {})
        names = saved.get("label_names")
        if names and len(names) != kwargs["num_classes"]:
            kwargs.setdefault("label_names", None)
    task = loader.load_task(cls, load_weights, load_task_weights, **kwargs)
    rate = preset_learning_rate(path)
    if rate is not None and rate != task.default_learning_rate:
        task.default_learning_rate = rate
        task.compile()  # Task.__init__ compiled with the class's default.
    reason = _fresh_head_reason(cls, path, load_task_weights)
    if load_weights and reason:
        warn_fresh_head(task, path if preset is None else preset, reason)
    return task


def load_preset(cls, preset, load_weights=True, **kwargs):
    """What `cls.from_preset(preset, ...)` does for keras_electra classes.

    Args:
        cls: `ElectraBackbone`, a keras_electra task, preprocessor or
            tokenizer class.
        preset: a keras_electra preset name, `hf://owner/name`, or a local
            HF transformers (ELECTRA or BERT-family) / Google TF1 /
            keras-hub / keras_electra checkpoint folder (see
            `preset_store`).
        load_weights: whether to load weights (backbones and tasks).
        **kwargs: as keras-hub's `from_preset` (`dtype`, `num_classes`, ...),
            plus `sequence_length`, `padding` and `pad_to_multiple_of` for
            tasks (their preprocessor's),
            and for conversions `checkpoint_part` ("discriminator" or
            "generator" for TF1 checkpoints; generator tasks default to
            "generator"), `num_heads` (TF1) and `allow_pickle=False` (refuse
            `pytorch_model.bin`).
    """
    options = _conversion_options(cls, preset, kwargs)
    # Tokenizers and preprocessors need no weights: no download for them.
    needs_weights = load_weights and issubclass(cls, (Backbone, Task))
    with resolved_preset(preset, load_weights=needs_weights,
                         **options) as path:
        if issubclass(cls, Task):
            return _load_task(cls, path, load_weights, kwargs, preset)
        loader = get_preset_loader(path)
        if issubclass(cls, Backbone):
            found = loader.check_backbone_class()
            if not issubclass(found, cls):
                raise ValueError(
                    f"Preset {preset!r} holds a {found.__name__}, not a "
                    f"{cls.__name__}."
                )
            return loader.load_backbone(cls, load_weights, **kwargs)
        config_file = kwargs.pop("config_file", None)
        if issubclass(cls, Preprocessor):
            fitting = _preprocessor_kwargs(
                cls, loader, path, kwargs.pop("sequence_length", None)
            )
            return loader.load_preprocessor(
                cls, config_file or PREPROCESSOR_CONFIG_FILE,
                **{**fitting, **kwargs},
            )
        return loader.load_tokenizer(
            cls, config_file or TOKENIZER_CONFIG_FILE, **kwargs
        )


def from_preset(preset, load_weights=True, **kwargs):
    """Load a preset or checkpoint as the model its weights are for.

    An HF checkpoint of `ElectraForSequenceClassification` gives an
    `ElectraClassifier` (with its labels), `ElectraForMaskedLM` an
    `ElectraMaskedLM`, ..., `ElectraModel` an `ElectraBackbone`; Google's
    TF1 pre-training checkpoints give an `ElectraDiscriminator` (or, with
    `checkpoint_part="generator"`, an `ElectraMaskedLM`).

    Example:
    >>> model = keras_electra.from_preset("electra_tiny_uncased_en")
    >>> type(model).__name__
    'ElectraDiscriminator'

    `keras_electra.from_preset("hf://google/electra-small-discriminator")`
    downloads and converts Google's checkpoint the same way.
    """
    options = _conversion_options(None, preset, kwargs)
    with resolved_preset(preset, load_weights=load_weights, **options) as path:
        cls = electra_class("ElectraBackbone")
        if check_file_exists(path, TASK_CONFIG_FILE):
            name = load_json(path, TASK_CONFIG_FILE)["class_name"]
            cls = task_class(name)
        return cls.from_preset(path, load_weights=load_weights, **kwargs)


class ElectraPresetMixin:
    """Gives a keras-hub class keras_electra's `from_preset` and `presets`.

    Put it first in the bases: `class ElectraBackbone(ElectraPresetMixin,
    Backbone)`.
    """

    # The rate tasks' `compile()` fine-tunes at when given none: the ELECTRA
    # paper's 5e-5 unless the preset's metadata.json names another
    # (`"fine_tuning": {"learning_rate": ...}`), as tiny models need.
    default_learning_rate = 5e-5

    @classproperty
    def presets(cls):
        """keras_electra's named presets (name -> metadata)."""
        return list_presets()

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Instantiate from a preset name, `hf://` handle or local checkpoint.

        `preset` may be a keras_electra preset name (`cls.presets`), an
        `hf://owner/name` handle (downloaded, converted and cached), or a
        local folder with a Hugging Face transformers ELECTRA checkpoint
        (or a BERT-family one, `model_type` "bert": its encoder loads with
        `embedding_dim == hidden_dim`, pooler and heads left out), a
        Google TF1 checkpoint, a keras-hub `ElectraBackbone` preset or a
        keras_electra preset. A checkpoint's task head loads when it matches
        this class; otherwise the head is fresh.

        Args:
            preset: the handle, as above.
            load_weights: load the weights (models only).
            **kwargs: `dtype`, head arguments such as `num_classes`,
                `sequence_length`, `padding` and `pad_to_multiple_of`
                (tasks: their preprocessor's), and the conversion options of
                `keras_electra.convert.load_preset`.
        """
        return load_preset(cls, preset, load_weights=load_weights, **kwargs)

    def load_task_weights(self, filepath):
        """Loads the head's weights (keras-hub's), not the optimizer's.

        The file holds no optimizer state worth restoring, and Keras warns
        when the compiled optimizer's variables differ from the saved ones.
        """
        skipped = list(self.backbone._flatten_layers())
        if getattr(self, "optimizer", None) is not None:
            skipped.append(self.optimizer)
        keras.saving.load_weights(self, filepath, objects_to_skip=skipped)

    def save_to_preset(self, preset_dir, overwrite=False, **kwargs):
        """Save to a preset folder, completely or not at all.

        The files are written to a hidden sibling of `preset_dir` and
        renamed into place, so a killed or failing save leaves `preset_dir`
        as it was. Files already in `preset_dir` that this save does not
        write are kept (a tokenizer saved into its backbone's folder);
        replacing one it does write needs `overwrite=True`.

        Args:
            preset_dir: the preset folder to write.
            overwrite: replace the files of an existing preset.
            **kwargs: passed to keras-hub's `save_to_preset`
                (`max_shard_size` for models).

        Example:
        >>> tokenizer = keras_electra.ElectraTokenizer(
        ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
        >>> tokenizer.save_to_preset("my_preset")
        >>> tokenizer.save_to_preset("my_preset", overwrite=True)
        >>> os.path.isfile(os.path.join("my_preset", "tokenizer.json"))
        True
        """
        if in_staging(preset_dir):
            # Part of an enclosing save (a task's backbone): that save
            # commits the whole folder.
            return self._save_with_metadata(preset_dir, **kwargs)
        with atomic_dir(preset_dir, overwrite=overwrite,
                        merge=True) as staging:
            self._save_with_metadata(staging, **kwargs)

    def _save_with_metadata(self, preset_dir, **kwargs):
        # keras-hub's `metadata.json` names each task's first base class,
        # which for keras_electra is a mixin: list the real task classes.
        super().save_to_preset(preset_dir, **kwargs)
        rate = self.default_learning_rate if isinstance(self, Task) else None
        write_metadata(preset_dir, rate)


def write_metadata(preset_dir, learning_rate=None):
    """Set `"tasks"` in a preset's metadata.json to keras_electra's tasks,
    and `"fine_tuning"` to a task's default learning rate."""
    path = os.path.join(os.fspath(preset_dir), METADATA_FILE)
    if not os.path.isfile(path):
        return  # Tokenizers and preprocessors write no metadata.
    with open(path, encoding="utf-8") as f:
        metadata = json.load(f)
    metadata["tasks"] = sorted(TASK_NAMES)
    if learning_rate is not None:
        metadata["fine_tuning"] = {"learning_rate": learning_rate}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(metadata, indent=4))
