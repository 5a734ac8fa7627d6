"""The base of keras_electra's preprocessors that tokenize and pack text."""

from keras_hub.layers import MultiSegmentPacker
from keras_hub.models import Preprocessor

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.longest_first import TRUNCATIONS
from keras_electra.models.longest_first import packer_truncation
from keras_electra.models.longest_first import truncate_longest_first
from keras_electra.models.padding import PAD_SENTINEL
from keras_electra.models.padding import unpad
from keras_electra.models.preprocessing_checks import check_sequence_length


def text_packer(tokenizer, sequence_length, truncate="round_robin",
                pad_value=PAD_SENTINEL, **kwargs):
    """keras-hub's packer of `[CLS] a [SEP] (b [SEP])`, as ELECTRA packs.

    It pads with `PAD_SENTINEL` by default, which `pack_text` turns into
    the padding mask and `[PAD]` ids (see `padding.py`). `truncate` may
    also be `"longest_first"`, for segments cut before packing.
    """
    return MultiSegmentPacker(
        start_value=tokenizer.cls_token_id,
        end_value=tokenizer.sep_token_id,
        pad_value=pad_value,
        truncate=packer_truncation(truncate),
        sequence_length=sequence_length,
        **kwargs,
    )


def pack_text(packer, segments, pad_token_id):
    """The integer inputs of `segments` packed by a `text_packer`."""
    token_ids, segment_ids = packer(segments)
    token_ids, padding_mask = unpad(token_ids, pad_token_id)
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
    }


class ElectraPreprocessor(ElectraPresetMixin, Preprocessor):
    """Base class of the preprocessors that pack text into fixed rows.

    It holds what they share: the tokenizer; `sequence_length`, checked and
    handed on to the packers whenever it changes; and the packers, made in
    `build` so that tokenizer assets are loaded when a saved model is
    restored.

    Subclasses that pack text segments as `[CLS] a [SEP] (b [SEP])` call
    `pack_segments()`; others name the attributes of their packers in
    `packer_names` and return them from `make_packers()`.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed rows.
    """

    backbone_cls = ElectraBackbone
    tokenizer_cls = ElectraTokenizer
    # Attributes that hold the packers `make_packers()` returns.
    packer_names = ("packer",)
    # How `pack_segments` cuts segments that do not fit (`TRUNCATIONS`);
    # the preprocessors of pairs take it as an argument.
    truncate = "round_robin"

    def __init__(self, tokenizer, sequence_length=512, **kwargs):
        check_sequence_length(type(self).__name__, sequence_length)
        # `Preprocessor`'s, not that of a keras-hub subclass between
        # (`TextClassifierPreprocessor`), which would set up its own packer.
        Preprocessor.__init__(self, **kwargs)
        self.tokenizer = tokenizer
        for name in self.packer_names:
            setattr(self, name, None)
        self.sequence_length = sequence_length

    def make_packers(self):
        """`{name: packer}` for each of `packer_names`."""
        return {
            "packer": text_packer(self.tokenizer, self.sequence_length,
                                  self.truncate),
        }

    def build(self, input_shape):
        Preprocessor.build(self, input_shape)
        for name, packer in self.make_packers().items():
            setattr(self, name, packer)

    def pack_segments(self, segments):
        """The integer inputs of `segments` (a batch of token ids, or a tuple
        of one or two), cut as `truncate` says."""
        if self.truncate == TRUNCATIONS[0]:
            segments = truncate_longest_first(segments, self.sequence_length)
        return pack_text(self.packer, segments, self.tokenizer.pad_token_id)

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length})
        return config

    @property
    def sequence_length(self):
        """The padded length of model input sequences."""
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._sequence_length = value
        for name in self.packer_names:
            packer = getattr(self, name, None)
            if packer is not None:
                packer.sequence_length = value
