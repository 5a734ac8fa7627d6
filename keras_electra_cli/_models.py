"""Loading what `finetune` wrote, a `.keras` file or a preset (heavy)."""

import os

from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import resolve_preset_path

TASK_KINDS = {
    "ElectraClassifier": "classifier",
    "ElectraTokenClassifier": "token-classifier",
    "ElectraQuestionAnswerer": "question-answerer",
    "ElectraMultipleChoice": "multiple-choice",
}


def load_task(model):
    """A task from a finetune folder, a `.keras` file or a preset."""
    import keras

    import keras_electra

    path = model
    if os.path.isdir(model) and os.path.isfile(
            os.path.join(model, "model.keras")):
        path = os.path.join(model, "model.keras")
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise CommandError(f"no such file: {path!r}")
        return keras.saving.load_model(path)
    return keras_electra.from_preset(resolve_preset_path(model))


def task_kind(task, allowed=tuple(TASK_KINDS.values())):
    kind = TASK_KINDS.get(type(task).__name__)
    if kind not in allowed:
        raise CommandError(
            f"the model is an {type(task).__name__}; this command takes a "
            f"fine-tuned {', '.join(sorted(allowed))} (keras-electra "
            "finetune writes one)")
    return kind
