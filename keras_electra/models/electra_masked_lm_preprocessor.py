import keras
import tensorflow as tf
from keras_hub.models import MaskedLMPreprocessor

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.preprocessing_checks import check_sequence_length


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraMaskedLMPreprocessor(ElectraPresetMixin, MaskedLMPreprocessor):
    """Raw strings to dynamically masked inputs for `ElectraMaskedLM`.

    Tokenizes one or more segments, packs them as
    `[CLS] a [SEP] (b [SEP])`, pads to `sequence_length`, then picks tokens to
    mask afresh on every call (so every epoch sees new masks). Special tokens
    and padding are never picked. Of the picked tokens, `mask_token_rate` become
    `[MASK]`, `random_token_rate` a random token and the rest stay as they are
    (BERT's and ELECTRA's 80/10/10 with the defaults; ELECTRA's generator was
    trained with `mask_token_rate=0.85, random_token_rate=0.0`).

    Already packed inputs (a dict of `token_ids`, `segment_ids` and
    `padding_mask`, as `keras_electra.pretraining.pretraining_dataset` yields)
    are only masked.

    Returns `(x, y, sample_weight)`: `x` holds `token_ids`, `segment_ids`,
    `padding_mask` and `mask_positions`; `y` the original ids at the masked
    positions; `sample_weight` is 0 where `mask_positions` is padding.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        truncate: `"round_robin"` or `"waterfall"`, how to shorten several
            segments that do not fit.
        mask_selection_rate: float. Probability that a token is picked.
        mask_selection_length: int. Most picked tokens per sequence (the length
            of `mask_positions`).
        mask_token_rate: float. Probability that a picked token becomes
            `[MASK]`.
        random_token_rate: float. Probability that a picked token becomes a
            random token.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraMaskedLMPreprocessor(
    ...     ElectraTokenizer(), sequence_length=12, mask_selection_length=4)
    >>> x, y, sample_weight = preprocessor(["The quick brown fox jumped."])
    >>> tuple(x["mask_positions"].shape), tuple(y.shape)
    ((1, 4), (1, 4))
    """

    backbone_cls = ElectraBackbone
    tokenizer_cls = ElectraTokenizer

    def __init__(self, tokenizer, sequence_length=512, **kwargs):
        check_sequence_length(type(self).__name__, sequence_length)
        super().__init__(tokenizer, sequence_length=sequence_length, **kwargs)

    def call(self, x, y=None, sample_weight=None):
        # Packed corpora (`keras_electra.pretraining.pretraining_dataset`)
        # arrive tokenized; they only need masking.
        if isinstance(x, dict):
            return self._mask_packed(x)
        return super().call(x, y, sample_weight)

    def _mask_packed(self, x):
        missing = {"token_ids", "segment_ids", "padding_mask"} - set(x)
        if missing:
            raise ValueError(
                f"{type(self).__name__} takes raw strings, or packed inputs "
                "with 'token_ids', 'segment_ids' and 'padding_mask'; the dict "
                f"received lacks {sorted(missing)}."
            )
        masked = self.masker(tf.convert_to_tensor(x["token_ids"]))
        features = {
            "token_ids": masked["token_ids"],
            "segment_ids": x["segment_ids"],
            "padding_mask": x["padding_mask"],
            "mask_positions": masked["mask_positions"],
        }
        return keras.utils.pack_x_y_sample_weight(
            features, masked["mask_ids"], masked["mask_weights"]
        )
