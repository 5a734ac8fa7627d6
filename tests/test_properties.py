"""Property tests (hypothesis) of tokenizing and packing on any text.

- any Unicode string tokenizes, without raising, to ids inside the
  vocabulary, with offsets inside the string;
- packing gives exactly `sequence_length` ids for any text, single or pair,
  with a padding mask that is ones then zeros, `[PAD]` where it is zero,
  and as many ones as the tokens that fit (it found that a "[PAD]" written
  in the text, one token for HF with attention mask 1, was masked out);
- on generated ASCII and Latin-1 text the ids and offsets are HF's
  (`transformers.BertTokenizerFast` on the same vocabulary file).
"""

import functools

import keras
import numpy as np
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from test_electra_tokenizer import hf_encode
from test_electra_tokenizer import our_encode
from test_electra_tokenizer import our_tokenizer

from keras_electra import ElectraClassifierPreprocessor

# Derandomized: the same examples on every run (a property test that fails
# by chance would be a flaky test); sized for about 10 s per test.
PROPERTY = settings(max_examples=50, deadline=None, derandomize=True)
PACKING = settings(PROPERTY, max_examples=25)
# st.text() draws from every code point except surrogates; the batches mix
# lengths so that a batch has several ragged rows.
ANY_TEXTS = st.lists(st.text(max_size=60), min_size=1, max_size=6)
ASCII_TEXTS = st.lists(st.text(st.characters(max_codepoint=0x7F),
                               max_size=60), min_size=1, max_size=6)
LATIN1_TEXTS = st.lists(st.text(st.characters(max_codepoint=0xFF),
                                max_size=60), min_size=1, max_size=6)


@functools.lru_cache(maxsize=None)
def packer(sequence_length):
    return ElectraClassifierPreprocessor(our_tokenizer(),
                                         sequence_length=sequence_length)


@PROPERTY
@given(ANY_TEXTS)
def test_any_text_gives_ids_inside_the_vocabulary_and_the_string(texts):
    tokenizer = our_tokenizer()
    ids, offsets = our_encode(tokenizer, texts)
    size = tokenizer.vocabulary_size()
    for text, row_ids, row_offsets in zip(texts, ids, offsets):
        assert all(0 <= i < size for i in row_ids), (text, row_ids)
        assert all(0 <= start <= end <= len(text)
                   for start, end in row_offsets), (text, row_offsets)
        starts = [start for start, _ in row_offsets]
        assert starts == sorted(starts), (text, row_offsets)


@PACKING
@given(ANY_TEXTS, st.integers(3, 24), st.booleans())
def test_packing_gives_sequence_length_with_a_consistent_mask(
        texts, sequence_length, pairs):
    tokenizer = our_tokenizer()
    preprocessor = packer(sequence_length)
    # Pairs go in as `x=(first, second)` (a lone tuple is read as (x, y)).
    x = (texts, texts[::-1]) if pairs else texts
    packed = {k: keras.ops.convert_to_numpy(v)
              for k, v in preprocessor(x=x).items()}
    ids, mask = packed["token_ids"], packed["padding_mask"].astype(bool)
    assert ids.shape == mask.shape == packed["segment_ids"].shape == (
        len(texts), sequence_length)
    # Real tokens: [CLS] a [SEP] (b [SEP]), as many as fit.
    lengths = [len(row) for row in our_encode(tokenizer, texts)[0]]
    if pairs:
        wanted = [2 + a + 1 + b for a, b in zip(lengths, lengths[::-1])]
    else:
        wanted = [2 + a for a in lengths]
    for row_ids, row_mask, n in zip(ids, mask, wanted):
        real = min(n, sequence_length)
        np.testing.assert_array_equal(row_mask, np.arange(sequence_length)
                                      < real)
        assert (row_ids[~row_mask] == tokenizer.pad_token_id).all()
        assert row_ids[0] == tokenizer.cls_token_id
        assert row_ids[real - 1] == tokenizer.sep_token_id
    assert (packed["segment_ids"][~mask] == 0).all()


@PROPERTY
@given(ASCII_TEXTS)
def test_ascii_text_matches_hf(texts):
    assert our_encode(our_tokenizer(), texts) == hf_encode(texts)


@PROPERTY
@given(LATIN1_TEXTS)
def test_latin1_text_matches_hf(texts):
    assert our_encode(our_tokenizer(), texts) == hf_encode(texts)
