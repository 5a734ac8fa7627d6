import keras
from keras import ops
from keras_hub.models import CausalLM
from keras_electra._keras_hub_compat import any_equal

from keras_electra.layers.electra_generator_head import ElectraGeneratorHead
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_causal_lm_preprocessor import (
    ElectraCausalLMPreprocessor,
)
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.input_checks import check_backbone_inputs
from keras_electra.models.text_inputs import check_texts
from keras_electra.models.text_inputs import is_raw_batch


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraCausalLM(ElectraTask, CausalLM):
    """ELECTRA as a left-to-right language model (HF `ElectraForCausalLM`).

    The backbone's embeddings and transformer blocks run with a causal
    attention mask (HF's `is_decoder=True`), followed by the generator head
    (Dense(embedding_dim) -> GELU -> LayerNorm -> the tied word embedding
    matrix plus a bias). Called on integer inputs `token_ids` and
    `padding_mask` it returns float32 logits `(batch, length,
    vocabulary_size)`; segment ids are 0, HF's default.

    `generate()` decodes with a key/value cache and any keras-hub sampler
    (`compile(sampler="greedy")`, `"top_k"`, ...); it stops at `[SEP]`.

    Args:
        backbone: an `ElectraBackbone`.
        preprocessor: an `ElectraCausalLMPreprocessor`, or `None` for integer
            inputs.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> backbone = ElectraBackbone(
    ...     vocabulary_size=30522, num_layers=1, num_heads=2, hidden_dim=16,
    ...     embedding_dim=8, intermediate_dim=32, max_sequence_length=32)
    >>> preprocessor = ElectraCausalLMPreprocessor(
    ...     ElectraTokenizer(), sequence_length=16)
    >>> causal_lm = ElectraCausalLM(backbone, preprocessor)
    >>> causal_lm.compile(sampler="greedy")
    >>> isinstance(causal_lm.generate("the cat", max_length=8), str)
    True
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraCausalLMPreprocessor
    text_pairs = False  # One text per example.

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
        # The backbone's own layers, called with a causal mask.
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        x = backbone.embeddings(token_ids)
        for transformer_layer in backbone.transformer_layers:
            x = transformer_layer(
                x, padding_mask=padding_mask, use_causal_mask=True
            )
        outputs = self.generator_head(x)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=outputs,
            **kwargs,
        )

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, dict) and "token_ids" in inputs:
            # The backbone's checks; segment ids are always 0 here.
            token_ids = inputs["token_ids"]
            check_backbone_inputs(
                self.backbone,
                {
                    "padding_mask": inputs.get("padding_mask", token_ids),
                    **inputs,
                    "segment_ids": ops.zeros_like(token_ids),
                },
            )
        return super().call(inputs, training=training, mask=mask)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Forward pass over `token_ids` with a key/value cache.

        Args:
            token_ids: int tensor `(batch, new_length)`, the tokens at
                positions `cache_update_index ...`.
            cache: float tensor `(batch, num_layers, 2, max_length, num_heads,
                head_dim)`, keys and values of the earlier positions.
            cache_update_index: int or int tensor, the position of the first
                token in `token_ids`.

        Returns:
            `(logits, hidden_states, cache)`: logits and last hidden states
            for `token_ids`, and the cache updated with their keys and values.
        """
        x = self.backbone.embeddings(token_ids, start_index=cache_update_index)
        caches = []
        for i, transformer_layer in enumerate(self.backbone.transformer_layers):
            x, next_cache = transformer_layer(
                x,
                use_causal_mask=True,
                cache=cache[:, i, ...],
                cache_update_index=cache_update_index,
            )
            caches.append(next_cache)
        cache = ops.stack(caches, axis=1)
        logits = self.generator_head(x)
        return logits, x, cache

    def _build_cache(self, token_ids):
        """An empty cache, seeded with one forward pass over `token_ids`."""
        batch_size = ops.shape(token_ids)[0]
        max_length = ops.shape(token_ids)[1]
        num_heads = self.backbone.num_heads
        head_dim = self.backbone.hidden_dim // num_heads
        shape = [
            batch_size,
            self.backbone.num_layers,
            2,
            max_length,
            num_heads,
            head_dim,
        ]
        cache = ops.zeros(shape, dtype=self.compute_dtype)
        _, hidden_states, cache = self.call_with_cache(token_ids, cache, 0)
        return hidden_states, cache

    def generate(self, inputs, *args, **kwargs):
        # Raw prompts are checked here, before keras-hub's tf.data tracing.
        if self.preprocessor is not None and is_raw_batch(inputs):
            check_texts(inputs, "generate")
        return super().generate(inputs, *args, **kwargs)

    def generate_step(self, inputs, stop_token_ids=None):
        """Generates one batch: fills `token_ids` where `padding_mask` is 0.

        The compilable inner loop of `generate()`, as in keras-hub's
        `GPT2CausalLM`.

        Args:
            inputs: dict with `"token_ids"` and `"padding_mask"`.
            stop_token_ids: optional ids that end a sequence.
        """
        token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        hidden_states, cache = self._build_cache(token_ids)
        row_lengths = ops.sum(ops.cast(padding_mask, "int32"), axis=-1)
        # Start at the first position that no prompt fills.
        index = ops.min(row_lengths)

        def next(prompt, cache, index):
            # The cache index is the index of the previous token.
            cache_update_index = index - 1
            batch_size = ops.shape(prompt)[0]
            prompt = ops.slice(prompt, [0, cache_update_index], [batch_size, 1])
            logits, hidden_states, cache = self.call_with_cache(
                prompt, cache, cache_update_index
            )
            return (
                ops.squeeze(logits, axis=1),
                ops.squeeze(hidden_states, axis=1),
                cache,
            )

        token_ids = self.sampler(
            next=next,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=padding_mask,
            stop_token_ids=stop_token_ids,
            hidden_states=hidden_states,
            model=self,
        )
        return {
            "token_ids": token_ids,
            "padding_mask": _output_padding_mask(
                token_ids, padding_mask, stop_token_ids
            ),
        }


def _output_padding_mask(token_ids, padding_mask, stop_token_ids):
    """True up to and including the first generated stop token."""
    if stop_token_ids is None:
        return ops.ones_like(token_ids, dtype="bool")
    prompt = ops.cast(padding_mask, "bool")
    end_locations = any_equal(
        token_ids, stop_token_ids, ops.logical_not(prompt)
    )
    end_locations = ops.cast(end_locations, "int32")
    cumsum = ops.cast(ops.cumsum(end_locations, axis=-1), "int32")
    overflow = cumsum - end_locations
    return ops.logical_not(ops.cast(overflow, "bool"))
