"""Extractive question answering over contexts longer than the model sees.

`ElectraQuestionAnswerer` points at the start and end of the answer in the
context. A context longer than the preprocessor's `sequence_length` is
split into overlapping windows (`doc_stride` context tokens shared between
neighbours, as HF tokenizers do with `return_overflowing_tokens`); in
training each window gets the answer's token positions, or `[CLS]` when
the answer is not wholly inside it, and `answer()` merges the best spans of
all windows of an example, as HF's question-answering pipeline does.

The data is made here from the bundled reviews: a few reviews joined into
one long context, with a sentence that holds the answer put somewhere
inside ("The order number is 4721." / "It was delivered by Emma."). The
questions ask for it.

    python guides/question_answering_guide.py            # about 3 minutes
    python guides/question_answering_guide.py --quick    # as the test runs it
"""

import argparse
import csv
import json
import os
import time

import keras
import numpy as np

import keras_electra
from keras_electra import ElectraQuestionAnswerer
from keras_electra import ElectraQuestionAnswererPreprocessor

PRESET = "electra_tiny_uncased_en"
DATA = os.path.join(os.path.dirname(keras_electra.__file__), "data",
                    "fine_foods", "train.csv")
COURIERS = ["Emma", "Fanny", "Darcy", "Jane", "Edmund", "Harriet", "Anne",
            "Henry", "Mary", "Thomas"]
FULL = dict(examples=1500, epochs=3, sequence_length=64, doc_stride=16)
QUICK = dict(examples=24, epochs=1, sequence_length=32, doc_stride=8)


def examples(count, seed):
    """Questions, long contexts and SQuAD-style answers from the reviews."""
    rng = np.random.default_rng(seed)
    with open(DATA, encoding="utf-8") as f:
        reviews = [row["review"] for row in csv.DictReader(f)]
    questions, contexts, starts, texts = [], [], [], []
    for _ in range(count):
        parts = [reviews[i][:300] for i in rng.choice(len(reviews), 3)]
        if rng.random() < 0.5:
            answer = str(rng.integers(1000, 10000))
            question, fact = ("What is the order number?",
                              f"The order number is {answer}.")
        else:
            answer = str(rng.choice(COURIERS))
            question, fact = ("Who delivered the parcel?",
                              f"It was delivered by {answer}.")
        parts.insert(int(rng.integers(0, len(parts) + 1)), fact)
        context = " ".join(parts)
        questions.append(question)
        contexts.append(context)
        starts.append(context.index(fact) + fact.index(answer))
        texts.append(answer)
    return questions, contexts, starts, texts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="a few examples, one epoch (env GUIDE_QUICK=1)")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    started = time.time()
    questions, contexts, starts, texts = examples(size["examples"], seed=0)

    keras.utils.set_random_seed(0)
    preprocessor = ElectraQuestionAnswererPreprocessor.from_preset(
        PRESET, sequence_length=size["sequence_length"],
        doc_stride=size["doc_stride"])
    windows = preprocessor.pack_windows(([questions[0]], [contexts[0]]))[0]
    print(f"one context of {len(contexts[0])} characters becomes "
          f"{windows['token_ids'].shape[0]} windows of "
          f"{size['sequence_length']} tokens")
    qa = ElectraQuestionAnswerer.from_preset(PRESET, preprocessor=preprocessor)
    qa.compile()  # AdamW at the preset's fine-tuning rate.
    history = qa.fit((questions, contexts),
                     {"answer_start": starts, "text": texts},
                     batch_size=32, epochs=size["epochs"], verbose=2)

    # HF's pipeline call: keywords, a dict per question.
    test = examples(8 if args.quick else 200, seed=1)
    found = qa.answer(question=test[0], context=test[1])
    exact = np.mean([a["answer"] == t for a, t in zip(found, test[3])])
    print(f"held-out exact match: {exact:.3f}")
    best = qa.answer(question=test[0][0], context=test[1][0])
    print(f"Q: {test[0][0]}  expected {test[3][0]!r}; answer(): {best}")
    print(json.dumps({
        "backend": keras.backend.backend(),
        "examples": len(questions),
        "loss": [round(v, 4) for v in history.history["loss"]],
        "held_out_exact_match": round(float(exact), 4),
        "seconds": round(time.time() - started, 1),
    }))


if __name__ == "__main__":
    main()
