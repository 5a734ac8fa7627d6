import keras
from keras_hub.models import TextClassifierPreprocessor
from keras_electra._keras_hub_private import preprocessing_function

from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_preprocessor import tokenize_together
from keras_electra.models.electra_preprocessor import trim
from keras_electra.models.longest_first import check_truncate


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraClassifierPreprocessor(
    ElectraPreprocessor,
    TextClassifierPreprocessor,
):
    """Raw strings (single sentences or pairs) to `ElectraClassifier` inputs.

    Tokenizes each segment with an `ElectraTokenizer` and packs them exactly
    as HF's tokenizer does with `truncation=True, padding="max_length"`
    (or `padding="longest"`):
    `[CLS] a [SEP]` for single sentences, `[CLS] a [SEP] b [SEP]` for
    pairs, segment ids 0 for `[CLS] a [SEP]` and 1 for `b [SEP]`, `[PAD]`
    up to `sequence_length`. Labels and sample weights pass through.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        truncate: how to shorten segments that do not fit.
            `"longest_first"` (default) is HF's: cut the longer segment
            first. keras-hub's `"round_robin"` and `"waterfall"` are also
            accepted (and handle more than two segments).
        padding: `"max_length"` (default) pads every row to
            `sequence_length`; `"longest"` pads each batch only to its
            longest row (HF's `padding="longest"`) and needs batched input.
            See `ElectraPreprocessor`.
        pad_to_multiple_of: int or `None`. With `padding="longest"`, round
            each batch's length up to a multiple of this.

    Call arguments:
        x: a string, a batch of strings, or a tuple `(first, second)` of two
            equal-length batches of strings for sentence pairs. Pass a pair
            without labels as `preprocessor(x=(first, second))`: a lone
            tuple argument is read as `(x, y)`, as in `tf.data`. Ragged
            integer token ids (`tokenizer.ragged_token_ids(texts)`) are
            packed as they are; `ElectraClassifier` tokenizes in-memory
            texts so before `tf.data`.
        y: optional labels, passed through.
        sample_weight: optional sample weights, passed through.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraClassifierPreprocessor(
    ...     ElectraTokenizer(), sequence_length=8)
    >>> x = preprocessor(x=(["The fox jumped."], ["It fell."]))
    >>> [int(i) for i in x["token_ids"][0]]
    [101, 1996, 4419, 5598, 102, 2009, 3062, 102]
    >>> [int(i) for i in x["segment_ids"][0]]
    [0, 0, 0, 0, 0, 1, 1, 1]
    """

    # `ElectraTask` may hand over in-memory texts as ragged token ids.
    takes_token_ids = True

    def __init__(
        self,
        tokenizer,
        sequence_length=512,
        truncate="longest_first",
        **kwargs,
    ):
        check_truncate(truncate)
        super().__init__(tokenizer, sequence_length=sequence_length, **kwargs)
        self.truncate = truncate

    def call(self, x, y=None, sample_weight=None):
        # Always TensorFlow (eagerly too), where the tokenizer runs anyway.
        return self._call_tf(x, y, sample_weight)

    @preprocessing_function
    def _call_tf(self, x, y=None, sample_weight=None):
        x = x if isinstance(x, tuple) else (x,)
        x = self.pack_segments(tokenize_together(self.tokenizer, x))
        self.check_batched(len(x["token_ids"].shape) > 1)
        x = trim(x, self.padded_length(x["padding_mask"]))
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
