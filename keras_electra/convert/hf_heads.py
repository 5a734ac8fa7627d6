"""HF transformers names for every keras_electra model, backbone and heads.

`model_weights(model)` gives the full `Weight` table of a backbone or task,
`load_hf_tensors` fills a model from an HF state dict and `hf_tensors` goes
back. Task classes are matched by name so this module imports no task.
"""

from keras_electra.convert.weight_map import assign_weights
from keras_electra.convert.weight_map import backbone_weights
from keras_electra.convert.weight_map import collect_weights
from keras_electra.convert.weight_map import dense
from keras_electra.convert.weight_map import layer_norm
from keras_electra.convert.weight_map import Weight

# Buffers that HF checkpoints may carry and that hold no learned value.
HF_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


def _classifier(task):
    head = task.classifier_head
    return dense(head.dense, "classifier.dense") + dense(
        head.output_dense, "classifier.out_proj"
    )


def _generator(task):
    head = task.generator_head
    return [
        *dense(head.dense, "generator_predictions.dense"),
        *layer_norm(head.layer_norm, "generator_predictions.LayerNorm"),
        Weight(head.bias, "generator_lm_head.bias"),
    ]


def _discriminator(task):
    head = task.discriminator_head
    return dense(head.dense, "discriminator_predictions.dense") + dense(
        head.prediction_dense, "discriminator_predictions.dense_prediction"
    )


def _multiple_choice(task):
    return dense(task.summary_dense, "sequence_summary.summary") + dense(
        task.output_dense, "classifier"
    )


# keras_electra class -> (HF class, head table).
HF_TASKS = {
    "ElectraClassifier": ("ElectraForSequenceClassification", _classifier),
    "ElectraTokenClassifier": (
        "ElectraForTokenClassification",
        lambda t: dense(t.output_dense, "classifier"),
    ),
    "ElectraQuestionAnswerer": (
        "ElectraForQuestionAnswering",
        lambda t: dense(t.output_dense, "qa_outputs"),
    ),
    "ElectraMultipleChoice": ("ElectraForMultipleChoice", _multiple_choice),
    "ElectraDiscriminator": ("ElectraForPreTraining", _discriminator),
    "ElectraMaskedLM": ("ElectraForMaskedLM", _generator),
    "ElectraCausalLM": ("ElectraForCausalLM", _generator),
}
# The HF decoders whose weight is tied to the word embeddings.
TIED_DECODER = "generator_lm_head.weight"


def task_name(model):
    """The keras_electra task class (or base class) name of `model`, or None."""
    for cls in type(model).__mro__:
        if cls.__name__ in HF_TASKS:
            return cls.__name__
    return None


def hf_task_entry(model):
    """`(hf_class_name, head_fn)` of a task, by its class or a base class."""
    name = task_name(model)
    return HF_TASKS[name] if name else None


def model_weights(model):
    """The `Weight` table of an `ElectraBackbone` or a keras_electra task."""
    entry = hf_task_entry(model)
    if entry is None:
        return backbone_weights(model, prefix="")
    return backbone_weights(model.backbone, prefix="electra.") + entry[1](model)


def _strip_buffers(tensors):
    return {
        name: value
        for name, value in tensors.items()
        if not name.endswith(HF_BUFFERS) and name != TIED_DECODER
    }


def load_hf_tensors(model, tensors, source="checkpoint", backbone_only=False,
                    strict=False):
    """Fill `model` from an HF state dict (name -> array), all or nothing.

    With `backbone_only`, an HF task checkpoint loads into the backbone of a
    task with a fresh head (or into a bare backbone) and its head tensors
    are ignored. With `strict`, tensors that the backbone does not use are
    an error even then (an `ElectraModel` checkpoint has no others).
    """
    tensors = _strip_buffers(tensors)
    if backbone_only or hf_task_entry(model) is None:
        backbone = getattr(model, "backbone", model)
        prefixed = any(n.startswith("electra.") for n in tensors)
        weights = backbone_weights(backbone, "electra." if prefixed else "")
        keep = {w.name for w in weights}
        if not strict:
            tensors = {n: v for n, v in tensors.items() if n in keep}
    else:
        weights = model_weights(model)
    assign_weights(weights, tensors, source=source)


def hf_tensors(model):
    """The HF state dict (name -> numpy array) of `model`, ties omitted."""
    return collect_weights(model_weights(model))
