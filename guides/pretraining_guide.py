"""Pre-training ELECTRA from scratch with replaced-token detection.

ELECTRA trains a small generator (a masked LM) and a discriminator together:
the generator fills masked positions with plausible tokens, and the
discriminator learns, for every token, whether it was replaced. This guide
runs the whole recipe of Clark et al. (2020) with `model.fit`:

1. learns a WordPiece vocabulary from a corpus
   (`keras_electra.pretraining.build_vocabulary`, BERT's `vocab.txt` layout);
2. streams the corpus through `tf.data` and packs it into full
   `[CLS] A [SEP] B [SEP]` sequences
   (`keras_electra.pretraining.pretraining_dataset`);
3. builds a discriminator and a generator a quarter of its width that share
   one set of embeddings (`ElectraPretrainer.generator_backbone_for`);
4. pre-trains with Google's optimizer (AdamW, linear warm-up and decay,
   clipping at 1.0), resumable with `keras.callbacks.BackupAndRestore`, and
   prints the figures that show whether it learns: the share of masked
   tokens the generator really replaced, the discriminator's precision,
   recall and AUC on replaced tokens, the generator's accuracy and loss next
   to the corpus's unigram entropy;
5. saves the pair as one preset and uses it: `fill_mask` with the generator,
   `replaced_token_probabilities` with the discriminator, and a classifier
   on the pre-trained encoder; `ElectraPretrainer.from_preset` picks the
   pair up again to continue pre-training.

    python guides/pretraining_guide.py --output /tmp/pretraining

The defaults finish in a few minutes on a laptop CPU and learn little; the
bundled `electra_tiny_uncased_en` preset was made by the same recipe at
larger scale (`scripts/make_tiny_preset.py`, about an hour on 2 cores), and
`guides/pretraining_comparison.md` compares it with masked-LM pre-training
and no pre-training.
"""

import argparse
import json
import os

import keras
import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "keras_electra", "data")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", required=True, help="a new folder")
    parser.add_argument("--lines", type=int, default=20000,
                        help="lines of the bundled Python docs to use")
    parser.add_argument("--vocabulary-size", type=int, default=2000)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    return parser.parse_args(argv)


def write_corpus(path, lines):
    """A slice of the bundled Python documentation prose (one paragraph per
    line, a blank line between documents: the format the packer reads)."""
    import gzip

    with gzip.open(os.path.join(DATA, "python_docs.txt.gz"), "rt",
                   encoding="utf-8") as source, open(
                       path, "w", encoding="utf-8") as target:
        for _, line in zip(range(lines), source):
            target.write(line)


def main(argv=None):
    args = parse_args(argv)
    from keras_electra import ElectraBackbone
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraDiscriminator
    from keras_electra import ElectraMaskedLM
    from keras_electra import ElectraPretrainer
    from keras_electra import ElectraPretrainerPreprocessor
    from keras_electra import ElectraTokenizer
    from keras_electra.pretraining import build_vocabulary
    from keras_electra.pretraining import pretraining_dataset

    os.makedirs(args.output)
    keras.utils.set_random_seed(0)

    # 1. A corpus and a vocabulary learned from it.
    corpus = os.path.join(args.output, "corpus.txt")
    write_corpus(corpus, args.lines)
    vocabulary = os.path.join(args.output, "vocab.txt")
    build_vocabulary([corpus], args.vocabulary_size, vocabulary)
    tokenizer = ElectraTokenizer(vocabulary=vocabulary)
    print(f"vocabulary: {tokenizer.vocabulary_size()} pieces")

    # 2. Packed sequences, masked on the fly (15 %: 85 % [MASK], 15 % kept).
    length = args.sequence_length
    preprocessor = ElectraPretrainerPreprocessor(
        tokenizer, sequence_length=length,
        mask_selection_length=int(0.15 * length) + 1)
    dataset = (
        pretraining_dataset([corpus], tokenizer, length, seed=0)
        .repeat()
        .shuffle(2000, seed=0)
        .batch(args.batch_size, drop_remainder=True)
    )

    # 3. The discriminator, and a generator 1/4 as wide sharing its
    # embeddings.
    discriminator = ElectraBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=2,
        num_heads=2, hidden_dim=128, embedding_dim=64, intermediate_dim=512,
        max_sequence_length=length)
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    pretrainer = ElectraPretrainer(generator, discriminator, preprocessor,
                                   seed=0)
    print(f"discriminator width {discriminator.hidden_dim}, generator width "
          f"{generator.hidden_dim}; word embeddings shared: "
          f"{generator.token_embedding is discriminator.token_embedding}")

    # 4. Pre-training with warm-up and decay, resumable.
    pretrainer.compile(learning_rate=1e-3, warmup_steps=args.steps // 10,
                       total_steps=args.steps)
    epochs = 4
    history = pretrainer.fit(
        dataset, steps_per_epoch=args.steps // epochs, epochs=epochs,
        verbose=2,
        callbacks=[keras.callbacks.BackupAndRestore(
            os.path.join(args.output, "backup"))],
    )
    last = {k: round(float(v[-1]), 4) for k, v in history.history.items()}
    print("last epoch:", json.dumps(last))
    figures_png(history.history, os.path.join(args.output, "curves.png"))

    # 5. One preset for the pair, then each model from it.
    preset = os.path.join(args.output, "preset")
    pretrainer.save_to_preset(preset)
    generator_task = ElectraMaskedLM.from_preset(preset)
    best = generator_task.fill_mask(
        "Python is a programming [MASK].", top_k=3)
    print("fill_mask:", [(b["token_str"], round(b["score"], 3)) for b in best])
    discriminator_task = ElectraDiscriminator.from_preset(preset)
    print("replaced_token_probabilities:", [
        (token, round(p, 3)) for token, p in
        discriminator_task.replaced_token_probabilities(
            "Python is a programming banana.")])
    classifier = ElectraClassifier.from_preset(preset, num_classes=2)
    print(f"classifier on the pre-trained encoder: "
          f"{classifier.count_params():,} parameters")
    again = ElectraPretrainer.from_preset(preset, sequence_length=length)
    print("continued pre-training from the preset; shared embeddings:",
          again.generator.backbone.token_embedding
          is again.backbone.token_embedding)


def figures_png(history, path):
    """Loss and replaced-token AUC per epoch, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    epochs = np.arange(1, len(history["loss"]) + 1)
    left.plot(epochs, history["generator_loss"], label="generator MLM loss")
    left.plot(epochs, history["discriminator_loss"],
              label="discriminator loss")
    left.set_xlabel("epoch")
    left.legend()
    right.plot(epochs, history["replaced_auc"], label="replaced-token AUC")
    right.plot(epochs, history["replaced_recall"], label="recall")
    right.set_xlabel("epoch")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
