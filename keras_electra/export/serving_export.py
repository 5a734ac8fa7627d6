"""`export_for_serving`: a task as a SavedModel that takes raw strings."""

import inspect
import json
import os
import subprocess
import sys
import tempfile

import keras
import tensorflow as tf

from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.export.integer_core import export_integer_core

# Backends whose models Keras's ExportArchive can write as a SavedModel.
CORE_BACKENDS = ("tensorflow", "jax")


def _serving_classes():
    from keras_electra.export.causal_lm_serving import CausalLMServing
    from keras_electra.export.classifier_serving import ClassifierServing
    from keras_electra.export.discriminator_serving import (
        DiscriminatorServing,
    )
    from keras_electra.export.masked_lm_serving import MaskedLMServing
    from keras_electra.export.multiple_choice_serving import (
        MultipleChoiceServing,
    )
    from keras_electra.export.question_answerer_serving import (
        QuestionAnswererServing,
    )
    from keras_electra.export.token_classifier_serving import (
        TokenClassifierServing,
    )

    return (
        ClassifierServing,
        TokenClassifierServing,
        QuestionAnswererServing,
        MultipleChoiceServing,
        MaskedLMServing,
        DiscriminatorServing,
        CausalLMServing,
    )


def serving_for(task, **options):
    """The `TaskServing` that exports `task`, or a clear error."""
    classes = _serving_classes()
    names = [cls.__name__ for cls in type(task).__mro__]
    for serving_class in classes:
        if serving_class.task_class_name in names:
            break
    else:
        supported = ", ".join(cls.task_class_name for cls in classes)
        raise ValueError(
            f"export_for_serving() exports the keras_electra tasks "
            f"({supported}); received {type(task).__name__}."
        )
    accepted = [
        name
        for name in inspect.signature(serving_class.__init__).parameters
        if name not in ("self", "task")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"export_for_serving() takes the options {accepted} for "
            f"{type(task).__name__}; received {unknown}."
        )
    preprocessor = getattr(task, "preprocessor", None)
    if getattr(preprocessor, "tokenizer", None) is None:
        raise ValueError(
            "export_for_serving() puts the task's preprocessor into the "
            "SavedModel so that it takes raw strings, but this "
            f"{type(task).__name__} has preprocessor={preprocessor!r}. Create "
            "the task with a preprocessor (from_preset() attaches one)."
        )
    return serving_class(task, **options)


def export_for_serving(task, path, label_names=None, overwrite=False,
                       **options):
    """Export a task as a SavedModel that TF Serving runs on raw strings.

    The SavedModel's signatures take batches of strings (`text`, and
    `text_pair`, `question`/`context`, `prompt`/`choices` where the task
    needs them), tokenize them inside the graph with the task's own
    tokenizer and packing (tf.text ops; long inputs are cut exactly as the
    task's preprocessor cuts them; empty strings and invalid UTF-8 are
    accepted), run the model and return named outputs. The batch size is
    dynamic. Loading it needs only `tensorflow` and `tensorflow_text`
    (`import tensorflow_text` registers the ops; TF Serving has them built
    in). The vocabulary (and label names) are in its `assets/` folder.

    It is written in two stages: the task's integer model is exported by
    the Keras backend (TensorFlow directly, JAX through jax2tf), then pure
    TensorFlow string processing is wrapped around it. A task on another
    backend (PyTorch) is saved to a `.keras` file and re-built and exported
    under TensorFlow in a child process; its weights are the same, so are
    its predictions (to float32 rounding).

    What each task's signatures take and return:

    - `ElectraClassifier`: `classify(text)` and
      `classify_pairs(text, text_pair)` -> `logits`, `probabilities`,
      `label_id`, and `label`/`label_names` when label names are known.
    - `ElectraTokenClassifier`: `tag(text)` -> per word piece `tokens`,
      `start`/`end` character offsets, `label_ids`, `scores`, `logits`,
      `probabilities`, `num_tokens` (and `labels` with label names).
    - `ElectraQuestionAnswerer`: `answer(question, context)` -> `answer`
      text, `start`/`end` character offsets into the context, `score`.
    - `ElectraMultipleChoice`: `choose(prompt, choices)` -> `logits`,
      `probabilities`, `choice` (index), `answer` (the chosen string).
    - `ElectraMaskedLM`: `fill_mask(text)` -> for every `[MASK]`, the
      `top_k` `tokens`, `token_ids` and `scores`, and `num_masks`.
    - `ElectraDiscriminator`: `replaced_tokens(text)` -> per word piece
      `tokens`, `start`/`end`, `probabilities` of being replaced, `logits`.
    - `ElectraCausalLM`: `generate(text)` -> greedy `generated_text`.

    Args:
        task: a keras_electra task with a preprocessor.
        path: the folder to write (for TF Serving, `.../<model>/<version>`).
            It is written beside `path` and renamed into place: a failed or
            killed export leaves `path` as it was.
        label_names: optional class names (one per class) for classifiers
            and token classifiers; defaults to the task's `label_names`.
        **options: task-specific options: `text_pair=True` (classifier:
            the pair signature is `serving_default`), `top_k` (masked LM,
            default 5), `max_answer_length` (question answering, in tokens,
            default 30).
        overwrite: replace an existing `path`; without it an existing
            `path` is an error.

    Returns:
        `path`.

    Example:
    ```python
    keras_electra.export_for_serving(classifier, "serving/electra/1")
    reloaded = tf.saved_model.load("serving/electra/1")  # + tensorflow_text
    reloaded.signatures["serving_default"](text=tf.constant(["Great!"]))
    ```
    """
    options = dict(options)
    if label_names is not None:
        options["label_names"] = list(label_names)
    serving = serving_for(task, **options)
    path = os.fspath(path)
    if os.path.isfile(path):
        raise ValueError(
            f"export_for_serving() writes a SavedModel folder; {path!r} is a "
            "file."
        )
    with atomic_dir(path, overwrite=overwrite) as staging:
        if keras.config.backend() in CORE_BACKENDS:
            _export_here(serving, staging)
        else:
            _export_in_tensorflow_process(task, staging, options)
    return path


def _export_here(serving, path):
    with tempfile.TemporaryDirectory() as tmp:
        core_path = os.path.join(tmp, "core")
        export_integer_core(serving, core_path)
        core = tf.saved_model.load(core_path)
        module = tf.Module()
        module.core = core
        signatures = serving.signatures(core.serve)
        for name, function in signatures.items():
            setattr(module, name, function)
        module.assets = _write_assets(serving.assets(), tmp)
        default = next(iter(signatures.values()))
        tf.saved_model.save(
            module,
            path,
            signatures={"serving_default": default, **signatures},
            # The JAX core has no gradient; serving needs none.
            options=tf.saved_model.SaveOptions(
                experimental_custom_gradients=False
            ),
        )


def _write_assets(files, folder):
    assets = {}
    os.makedirs(os.path.join(folder, "assets"))
    for name, text in files.items():
        file_path = os.path.join(folder, "assets", name)
        with open(file_path, "w", encoding="utf-8") as f:
            f.write(text)
        assets[name.replace(".", "_")] = tf.saved_model.Asset(file_path)
    return assets


def _export_in_tensorflow_process(task, path, options):
    """Save `task` as `.keras`, export it from a TensorFlow child process."""
    with tempfile.TemporaryDirectory() as tmp:
        model_file = os.path.join(tmp, "task.keras")
        task.save(model_file)
        command = [
            sys.executable,
            "-m",
            "keras_electra.export",
            model_file,
            path,
            "--options",
            json.dumps(options),
            # `path` is the parent's (empty) staging folder.
            "--overwrite",
        ]
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        result = subprocess.run(
            command, env=env, capture_output=True, text=True
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"export_for_serving() re-builds {keras.config.backend()} tasks "
            "from a .keras file under the TensorFlow backend, in a child "
            f"process; it failed (exit code {result.returncode}):\n"
            f"{result.stderr[-4000:]}"
        )
