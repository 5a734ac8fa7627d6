import keras
import numpy as np
from keras import ops
from keras_hub.models import MaskedLM

from keras_electra.layers.electra_generator_head import ElectraGeneratorHead
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_masked_lm_preprocessor import (
    ElectraMaskedLMPreprocessor,
)
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.input_checks import concrete_value
from keras_electra.models.input_checks import is_int_at_least
from keras_electra.models.text_inputs import check_texts
from keras_electra.models.text_inputs import decode_word_pieces
from keras_electra.models.text_inputs import require_tokenizer
from keras_electra.models.text_inputs import special_token_ids
from keras_electra.models.text_inputs import token_id_lists
from keras_electra.models.text_inputs import vocabulary_of

MASK_TOKEN = "[MASK]"


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraMaskedLM(ElectraTask, MaskedLM):
    """The ELECTRA generator: a masked language model (HF `ElectraForMaskedLM`).

    The backbone's sequence output is gathered at `mask_positions` and passed
    through `ElectraGeneratorHead` (Dense(embedding_dim) -> GELU -> LayerNorm
    -> the word embedding matrix, transposed, plus a bias). The decoder *is*
    the backbone's `token_embedding`, so the two stay tied through training,
    saving and loading. Called on integer inputs it returns float32 logits
    `(batch, num_masks, vocabulary_size)`.

    With a preprocessor attached, `fit()` takes raw strings and masks them
    dynamically; `fill_mask()` predicts the tokens behind literal `[MASK]`s.

    Args:
        backbone: an `ElectraBackbone`.
        preprocessor: an `ElectraMaskedLMPreprocessor`, or `None` for integer
            inputs `token_ids`, `segment_ids`, `padding_mask` and
            `mask_positions`.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     embedding_dim=8, intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraMaskedLMPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16)
    >>> generator = ElectraMaskedLM(backbone, preprocessor)
    >>> best = generator.fill_mask("Paris is the [MASK] of France.", top_k=2)
    >>> len(best), sorted(best[0])
    (2, ['score', 'sequence', 'token', 'token_str'])
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraMaskedLMPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.generator_head = ElectraGeneratorHead(
            token_embedding=backbone.token_embedding,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            dtype=backbone.dtype_policy,
            name="generator_head",
        )

        # === Functional Model ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        sequence_output = backbone(backbone.input)
        masked_output = ops.take_along_axis(
            sequence_output, inputs["mask_positions"][:, :, None], axis=1
        )
        outputs = self.generator_head(masked_output)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, dict):
            _check_mask_positions(inputs)
        return super().call(inputs, training=training, mask=mask)

    def fill_mask(self, texts, top_k=5):
        """The `top_k` most probable tokens for every `[MASK]` in `texts`.

        Works like HF's `pipeline("fill-mask")`: each text must contain the
        literal `[MASK]`; for one mask the answer is a list of `top_k` dicts
        `{"score", "token", "token_str", "sequence"}` (softmax probability,
        token id, word piece, the text with the mask filled in, decoded as
        HF decodes), best first; for several masks, one such list per mask.

        Args:
            texts: a string, or a list of strings.
            top_k: int. How many candidates to return per mask.

        Returns:
            The answer for `texts`, or a list of answers for a list.
        """
        tokenizer = require_tokenizer(self, "fill_mask")
        texts, single = check_texts(texts, "fill_mask")
        size = self.backbone.vocabulary_size
        if not is_int_at_least(top_k, 1) or top_k > size:
            raise ValueError(
                f"fill_mask(): `top_k` must be an int in [1, {size}] (the "
                f"vocabulary size); received {top_k!r}. Pass how many "
                "candidates to return per mask, e.g. top_k=5."
            )
        rows = [self._ids_with_masks(tokenizer, text) for text in texts]
        probabilities = self._mask_probabilities(tokenizer, rows)
        vocabulary = vocabulary_of(tokenizer)
        answers = [
            _answers(row, probs, top_k, tokenizer, vocabulary)
            for row, probs in zip(rows, probabilities)
        ]
        return answers[0] if single else answers

    def _ids_with_masks(self, tokenizer, text):
        """`[CLS] text [SEP]` ids, each literal `[MASK]` as the mask id."""
        pieces = text.split(MASK_TOKEN)
        if len(pieces) == 1:
            raise ValueError(
                f"fill_mask() needs text containing the literal {MASK_TOKEN} "
                f"token; received {text!r:.200}. Write {MASK_TOKEN} where a "
                "word should be predicted."
            )
        ids = [tokenizer.cls_token_id]
        for i, piece_ids in enumerate(token_id_lists(tokenizer, pieces)):
            if i:
                ids.append(tokenizer.mask_token_id)
            ids.extend(piece_ids)
        limit = min(
            self.preprocessor.sequence_length, self.backbone.max_sequence_length
        )
        if len(ids) + 1 > limit:
            raise ValueError(
                f"fill_mask(): {text!r} is {len(ids) + 1} tokens long with "
                f"[CLS] and [SEP]; the model takes at most {limit}. Shorten "
                "the text around the [MASK]."
            )
        return ids + [tokenizer.sep_token_id]

    def _mask_probabilities(self, tokenizer, rows):
        """Per row, the `(num_masks, vocabulary_size)` softmax at its masks."""
        length = max(len(row) for row in rows)
        num_masks = max(row.count(tokenizer.mask_token_id) for row in rows)
        token_ids = np.full(
            (len(rows), length), tokenizer.pad_token_id, "int32"
        )
        padding_mask = np.zeros((len(rows), length), "int32")
        mask_positions = np.zeros((len(rows), num_masks), "int32")
        for i, row in enumerate(rows):
            token_ids[i, : len(row)] = row
            padding_mask[i, : len(row)] = 1
            positions = [
                p for p, t in enumerate(row) if t == tokenizer.mask_token_id
            ]
            mask_positions[i, : len(positions)] = positions
        inputs = {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask,
            "mask_positions": mask_positions,
        }
        logits = ops.convert_to_numpy(self(inputs, training=False))
        logits = logits.astype("float64")
        probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        mask_counts = [row.count(tokenizer.mask_token_id) for row in rows]
        return [probabilities[i, :n] for i, n in enumerate(mask_counts)]


def _answers(row, probabilities, top_k, tokenizer, vocabulary):
    """HF fill-mask output for one text: the candidates for each mask."""
    positions = [p for p, t in enumerate(row) if t == tokenizer.mask_token_id]
    single = len(positions) == 1
    # Like HF: padding never shows; with one mask the special tokens are
    # dropped from `sequence`, with several they stay so the other masks show.
    if single:
        skipped = special_token_ids(tokenizer)
    else:
        skipped = {tokenizer.pad_token_id}
    answers = []
    for position, probs in zip(positions, probabilities):
        best = np.argsort(-probs, kind="stable")[:top_k]
        answers.append(
            [
                _candidate(row, position, int(t), probs[t], vocabulary, skipped)
                for t in best
            ]
        )
    return answers[0] if single else answers


def _candidate(row, position, token, score, vocabulary, skipped):
    filled = list(row)
    filled[position] = token
    pieces = [vocabulary[t] for t in filled if t not in skipped]
    return {
        "score": float(score),
        "token": token,
        "token_str": vocabulary[token],
        "sequence": decode_word_pieces(pieces),
    }


def _check_mask_positions(inputs):
    positions = inputs.get("mask_positions")
    token_ids = inputs.get("token_ids")
    values = None if positions is None else concrete_value(positions)
    if values is None or values.size == 0 or token_ids is None:
        return
    length = token_ids.shape[-1]
    if length is None:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= length:
        raise ValueError(
            f"'mask_positions' must index the {length} input positions, i.e. "
            f"lie in [0, {length}); found values in [{low}, {high}]."
        )
