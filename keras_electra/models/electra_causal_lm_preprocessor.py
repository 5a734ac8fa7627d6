import keras
from keras_hub.models import CausalLMPreprocessor

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_tokenizer import ElectraTokenizer
from keras_electra.models.preprocessing_checks import check_sequence_length


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraCausalLMPreprocessor(ElectraPresetMixin, CausalLMPreprocessor):
    """Raw strings to next-token training pairs for `ElectraCausalLM`.

    Tokenizes, adds `[CLS]` in front and `[SEP]` at the end (the start and
    end tokens; `[SEP]` also stops `generate()`), pads to `sequence_length`
    and returns `(x, y, sample_weight)` with `x = {"token_ids",
    "padding_mask"}`, `y` the next token at every position and
    `sample_weight` 0 on padding. `generate_preprocess()` and
    `generate_postprocess()` turn prompts into ids and generated ids back into
    text.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        add_start_token: bool. Put `[CLS]` in front.
        add_end_token: bool. Put `[SEP]` at the end (training only).

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraCausalLMPreprocessor(
    ...     ElectraTokenizer(), sequence_length=6)
    >>> x, y, sample_weight = preprocessor(["the cat sat"])
    >>> keras.ops.convert_to_numpy(x["token_ids"]).tolist()
    [[101, 1996, 4937, 2938, 102, 0]]
    >>> keras.ops.convert_to_numpy(y).tolist()
    [[1996, 4937, 2938, 102, 0, 0]]
    """

    backbone_cls = ElectraBackbone
    tokenizer_cls = ElectraTokenizer

    def __init__(
        self,
        tokenizer,
        sequence_length=512,
        add_start_token=True,
        add_end_token=True,
        **kwargs,
    ):
        check_sequence_length(type(self).__name__, sequence_length)
        # ELECTRA has 512 positions; keras-hub's default of 1024 would not fit.
        super().__init__(
            tokenizer,
            sequence_length=sequence_length,
            add_start_token=add_start_token,
            add_end_token=add_end_token,
            **kwargs,
        )
