"""Multiple choice: pick the right continuation among N.

`ElectraMultipleChoice` scores `[CLS] prompt [SEP] choice [SEP]` for every
choice with one shared head and a softmax over the choices, as HF's
`ElectraForMultipleChoice`. Inputs are raw strings: `x=(prompts, choices)`
with `choices` a list of N strings per prompt; the label is the index of
the right choice.

The data is made here from the bundled reviews: the prompt is a review and
the choices are three verdicts, only one of which fits its star rating.

    python guides/multiple_choice_guide.py            # about 2 minutes
    python guides/multiple_choice_guide.py --quick    # as the test runs it
"""

import argparse
import csv
import json
import os
import time

import keras
import numpy as np

import keras_electra
from keras_electra import ElectraMultipleChoice

PRESET = "electra_tiny_uncased_en"
DATA = os.path.join(os.path.dirname(keras_electra.__file__), "data",
                    "fine_foods")
VERDICTS = {"great": "I loved it and will buy it again.",
            "other": "I was disappointed with it."}
DISTRACTOR = "I have not tried it yet."
FULL = dict(train=2000, test=500, epochs=3, sequence_length=64)
QUICK = dict(train=32, test=16, epochs=1, sequence_length=24)


def examples(split, count, seed):
    """Prompts, three shuffled choices each, and the right choice's index."""
    rng = np.random.default_rng(seed)
    with open(os.path.join(DATA, f"{split}.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:count]
    prompts, choices, labels = [], [], []
    for row in rows:
        options = [VERDICTS["great"], VERDICTS["other"], DISTRACTOR]
        rng.shuffle(options)
        prompts.append(row["review"])
        choices.append(options)
        labels.append(options.index(VERDICTS[row["score"]]))
    return prompts, choices, np.array(labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="a few examples, one epoch (env GUIDE_QUICK=1)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.time()
    prompts, choices, labels = examples("train", size["train"], seed=0)
    test = examples("test", size["test"], seed=1)

    keras.utils.set_random_seed(0)
    chooser = ElectraMultipleChoice.from_preset(
        PRESET, num_choices=3, sequence_length=size["sequence_length"])
    chooser.compile()  # AdamW at the preset's fine-tuning rate.
    history = chooser.fit((prompts, choices), labels, batch_size=16,
                          epochs=size["epochs"], verbose=2)
    accuracy = chooser.evaluate((test[0], test[1]), test[2], batch_size=32,
                                verbose=0, return_dict=True)[
        "sparse_categorical_accuracy"]
    print(f"held-out accuracy {accuracy:.3f} (chance 0.333)")
    logits = chooser.predict((["Fresh, crunchy and delicious."],
                              [[DISTRACTOR, VERDICTS["great"],
                                VERDICTS["other"]]]), verbose=0)
    print("choice probabilities:",
          np.round(keras.ops.convert_to_numpy(
              keras.ops.softmax(logits)), 3).tolist())
    print(json.dumps({
        "backend": keras.backend.backend(),
        "train_examples": len(prompts),
        "loss": [round(v, 4) for v in history.history["loss"]],
        "test_accuracy": round(float(accuracy), 4),
        "seconds": round(time.time() - started, 1),
    }))


if __name__ == "__main__":
    main()
