"""Pre-trains the bundled tiny ELECTRA (and its masked-LM-only control).

This is how `keras_electra/presets/electra_tiny_uncased_en` was made:
replaced-token detection with `ElectraPretrainer` and `fit` on the bundled
corpus (the six Austen novels, the training-split review texts, the prose of
the Python documentation), with a WordPiece vocabulary learned from that
corpus. Resumable: kill it and run the same command again
(`keras.callbacks.BackupAndRestore` in `--work`). Writes the discriminator
(with its head) and, under `generator/`, the generator (with its head) as one
preset folder, and `training.json`, its record. Every file it writes (the
corpus, statistics, epoch log and preset) is written beside its destination
and renamed into place, so a killed run leaves no half-written file; an
existing `--output` is kept unless `--overwrite` is given.

    python scripts/make_tiny_preset.py --overwrite   # remakes the bundled one
    python scripts/make_tiny_preset.py --objective mlm \\
        --work build/pretrain_mlm --output build/presets/tiny_mlm

`--objective mlm` trains the discriminator-sized encoder as a BERT-style
masked LM instead (the paper's comparison at equal compute).
"""

import argparse
import collections
import csv
import gzip
import json
import math
import os
import re
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "keras_electra", "data")
PRESET = os.path.join(ROOT, "keras_electra", "presets",
                      "electra_tiny_uncased_en")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--objective", choices=["rtd", "mlm"], default="rtd")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=3)
    parser.add_argument("--num-heads", type=int, default=2)
    parser.add_argument("--generator-fraction", type=float, default=0.25)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-fraction", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra-op threads (0: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus-dir", default="build/pretraining_corpus",
                        help="corpus text and vocabulary (made if missing)")
    parser.add_argument("--work", default="build/pretrain_rtd",
                        help="backups and the epoch log")
    parser.add_argument("--output", default=PRESET)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --output preset")
    parser.add_argument("--prepare-only", action="store_true",
                        help="write the corpus and vocabulary, then stop")
    args = parser.parse_args(argv)
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"--output {args.output} exists; pass --overwrite to "
                     "replace it, or choose another --output.")
    return args


# --- corpus -----------------------------------------------------------------

# Google's packer truncates what overflows a sequence, so its input has one
# sentence per line: long paragraphs would lose their ends.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')]?\s+(?=[\"'(]?[A-Z0-9])")


def _sentences(paragraph):
    return "\n".join(_SENTENCE_END.split(" ".join(paragraph.split())))


def _austen_chapters(path):
    """The novels, one sentence per line, chapters as documents."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    lines = []
    for block in re.split(r"\n\s*\n", text):
        paragraph = " ".join(block.split())
        if re.fullmatch(r"(CHAPTER|Chapter) [0-9IVXLC]+\.?", paragraph):
            lines.append("")
        elif paragraph:
            lines.append(_sentences(paragraph))
    return "\n".join(lines) + "\n"


def _review_documents(path):
    """Training-split review texts only (never the test split), one
    document each, one sentence per line."""
    with open(path, newline="", encoding="utf-8") as f:
        reviews = [row["review"] for row in csv.DictReader(f)]
    texts = (_sentences(r.replace("<br />", " ")) for r in reviews)
    return "".join(f"{t}\n\n" for t in texts if t.strip())


def _python_documents(path):
    """The Python documentation's prose, one sentence per line."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return "".join(
            (_sentences(line) if line.strip() else "") + "\n" for line in f
        )


def prepare_corpus(corpus_dir, vocabulary_size):
    from keras_electra.convert.atomic_dir import atomic_file
    from keras_electra.pretraining import build_vocabulary

    os.makedirs(corpus_dir, exist_ok=True)
    files = {
        "austen.txt": lambda: _austen_chapters(
            os.path.join(DATA, "austen_novels.txt.gz")),
        "reviews_train.txt": lambda: _review_documents(
            os.path.join(DATA, "fine_foods", "train.csv")),
        "python_docs.txt": lambda: _python_documents(
            os.path.join(DATA, "python_docs.txt.gz")),
    }
    paths = []
    for name, make in files.items():
        path = os.path.join(corpus_dir, name)
        if not os.path.exists(path):
            with atomic_file(path, encoding="utf-8") as f:
                f.write(make())
        paths.append(path)
    vocabulary = os.path.join(corpus_dir, f"vocab_{vocabulary_size}.txt")
    if not os.path.exists(vocabulary):
        build_vocabulary(paths, vocabulary_size, vocabulary)
    return paths, vocabulary


def corpus_statistics(paths, tokenizer, sequence_length):
    """Sequences per file and the unigram entropy of the corpus's tokens
    (nats): the loss of a generator that only knows word frequencies."""
    from keras_electra.pretraining import pretraining_dataset

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


def training_dataset(paths, tokenizer, preprocessor, args, weights):
    import tensorflow as tf

    from keras_electra.pretraining import pretraining_dataset

    parts = [
        pretraining_dataset(path, tokenizer, args.sequence_length,
                            seed=args.seed + i).repeat()
        for i, path in enumerate(paths)
    ]
    # Sources mixed in proportion to their size, then shuffled.
    mixed = tf.data.Dataset.sample_from_datasets(
        parts, weights=weights, seed=args.seed
    )
    return (
        mixed.shuffle(10_000, seed=args.seed)
        .batch(args.batch_size, drop_remainder=True)
        .map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


# --- models -----------------------------------------------------------------

def build_models(args, tokenizer):
    from keras_electra import ElectraBackbone
    from keras_electra import ElectraMaskedLM
    from keras_electra import ElectraMaskedLMPreprocessor
    from keras_electra import ElectraPretrainer
    from keras_electra import ElectraPretrainerPreprocessor

    backbone = ElectraBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.hidden_dim,
        embedding_dim=args.embedding_dim,
        intermediate_dim=4 * args.hidden_dim,
        max_sequence_length=args.sequence_length,
    )
    masks = int(args.sequence_length * 0.15) + 1
    if args.objective == "rtd":
        preprocessor = ElectraPretrainerPreprocessor(
            tokenizer, sequence_length=args.sequence_length,
            mask_selection_length=masks,
        )
        generator = ElectraPretrainer.generator_backbone_for(
            backbone, width_fraction=args.generator_fraction
        )
        model = ElectraPretrainer(generator, backbone, seed=args.seed)
    else:
        preprocessor = ElectraMaskedLMPreprocessor(
            tokenizer, sequence_length=args.sequence_length,
            mask_selection_length=masks,
        )
        model = ElectraMaskedLM(backbone)
    return model, preprocessor


def compile_model(model, args):
    import keras

    from keras_electra.optimizers import WarmupLinearDecay

    warmup = int(args.steps * args.warmup_fraction)
    if args.objective == "rtd":
        model.compile(learning_rate=args.learning_rate, warmup_steps=warmup,
                      total_steps=args.steps)
        return
    optimizer = keras.optimizers.AdamW(
        WarmupLinearDecay(args.learning_rate, warmup, args.steps),
        weight_decay=0.01, global_clipnorm=1.0, epsilon=1e-6,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],
    )


def save_preset(model, tokenizer, args, record):
    from keras_electra import ElectraMaskedLMPreprocessor
    from keras_electra import ElectraPretrainerPreprocessor
    from keras_electra.convert.atomic_dir import atomic_dir

    # The dataset was masked in tf.data; the saved models get preprocessors
    # for raw strings.
    if args.objective == "rtd":
        model.preprocessor = ElectraPretrainerPreprocessor(
            tokenizer, sequence_length=args.sequence_length)
    else:
        model.preprocessor = ElectraMaskedLMPreprocessor(
            tokenizer, sequence_length=args.sequence_length)
    # The preset and its record are renamed into place together.
    with atomic_dir(args.output, overwrite=args.overwrite) as staging:
        model.save_to_preset(staging)
        with open(os.path.join(staging, "training.json"), "w") as f:
            json.dump(record, f, indent=2)


# --- main -------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from keras_electra import ElectraTokenizer
    from keras_electra.callbacks import BackupAndRestore
    from keras_electra.convert.atomic_dir import atomic_file

    paths, vocabulary = prepare_corpus(args.corpus_dir, args.vocabulary_size)
    tokenizer = ElectraTokenizer(vocabulary=vocabulary)
    stats_file = os.path.join(args.corpus_dir,
                              f"stats_{args.sequence_length}.json")
    if not os.path.exists(stats_file):
        stats = corpus_statistics(paths, tokenizer, args.sequence_length)
        with atomic_file(stats_file) as f:
            json.dump(stats, f, indent=2)
    with open(stats_file) as f:
        stats = json.load(f)
    print(json.dumps(stats), flush=True)
    if args.prepare_only:
        return

    keras.utils.set_random_seed(args.seed)
    model, preprocessor = build_models(args, tokenizer)
    compile_model(model, args)
    weights = [float(n) for n in stats["sequences_per_pass"].values()]
    dataset = training_dataset(paths, tokenizer, preprocessor, args, weights)
    os.makedirs(args.work, exist_ok=True)
    log = os.path.join(args.work, "epochs.jsonl")
    started = time.time()
    epochs = math.ceil(args.steps / args.steps_per_epoch)
    history = model.fit(
        dataset,
        steps_per_epoch=args.steps_per_epoch,
        epochs=epochs,
        verbose=2,
        callbacks=[
            BackupAndRestore(os.path.join(args.work, "backup")),
            EpochLog(log, args.batch_size * args.sequence_length
                     * args.steps_per_epoch),
        ],
    )
    with open(log) as f:
        epochs_logged = [json.loads(line) for line in f]
    record = {
        "command": "python scripts/make_tiny_preset.py "
                   + " ".join(sys.argv[1:] if argv is None else argv),
        "objective": args.objective,
        "arguments": vars(args),
        "corpus": {
            "files": [os.path.relpath(p, ROOT) for p in paths],
            "vocabulary": os.path.basename(vocabulary),
            **stats,
        },
        "parameters": int(model.count_params()),
        "keras_backend": keras.config.backend(),
        "steps": epochs * args.steps_per_epoch,
        "seconds_this_process": round(time.time() - started),
        "seconds_training": round(sum(e["seconds"] for e in epochs_logged)),
        "tokens_per_second": round(
            sum(e["tokens"] for e in epochs_logged)
            / sum(e["seconds"] for e in epochs_logged)),
        "first_epoch": epochs_logged[0],
        "last_epoch": epochs_logged[-1],
        "epochs": epochs_logged,
    }
    del history
    save_preset(model, tokenizer, args, record)
    print(f"wrote {args.output}", flush=True)


def EpochLog(path, tokens_per_epoch):
    import keras

    from keras_electra.convert.atomic_dir import append_record

    class _EpochLog(keras.callbacks.Callback):
        """Appends each epoch's metrics, duration and throughput to a JSON
        lines file (one record per epoch, kept across restarts)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.time() - self.started
            entry = {"epoch": epoch + 1, "seconds": round(seconds, 1),
                     "tokens": tokens_per_epoch,
                     "tokens_per_second": round(tokens_per_epoch / seconds),
                     **{k: round(float(v), 5) for k, v in logs.items()}}
            # Rewritten atomically; an epoch logged again after a restart
            # from the backup replaces its first record.
            append_record(path, json.dumps(entry),
                          key=lambda line: json.loads(line)["epoch"])

    return _EpochLog()


if __name__ == "__main__":
    main()
