import gzip
import os

import tensorflow as tf

from keras_electra.pretraining.sequence_packer import SequencePacker


def pretraining_dataset(corpus, tokenizer, sequence_length=128, seed=None):
    """A corpus as a `tf.data.Dataset` of packed pre-training sequences.

    The corpus is read lazily, in the format of Google's
    `build_pretraining_dataset.py`: one sentence (or paragraph) per line, a
    blank line between documents. Each document's lines are tokenized in one
    call (tf.text, inside the pipeline) and packed
    by `SequencePacker` into `[CLS] A [SEP] B [SEP]` sequences of exactly
    `sequence_length` ids, so nothing but the sequence being built is held
    in memory. Documents shorter than the length give shorter, padded
    sequences. The corpus is checked once up front, in one streaming pass
    (every file decodes as UTF-8, some line is not blank), so that a bad
    corpus fails here and not inside `fit`. Each element is a dict of `token_ids`, `segment_ids` and
    `padding_mask`, which `ElectraPretrainerPreprocessor` (and
    `ElectraMaskedLMPreprocessor`) mask. Shuffle, repeat and batch it as any
    dataset; every pass re-reads the corpus.

    Args:
        corpus: a path or list of paths to UTF-8 text files (`.gz` ones are
            decompressed), or a list of documents as strings (lines are
            sentences).
        tokenizer: an `ElectraTokenizer` (its vocabulary decides the ids).
        sequence_length: int. Length of every sequence, at least 3.
        seed: int or `None`, for the packer's random segment split.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> dataset = pretraining_dataset(
    ...     ["It is a truth universally acknowledged.\\nThat a single man..."],
    ...     ElectraTokenizer(), sequence_length=16)
    >>> example = next(iter(dataset))
    >>> example["token_ids"].shape, int(example["padding_mask"].numpy().sum())
    (TensorShape([16]), 16)
    """
    packer = SequencePacker(
        sequence_length,
        cls_id=tokenizer.cls_token_id,
        sep_id=tokenizer.sep_token_id,
        pad_id=tokenizer.pad_token_id,
        seed=seed,
    )
    read = _document_reader(corpus)
    _check_corpus(read)
    documents = tf.data.Dataset.from_generator(
        lambda: (_non_blank(document) for document in read()),
        output_signature=tf.TensorSpec((None,), tf.string),
    )

    def pack(lines):
        ids = tokenizer(lines)
        # Packing is sequential Python work; it runs on numpy, never on TF
        # ops, so it cannot starve tf.data's threads.
        packed = tf.numpy_function(
            packer.pack_flat,
            [ids.flat_values, ids.row_lengths()],
            [tf.int32, tf.int32, tf.bool],
        )
        for tensor in packed:
            tensor.set_shape((None, sequence_length))
        names = ("token_ids", "segment_ids", "padding_mask")
        return tf.data.Dataset.from_tensor_slices(dict(zip(names, packed)))

    return documents.flat_map(pack)


def _document_reader(corpus):
    """A function returning a fresh iterator of documents (lists of lines)."""
    if isinstance(corpus, (str, os.PathLike)):
        corpus = [corpus]
    corpus = list(corpus)
    if corpus and all(isinstance(c, (str, os.PathLike)) for c in corpus) and (
        all(os.path.exists(c) for c in corpus) or _looks_like_paths(corpus)
    ):
        for path in corpus:
            if not os.path.isfile(path):
                raise ValueError(
                    f"Pre-training corpus file {str(path)!r} does not exist "
                    "or is not a file. Pass paths to UTF-8 text files, or a "
                    "list of documents as strings."
                )
        return lambda: _file_documents(corpus)
    for document in corpus:
        if not isinstance(document, str):
            raise ValueError(
                "The pre-training corpus must be file paths or documents as "
                f"strings; received an element of type "
                f"{type(document).__name__}: {document!r:.80}."
            )
    return lambda: (document.splitlines() for document in corpus)


def _looks_like_paths(corpus):
    return all(
        "\n" not in str(c) and str(c).endswith((".txt", ".gz"))
        for c in corpus
    )


def _file_documents(paths):
    for path in paths:
        document = []
        for line in _lines(path):
            if line.strip():
                document.append(line)
            elif document:
                yield document
                document = []
        if document:
            yield document


def _lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{str(path)!r} is not UTF-8 text: line {number} cannot "
                    f"be decoded ({error.reason}). Convert the file to UTF-8 "
                    "(e.g. `iconv -t utf-8`)."
                ) from None


def _non_blank(document):
    return [line.strip() for line in document if line.strip()]


def _check_corpus(read):
    """One streaming pass: every file decodes, and some line is not blank."""
    found = False
    for document in read():
        found = found or bool(_non_blank(document))
    if not found:
        raise ValueError(
            "The pre-training corpus is empty: it holds no non-blank line. "
            "Pass text files (one sentence or paragraph per line, a blank "
            "line between documents) or a list of non-empty documents."
        )
