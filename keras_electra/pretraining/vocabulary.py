import os

import tensorflow as tf
from keras_hub.tokenizers import compute_word_piece_vocabulary

from keras_electra.convert.atomic_dir import atomic_file
from keras_electra.pretraining.corpus import _document_reader

# BERT's layout: [PAD] 0, [unused0-98] 1-99, [UNK] 100, [CLS] 101,
# [SEP] 102, [MASK] 103, so HF's BertTokenizer and ours read it alike.
BERT_SPECIAL_TOKENS = (
    ["[PAD]"] + [f"[unused{i}]" for i in range(99)]
    + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
)


def build_vocabulary(corpus, vocabulary_size, output_file, lowercase=True,
                     strip_accents=None):
    """Learns a WordPiece vocabulary from a corpus and writes a `vocab.txt`.

    Uses keras-hub's `compute_word_piece_vocabulary` (tensorflow-text's
    WordPiece learner) on the corpus's lines, then writes the vocabulary in
    BERT's layout (special tokens at BERT's ids, one piece per line), which
    `ElectraTokenizer(vocabulary=...)`, HF's `BertTokenizerFast` and
    `ElectraTokenizerFast` all read.

    Args:
        corpus: as for `pretraining_dataset`: text file paths or documents.
        vocabulary_size: int. Pieces in the vocabulary, special tokens
            included (at least 1,000).
        output_file: path of the `vocab.txt` to write. It is written to a
            temporary sibling and renamed, and an existing file is refused.
        lowercase: bool. Lower-case before learning (uncased models).
        strip_accents: bool or `None` (follow `lowercase`).

    Returns:
        The vocabulary as a list of strings.
    """
    if vocabulary_size < 1000:
        raise ValueError(
            f"vocabulary_size must be at least 1000; received "
            f"{vocabulary_size}. Pre-training corpora need a few thousand "
            "pieces (4,000-8,000 for a small corpus)."
        )
    if os.path.exists(output_file):
        raise FileExistsError(
            f"{output_file!r} exists; build_vocabulary never overwrites a "
            "vocabulary. Remove it or choose another path."
        )
    read = _document_reader(corpus)
    lines = tf.data.Dataset.from_generator(
        lambda: (line for document in read() for line in document
                 if line.strip()),
        output_signature=tf.TensorSpec((), tf.string),
    )
    learned = compute_word_piece_vocabulary(
        lines.batch(1024),
        vocabulary_size=vocabulary_size,
        lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else strip_accents,
        reserved_tokens=BERT_SPECIAL_TOKENS,
    )
    special = set(BERT_SPECIAL_TOKENS)
    vocabulary = BERT_SPECIAL_TOKENS + [p for p in learned if p not in special]
    vocabulary = vocabulary[:vocabulary_size]
    with atomic_file(output_file, encoding="utf-8") as f:
        f.write("".join(f"{piece}\n" for piece in vocabulary))
    return vocabulary
