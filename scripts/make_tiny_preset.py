"""Pre-trains the bundled tiny ELECTRA (and its masked-LM-only control).

This is how `keras_electra/presets/electra_tiny_uncased_en` was made:
replaced-token detection with `ElectraPretrainer` and `fit` on the bundled
corpus (the six Austen novels, the training-split review texts, the prose of
the Python documentation), with a WordPiece vocabulary learned from that
corpus. Resumable: kill it and run the same command again
(`keras_electra.callbacks.BackupAndRestore` in `--work`). Writes the discriminator
(with its head) and, under `generator/`, the generator (with its head) as one
preset folder, and `training.json`, its record. Every file it writes is
written beside its destination and renamed into place; an existing
`--output` is kept unless `--overwrite` is given.

    python scripts/make_tiny_preset.py --overwrite   # remakes the bundled one
    python scripts/make_tiny_preset.py --objective mlm \\
        --work build/pretrain_mlm --output build/presets/tiny_mlm

`--objective mlm` trains the discriminator-sized encoder as a BERT-style
masked LM instead (the paper's comparison at equal compute).
"""

import argparse
import csv
import gzip
import json
import os
import re
import sys

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


# --- main -------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from keras_electra import ElectraTokenizer
    from keras_electra.convert.atomic_dir import atomic_file
    from keras_electra.pretraining.recipe import PretrainingRecipe
    from keras_electra.pretraining.recipe import corpus_statistics
    from keras_electra.pretraining.recipe import pretrain
    from keras_electra.pretraining.recipe import save_preset

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

    recipe = PretrainingRecipe.from_arguments(args)
    model, record = pretrain(recipe, paths, tokenizer, stats, args.work)
    record = {
        "command": "python scripts/make_tiny_preset.py "
                   + " ".join(sys.argv[1:] if argv is None else argv),
        "arguments": vars(args),
        "corpus": {
            "files": [os.path.relpath(p, ROOT) for p in paths],
            "vocabulary": os.path.basename(vocabulary),
            **stats,
        },
        **record,
    }
    save_preset(model, tokenizer, recipe, record, args.output,
                overwrite=args.overwrite)
    print(f"wrote {args.output}", flush=True)


if __name__ == "__main__":
    main()
