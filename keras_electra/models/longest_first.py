"""HF tokenizers' `longest_first` truncation of sentence pairs, in tf ops.

keras-hub's `MultiSegmentPacker` truncates `round_robin` (space handed out
one token at a time, first segment first) or `waterfall`. HF's default,
`truncation=True` = `longest_first`, gives the odd token to the longer
segment (to the second on a tie), so the two differ when both segments are
cut and the space left is odd. This cuts the segments to HF's lengths
before packing, so the packer has nothing left to cut.
"""

# The `truncate` values the ELECTRA preprocessors accept; the first is HF's.
TRUNCATIONS = ("longest_first", "round_robin", "waterfall")


def check_truncate(truncate):
    """`truncate` is one of `TRUNCATIONS`."""
    if truncate not in TRUNCATIONS:
        raise ValueError(
            f"`truncate` must be one of {list(TRUNCATIONS)}; received "
            f"{truncate!r}."
        )


def packer_truncation(truncate):
    """The packer's own `truncate`: with `longest_first` the segments are
    cut before packing, so they already fit and the packer cuts nothing."""
    return "round_robin" if truncate == TRUNCATIONS[0] else truncate

try:
    import tensorflow as tf
except ImportError:  # pragma: no cover
    tf = None


def longest_first_lengths(first, second, budget):
    """HF's kept lengths of two segments of lengths `first`, `second`."""
    budget = tf.cast(budget, first.dtype)
    half, extra = budget // 2, budget % 2
    shorter = tf.minimum(first, second)
    first_longer = first > second
    # The shorter segment fits in half: keep it, cut the longer one.
    keep_shorter = tf.where(first_longer, budget - second, first)
    keep_shorter_second = tf.where(first_longer, second, budget - first)
    # Both exceed half: halves, the odd token to the longer (tie: second).
    both_first = tf.where(first_longer, half + extra, half)
    both_second = tf.where(first_longer, half, half + extra)
    both_cut = 2 * shorter > budget
    fits = first + second <= budget
    new_first = tf.where(
        fits, first, tf.where(both_cut, both_first, keep_shorter)
    )
    new_second = tf.where(
        fits, second, tf.where(both_cut, both_second, keep_shorter_second)
    )
    return new_first, new_second


def truncate_longest_first(segments, sequence_length):
    """Cut one or two ragged token batches to fit `sequence_length`.

    The budget leaves room for `[CLS]` and one `[SEP]` per segment.
    Unbatched (1-D dense) segments are supported too.
    """
    if len(segments) > 2:
        raise ValueError(
            "truncate='longest_first' packs one or two segments (HF "
            f"supports pairs only); received {len(segments)}. Use "
            "truncate='round_robin' or 'waterfall' for more."
        )
    unbatched = segments[0].shape.rank == 1 and not isinstance(
        segments[0], tf.RaggedTensor
    )
    if unbatched:
        segments = [tf.RaggedTensor.from_tensor(s[None]) for s in segments]
    budget = sequence_length - 1 - len(segments)
    lengths = [s.row_lengths() for s in segments]
    if len(segments) == 1:
        targets = [tf.minimum(lengths[0], budget)]
    else:
        targets = longest_first_lengths(lengths[0], lengths[1], budget)
    cut = [_first_items(s, target) for s, target in zip(segments, targets)]
    if unbatched:
        cut = [s[0] for s in cut]
    return tuple(cut)


def _first_items(segment, counts):
    """The first `counts[i]` items of each row `i` of a ragged `segment`.

    Built from the flat values without `tf.ragged.boolean_mask`'s checks of
    the row partitions, which tf.data instantiates anew for every iterator.
    """
    lengths = segment.row_lengths()
    counts = tf.minimum(tf.cast(counts, lengths.dtype), lengths)
    position = tf.ragged.range(lengths).flat_values
    kept = position < tf.repeat(counts, lengths)
    return tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(segment.values, kept), counts, validate=False
    )
