"""The tokenizer's fast paths give HF's ids: ASCII rows, eager calls.

`bert_pretokenize` sends pure-ASCII rows (no control character that
clean_text drops) through a regex split instead of the per code point
Unicode path, and merges them back in row order with the other rows. The
expected ids come from HF's Python reference tokenizer (`BertTokenizerLegacy`,
transformers 5's name for the old Python `BertTokenizer` with its
`BasicTokenizer`) and the Rust one (`BertTokenizerFast`, ids and offsets),
both built on the bundled vocabulary; never from our own output.

Eager calls go through one cached `tf.function` per vocabulary and options,
shared by the tokenizers that have them.
"""

import random

import pytest
import tensorflow as tf
from test_electra_tokenizer import hf_encode
from test_electra_tokenizer import our_encode
from test_electra_tokenizer import to_list
from tf_graphs import op_types_with_bodies

from keras_electra.text import bert_text_normalizer
from keras_electra.models.electra_tokenizer import _traced_tokenize_flat
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer

legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")

SPECIALS = ["[MASK]", "[SEP]", "[CLS]", "[UNK]", "[PAD]"]

ASCII_CASES = [
    "",
    " ",
    " \t\r\n ",
    "Hello, World!",
    "tabs\tnew\nlines\rand\r\ncarriage returns",
    # Controls that clean_text drops (these rows take the Unicode path).
    "a\x00b\x01c\x07d\x08e\x0bf\x0cg\x0eh\x1bi\x1cj\x1fk\x7fl",
    "\x0b\x0c\x1c\x1d\x1e\x1f",
    "!!!...???,,,;;;---___```~~~",
    "a-b_c.d,e;f:g!h?i'j\"k(l)m[n]o{p}q<r>s/t\\u|v@w#x$y%z^&*+=~`",
    "".join(chr(c) for c in range(0x20, 0x7F)),
    "".join(chr(c) for c in range(0x80)),
    "The [MASK] sat on the mat. [SEP] Next [CLS]",
    "a[MASK]b[SEP]c[MASK][MASK]",
    "[mask] [Mask] [ MASK ] [MASK [[MASK]] [MASK]]",
    "[UNK][PAD][CLS]",
    "x[MASK",
    "MASK] [MAS K]",
    "UPPER lower MiXeD 123 4.5 6,7",
    "https://example.com/a?b=1&c=2#d user@example.org",
    "don't won't it's 'quoted' \"double\"",
    "a" * 100,
    "a" * 101,
    "A" * 100 + " b",
    "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
    "    leading and trailing spaces    ",
]
NON_ASCII = [
    "café naïve",
    "non\u00a0breaking",
    "中文 [MASK] text",
    "zero\u200bwidth",
    "K\u212a kelvin",
]


def random_ascii(count, seed):
    rng = random.Random(seed)
    pieces = [chr(c) for c in range(0x80)] * 2 + list(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ    "
    ) * 3 + SPECIALS + ["[mask]", "[MASK", "\t", "\r\n"]
    return [
        "".join(rng.choice(pieces) for _ in range(rng.choice([0, 1, 5, 40])))
        for _ in range(count)
    ]


def legacy_ids(texts, lowercase):
    tokenizer = legacy.BertTokenizerLegacy(
        vocab_file=DEFAULT_VOCABULARY_PATH, do_lower_case=lowercase
    )
    got = tokenizer("hello world", add_special_tokens=False).input_ids
    assert got == [7592, 2088], got
    return [
        tokenizer(t, add_special_tokens=False).input_ids for t in texts
    ]


def test_ascii_rows_take_the_fast_path():
    """Otherwise the parity tests below would only test the Unicode path."""
    for lowercase in (True, False):
        fast = bert_text_normalizer._ascii_fast_path(
            lowercase, lowercase, True, tuple(SPECIALS)
        )
        assert fast is not None
    is_fast = tf.strings.regex_full_match(
        ["plain text, [MASK]!", "tab\there\r\n", "", "nul\x00", "del\x7f",
         "vt\x0b", "café", b"bad \xff utf8"],
        fast["row_pattern"],
    ).numpy().tolist()
    assert is_fast == [True, True, True, False, False, False, False, False]


@pytest.mark.parametrize("lowercase", [True, False])
def test_ascii_and_mixed_batches_match_hf(lowercase):
    # A mixed batch: ASCII rows between non-ASCII ones, so the merge must
    # put every row's words back in place.
    texts = list(ASCII_CASES)
    for i, other in enumerate(NON_ASCII):
        texts.insert(3 * i + 1, other)
    texts += random_ascii(200, seed=9)
    tokenizer = ElectraTokenizer(lowercase=lowercase)
    ids, offsets = our_encode(tokenizer, texts)
    hf_ids, hf_offsets = hf_encode(texts, lowercase=lowercase)
    assert ids == hf_ids
    assert offsets == hf_offsets
    assert ids == legacy_ids(texts, lowercase)
    # One row at a time (all-ASCII and all-Unicode batches) too.
    for text, expected in zip(texts[:40], hf_ids[:40]):
        assert to_list(tokenizer([text])) == [expected], text


def test_invalid_utf8_next_to_ascii_rows():
    texts = [b"plain", b"bad \xff byte", b"cut \xc3", b"more plain [MASK]"]
    decoded = [t.decode("utf-8", errors="replace") for t in texts]
    hf_ids, hf_offsets = hf_encode(decoded)
    ids, offsets = our_encode(ElectraTokenizer(), texts)
    assert ids == hf_ids
    assert offsets == hf_offsets


def test_eager_and_tf_data_calls_trace_once_and_agree():
    texts = ASCII_CASES + NON_ASCII
    # A fresh function: one that other tests traced in this process may
    # also have been traced under a distribution strategy.
    _traced_tokenize_flat.cache_clear()
    tokenizer = ElectraTokenizer()
    hf_ids, _ = hf_encode(texts)
    assert to_list(tokenizer(texts)) == hf_ids
    assert to_list(tokenizer(texts[:3])) == hf_ids[:3]
    assert to_list(tokenizer(texts[5])) == hf_ids[5]
    nested = to_list(tokenizer([texts[:2], texts[2:4]]))
    assert nested == [hf_ids[:2], hf_ids[2:4]]
    function = _traced_tokenize_flat(
        tokenizer._word_piece_key, tokenizer._tokenize_options(), False
    )
    # Several batch sizes and ranks, one trace.
    assert function.experimental_get_tracing_count() == 1
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(7)
    in_graph = [row for batch in dataset.map(tokenizer) for row in
                batch.to_list()]
    assert in_graph == hf_ids
    # tf.data's trace calls the same function rather than tracing it again.
    assert function.experimental_get_tracing_count() == 1
    # So does another tokenizer with the same vocabulary and options.
    other = ElectraTokenizer()
    assert to_list(other(texts)) == hf_ids
    assert function.experimental_get_tracing_count() == 1
    assert other._fast_word_piece is tokenizer._fast_word_piece


def test_eager_function_follows_a_new_vocabulary():
    tokenizer = ElectraTokenizer()
    assert to_list(tokenizer(["hello world"])) == [[7592, 2088]]
    tokenizer.set_vocabulary(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]
    )
    assert to_list(tokenizer(["hello world", "hello there [MASK]"])) == [
        [5, 6],
        [5, 1, 4],
    ]


def test_traced_tokenizer_holds_no_runtime_checks():
    # tf.data instantiates the traced graph anew for every iterator (each
    # epoch, each validation pass, each `predict` on a dataset); tf.text's
    # split wrappers added 27 checks of their row partitions, each a
    # conditional of two functions, which doubled that cost.
    tokenizer = ElectraTokenizer()
    for with_offsets in (False, True):
        function = _traced_tokenize_flat(
            tokenizer._word_piece_key, tokenizer._tokenize_options(),
            with_offsets,
        )
        function.get_concrete_function()
        ops = op_types_with_bodies(function)
        assert "Assert" not in ops
        # The ASCII fast path's branch point: the graph is the real one.
        assert "StaticRegexFullMatch" in ops
