"""BERT text normalisation and pre-tokenisation, in TensorFlow graph ops.

This module reproduces, character for character, what Hugging Face's
`tokenizers` library does before WordPiece for every BERT-family tokenizer
(`BertTokenizerFast`, `ElectraTokenizerFast`):

1. `BertNormalizer`
   - clean_text: drop U+0000, U+FFFD and "other" characters (control, format,
     private use, ... as the Rust `unicode_categories` crate defines them),
     map whitespace (including `\\t \\n \\r`, NBSP, U+2000-U+200A, ...) to a
     space;
   - handle_chinese_chars: put spaces around CJK ideographs (the code point
     ranges of `tokenizers`, which differ slightly from Google's BERT code);
   - strip_accents: NFD, then drop non-spacing marks (Mn);
   - lowercase: Rust `char::to_lowercase`, one character at a time (no
     Greek final-sigma rule, "ß" stays "ß", "İ" becomes "i" + U+0307).
2. `BertPreTokenizer`: split on whitespace, and isolate every punctuation
   character (ASCII punctuation or Unicode category P*).

Every step above except NFD's canonical reordering is a function of one code
point, so the normaliser is: per code point flags (removed / whitespace / CJK
/ punctuation), a decomposition table, a stable sort of each run of combining
marks by combining class, then a per code point table (drop Mn, lowercase).
The tables are generated from the installed `tokenizers` itself (see
`generate_tables_module`) and checked against it, code point by code point,
in the tests. They are not derived from Python's `unicodedata` or from ICU:
each Rust crate `tokenizers` uses is pinned to its own Unicode version
(lowercasing is much newer than the punctuation and NFD tables, the
"control" class leaves unassigned code points alone, its CJK ranges skip
U+2B820-U+2B91F), and only tables taken from `tokenizers` agree with it on
every code point.

Working on code points instead of strings also gives offsets: each output
code point carries the index of the input character it is aligned to, by
HF's rules (an expansion shares its character's index; after NFD reordering
the first character of each decomposition takes the next input index,
wherever the sort moved it, the others share the previous one).

Everything here is plain TensorFlow (no `tf.py_function`), so it runs eagerly,
inside `tf.data` and inside an exported SavedModel.
"""

import functools

import numpy as np
import tensorflow as tf
from tensorflow_text.python.ops.regex_split_ops import gen_regex_split_ops

from keras_electra.text import bert_unicode_tables as _tables

# Per code point flags.
REMOVED = 1  # dropped by clean_text
WHITESPACE = 2  # a word separator (mapped to " " by clean_text)
CJK = 4  # isolated by handle_chinese_chars
PUNCTUATION = 8  # isolated by the pre-tokenizer

_MAX_CODEPOINT = 0x10FFFF
# A key larger than any code point, so a map table is never empty and
# `searchsorted` never runs off its end.
_SENTINEL_KEY = np.iinfo(np.int32).max

_HANGUL_BASE = 0xAC00
_HANGUL_COUNT = 11172


# --------------------------------------------------------------------------
# Tables.
# --------------------------------------------------------------------------


def _parse_ranges(text):
    """`"0300-0314:e6 0345:f0 ..."` -> `[(start, end, value), ...]`."""
    out = []
    for item in text.split():
        span, _, value = item.partition(":")
        start, _, end = span.partition("-")
        out.append(
            (int(start, 16), int(end or start, 16), int(value or "1", 16))
        )
    return out


def _parse_map(text):
    """`"00c0:0041,0300 ..."` -> `{0xc0: (0x41, 0x300), ...}`."""
    out = {}
    for item in text.split():
        key, _, value = item.partition(":")
        out[int(key, 16)] = tuple(int(v, 16) for v in value.split(",") if v)
    return out


def _expand_ranges(ranges):
    return {cp: v for a, b, v in ranges for cp in range(a, b + 1)}


def _hangul_decomposition(cp):
    s = cp - _HANGUL_BASE
    lead = 0x1100 + s // 588
    vowel = 0x1161 + (s % 588) // 28
    trail = s % 28
    if trail:
        return (lead, vowel, 0x11A7 + trail)
    return (lead, vowel)


@functools.lru_cache(maxsize=None)
def _unpacked_tables():
    nfd = _parse_map(_tables.DECOMPOSITIONS)
    for cp in range(_HANGUL_BASE, _HANGUL_BASE + _HANGUL_COUNT):
        nfd[cp] = _hangul_decomposition(cp)
    return {
        "removed": _parse_ranges(_tables.REMOVED),
        "whitespace": _parse_ranges(_tables.WHITESPACE),
        "cjk": _parse_ranges(_tables.CJK),
        "punctuation": _parse_ranges(_tables.PUNCTUATION),
        "marks": _parse_ranges(_tables.NONSPACING_MARKS),
        "ccc": _parse_ranges(_tables.COMBINING_CLASSES),
        "nfd": nfd,
        "lower": _parse_map(_tables.LOWERCASE),
    }


def _range_table(ranges):
    """`[(start, end, value)]` -> `(starts, values)` int32 arrays.

    Values of overlapping ranges are OR-ed; code points in no range get 0.
    The value of code point `c` is
    `values[searchsorted(starts, c, side="right") - 1]`.
    """
    bounds = {0}
    for start, end, _ in ranges:
        bounds.update((start, end + 1))
    bounds = np.array(sorted(bounds), dtype=np.int64)
    values = np.zeros(len(bounds), dtype=np.int32)
    for start, end, value in ranges:
        lo = np.searchsorted(bounds, start)
        hi = np.searchsorted(bounds, end + 1)
        values[lo:hi] |= value
    keep = np.concatenate([[True], values[1:] != values[:-1]])
    return bounds[keep].astype(np.int32), values[keep]


@functools.lru_cache(maxsize=None)
def flag_table(handle_chinese_chars=True):
    """Range table (see `_range_table`) of per code point flags."""
    tables = _unpacked_tables()
    ranges = []
    for name, flag in (
        ("removed", REMOVED),
        ("whitespace", WHITESPACE),
        ("cjk", CJK),
        ("punctuation", PUNCTUATION),
    ):
        if flag == CJK and not handle_chinese_chars:
            continue
        ranges += [(a, b, flag) for a, b, _ in tables[name]]
    return _range_table(ranges)


@functools.lru_cache(maxsize=None)
def combining_class_table():
    """Range table (see `_range_table`) of canonical combining classes."""
    return _range_table(_unpacked_tables()["ccc"])


def _map_table(mapping):
    """`{cp: tuple}` -> `(keys, splits, values)` arrays.

    Code point `keys[i]` is replaced by `values[splits[i]:splits[i + 1]]`
    (possibly nothing); other code points are kept. `keys` is sorted and
    ends with a sentinel, so it is never empty.
    """
    entries = sorted(mapping.items()) + [(_SENTINEL_KEY, (0,))]
    keys = np.array([k for k, _ in entries], dtype=np.int32)
    lengths = np.array([len(v) for _, v in entries], dtype=np.int64)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.array([c for _, v in entries for c in v], dtype=np.int32)
    return keys, splits, values


@functools.lru_cache(maxsize=None)
def decomposition_table():
    """Map table (see `_map_table`) of canonical decompositions (NFD)."""
    return _map_table(_unpacked_tables()["nfd"])


@functools.lru_cache(maxsize=None)
def mark_and_case_table(lowercase, strip_accents):
    """Map table applied after NFD: drop Mn (`strip_accents`), lowercase."""
    tables = _unpacked_tables()
    mapping = {}
    if lowercase:
        mapping.update(tables["lower"])
    if strip_accents:
        mapping.update(
            {cp: () for cp in _expand_ranges(tables["marks"])}
        )
    return _map_table(mapping)


# --------------------------------------------------------------------------
# Graph ops.
# --------------------------------------------------------------------------


def _lookup_range_table(codepoints, table):
    starts, values = (tf.constant(x) for x in table)
    index = tf.searchsorted(starts, codepoints, side="right", out_type=tf.int64)
    return tf.gather(values, index - 1)


def _expand(codepoints, keys, table, drop=None):
    """Replace each code point by its entry in a map table (see `_map_table`).

    `keys` are the code points to look up (-1 to keep one as it is), `drop`
    marks code points that produce nothing. Returns `(parent, output,
    first)`: the output code points, for each the index of the input it came
    from, and whether it is the first output of that input.
    """
    table_keys, splits, values = (tf.constant(x) for x in table)
    num_in = tf.shape(codepoints, out_type=tf.int64)[0]
    index = tf.searchsorted(table_keys, keys, side="left", out_type=tf.int64)
    found = tf.equal(tf.gather(table_keys, index), keys)
    length = tf.where(
        found, tf.gather(splits, index + 1) - tf.gather(splits, index), 1
    )
    if drop is not None:
        length = tf.where(drop, tf.zeros_like(length), length)
    parent = tf.repeat(tf.range(num_in), length)
    num_out = tf.shape(parent, out_type=tf.int64)[0]
    offset = tf.range(num_out) - tf.gather(
        tf.cumsum(length, exclusive=True), parent
    )
    parent_found = tf.gather(found, parent)
    value_index = tf.where(
        parent_found,
        tf.gather(splits, tf.gather(index, parent)) + offset,
        tf.zeros_like(offset),
    )
    output = tf.where(
        parent_found,
        tf.gather(values, value_index),
        tf.gather(codepoints, parent),
    )
    return parent, output, tf.equal(offset, 0)


def _shift_right(x, fill):
    fill = tf.constant([fill], dtype=x.dtype)
    return tf.concat([fill, x], axis=0)[: tf.shape(x)[0]]


def _canonical_reorder(codepoints, piece, special):
    """NFD's canonical ordering: stable-sort each run of combining marks.

    Returns the permutation to apply to the decomposed code points. Only
    runs of two or more marks can change, so only those are sorted.
    """
    ccc = _lookup_range_table(codepoints, combining_class_table())
    ccc = tf.where(special, tf.zeros_like(ccc), ccc)
    ccc = tf.cast(ccc, tf.int64)
    position = tf.range(tf.shape(codepoints, out_type=tf.int64)[0])
    nonzero = ccc > 0
    new_run = tf.logical_or(
        tf.logical_not(tf.logical_and(nonzero, _shift_right(nonzero, False))),
        tf.not_equal(piece, _shift_right(piece, -1)),
    )
    run_id = tf.cumsum(tf.cast(new_run, tf.int64)) - 1
    run_start = tf.boolean_mask(position, new_run)
    run_length = tf.math.unsorted_segment_sum(
        tf.ones_like(run_id), run_id, tf.shape(run_start, out_type=tf.int64)[0]
    )
    movable = tf.where(
        tf.logical_and(nonzero, tf.gather(run_length, run_id) > 1)
    )[:, 0]
    key = tf.gather(tf.gather(run_start, run_id) * 256 + ccc, movable)
    sorted_movable = tf.gather(movable, tf.argsort(key, stable=True))
    return tf.tensor_scatter_nd_update(
        position, movable[:, None], sorted_movable
    )


def sanitize_utf8(text):
    """Replace invalid UTF-8 sequences with U+FFFD (which is then dropped)."""
    return tf.strings.unicode_transcode(
        text,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )


# Plain graph code, no Python control flow on tensors: autograph would only
# slow down tracing.
@tf.autograph.experimental.do_not_convert
def bert_pretokenize(
    text,
    lowercase=True,
    strip_accents=None,
    handle_chinese_chars=True,
    special_tokens=None,
):
    """Normalise and split a batch of strings into words, with sources.

    Args:
        text: 1-D `tf.string` tensor. Invalid UTF-8 is replaced by U+FFFD.
        lowercase: bool. Lowercase (`char::to_lowercase`) after stripping.
        strip_accents: bool or `None` (follow `lowercase`), like HF.
        handle_chinese_chars: bool. Make each CJK ideograph its own word.
        special_tokens: list of strings matched verbatim in the raw text
            (before any normalisation) and kept as single words, like HF's
            added special tokens (`normalized=False`). `None` for none.

    Returns:
        A dict of tensors:
        - `"codepoints"`: `tf.RaggedTensor` `[num_words, (chars)]` int32, the
          normalised characters of every word of the batch, in order;
        - `"sources"`: same shape, int32, for each normalised character the
          index (in characters) of the input character it came from, in its
          input string (after invalid UTF-8 has been replaced);
        - `"rows"`: `[num_words]` int64, the input string of each word;
        - `"special"`: `[num_words]` int32, the index in `special_tokens` of
          a special-token word, `-1` for an ordinary word;
        - `"words"`: `[num_words]` `tf.string`, the words in UTF-8 (the
          code points, encoded).

    Rows that are pure printable ASCII (plus tab, newline, carriage return)
    take a fast path: for them HF's rules reduce to splitting on whitespace,
    isolating ASCII punctuation and lowercasing A-Z, which a regex split
    does per string instead of per code point (see `_ascii_fast_path`).
    The other rows go through the full Unicode path; the words of both come
    out in row order, identical to what the Unicode path gives for all.
    """
    if strip_accents is None:
        strip_accents = lowercase
    text = tf.convert_to_tensor(text)
    special_tokens = list(special_tokens or [])
    fast = _ascii_fast_path(
        bool(lowercase),
        bool(strip_accents),
        bool(handle_chinese_chars),
        tuple(special_tokens),
    )
    if fast is None:
        return _pretokenize_unicode(
            sanitize_utf8(text), lowercase, strip_accents,
            handle_chinese_chars, special_tokens,
        )
    # ASCII rows are valid UTF-8: only the others need sanitising.
    is_fast = tf.strings.regex_full_match(text, fast["row_pattern"])

    def all_fast():
        return _pretokenize_ascii(text, lowercase, fast)

    def mixed():
        fast_rows = tf.where(is_fast)[:, 0]
        slow_rows = tf.where(tf.logical_not(is_fast))[:, 0]
        parts = [
            _pretokenize_ascii(tf.gather(text, fast_rows), lowercase, fast),
            _pretokenize_unicode(
                sanitize_utf8(tf.gather(text, slow_rows)), lowercase,
                strip_accents, handle_chinese_chars, special_tokens,
            ),
        ]
        rows = tf.concat(
            [tf.gather(fast_rows, parts[0]["rows"]),
             tf.gather(slow_rows, parts[1]["rows"])],
            axis=0,
        )
        # Each row's words all come from one part, in order: a stable sort
        # by row restores the order of the Unicode path.
        order = tf.argsort(rows, stable=True)
        out = {"rows": tf.gather(rows, order)}
        for key in ("codepoints", "sources", "special", "words"):
            out[key] = tf.gather(
                tf.concat([parts[0][key], parts[1][key]], axis=0), order
            )
        return out

    # Most batches of real text are all ASCII: skip the Unicode path's ops
    # (and the merge) for them.
    return tf.cond(tf.reduce_all(is_fast), all_fast, mixed)


@functools.lru_cache(maxsize=None)
def _ascii_fast_path(lowercase, strip_accents, handle_chinese_chars,
                     special_tokens):
    """Regexes of the ASCII fast path, or `None` where it does not apply.

    Derived from the same tables as the Unicode path, and only used if, on
    ASCII, those tables reduce to a regex split: no ASCII character is
    CJK, decomposes, is a mark or lowercases to anything but its ASCII
    lowercase letter. A row qualifies if all its characters are ASCII and
    none is dropped by clean_text (so every output character is its input
    character, at the same index). Special tokens must be made of such
    characters, contain no whitespace, and each contain a punctuation
    character (so no ordinary word can equal one).
    """
    tables = _unpacked_tables()
    if any(cp < 0x80 for cp in tables["nfd"]):
        return None
    if strip_accents and any(
        cp < 0x80 for cp in _expand_ranges(tables["marks"])
    ):
        return None
    ascii_lower = {k: v for k, v in tables["lower"].items() if k < 0x80}
    if lowercase and ascii_lower != {
        cp: (cp + 0x20,) for cp in range(0x41, 0x5B)
    }:
        return None
    starts, values = flag_table(handle_chinese_chars)
    index = np.searchsorted(starts, np.arange(0x80), side="right") - 1
    flags = values[index]
    if np.any(flags & CJK):
        return None
    kept = [cp for cp in range(0x80) if not flags[cp] & REMOVED]
    space = [cp for cp in kept if flags[cp] & WHITESPACE]
    punctuation = [
        cp for cp in kept if flags[cp] & PUNCTUATION and cp not in space
    ]
    for token in special_tokens:
        codes = [ord(c) for c in token]
        if not codes or any(c not in kept or c in space for c in codes):
            return None
        if not any(c in punctuation for c in codes):
            return None
    specials = "|".join(
        _re2_escape(t) for t in sorted(special_tokens, key=len, reverse=True)
    )

    def char_class(cps):
        return "[" + "".join(f"\\x{cp:02x}" for cp in cps) + "]"

    keep = char_class(punctuation)
    if specials:
        # Leftmost-first alternation: special tokens win over punctuation.
        keep = specials + "|" + keep
    return {
        "row_pattern": char_class(kept) + "*",
        "split_pattern": keep + "|" + char_class(space) + "+",
        "keep_pattern": keep,
        "special_tokens": special_tokens,
    }


def _pretokenize_ascii(text, lowercase, fast):
    """`bert_pretokenize` of rows that qualify for `_ascii_fast_path`."""
    words, begin = _regex_split(
        text, fast["split_pattern"], fast["keep_pattern"]
    )
    rows = words.value_rowids()
    words = words.flat_values
    special = tf.fill(tf.shape(words), -1)
    for i, token in enumerate(fast["special_tokens"]):
        special = tf.where(tf.equal(words, token), i, special)
    if lowercase:
        words = tf.where(special >= 0, words, tf.strings.lower(words))
    codepoints = tf.strings.unicode_decode(words, "UTF-8")
    word = codepoints.value_rowids()
    position = tf.range(
        tf.shape(codepoints.flat_values, out_type=tf.int64)[0]
    ) - tf.gather(codepoints.row_starts(), word)
    sources = tf.gather(begin.flat_values, word) + position
    return {
        "codepoints": codepoints,
        "sources": codepoints.with_flat_values(tf.cast(sources, tf.int32)),
        "rows": rows,
        "special": special,
        "words": words,
    }


def _pretokenize_unicode(
    text, lowercase, strip_accents, handle_chinese_chars, special_tokens
):
    """`bert_pretokenize` on code points: any text."""
    lowercase = bool(lowercase)
    strip_accents = bool(strip_accents)
    batch_size = tf.shape(text, out_type=tf.int64)[0]

    # 1. Split off special tokens, matched in the raw text.
    if special_tokens:
        # Longest first: RE2 alternation is leftmost-first, HF's matcher is
        # leftmost-longest.
        ordered = sorted(special_tokens, key=len, reverse=True)
        pattern = "|".join(_re2_escape(t) for t in ordered)
        # `regex_split` stops at the first NUL byte. NUL and U+0001 are both
        # one byte and both dropped by clean_text, so swapping them changes
        # neither tokens nor offsets (special tokens contain neither).
        pieces, _ = _regex_split(
            tf.strings.regex_replace(text, "\\x00", "\x01"), pattern, pattern
        )
        piece_text = pieces.flat_values
        piece_row = pieces.value_rowids()
        piece_special = tf.fill(tf.shape(piece_text), -1)
        for i, token in enumerate(special_tokens):
            piece_special = tf.where(
                tf.equal(piece_text, token), i, piece_special
            )
    else:
        piece_text = text
        piece_row = tf.range(batch_size, dtype=tf.int64)
        piece_special = tf.fill(tf.shape(piece_text), -1)

    # 2. Code points, with their index in the input string.
    chars = tf.strings.unicode_decode(piece_text, "UTF-8")
    cp = chars.flat_values
    piece = chars.value_rowids()
    cp_row = tf.gather(piece_row, piece)
    num_chars = tf.shape(cp, out_type=tf.int64)[0]
    row_lengths = tf.math.unsorted_segment_sum(
        tf.ones_like(cp_row), cp_row, batch_size
    )
    row_starts = tf.cumsum(row_lengths, exclusive=True)
    source = tf.range(num_chars) - tf.gather(row_starts, cp_row)
    special = tf.gather(piece_special, piece) >= 0

    # 3. clean_text (drop, whitespace -> " "), CJK flags.
    flags_table = flag_table(bool(handle_chinese_chars))
    flags = _lookup_range_table(cp, flags_table)
    not_special = tf.logical_not(special)
    removed = tf.logical_and((flags & REMOVED) > 0, not_special)
    space = tf.logical_and((flags & WHITESPACE) > 0, not_special)
    cjk = tf.logical_and((flags & CJK) > 0, not_special)
    cp = tf.where(space, 0x20, cp)
    # Special tokens and spaces are never changed: look them up as -1.
    unchanged = tf.logical_or(special, space)

    # 4. strip_accents: NFD (decompose, reorder marks), then drop Mn.
    if strip_accents:
        parent, cp, first = _expand(
            cp,
            tf.where(unchanged, -1, cp),
            decomposition_table(),
            drop=removed,
        )
        order = _canonical_reorder(
            cp, tf.gather(piece, parent), tf.gather(special, parent)
        )
        cp = tf.gather(cp, order)
        # HF's alignments after a reordering: the first character of each
        # decomposition (wherever the sort moved it) takes the next input
        # character, the others share the previous one. Without reordering
        # this is just `parent`.
        kept = tf.where(tf.logical_not(removed))[:, 0]
        consumed = tf.cumsum(tf.cast(tf.gather(first, order), tf.int64))
        parent = tf.gather(kept, tf.maximum(consumed - 1, 0))
    else:
        parent = tf.where(tf.logical_not(removed))[:, 0]
        cp = tf.gather(cp, parent)
    source, piece, special, cjk, unchanged = (
        tf.gather(x, parent) for x in (source, piece, special, cjk, unchanged)
    )

    # 5. Drop Mn, lowercase.
    if strip_accents or lowercase:
        parent, cp, _ = _expand(
            cp,
            tf.where(unchanged, -1, cp),
            mark_and_case_table(lowercase, strip_accents),
        )
        source, piece, special, cjk = (
            tf.gather(x, parent) for x in (source, piece, special, cjk)
        )

    # 6. Pre-tokenisation: whitespace separates words, CJK characters (of the
    # input) and punctuation (of the output) are words on their own, and a
    # word never crosses a special token.
    not_special = tf.logical_not(special)
    flags = _lookup_range_table(cp, flags_table)
    space = tf.logical_and((flags & WHITESPACE) > 0, not_special)
    isolated = tf.logical_and(
        tf.logical_or(cjk, (flags & PUNCTUATION) > 0),
        tf.logical_and(not_special, tf.logical_not(space)),
    )
    first_of_piece = tf.not_equal(piece, _shift_right(piece, -1))
    starts_word = tf.logical_and(
        tf.logical_not(space),
        tf.reduce_any(
            tf.stack(
                [
                    first_of_piece,
                    _shift_right(space, False),
                    isolated,
                    _shift_right(isolated, False),
                ]
            ),
            axis=0,
        ),
    )
    keep = tf.logical_not(space)
    word_cp = tf.boolean_mask(cp, keep)
    word_source = tf.cast(tf.boolean_mask(source, keep), tf.int32)
    word_piece = tf.boolean_mask(piece, keep)
    word_start = tf.boolean_mask(starts_word, keep)
    word_id = tf.cumsum(tf.cast(word_start, tf.int64)) - 1
    num_words = tf.reduce_sum(tf.cast(word_start, tf.int64))
    codepoints = tf.RaggedTensor.from_value_rowids(
        word_cp, word_id, nrows=num_words, validate=False
    )
    sources = codepoints.with_flat_values(word_source)
    first_piece = tf.gather(word_piece, codepoints.row_starts())
    return {
        "codepoints": codepoints,
        "sources": sources,
        "rows": tf.gather(piece_row, first_piece),
        "special": tf.gather(piece_special, first_piece),
        "words": tf.strings.unicode_encode(codepoints, "UTF-8"),
    }


def _regex_split(text, delim_pattern, keep_pattern):
    """`tf_text.regex_split_with_offsets` of a 1-D string tensor: the pieces
    and their start offsets, as `tf.RaggedTensor`s.

    The same tf.text op, without the checks of the row partitions that its
    Python wrapper adds (the op's row splits are valid by construction):
    27 conditionals with two functions each, which doubled the graph that
    every `tf.data` iterator instantiates anew (0.32 -> 0.16 s of CPU per
    iterator of the pre-tokenizer, AMD EPYC)."""
    pieces, begin, _, splits = gen_regex_split_ops.regex_split_with_offsets(
        text, f"({delim_pattern})", f"({keep_pattern})"
    )
    return tuple(
        tf.RaggedTensor.from_row_splits(values, splits, validate=False)
        for values in (pieces, begin)
    )


def _re2_escape(token):
    return "".join(
        "\\" + c if not (c.isalnum() or c == "_") and ord(c) < 128 else c
        for c in token
    )


# --------------------------------------------------------------------------
# Table generation (development only; needs the `tokenizers` package).
# --------------------------------------------------------------------------


def _batched(function, strings, chunk=4096):
    """`[function(x) for x in strings]`, a chunk of strings per call.

    The strings of a chunk are joined with "|" (which every BERT normaliser
    keeps as it is, and which blocks NFD reordering) and the output split on
    it; strings containing "|", and chunks whose output does not split back,
    are done one by one.
    """
    out = [None] * len(strings)
    joinable = [i for i, x in enumerate(strings) if "|" not in x]
    for start in range(0, len(joinable), chunk):
        index = joinable[start : start + chunk]
        pieces = function("|".join([strings[i] for i in index])).split("|")
        if len(pieces) == len(index):
            for i, piece in zip(index, pieces):
                out[i] = piece
    return [
        function(strings[i]) if x is None else x for i, x in enumerate(out)
    ]


def derive_tables_from_tokenizers():
    """Probe the installed HF `tokenizers`, one code point at a time.

    Returns a dict with the content of `bert_unicode_tables`, as Python
    sets and dicts: `removed`, `whitespace`, `cjk`, `punctuation`, `marks`
    (sets of code points), `ccc` (code point -> canonical combining class),
    `nfd` (code point -> decomposition, Hangul syllables excluded) and
    `lower` (code point -> lowercase). Checks along the way that
    strip_accents == NFD then drop `marks`. Takes a few seconds.
    """
    import unicodedata

    from tokenizers.normalizers import NFD
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    def only(**kwargs):
        options = dict(
            clean_text=False,
            handle_chinese_chars=False,
            strip_accents=False,
            lowercase=False,
        )
        options.update(kwargs)
        return BertNormalizer(**options).normalize_str

    codepoints = [
        cp for cp in range(_MAX_CODEPOINT + 1) if not 0xD800 <= cp <= 0xDFFF
    ]
    chars = [chr(cp) for cp in codepoints]
    nfd = NFD().normalize_str
    cleaned = _batched(only(clean_text=True), chars)
    spaced = _batched(only(handle_chinese_chars=True), chars)
    stripped = _batched(only(strip_accents=True), chars)
    lowered = _batched(only(lowercase=True), chars)
    decomposed = _batched(nfd, chars)
    # Non-zero combining class <=> reordered against U+0345 (class 240) or
    # against U+0334 (class 1).
    after_240 = _batched(nfd, ["\u0345" + c for c in chars])
    before_1 = _batched(nfd, [c + "\u0334" for c in chars])

    # Pre-tokenizer: "a" + c + "a" for every c, in one long string per chunk.
    pre = BertPreTokenizer().pre_tokenize_str
    isolated, separator = set(), set()
    for i in range(0, len(chars), 4096):
        part = chars[i : i + 4096]
        words = pre("".join("a" + c + "a" for c in part))
        covered = set()
        for _, (start, end) in words:
            covered.update(range(start, end))
            if end == start + 1 and start % 3 == 1:
                isolated.add(i + start // 3)
        separator.update(
            i + k for k in range(len(part)) if 3 * k + 1 not in covered
        )

    out = {
        "removed": set(),
        "whitespace": set(),
        "cjk": set(),
        "punctuation": set(),
        "marks": set(),
        "ccc": {},
        "nfd": {},
        "lower": {},
    }
    for i, (cp, c) in enumerate(zip(codepoints, chars)):
        if cleaned[i] == "":
            out["removed"].add(cp)
        elif cleaned[i] == " ":
            out["whitespace"].add(cp)
        if spaced[i] != c:
            out["cjk"].add(cp)
        if i in separator:
            out["whitespace"].add(cp)
        elif i in isolated:
            out["punctuation"].add(cp)
        if decomposed[i] != c:
            if not _HANGUL_BASE <= cp < _HANGUL_BASE + _HANGUL_COUNT:
                out["nfd"][cp] = tuple(ord(x) for x in decomposed[i])
        else:
            if stripped[i] == "":
                out["marks"].add(cp)
            if (cp != 0x345 and after_240[i] == c + "\u0345") or (
                cp != 0x334 and before_1[i] == "\u0334" + c
            ):
                out["ccc"][cp] = unicodedata.combining(c)
        if lowered[i] != c:
            out["lower"][cp] = tuple(ord(x) for x in lowered[i])
    # The class values come from Python's (newer) Unicode data, which is
    # stable for assigned characters; check every ordering against HF.
    assert all(out["ccc"].values()), "a combining class unknown to Python"
    representatives = {}
    for cp, value in sorted(out["ccc"].items()):
        representatives.setdefault(value, cp)
    pairs = [
        (cp, other)
        for cp in out["ccc"]
        for other in representatives.values()
        if other != cp
    ]
    results = _batched(nfd, [chr(other) + chr(cp) for cp, other in pairs])
    for (cp, other), result in zip(pairs, results):
        swapped = result == chr(cp) + chr(other)
        expected = out["ccc"][cp] < out["ccc"][other]
        assert swapped == expected, (hex(cp), hex(other))
    # strip_accents must be NFD, then drop the marks.
    for i, cp in enumerate(codepoints):
        if _HANGUL_BASE <= cp < _HANGUL_BASE + _HANGUL_COUNT:
            parts = _hangul_decomposition(cp)
        else:
            parts = out["nfd"].get(cp, (cp,))
        kept = "".join(chr(x) for x in parts if x not in out["marks"])
        assert kept == stripped[i], hex(cp)
    return out


def embedded_tables():
    """The embedded tables, in the format of `derive_tables_from_tokenizers`."""
    tables = _unpacked_tables()
    out = {
        name: set(_expand_ranges(tables[name]))
        for name in ("removed", "whitespace", "cjk", "punctuation", "marks")
    }
    out["ccc"] = _expand_ranges(tables["ccc"])
    out["nfd"] = {
        k: v
        for k, v in tables["nfd"].items()
        if not _HANGUL_BASE <= k < _HANGUL_BASE + _HANGUL_COUNT
    }
    out["lower"] = dict(tables["lower"])
    return out


def _format_ranges(values):
    """A set of code points, or a dict code point -> value, as ranges."""
    if not isinstance(values, dict):
        values = dict.fromkeys(values, None)
    items = []
    for cp in sorted(values):
        value = values[cp]
        if items and items[-1][1] == cp - 1 and items[-1][2] == value:
            items[-1][1] = cp
        else:
            items.append([cp, cp, value])
    out = []
    for a, b, value in items:
        item = f"{a:04x}" if a == b else f"{a:04x}-{b:04x}"
        if value is not None:
            item += f":{value:x}"
        out.append(item)
    return " ".join(out)


def _format_map(mapping):
    return " ".join(
        f"{k:04x}:" + ",".join(f"{v:04x}" for v in vals)
        for k, vals in sorted(mapping.items())
    )


def _wrap(text, width=72):
    lines, line = [], ""
    for item in text.split():
        if line and len(line) + len(item) + 1 > width:
            lines.append(line)
            line = item
        else:
            line = f"{line} {item}" if line else item
    if line:
        lines.append(line)
    if not lines:
        return '    ""'
    return "\n".join(f'    "{x} "' for x in lines)


def generate_tables_module(path):
    """Write `bert_unicode_tables.py` from the installed `tokenizers`.

    `python -c "from keras_electra.text import bert_text_normalizer as m;
    m.generate_tables_module('keras_electra/text/bert_unicode_tables.py')"`
    """
    import tokenizers

    derived = derive_tables_from_tokenizers()
    sections = [
        ("REMOVED", "clean_text drops these", _format_ranges),
        ("WHITESPACE", "word separators", _format_ranges),
        ("CJK", "handle_chinese_chars isolates these", _format_ranges),
        ("PUNCTUATION", "BertPreTokenizer isolates these", _format_ranges),
        ("NONSPACING_MARKS", "strip_accents drops these", _format_ranges),
        ("COMBINING_CLASSES", "cp:class, for NFD ordering", _format_ranges),
        ("DECOMPOSITIONS", "NFD, Hangul syllables excluded", _format_map),
        ("LOWERCASE", "Rust char::to_lowercase", _format_map),
    ]
    keys = {
        "REMOVED": "removed",
        "WHITESPACE": "whitespace",
        "CJK": "cjk",
        "PUNCTUATION": "punctuation",
        "NONSPACING_MARKS": "marks",
        "COMBINING_CLASSES": "ccc",
        "DECOMPOSITIONS": "nfd",
        "LOWERCASE": "lower",
    }
    lines = [
        '"""Unicode tables of Hugging Face `tokenizers`\' BERT normaliser.',
        "",
        "Generated by `keras_electra.text.bert_text_normalizer."
        "generate_tables_module`",
        f"from tokenizers=={tokenizers.__version__}. Do not edit by hand.",
        "Code points are hex; `a-b` is an inclusive range, `:x` a value;",
        "`k:v1,v2` maps k to the sequence v1 v2.",
        '"""',
        "",
        f'TOKENIZERS_VERSION = "{tokenizers.__version__}"',
    ]
    for name, comment, formatter in sections:
        body = formatter(derived[keys[name]])
        lines += ["", f"# {comment}", f"{name} = (", _wrap(body), ")"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
