"""The part of a raw-string SavedModel that every task shares.

A `TaskServing` says, for one task, what its integer core is (stage 1:
integer inputs -> the task's outputs, run by the Keras backend and saved as
a SavedModel) and what the string signatures around it do (stage 2: pure
TensorFlow, tokenizes with the task's own tokenizer and packers, calls the
core, decodes). Stage 2 never touches Keras variables, so it is the same
whichever backend trained and exported the core.
"""

import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

from keras_electra.models.electra_preprocessor import pack_text
from keras_electra.models.electra_preprocessor import text_packer

# Offsets of positions that hold no text token ([CLS], [SEP], padding).
NO_OFFSET = -1


def string_spec(name, shape=(None,)):
    return tf.TensorSpec(shape, tf.string, name=name)


def fixed_length(preprocessor):
    """`preprocessor`, or a copy that pads every row to `sequence_length`.

    The SavedModel's integer core has a fixed sequence axis, and requests
    are single texts as often as batches, so a preprocessor trained with
    `padding="longest"` serves with HF's `"max_length"`: the same outputs,
    since padding positions are masked out.
    """
    if getattr(preprocessor, "padding", "max_length") == "max_length":
        return preprocessor
    config = preprocessor.get_config()
    config.update(padding="max_length", pad_to_multiple_of=None)
    return type(preprocessor).from_config(config)


class TaskServing:
    """How one task becomes a SavedModel that takes raw strings.

    Subclasses set `task_class_name` (and `predicts_classes` for tasks
    with `num_classes`), take their export options as keyword arguments of
    `__init__`, and implement `signatures`. The first signature that
    `signatures` returns becomes `serving_default`.

    Args:
        task: the Keras task, with a preprocessor that has a tokenizer.
        label_names: optional list of class names, for tasks that predict
            classes; `None` uses the task's own `label_names` if it has them.
    """

    task_class_name = None
    predicts_classes = False

    def __init__(self, task, label_names=None):
        self.task = task
        self.preprocessor = fixed_length(task.preprocessor)
        self.tokenizer = self.preprocessor.tokenizer
        self.sequence_length = int(self.preprocessor.sequence_length)
        self.vocabulary = list(self.tokenizer.get_vocabulary())
        if label_names is not None and not self.predicts_classes:
            raise ValueError(
                "`label_names` names the classes of ElectraClassifier and "
                f"ElectraTokenClassifier; {type(task).__name__} has none."
            )
        if label_names is None:
            label_names = getattr(task, "label_names", None)
        self.label_names = list(label_names) if label_names else None
        if self.label_names is not None:
            self._check_label_names(task.num_classes)

    # === Stage 1: the integer core ===

    def core_signature(self):
        """TensorSpecs of the core's integer inputs, keyed like `task.input`.

        The batch stays dynamic; the sequence axis is the preprocessor's
        `sequence_length`, which is what JAX's export needs and what the
        string signatures always produce.
        """
        specs = {}
        for name, tensor in self.task.input.items():
            shape = list(tensor.shape)
            shape[-1] = self.sequence_length
            specs[name] = tf.TensorSpec(shape, tensor.dtype, name=name)
        return specs

    def core_function(self):
        """The backend function the core runs: the task in inference mode."""
        task = self.task
        return lambda inputs: task(inputs, training=False)

    # === Stage 2: the string signatures ===

    def signatures(self, core):
        """`{name: tf.function}` around `core`; the first is the default."""
        raise NotImplementedError

    def assets(self):
        """`{file name: text}` written to the SavedModel's assets."""
        files = {"vocab.txt": "\n".join(self.vocabulary) + "\n"}
        if self.label_names:
            files["label_names.txt"] = "\n".join(self.label_names) + "\n"
        return files

    # === Helpers for subclasses ===

    def _check_label_names(self, num_classes):
        if len(self.label_names) != num_classes or not all(
            isinstance(name, str) for name in self.label_names
        ):
            raise ValueError(
                f"`label_names` must be {num_classes} strings, one per class "
                f"of the {type(self.task).__name__}; received "
                f"{len(self.label_names)}: {self.label_names!r:.200}."
            )

    def call_core(self, core, inputs):
        """Call the core with inputs cast to the dtypes it was saved with;
        floating outputs come back as float32 (also under mixed precision)."""
        specs = self.core_signature()
        inputs = {
            name: tf.cast(inputs[name], specs[name].dtype) for name in specs
        }
        return tf.nest.map_structure(
            lambda x: tf.cast(x, tf.float32) if x.dtype.is_floating else x,
            core(inputs),
        )

    def token_strings(self, token_ids):
        return tf.gather(tf.constant(self.vocabulary), token_ids)

    def pack_text(self, text):
        """Tokenize and pack texts as `[CLS] text [SEP]`, with offsets.

        The packing (and cut at `sequence_length`) of the tasks'
        preprocessors for a single text.

        Returns:
            `(inputs, starts, ends)`: the integer inputs, and for every
            packed position the character span of its token in `text`
            (`NO_OFFSET` for [CLS], [SEP] and padding). One packer packs ids
            and offsets alike, so both are cut at the same token.
        """
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(text)
        token_packer = text_packer(self.tokenizer, self.sequence_length)
        offset_packer = MultiSegmentPacker(
            start_value=NO_OFFSET,
            end_value=NO_OFFSET,
            pad_value=NO_OFFSET,
            sequence_length=self.sequence_length,
        )
        inputs = pack_text(token_packer, ids, self.tokenizer.pad_token_id)
        return inputs, offset_packer(starts)[0], offset_packer(ends)[0]


def probabilities_of(task, logits, multi_label=False):
    """Probabilities from the task's outputs: softmax (or sigmoid) of
    logits, or the outputs themselves when the task already applies it."""
    activation = getattr(task, "activation", None)
    name = getattr(activation, "__name__", None)
    if name in ("softmax", "sigmoid"):
        return logits
    if multi_label:
        return tf.sigmoid(logits)
    return tf.nn.softmax(logits, axis=-1)


def token_slots(values, valid, fill):
    """Packed positions 1 .. L-2 (the text tokens), `fill` where not valid.

    Per-token outputs have `sequence_length - 2` slots: every token that can
    fit between [CLS] and the final [SEP].
    """
    values = values[:, 1:-1]
    valid = valid[:, 1:-1]
    while len(valid.shape) < len(values.shape):
        valid = valid[..., tf.newaxis]
    return tf.where(valid, values, tf.cast(fill, values.dtype))
