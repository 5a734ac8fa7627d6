"""RTD vs masked-LM-only vs no pre-training, fine-tuned on the bundled reviews.

The paper's comparison at equal pre-training compute: the encoders made by
`scripts/make_tiny_preset.py` with `--objective rtd` and `--objective mlm`
(same architecture, corpus, steps and schedule) and the same architecture
from random initialisation are each fine-tuned as an `ElectraClassifier`
with the main job's budget (`python -m keras_electra`: 4 epochs, batch 32,
learning rate 2e-4, sequence length 128) on 250, 1,000 and 4,000 training
reviews, with several seeds, and scored on the 1,000 test reviews.
Results are appended to `--results` (one JSON line per run, so an
interrupted comparison resumes), then summarised as a Markdown table and a
PNG learning curve.

    python scripts/compare_pretraining.py \\
        --rtd keras_electra/presets/electra_tiny_uncased_en \\
        --mlm build/presets/tiny_mlm
"""

import argparse
import json
import os
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GUIDES = os.path.join(ROOT, "guides")
# TF-IDF + logistic regression on the same split (shared/data/README.md).
TFIDF_ACCURACY = 0.804


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rtd", required=True, help="RTD preset folder")
    parser.add_argument("--mlm", required=True, help="MLM-only preset folder")
    parser.add_argument("--labels", type=int, nargs="+",
                        default=[250, 1000, 4000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", default=["rtd", "mlm", "random"],
                        help="which encoders to fine-tune this time")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--results",
                        default="build/comparison/results.jsonl")
    parser.add_argument("--table", default=os.path.join(
        GUIDES, "pretraining_comparison.md"))
    parser.add_argument("--plot", default=os.path.join(
        GUIDES, "images", "pretraining_learning_curve.png"))
    return parser.parse_args(argv)


def finetune(preset, init, labels, seed, args, train, test):
    import keras

    from keras_electra import ElectraBackbone
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraClassifierPreprocessor
    from keras_electra.__main__ import LABELS

    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(train[0]))[:labels]
    texts = [train[0][i] for i in order]
    targets = train[1][order]
    preprocessor = ElectraClassifierPreprocessor.from_preset(
        preset, sequence_length=args.sequence_length)
    if init == "random":
        backbone = ElectraBackbone.from_preset(preset, load_weights=False)
        classifier = ElectraClassifier(backbone, 2, preprocessor,
                                       label_names=LABELS)
    else:
        classifier = ElectraClassifier.from_preset(
            preset, num_classes=2, preprocessor=preprocessor,
            label_names=LABELS)
    classifier.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    started = time.time()
    classifier.fit(texts, targets, batch_size=args.batch_size,
                   epochs=args.epochs, verbose=0)
    seconds = time.time() - started
    _, accuracy = classifier.evaluate(*test, batch_size=64, verbose=0)
    return {"init": init, "labels": labels, "seed": seed,
            "accuracy": round(float(accuracy), 4),
            "seconds": round(seconds, 1)}


def summarise(results):
    """`{(init, labels): (mean, std, n)}` over seeds."""
    groups = {}
    for r in results:
        groups.setdefault((r["init"], r["labels"]), []).append(r["accuracy"])
    return {key: (float(np.mean(v)), float(np.std(v)), len(v))
            for key, v in groups.items()}


INITS = {"rtd": "RTD (ELECTRA)", "mlm": "masked LM only",
         "random": "no pre-training"}


def write_table(summary, labels, path):
    lines = [
        "| pre-training | " + " | ".join(f"{n:,} labels" for n in labels)
        + " |",
        "|---|" + "---|" * len(labels),
    ]
    for init, name in INITS.items():
        cells = []
        for n in labels:
            if (init, n) in summary:
                mean, std, count = summary[(init, n)]
                cells.append(f"{mean:.3f} ± {std:.3f} ({count})")
            else:
                cells.append("n/a")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| TF-IDF + logistic regression (4,000 labels) | "
                 + " | " * (len(labels) - 1) + f"{TFIDF_ACCURACY:.3f} |")
    return "\n".join(lines) + "\n"


def write_report(table, args, path):
    """The comparison as a Markdown page: set-up, pre-training records,
    the table and the plot."""
    records = {}
    for init in ("rtd", "mlm"):
        record = os.path.join(getattr(args, init), "training.json")
        if os.path.exists(record):
            with open(record) as f:
                records[init] = json.load(f)
    page = [
        "# RTD vs masked-LM vs no pre-training, at equal compute",
        "",
        "Made by `scripts/compare_pretraining.py` (command below) on this "
        "project's 2-core CPU machine, TensorFlow backend. Each encoder is "
        "fine-tuned as an `ElectraClassifier` with the main job's budget "
        f"({args.epochs} epochs, batch {args.batch_size}, learning rate "
        f"{args.learning_rate:g}, sequence length {args.sequence_length}) on "
        "the first N of a seeded shuffle of the 4,000 training reviews, and "
        "scored on the 1,000 test reviews (always answering \"great\": "
        "0.658). Cells: mean ± standard deviation of test accuracy over "
        "seeds (number of seeds).",
        "",
        table,
        "![learning curve](images/pretraining_learning_curve.png)",
        "",
    ]
    if records:
        page += ["## The pre-training runs", "",
                 "| | RTD (ELECTRA) | masked LM only |", "|---|---|---|"]
        rows = {
            "steps (batch x length)": lambda r: (
                f"{r['steps']:,} ({r['arguments']['batch_size']} x "
                f"{r['arguments']['sequence_length']})"),
            "wall-clock training (s)": lambda r: f"{r['seconds_training']:,}",
            "tokens/s (1 thread, machine shared)": lambda r: (
                f"{r['tokens_per_second']:,}"),
            "parameters trained": lambda r: f"{r['parameters']:,}",
            "last epoch": lambda r: ", ".join(
                f"{k} {v:.3f}" for k, v in r["last_epoch"].items()
                if k not in ("epoch", "seconds", "tokens",
                             "tokens_per_second")),
        }
        for name, cell in rows.items():
            page.append(f"| {name} | " + " | ".join(
                cell(records[i]) if i in records else "n/a"
                for i in ("rtd", "mlm")) + " |")
        entropy = next(iter(records.values()))["corpus"][
            "unigram_entropy_nats"]
        page += ["", f"Unigram entropy of the corpus's tokens: {entropy} "
                 "nats (the loss of a generator that knows only word "
                 "frequencies).", ""]
    page += ["Reproduce:", "", "```bash",
             "python scripts/make_tiny_preset.py",
             "python scripts/make_tiny_preset.py --objective mlm "
             "--work build/pretrain_mlm --output build/presets/tiny_mlm",
             f"python scripts/compare_pretraining.py --rtd {args.rtd} "
             f"--mlm {args.mlm}", "```", ""]
    from keras_electra.convert.atomic_dir import atomic_file

    # Made again from the results on every run, so replacing it is expected.
    with atomic_file(path, overwrite=True) as f:
        f.write("\n".join(page))


def write_plot(summary, labels, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for init, name in INITS.items():
        points = [(n, *summary[(init, n)][:2]) for n in labels
                  if (init, n) in summary]
        if points:
            x, mean, std = zip(*points)
            axis.errorbar(x, mean, yerr=std, marker="o", capsize=3,
                          label=name)
    axis.axhline(TFIDF_ACCURACY, color="grey", linestyle="--",
                 label="TF-IDF + LR (4,000 labels)")
    axis.set_xscale("log")
    axis.minorticks_off()
    axis.set_xticks(labels, [f"{n:,}" for n in labels])
    axis.set_xlabel("training reviews (labels)")
    axis.set_ylabel("test accuracy (1,000 reviews)")
    axis.set_title("Fine-tuning the tiny ELECTRA on the bundled reviews")
    axis.legend(fontsize=8)
    figure.tight_layout()
    from keras_electra.convert.atomic_dir import atomic_file

    with atomic_file(path, overwrite=True, mode="wb") as f:
        figure.savefig(f, dpi=120, format="png")


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_electra.__main__ import load_reviews
    from keras_electra.convert.atomic_dir import append_record

    train = load_reviews("train")
    test_texts, test_labels = load_reviews("test", args.test_limit)
    os.makedirs(os.path.dirname(args.results) or ".", exist_ok=True)
    done = []
    if os.path.exists(args.results):
        with open(args.results) as f:
            done = [json.loads(line) for line in f]
    finished = {(r["init"], r["labels"], r["seed"]) for r in done}
    presets = {"rtd": args.rtd, "mlm": args.mlm, "random": args.rtd}
    for labels in args.labels:
        for seed in args.seeds:
            for init, preset in presets.items():
                if init not in args.inits or (init, labels, seed) in finished:
                    continue
                result = finetune(preset, init, labels, seed, args, train,
                                  (test_texts, test_labels))
                print(json.dumps(result), flush=True)
                append_record(args.results, json.dumps(result))
                done.append(result)
    summary = summarise(done)
    table = write_table(summary, args.labels, args.table)
    print(table)
    write_report(table, args, args.table)
    write_plot(summary, args.labels, args.plot)


if __name__ == "__main__":
    main()
