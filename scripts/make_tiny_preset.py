"""Pre-trains the bundled tiny ELECTRA on the bundled Austen novels.

This is how `keras_electra/presets/electra_tiny_austen_uncased_en` was made:
replaced-token detection with `ElectraPretrainer` and `fit`, then
`save_to_preset` of the discriminator backbone and its tokenizer.

    python scripts/make_tiny_preset.py --steps 3000
"""

import argparse
import gzip
import json
import os
import shutil
import time

import keras
import tensorflow as tf

from keras_electra import ElectraBackbone
from keras_electra import ElectraPretrainer
from keras_electra import ElectraPretrainerPreprocessor
from keras_electra import ElectraTokenizer

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "keras_electra")
NOVELS = os.path.join(PACKAGE, "data", "austen_novels.txt.gz")
PRESET = os.path.join(PACKAGE, "presets", "electra_tiny_austen_uncased_en")
ARCHITECTURE = dict(
    vocabulary_size=30522, embedding_dim=32, num_layers=2,
    max_sequence_length=128,
)


def paragraphs(path, min_characters=80):
    """The novels as paragraphs (blank-line separated), long ones only."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    blocks = (" ".join(b.split()) for b in text.split("\n\n"))
    return [b for b in blocks if len(b) >= min_characters]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--output", default=PRESET)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    texts = paragraphs(NOVELS)
    tokenizer = ElectraTokenizer()
    preprocessor = ElectraPretrainerPreprocessor(
        tokenizer, sequence_length=args.sequence_length,
        mask_selection_length=int(args.sequence_length * 0.15) + 1,
    )
    generator = ElectraBackbone(
        **ARCHITECTURE, hidden_dim=32, num_heads=2, intermediate_dim=128,
        name="generator_backbone",
    )
    discriminator = ElectraBackbone(
        **ARCHITECTURE, hidden_dim=128, num_heads=2, intermediate_dim=512,
    )
    pretrainer = ElectraPretrainer(generator, discriminator, preprocessor,
                                   seed=args.seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices(texts)
        .shuffle(len(texts), seed=args.seed)
        .repeat()
        .batch(args.batch_size)
    )
    steps_per_epoch = 100
    start = time.time()
    history = pretrainer.fit(
        dataset, steps_per_epoch=steps_per_epoch,
        epochs=max(1, args.steps // steps_per_epoch), verbose=2,
    )
    seconds = time.time() - start

    staging = args.output + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    discriminator.save_to_preset(staging)
    tokenizer.save_to_preset(staging)
    with open(os.path.join(staging, "training.json"), "w") as f:
        json.dump(
            {
                "corpus": "keras_electra/data/austen_novels.txt.gz",
                "paragraphs": len(texts),
                "steps": args.steps,
                "batch_size": args.batch_size,
                "sequence_length": args.sequence_length,
                "seconds": round(seconds),
                "keras_backend": keras.config.backend(),
                "first_epoch": {k: v[0] for k, v in history.history.items()},
                "last_epoch": {k: v[-1] for k, v in history.history.items()},
            },
            f, indent=2,
        )
    shutil.rmtree(args.output, ignore_errors=True)
    os.replace(staging, args.output)
    print(f"wrote {args.output} after {seconds:.0f} s")


if __name__ == "__main__":
    main()
