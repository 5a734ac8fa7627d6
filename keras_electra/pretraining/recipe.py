"""Pre-training from text files to a preset, as the tiny preset was made.

`pretrain()` runs the whole recipe: corpus statistics, the generator and
discriminator (or, for the masked-LM control, one encoder), Google's AdamW
schedule, `fit` on packed sequences mixed from the files in proportion to
their size, a backup to resume from, an epoch log, and a preset folder with
the discriminator (and its head), `generator/` (and its head) and
`training.json`, the record. `scripts/make_tiny_preset.py` and
`keras-electra pretrain` both run it.
"""

import collections
import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_electra.callbacks import BackupAndRestore
from keras_electra.convert.atomic_dir import append_record
from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.pretraining.corpus import pretraining_dataset


@dataclasses.dataclass
class PretrainingRecipe:
    """The architecture and training choices of one run.

    The defaults are the bundled tiny preset's run
    (presets/electra_tiny_uncased_en/README.md).
    """

    objective: str = "rtd"           # "rtd" (ELECTRA) or "mlm" (control)
    steps: int = 5000
    steps_per_epoch: int = 200
    batch_size: int = 32
    sequence_length: int = 128
    vocabulary_size: int = 8000
    hidden_dim: int = 128
    embedding_dim: int = 128
    num_layers: int = 3
    num_heads: int = 2
    generator_fraction: float = 0.25
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.02
    seed: int = 0

    @classmethod
    def from_arguments(cls, arguments):
        """The recipe from an object (e.g. parsed arguments) with its fields."""
        return cls(**{field.name: getattr(arguments, field.name)
                      for field in dataclasses.fields(cls)})

    @property
    def epochs(self):
        return math.ceil(self.steps / self.steps_per_epoch)


def corpus_statistics(paths, tokenizer, sequence_length):
    """Sequences per file and the unigram entropy of the corpus's tokens
    (nats): the loss of a generator that only knows word frequencies."""
    counts = collections.Counter()
    sequences = {}
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id,
               tokenizer.pad_token_id}
    for path in paths:
        n = 0
        dataset = pretraining_dataset(path, tokenizer, sequence_length)
        for batch in dataset.batch(512).as_numpy_iterator():
            ids = batch["token_ids"][batch["padding_mask"]]
            counts.update(ids.tolist())
            n += len(batch["token_ids"])
        sequences[os.path.basename(path)] = n
    for token in special:
        counts.pop(token, None)
    total = sum(counts.values())
    p = np.array(list(counts.values()), "float64") / total
    return {
        "sequences_per_pass": sequences,
        "tokens_per_pass": total,
        "unigram_entropy_nats": round(float(-(p * np.log(p)).sum()), 4),
    }


def training_dataset(paths, tokenizer, preprocessor, recipe, weights):
    """Packed sequences of all files, mixed by `weights`, masked, batched."""
    parts = [
        pretraining_dataset(path, tokenizer, recipe.sequence_length,
                            seed=recipe.seed + i).repeat()
        for i, path in enumerate(paths)
    ]
    # Sources mixed in proportion to their size, then shuffled.
    mixed = tf.data.Dataset.sample_from_datasets(
        parts, weights=weights, seed=recipe.seed
    )
    return (
        mixed.shuffle(10_000, seed=recipe.seed)
        .batch(recipe.batch_size, drop_remainder=True)
        .map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_models(recipe, tokenizer):
    """`(model, preprocessor)`: an `ElectraPretrainer` (or, for the "mlm"
    objective, an `ElectraMaskedLM` of the discriminator's size)."""
    from keras_electra import ElectraBackbone
    from keras_electra import ElectraMaskedLM
    from keras_electra import ElectraMaskedLMPreprocessor
    from keras_electra import ElectraPretrainer
    from keras_electra import ElectraPretrainerPreprocessor

    backbone = ElectraBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=recipe.num_layers,
        num_heads=recipe.num_heads,
        hidden_dim=recipe.hidden_dim,
        embedding_dim=recipe.embedding_dim,
        intermediate_dim=4 * recipe.hidden_dim,
        max_sequence_length=recipe.sequence_length,
    )
    masks = int(recipe.sequence_length * 0.15) + 1
    if recipe.objective == "rtd":
        preprocessor = ElectraPretrainerPreprocessor(
            tokenizer, sequence_length=recipe.sequence_length,
            mask_selection_length=masks,
        )
        generator = ElectraPretrainer.generator_backbone_for(
            backbone, width_fraction=recipe.generator_fraction
        )
        model = ElectraPretrainer(generator, backbone, seed=recipe.seed)
    else:
        preprocessor = ElectraMaskedLMPreprocessor(
            tokenizer, sequence_length=recipe.sequence_length,
            mask_selection_length=masks,
        )
        model = ElectraMaskedLM(backbone)
    return model, preprocessor


def compile_model(model, recipe):
    """Google's AdamW: linear warm-up and decay, weight decay 0.01 off
    norms and biases, clipping at global norm 1."""
    from keras_electra.optimizers import WarmupLinearDecay

    warmup = int(recipe.steps * recipe.warmup_fraction)
    if recipe.objective == "rtd":
        model.compile(learning_rate=recipe.learning_rate, warmup_steps=warmup,
                      total_steps=recipe.steps)
        return
    optimizer = keras.optimizers.AdamW(
        WarmupLinearDecay(recipe.learning_rate, warmup, recipe.steps),
        weight_decay=0.01, global_clipnorm=1.0, epsilon=1e-6,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )


def save_preset(model, tokenizer, recipe, record, output, overwrite=False):
    """The model (with raw-string preprocessors) and `training.json`, as one
    folder written completely or not at all."""
    from keras_electra import ElectraMaskedLMPreprocessor
    from keras_electra import ElectraPretrainerPreprocessor

    # The dataset was masked in tf.data; the saved models get preprocessors
    # for raw strings.
    if recipe.objective == "rtd":
        model.preprocessor = ElectraPretrainerPreprocessor(
            tokenizer, sequence_length=recipe.sequence_length)
    else:
        model.preprocessor = ElectraMaskedLMPreprocessor(
            tokenizer, sequence_length=recipe.sequence_length)
    with atomic_dir(output, overwrite=overwrite) as folder:
        # `ElectraPretrainer.save_to_preset` refuses an existing folder (the
        # staging one): it writes a new one inside, moved up entry by entry.
        inner = os.path.join(folder, "preset")
        model.save_to_preset(inner)
        for name in os.listdir(inner):
            os.replace(os.path.join(inner, name), os.path.join(folder, name))
        os.rmdir(inner)
        with open(os.path.join(folder, "training.json"), "w") as f:
            json.dump(record, f, indent=2)


class EpochLog(keras.callbacks.Callback):
    """Appends each epoch's metrics, duration and throughput to a JSON
    lines file (one record per epoch, kept across restarts)."""

    def __init__(self, path, tokens_per_epoch):
        super().__init__()
        self.path = path
        self.tokens_per_epoch = tokens_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self.started
        entry = {"epoch": epoch + 1, "seconds": round(seconds, 1),
                 "tokens": self.tokens_per_epoch,
                 "tokens_per_second": round(self.tokens_per_epoch / seconds),
                 **{k: round(float(v), 5) for k, v in logs.items()}}
        # Rewritten atomically; an epoch logged again after a restart
        # from the backup replaces its first record.
        append_record(self.path, json.dumps(entry),
                      key=lambda line: json.loads(line)["epoch"])


def pretrain(recipe, paths, tokenizer, stats, work, callbacks=(),
             verbose=2):
    """Train as `recipe` says; returns `(model, record)`.

    Resumable: `work` keeps a `keras_electra.callbacks.BackupAndRestore` backup and
    `epochs.jsonl`, the log of every epoch; the same call after a kill
    continues where it stopped.

    Args:
        recipe: a `PretrainingRecipe`.
        paths: the corpus files (one sentence per line, blank lines between
            documents).
        tokenizer: an `ElectraTokenizer` with the corpus's vocabulary.
        stats: `corpus_statistics(paths, tokenizer, sequence_length)`.
        work: folder for the backup and the epoch log.
        callbacks: more Keras callbacks (e.g. a progress bar).
        verbose: `fit`'s verbosity.
    """
    keras.utils.set_random_seed(recipe.seed)
    model, preprocessor = build_models(recipe, tokenizer)
    compile_model(model, recipe)
    weights = [float(n) for n in stats["sequences_per_pass"].values()]
    dataset = training_dataset(paths, tokenizer, preprocessor, recipe,
                               weights)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "epochs.jsonl")
    started = time.time()
    model.fit(
        dataset,
        steps_per_epoch=recipe.steps_per_epoch,
        epochs=recipe.epochs,
        verbose=verbose,
        callbacks=[
            BackupAndRestore(os.path.join(work, "backup")),
            EpochLog(log, recipe.batch_size * recipe.sequence_length
                     * recipe.steps_per_epoch),
            *callbacks,
        ],
    )
    with open(log) as f:
        epochs_logged = [json.loads(line) for line in f]
    seconds = sum(e["seconds"] for e in epochs_logged)
    record = {
        "objective": recipe.objective,
        "recipe": dataclasses.asdict(recipe),
        "parameters": int(model.count_params()),
        "keras_backend": keras.config.backend(),
        "steps": recipe.epochs * recipe.steps_per_epoch,
        "seconds_this_process": round(time.time() - started),
        "seconds_training": round(seconds),
        "tokens_per_second": round(
            sum(e["tokens"] for e in epochs_logged) / max(seconds, 0.1)),
        "first_epoch": epochs_logged[0],
        "last_epoch": epochs_logged[-1],
        "epochs": epochs_logged,
    }
    return model, record
