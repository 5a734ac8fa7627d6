import keras

from keras_electra.models.electra_masked_lm_preprocessor import (
    ElectraMaskedLMPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraPretrainerPreprocessor(ElectraMaskedLMPreprocessor):
    """Raw text to the inputs of `ElectraPretrainer`.

    Masks like `ElectraMaskedLMPreprocessor`, with ELECTRA's defaults (15 %
    of tokens picked, 85 % of those become `[MASK]`, the rest stay as they
    are, none becomes a random token), and hands the original ids
    (`mask_ids`) and `mask_weights` to the model inside `x`, because the
    pre-trainer needs them to build the discriminator's input. `y` and
    `sample_weight` are therefore `None`. Takes raw strings, or the packed
    sequences of `keras_electra.pretraining.pretraining_dataset`.

    Args:
        tokenizer: an `ElectraTokenizer`.
        sequence_length: int. Length of the packed inputs.
        mask_selection_rate: float. Probability that a token is picked.
        mask_selection_length: int. Most picked tokens per sequence.
        mask_token_rate: float. Share of picked tokens that become `[MASK]`.
        random_token_rate: float. Share of picked tokens that become random.

    Example:
    >>> from keras_electra import ElectraTokenizer
    >>> preprocessor = ElectraPretrainerPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16, mask_selection_length=4)
    >>> sorted(preprocessor(["A truth universally acknowledged."]))
    ['mask_ids', 'mask_positions', 'mask_weights', 'padding_mask', 'segment_ids', 'token_ids']
    """

    def __init__(
        self,
        tokenizer,
        sequence_length=128,
        mask_selection_rate=0.15,
        mask_selection_length=20,
        mask_token_rate=0.85,
        random_token_rate=0.0,
        **kwargs,
    ):
        super().__init__(
            tokenizer,
            sequence_length=sequence_length,
            mask_selection_rate=mask_selection_rate,
            mask_selection_length=mask_selection_length,
            mask_token_rate=mask_token_rate,
            random_token_rate=random_token_rate,
            **kwargs,
        )

    def call(self, x, y=None, sample_weight=None):
        x, mask_ids, mask_weights = super().call(x)
        return {**x, "mask_ids": mask_ids, "mask_weights": mask_weights}
