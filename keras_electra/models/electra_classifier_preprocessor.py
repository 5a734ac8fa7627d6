import keras
from keras_hub.layers import MultiSegmentPacker
from keras_hub.models import TextClassifierPreprocessor
from keras_electra._keras_hub_private import preprocessing_function

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.padding import PAD_SENTINEL
from keras_electra.models.padding import unpad
from keras_electra.models.longest_first import TRUNCATIONS
from keras_electra.models.longest_first import truncate_longest_first
from keras_electra.models.preprocessing_checks import check_sequence_length


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraClassifierPreprocessor(
    ElectraPresetMixin,
    TextClassifierPreprocessor,
):
    """Raw strings (single sentences or pairs) to `ElectraClassifier` inputs.

    Tokenizes each segment with an `ElectraTokenizer` and packs them exactly
    as HF's tokenizer does with `truncation=True, padding="max_length"`:
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

    Call arguments:
        x: a string, a batch of strings, or a tuple `(first, second)` of two
            equal-length batches of strings for sentence pairs. Pass a pair
            without labels as `preprocessor(x=(first, second))`: a lone
            tuple argument is read as `(x, y)`, as in `tf.data`.
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

    backbone_cls = ElectraBackbone
    tokenizer_cls = ElectraTokenizer

    def __init__(
        self,
        tokenizer,
        sequence_length=512,
        truncate="longest_first",
        **kwargs,
    ):
        check_sequence_length(type(self).__name__, sequence_length)
        if truncate not in TRUNCATIONS:
            raise ValueError(
                f"`truncate` must be one of {list(TRUNCATIONS)}; received "
                f"{truncate!r}."
            )
        super().__init__(
            tokenizer, sequence_length=sequence_length, truncate=truncate,
            **kwargs,
        )

    def build(self, input_shape):
        self.built = True
        # Built here so that tokenizer assets are loaded when restoring.
        # With `longest_first` the segments already fit when they get here.
        truncate = "round_robin" if self.truncate == TRUNCATIONS[0] else (
            self.truncate
        )
        self.packer = MultiSegmentPacker(
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=PAD_SENTINEL,
            truncate=truncate,
            sequence_length=self.sequence_length,
        )

    def call(self, x, y=None, sample_weight=None):
        # Always TensorFlow (eagerly too), where the tokenizer runs anyway.
        return self._call_tf(x, y, sample_weight)

    @preprocessing_function
    def _call_tf(self, x, y=None, sample_weight=None):
        x = x if isinstance(x, tuple) else (x,)
        segments = tuple(self.tokenizer(segment) for segment in x)
        if self.truncate == TRUNCATIONS[0]:
            segments = truncate_longest_first(segments, self.sequence_length)
        token_ids, segment_ids = self.packer(segments)
        token_ids, padding_mask = unpad(token_ids,
                                        self.tokenizer.pad_token_id)
        x = {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "segment_ids": segment_ids,
        }
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
