"""Checks and helpers shared by the tasks' string helpers (fill_mask, ...)."""

import numpy as np


def check_texts(texts, method):
    """`texts` as a list of strings, and whether a single string was given."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, np.ndarray) and texts.dtype.kind in "US":
        texts = texts.tolist()
    if (
        isinstance(texts, (list, tuple))
        and texts
        and all(isinstance(text, str) for text in texts)
    ):
        return list(texts), False
    raise TypeError(
        f"{method}() expects a string or a non-empty list of strings; "
        f"received {_describe(texts)}."
    )


def _describe(value):
    if isinstance(value, (list, tuple)):
        if not value:
            return f"an empty {type(value).__name__}"
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {', '.join(kinds)}"
    return f"{type(value).__name__} {value!r:.80}"


def require_tokenizer(task, method):
    """The tokenizer of `task.preprocessor`, or a clear error."""
    preprocessor = task.preprocessor
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            f"{method}() needs a preprocessor with a tokenizer to turn text "
            f"into ids, but this {type(task).__name__} has "
            f"preprocessor={preprocessor!r}. Create the task with a "
            "preprocessor (from_preset() attaches one)."
        )
    return tokenizer


def token_id_lists(tokenizer, texts):
    """Token ids of each string in `texts`, as Python lists of ints."""
    ids = tokenizer(list(texts))
    if hasattr(ids, "to_list"):  # tf.RaggedTensor
        return [[int(i) for i in row] for row in ids.to_list()]
    return [[int(i) for i in row] for row in ids]


def vocabulary_of(tokenizer):
    return list(tokenizer.get_vocabulary())


def special_token_ids(tokenizer):
    """The ids HF's `skip_special_tokens` drops: CLS, SEP, PAD, MASK, UNK."""
    names = ("cls", "sep", "pad", "mask", "unk")
    ids = (getattr(tokenizer, f"{name}_token_id", None) for name in names)
    return {int(i) for i in ids if i is not None}


# What HF tokenizers' WordPiece decoder (`cleanup=True`) replaces inside each
# token, after putting a space before it.
_HF_CLEANUP = (
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
)


def decode_word_pieces(tokens):
    """Join word pieces into text exactly as HF `BertTokenizerFast.decode`.

    The first piece is kept as is; later pieces starting with `##` are glued
    to the previous one and the others get a leading space, which the cleanup
    then removes before `.`, `?`, `!` and `,`.
    """
    pieces = []
    for i, token in enumerate(tokens):
        if i and token.startswith("##"):
            token = token[2:]
        elif i:
            token = " " + token
        for old, new in _HF_CLEANUP:
            token = token.replace(old, new)
        pieces.append(token)
    return "".join(pieces)
