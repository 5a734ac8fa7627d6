"""Token classification with word-level labels: names in Austen's novels.

`ElectraTokenClassifier` takes one label per *word*: its preprocessor
splits each word into WordPiece tokens, trains on the first token of every
word (the other tokens and the padding get no loss, as HF's recipe with
label -100), and `predict_words()` answers with one label per input word.

The labels come from the bundled Austen novels: a word is `PER` when it is
one of the novels' most frequent character names, `TITLE` for Mr, Mrs,
Miss, Sir, Lady, Captain and Colonel, and `O` otherwise. The preset is
uncased, so the model cannot rely on capital letters: it has to learn the
names and their contexts.

    python guides/token_classification_guide.py            # about 2 minutes
    python guides/token_classification_guide.py --quick    # as the test runs it
"""

import argparse
import gzip
import json
import os
import string
import time

import keras
import numpy as np

import keras_electra
from keras_electra import ElectraTokenClassifier

PRESET = "electra_tiny_uncased_en"
NOVELS = os.path.join(os.path.dirname(keras_electra.__file__), "data",
                      "austen_novels.txt.gz")
LABELS = ["O", "PER", "TITLE"]
NAMES = set("""Fanny Emma Elizabeth Elinor Catherine Crawford Jane Marianne
    Anne Harriet Weston Darcy Edmund Knightley Elton Thomas Bennet Woodhouse
    Bingley John Elliot Henry Bertram Edward Dashwood Mary Fairfax""".split())
TITLES = {"Mr", "Mrs", "Miss", "Sir", "Lady", "Captain", "Colonel"}
FULL = dict(train=3000, test=500, epochs=2, sequence_length=48)
QUICK = dict(train=32, test=16, epochs=1, sequence_length=24)


def label_of(word):
    word = word.strip(string.punctuation)
    return 1 if word in NAMES else 2 if word in TITLES else 0


def labelled_lines():
    """Lines of the novels that name someone, as words and word labels."""
    words, labels = [], []
    with gzip.open(NOVELS, "rt", encoding="utf-8") as f:
        for line in f:
            line_words = line.split()
            line_labels = [label_of(word) for word in line_words]
            if len(line_words) >= 6 and any(line_labels):
                words.append(line_words)
                labels.append(line_labels)
    return words, labels


def word_accuracy(predicted, labels, label):
    """Accuracy on the words whose true label is `label`."""
    pairs = [(p, LABELS[t]) for row_p, row_t in zip(predicted, labels)
             for p, t in zip(row_p, row_t) if t == label and p is not None]
    return sum(p == t for p, t in pairs) / max(len(pairs), 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="a few lines and one epoch (env GUIDE_QUICK=1)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.time()
    # Train on the first lines, test on the last ones (another novel).
    all_words, all_labels = labelled_lines()
    words, labels = all_words[:size["train"]], all_labels[:size["train"]]
    test_words = all_words[-size["test"]:]
    test_labels = all_labels[-size["test"]:]
    print(f"{len(words)} training lines, e.g. "
          f"{list(zip(words[0], [LABELS[i] for i in labels[0]]))}")

    keras.utils.set_random_seed(0)
    tagger = ElectraTokenClassifier.from_preset(
        PRESET, num_classes=len(LABELS), label_names=LABELS,
        sequence_length=size["sequence_length"])
    tagger.compile()  # AdamW at the preset's fine-tuning rate.
    # Lists of words and one label per word: no token alignment by hand.
    history = tagger.fit(words, labels, batch_size=32,
                         epochs=size["epochs"], verbose=2)

    predicted = tagger.predict_words(test_words)
    figures = {label: word_accuracy(predicted, test_labels, i)
               for i, label in enumerate(LABELS)}
    print("held-out word accuracy per true label:",
          {k: round(v, 3) for k, v in figures.items()})
    sentence = "Mr Darcy and Elizabeth walked to the house with Jane"
    print(list(zip(sentence.split(), tagger.predict_words(sentence))))
    print(json.dumps({
        "backend": keras.backend.backend(),
        "train_lines": len(words),
        "loss": [round(v, 4) for v in history.history["loss"]],
        "held_out_accuracy": {k: round(v, 4) for k, v in figures.items()},
        "seconds": round(time.time() - started, 1),
    }))


if __name__ == "__main__":
    main()
