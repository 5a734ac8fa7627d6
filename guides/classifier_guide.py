"""Fine-tune `ElectraClassifier` on raw strings: single texts and pairs.

The bundled tiny preset (`electra_tiny_uncased_en`) and the bundled Amazon
fine-food reviews, fed through `tf.data`:

1. single texts: is a review "great" (5 stars) or "other"?
2. pairs of texts: do two reviews agree (both "great" or both "other")?

Each classifier `compile()`s with no arguments, so it trains at the
preset's fine-tuning rate (its metadata.json), and answers new text with
`classify()`, which returns `{"label", "score"}` as HF's text-classification
pipeline does. The run ends with one JSON line of figures; a full run saves
the loss curves to `guides/images/classifier_loss_curves.png`.

    python guides/classifier_guide.py            # full: 3 to 14 minutes on 2 busy CPU cores
    python guides/classifier_guide.py --quick    # seconds, as the test runs it
    KERAS_BACKEND=jax python guides/classifier_guide.py   # or torch
"""

import argparse
import csv
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

import keras_electra
from keras_electra import ElectraClassifier

PRESET = "electra_tiny_uncased_en"
DATA = os.path.join(os.path.dirname(keras_electra.__file__), "data",
                    "fine_foods")
IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
FULL = dict(train=1500, test=500, epochs=3, sequence_length=64)
QUICK = dict(train=48, test=16, epochs=1, sequence_length=16)


def reviews(split, count):
    """Review texts and labels (1: "great", 0: "other") of a bundled split."""
    with open(os.path.join(DATA, f"{split}.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:count]
    texts = [row["review"] for row in rows]
    labels = np.array([int(row["score"] == "great") for row in rows])
    return texts, labels


def review_pairs(texts, labels, seed):
    """Each review beside another one; label 1 when their labels agree."""
    other = np.random.default_rng(seed).permutation(len(texts))
    seconds = [texts[i] for i in other]
    return (texts, seconds), (labels == labels[other]).astype("int32")


def fine_tune(x, y, test_x, test_y, label_names, size, quick, seed=0):
    keras.utils.set_random_seed(seed)
    classifier = ElectraClassifier.from_preset(
        PRESET, num_classes=2, label_names=label_names,
        sequence_length=size["sequence_length"])
    classifier.compile()  # AdamW at the preset's fine-tuning rate.
    if quick:  # Compiling with XLA takes longer than a quick run.
        classifier.jit_compile = False
    # Raw strings go straight into tf.data; the task's preprocessor
    # tokenizes and packs them inside the pipeline.
    train = (tf.data.Dataset.from_tensor_slices((x, y))
             .shuffle(len(y), seed=seed).batch(32))
    test = tf.data.Dataset.from_tensor_slices((test_x, test_y)).batch(64)
    history = classifier.fit(train, validation_data=test,
                             epochs=size["epochs"], verbose=2)
    accuracy = classifier.evaluate(test, verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"]
    return classifier, history.history, float(accuracy)


def plot(histories, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(histories), figsize=(10, 3.6))
    for axis, (title, history) in zip(axes, histories.items()):
        epochs = np.arange(1, len(history["loss"]) + 1)
        axis.plot(epochs, history["loss"], "o-", label="training loss")
        axis.plot(epochs, history["val_loss"], "s--", label="held-out loss")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_xticks(epochs)
        axis.legend()
    axes[0].set_ylabel("cross-entropy")
    figure.suptitle(f"Fine-tuning {PRESET} on {keras.backend.backend()}")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    print("saved", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="a few examples and one epoch (env GUIDE_QUICK=1)")
    parser.add_argument("--images", default=IMAGES,
                        help="where the loss curves go (default: %(default)s)")
    parser.add_argument("--train", type=int, help="training reviews "
                        f"(default: {FULL['train']}, quick {QUICK['train']})")
    parser.add_argument("--epochs", type=int, help="default: "
                        f"{FULL['epochs']}, quick {QUICK['epochs']}")
    parser.add_argument("--single-only", action="store_true",
                        help="skip the pairs (the backends guide uses it)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    for key in ("train", "epochs"):
        size[key] = getattr(args, key) or size[key]
    started = time.time()
    texts, labels = reviews("train", size["train"])
    test_texts, test_labels = reviews("test", size["test"])

    # 1. Single texts.
    print(f"== single texts: {len(texts)} reviews, backend "
          f"{keras.backend.backend()}")
    classifier, single_history, accuracy = fine_tune(
        texts, labels, test_texts, test_labels, ["other", "great"], size,
        args.quick)
    print(f"learning rate {float(classifier.optimizer.learning_rate):g}, "
          f"held-out accuracy {accuracy:.3f} (always 'great': "
          f"{test_labels.mean():.3f})")
    print("classify:", classifier.classify(
        ["Delicious, will buy again!", "Stale and bland, a waste."]))
    print("top_k=None:", classifier.classify("Tastes great.", top_k=None))

    # 2. Pairs: x is a tuple (first texts, second texts).
    if args.single_only:
        print(json.dumps(summary(classifier, single_history, accuracy,
                                 size, len(texts), started)))
        return
    pairs, agree = review_pairs(texts, labels, seed=1)
    test_pairs, test_agree = review_pairs(test_texts, test_labels, seed=2)
    print(f"== pairs: {len(agree)} review pairs")
    pair_classifier, pair_history, pair_accuracy = fine_tune(
        pairs, agree, test_pairs, test_agree, ["differ", "agree"], size,
        args.quick)
    print(f"held-out accuracy {pair_accuracy:.3f} (majority: "
          f"{max(test_agree.mean(), 1 - test_agree.mean()):.3f})")
    print("classify pair:", pair_classifier.classify(
        "Great coffee, fresh and rich.", text_pair="Awful, stale coffee."))

    if not args.no_plot:
        plot({"single texts": single_history, "pairs": pair_history},
             os.path.join(args.images, "classifier_loss_curves.png"))
    print(json.dumps({
        **summary(classifier, single_history, accuracy, size, len(texts),
                  started),
        "pair_loss": [round(v, 4) for v in pair_history["loss"]],
        "pair_test_accuracy": round(pair_accuracy, 4),
    }))


def summary(classifier, history, accuracy, size, examples, started):
    return {
        "backend": keras.backend.backend(),
        "train_examples": examples,
        "epochs": size["epochs"],
        "learning_rate": round(float(classifier.optimizer.learning_rate), 8),
        "loss": [round(v, 4) for v in history["loss"]],
        "test_accuracy": round(accuracy, 4),
        "seconds": round(time.time() - started, 1),
    }


if __name__ == "__main__":
    main()
