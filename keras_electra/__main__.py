"""The main job: fine-tune an ELECTRA classifier on the bundled reviews.

`python -m keras_electra` loads the bundled tiny ELECTRA (pre-trained here
with replaced-token detection on the bundled Austen novels, training-split
review texts and Python documentation prose), fine-tunes an
`ElectraClassifier` on raw review strings (4,000 Amazon fine-food reviews,
"great" vs "other") with `fit`, reports test accuracy on the 1,000 held-out
reviews next to the always-"great" baseline, saves the model as `.keras`,
exports it as a TF Serving SavedModel on raw strings, and loads that in a
fresh Python process (TensorFlow only) to classify a few new sentences.
Runs on the backend that `KERAS_BACKEND` selects.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np

from keras_electra_cli._runtime import keep_freed_memory_on_jax_cpu
from keras_electra_cli._runtime import training_options

DATA = os.path.join(os.path.dirname(__file__), "data", "fine_foods")
DEFAULT_PRESET = "electra_tiny_uncased_en"
LABELS = ["other", "great"]
SENTENCES = [
    "This coffee is delicious, I will buy it again.",
    "Stale, bland and overpriced.",
    "My dog goes crazy for these treats.",
    "It arrived broken and tasted like cardboard.",
]
# What a serving client runs: TensorFlow and tensorflow_text only, no Keras
# model code. Argument 1 is the SavedModel, the rest are sentences.
SERVING_CLIENT = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(sys.argv[2:]))
for label, probabilities in zip(out["label"].numpy(),
                                out["probabilities"].numpy()):
    print(json.dumps([label.decode(), float(probabilities.max())]))
"""


def load_reviews(split, limit=None):
    """`(texts, labels)` of one split of the bundled reviews."""
    with open(os.path.join(DATA, f"{split}.csv"), newline="",
              encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:limit]
    texts = [row["review"] for row in rows]
    labels = np.array([LABELS.index(row["score"]) for row in rows], "int32")
    return texts, labels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_electra", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[training_options()],
    )
    parser.add_argument("--preset", default=DEFAULT_PRESET,
                        help="preset name, folder or hf:// handle")
    parser.add_argument("--epochs", type=int, default=4,
                        help="passes over the training reviews")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="reviews per step")
    parser.add_argument("--sequence-length", type=int, default=128,
                        help="tokens per review")
    parser.add_argument("--learning-rate", type=float, default=2e-4,
                        help="tiny models fine-tune best at higher rates")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="use only the first N training reviews")
    parser.add_argument("--random-init", action="store_true",
                        help="fine-tune the preset's architecture from random "
                             "weights instead (the no-pre-training baseline)")
    parser.add_argument("--output", default="electra_reviews.keras",
                        help=".keras file to write (replaced)")
    parser.add_argument("--serving-dir", default="electra_reviews_serving/1",
                        help="SavedModel folder for TF Serving (replaced)")
    parser.add_argument("--skip-serving", action="store_true",
                        help="stop after saving the .keras file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.keep_freed_memory:
        keep_freed_memory_on_jax_cpu()
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraClassifierPreprocessor

    keras.utils.set_random_seed(0)
    train_texts, train_labels = load_reviews("train", args.train_limit)
    test_texts, test_labels = load_reviews("test")
    preprocessor = ElectraClassifierPreprocessor.from_preset(
        args.preset, sequence_length=args.sequence_length
    )
    if args.random_init:
        from keras_electra import ElectraBackbone

        backbone = ElectraBackbone.from_preset(args.preset, load_weights=False)
        classifier = ElectraClassifier(backbone, 2, preprocessor,
                                       label_names=LABELS)
    else:
        classifier = ElectraClassifier.from_preset(
            args.preset, num_classes=2, preprocessor=preprocessor,
            label_names=LABELS,
        )
    classifier.compile(
        optimizer=keras.optimizers.AdamW(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"backend {keras.config.backend()}, preset {args.preset}, "
          f"{classifier.count_params():,} parameters, "
          f"{len(train_texts)} training reviews")
    from keras_electra_cli._progress import FitProgress

    start = time.time()
    classifier.fit(train_texts, train_labels, batch_size=args.batch_size,
                   epochs=args.epochs, verbose=0,
                   callbacks=[FitProgress("fine-tuning")])
    seconds = time.time() - start
    _, accuracy = classifier.evaluate(test_texts, test_labels,
                                      batch_size=args.batch_size, verbose=0)
    majority = float(np.mean(test_labels == 1))
    print(f"fine-tuned in {seconds:.0f} s; test accuracy {accuracy:.3f} "
          f"(always 'great': {majority:.3f}) on {len(test_texts)} reviews")
    print("How the bundled preset compares with random initialisation "
          "(--random-init) and TF-IDF: guides/pretraining_comparison.md")
    classifier.save(args.output)
    print(f"saved {args.output}")
    if not args.skip_serving:
        serve(classifier, args.serving_dir)
    return accuracy


def serve(classifier, path):
    """Export the SavedModel, then classify SENTENCES in a fresh process."""
    from keras_electra import export_for_serving
    from keras_electra_cli._progress import Steps

    with Steps(total=2) as steps:
        # export_for_serving writes all or nothing.
        steps.run("exporting the SavedModel", export_for_serving,
                  classifier, path, overwrite=True)
        result = steps.run("serving it in a fresh process", subprocess.run,
                           [sys.executable, "-c", SERVING_CLIENT, path,
                            *SENTENCES],
                           capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.returncode != 0:
        raise RuntimeError("the SavedModel failed in a fresh process:\n"
                           + result.stderr[-2000:])
    print(f"exported {path}; a fresh TensorFlow process classifies:")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    for sentence, (label, score) in zip(SENTENCES, answers):
        print(f"  {label:>5} {score:.2f}  {sentence}")
    print("next: `keras-electra --help` (finetune, predict, export, ...); "
          "TF Serving: guides/serving_guide.py")
    return answers


if __name__ == "__main__":
    main()
