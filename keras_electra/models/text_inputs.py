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
    if isinstance(value, np.ndarray):
        if not value.size:
            return f"an empty array of shape {value.shape}"
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    if isinstance(value, (list, tuple)):
        if not value:
            return f"an empty {type(value).__name__}"
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {', '.join(kinds)}"
    return f"{type(value).__name__} {value!r:.80}"


_STRING_TYPES = (str, bytes, np.str_, np.bytes_)


def _text_batch_error(owner, received, advice):
    return ValueError(
        f"{owner}: `x` must be a non-empty batch of strings (a list or 1-D "
        f"array of str), or a tuple (first, second) of two such batches for "
        f"sentence pairs; received {received}. {advice}"
    )


def _batch_size(x, owner, pair_advice):
    """The length of one batch of raw strings, or a clear error."""
    if x is None:
        raise _text_batch_error(owner, "None", "Pass the texts to use.")
    if isinstance(x, _STRING_TYPES):
        raise _text_batch_error(
            owner, f"a single string {x!r:.60}", "Wrap it in a list: [text]."
        )
    if isinstance(x, np.ndarray):
        if not x.size:
            raise _text_batch_error(
                owner, _describe(x), "Pass at least one string."
            )
        if x.ndim != 1 or x.dtype.kind not in "USO":
            raise _text_batch_error(owner, _describe(x), pair_advice)
        x = x.tolist()
    if not isinstance(x, (list, tuple)):
        raise _text_batch_error(
            owner, _describe(x),
            "Pass a list of strings, or a tf.data.Dataset.",
        )
    if not x:
        raise _text_batch_error(
            owner, _describe(x), "Pass at least one string."
        )
    if any(isinstance(v, (list, tuple, np.ndarray)) for v in x):
        raise _text_batch_error(owner, _describe(x), pair_advice)
    if not all(isinstance(v, _STRING_TYPES) for v in x):
        raise _text_batch_error(
            owner, _describe(x),
            "Token ids go in as a dict of `token_ids`, `segment_ids` and "
            "`padding_mask` to a task built with preprocessor=None.",
        )
    return len(x)


def is_raw_batch(x):
    """Whether `x` is in-memory data a task's preprocessor should take as
    raw strings (not a dataset, generator or integer input dict)."""
    return x is None or isinstance(
        x, (list, tuple, np.ndarray, str, bytes, int, float)
    )


def check_text_batch(x, owner, pairs=True):
    """The batch size of raw-string inputs `x`, or a clear `ValueError`.

    `x` is a batch of strings or, with `pairs=True`, a tuple of two batches
    of the same length. The check runs in Python before the data reaches
    `tf.data`, where a wrong type only gives a graph-tracing error.
    """
    pair_advice = (
        "For sentence pairs pass a tuple (first_texts, second_texts) of two "
        "lists." if pairs else "Pass one string per example."
    )
    if pairs and isinstance(x, tuple) and len(x) == 2:
        sizes = [_batch_size(part, owner, pair_advice) for part in x]
        if sizes[0] != sizes[1]:
            raise ValueError(
                f"{owner}: the two segments of sentence pairs must have the "
                f"same length; received {sizes[0]} first and {sizes[1]} "
                "second texts. Pass one second text per first text."
            )
        return sizes[0]
    return _batch_size(x, owner, pair_advice)


def _is_strings(values):
    return isinstance(values, (list, tuple, np.ndarray)) and len(values) and all(
        isinstance(v, _STRING_TYPES) for v in values
    )


def check_word_batch(x, owner):
    """The batch size of `x`, a batch of word lists."""
    if isinstance(x, (list, tuple)) and x and all(
        isinstance(v, (list, tuple, np.ndarray)) and _is_strings(v)
        for v in x
    ):
        return len(x)
    raise ValueError(
        f"{owner}: `x` must be a non-empty batch of word lists (one list of "
        f"word strings per example); received {_describe(x)}. Split texts "
        "into words first (text.split()), or call predict_words(texts)."
    )


def check_choice_batch(x, owner):
    """The batch size of multiple-choice `x = (prompts, choices)` as `fit`
    and `predict` take it: B prompts and a (B, N) batch of choices."""
    if not (isinstance(x, tuple) and len(x) == 2):
        raise ValueError(
            f"{owner}: `x` must be a tuple (prompts, choices) of B prompt "
            f"strings and a (B, N) batch of choice strings; received "
            f"{_describe(x)}. Pass x=(prompts, choices)."
        )
    prompts, choices = x
    advice = "Pass one prompt string per example."
    size = _batch_size(prompts, owner, advice)
    rows = choices.tolist() if isinstance(choices, np.ndarray) else choices
    if not (
        isinstance(rows, (list, tuple))
        and len(rows) == size
        and all(_is_strings(row) for row in rows)
    ):
        raise ValueError(
            f"{owner}: `choices` must hold one list of N choice strings per "
            f"prompt ({size} prompts); received {_describe(rows)}. Pass "
            "choices as a (B, N) list of lists of strings."
        )
    return size


def check_label_count(y, size, owner):
    """`y` holds one label per example of a batch of `size`."""
    count = len(y) if isinstance(y, (list, tuple, np.ndarray)) else None
    if count is not None and count != size:
        raise ValueError(
            f"{owner}: `y` must hold one label per text; received {count} "
            f"labels for {size} texts. Pass labels and texts of the same "
            "length."
        )


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

