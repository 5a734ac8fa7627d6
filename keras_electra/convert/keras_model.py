"""Build a keras_electra backbone or task from a `Checkpoint`, weights loaded.

The models import this package (for `from_preset`), so it imports none of
them: classes are looked up by their registered name, as Keras does for the
`class_name` of a saved config, and built only through their constructors:
`cls(backbone=..., preprocessor=..., **head_kwargs)` with a preprocessor
`cls.preprocessor_cls(tokenizer=..., sequence_length=...)`.
"""

import inspect

import keras

from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.hf_heads import HF_TASKS
from keras_electra.convert.hf_heads import load_hf_tensors

# The keras_electra tasks that a checkpoint (or preset) can be loaded as.
TASK_NAMES = (
    "ElectraClassifier",
    "ElectraTokenClassifier",
    "ElectraQuestionAnswerer",
    "ElectraMultipleChoice",
    "ElectraDiscriminator",
    "ElectraMaskedLM",
    "ElectraCausalLM",
)
# HF architecture -> keras_electra task class name.
TASK_FOR_HF_ARCHITECTURE = {hf: ours for ours, (hf, _) in HF_TASKS.items()}
# The longest input the preprocessors of converted presets pack by default.
DEFAULT_SEQUENCE_LENGTH = 512
# Choices of a converted HF multiple-choice head when its config has none.
DEFAULT_NUM_CHOICES = 2


def electra_class(name):
    """The class registered as `keras_electra>{name}`.

    Importing `keras_electra` (which any import of this package does first)
    imports, and so registers, every model class.
    """
    cls = keras.saving.get_registered_object(f"keras_electra>{name}")
    if cls is None:
        raise ValueError(f"keras_electra has no class {name!r}.")
    return cls


def task_class(name):
    """The keras_electra task class called `name`."""
    if name not in TASK_NAMES:
        raise ValueError(
            f"Unknown task {name!r}; expected one of {sorted(TASK_NAMES)}."
        )
    return electra_class(name)


def task_name_for(checkpoint):
    """The keras_electra task of the checkpoint's head, or None (backbone)."""
    return TASK_FOR_HF_ARCHITECTURE.get(checkpoint.architecture)


def build_backbone(config, source="config.json"):
    backbone_cls = electra_class("ElectraBackbone")
    return backbone_cls(**backbone_kwargs_from_hf_config(config, source))


def build_tokenizer(checkpoint):
    """An `ElectraTokenizer` with the checkpoint's vocabulary, or None."""
    if checkpoint.vocabulary is None:
        return None
    return electra_class("ElectraTokenizer")(
        vocabulary=list(checkpoint.vocabulary),
        lowercase=checkpoint.lowercase,
        strip_accents=checkpoint.strip_accents,
        split_on_cjk=checkpoint.split_on_cjk,
    )


def _accepted(cls, kwargs):
    """The entries of `kwargs` that `cls.__init__` names explicitly."""
    parameters = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in kwargs.items() if k in parameters}


def _label_names(config):
    id2label = config.get("id2label") or {}
    names = [id2label[k] for k in sorted(id2label, key=int)]
    if all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def head_kwargs(task, config):
    """Constructor arguments of `task`'s head from an HF config dict."""
    num_labels = config.get("num_labels") or len(config.get("id2label") or {})
    num_labels = num_labels or 2
    dropout = config.get("classifier_dropout")
    if dropout is None:
        dropout = config.get("hidden_dropout_prob", 0.1)
    kwargs = {"dropout": dropout}
    if task in ("ElectraClassifier", "ElectraTokenClassifier"):
        kwargs["num_classes"] = num_labels
        kwargs["label_names"] = _label_names(config)
    if task == "ElectraClassifier":
        problem_type = config.get("problem_type")
        if problem_type is None and num_labels == 1:
            problem_type = "regression"  # HF's rule for num_labels == 1.
        kwargs["problem_type"] = problem_type or "single_label_classification"
    if task == "ElectraMultipleChoice":
        kwargs["dropout"] = config.get("summary_last_dropout", dropout)
        # HF's model takes any number of choices; ours fixes it at build
        # time. `export_to_huggingface` stores it; override with
        # `from_preset(..., num_choices=N)`.
        kwargs["num_choices"] = config.get("num_choices", DEFAULT_NUM_CHOICES)
    return kwargs


def _default(cls, name):
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    default = getattr(parameter, "default", None)
    return default if isinstance(default, int) else None


def fitting_preprocessor_kwargs(preprocessor_cls, max_sequence_length,
                                sequence_length=None):
    """`sequence_length` (and QA `doc_stride`) a backbone can take.

    Without an explicit `sequence_length`, the class default, capped at the
    backbone's positions. A default `doc_stride` that does not fit the
    length keeps its ratio to the default length (HF: 128 of 384).
    """
    default_length = _default(preprocessor_cls, "sequence_length")
    if sequence_length is None:
        sequence_length = min(default_length or DEFAULT_SEQUENCE_LENGTH,
                              int(max_sequence_length))
    kwargs = {"sequence_length": sequence_length}
    stride = _default(preprocessor_cls, "doc_stride")
    # The packed window holds [CLS] question [SEP] context [SEP].
    if stride is not None and stride >= sequence_length - 3:
        scaled = stride * sequence_length // (default_length or 384)
        kwargs["doc_stride"] = max(0, min(scaled, sequence_length - 4))
    return _accepted(preprocessor_cls, kwargs)


def build_preprocessor(cls, tokenizer, max_sequence_length):
    if tokenizer is None or getattr(cls, "preprocessor_cls", None) is None:
        return None
    preprocessor_cls = cls.preprocessor_cls
    kwargs = fitting_preprocessor_kwargs(preprocessor_cls, max_sequence_length)
    return preprocessor_cls(tokenizer=tokenizer, **kwargs)


def build_model(checkpoint, task=None):
    """A backbone or task for `checkpoint`, with its weights.

    Args:
        checkpoint: a `Checkpoint`.
        task: name of the keras_electra task to build; `None` follows the
            checkpoint's `architectures` (a backbone for `ElectraModel`). A
            task whose head the checkpoint lacks gets a fresh head.

    Returns:
        `(model, tokenizer)`; the tokenizer is also the task preprocessor's.
    """
    config = checkpoint.config
    backbone = build_backbone(config, source=checkpoint.source)
    tokenizer = build_tokenizer(checkpoint)
    own_task = task_name_for(checkpoint)
    task = own_task if task is None else task
    if task is None or task == "ElectraBackbone":
        model = backbone
    else:
        cls = task_class(task)
        kwargs = head_kwargs(task, config) if task == own_task else {}
        model = cls(
            backbone=backbone,
            preprocessor=build_preprocessor(
                cls, tokenizer, backbone.max_sequence_length
            ),
            **_accepted(cls, kwargs),
        )
    load_hf_tensors(
        model, checkpoint.tensors, source=checkpoint.source,
        backbone_only=(task != own_task),
        # A bare `ElectraModel` checkpoint has nothing but the backbone.
        strict=(checkpoint.architecture == "ElectraModel"),
    )
    return model, tokenizer
