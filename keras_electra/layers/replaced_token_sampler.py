import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_electra")
class ReplacedTokenSampler(keras.layers.Layer):
    """Builds the discriminator's input from the generator's predictions.

    Samples one token per masked position from
    `softmax(generator_logits / temperature)` (no gradient flows through the
    sample, as in ELECTRA), writes the samples into the sequence at
    `mask_positions` and returns the corrupted ids with per-token labels:
    1 where the token now differs from the original, 0 elsewhere (a sample
    equal to the original is "not replaced", as in Google's code). Masked
    positions whose `mask_weights` is 0 are padding and write nothing.

    Args:
        temperature: float. Sampling temperature.
        seed: optional int for reproducible samples.

    Call arguments:
        generator_logits: `(batch, num_masks, vocabulary_size)`.
        token_ids: `(batch, length)` masked input ids.
        mask_positions, mask_ids, mask_weights: `(batch, num_masks)`, where
            the masks are, the original ids there, 1 for real masks.
    """

    def __init__(self, temperature=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.temperature = temperature
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, generator_logits, token_ids, mask_positions, mask_ids,
             mask_weights):
        sampled = self._sample(generator_logits)
        length = ops.shape(token_ids)[1]
        weights = ops.cast(mask_weights, "float32")
        where = ops.one_hot(mask_positions, length) * weights[:, :, None]
        is_masked = ops.sum(where, axis=1) > 0
        token_ids = ops.cast(token_ids, "int32")

        def scatter(values):
            values = ops.cast(values, "float32")
            return ops.cast(ops.einsum("bpl,bp->bl", where, values), "int32")

        originals = ops.where(is_masked, scatter(mask_ids), token_ids)
        corrupted = ops.where(is_masked, scatter(sampled), token_ids)
        labels = ops.cast(ops.not_equal(corrupted, originals), "float32")
        return corrupted, labels

    def _sample(self, logits):
        vocabulary_size = ops.shape(logits)[-1]
        flat = ops.reshape(
            ops.stop_gradient(ops.cast(logits, "float32")) / self.temperature,
            (-1, vocabulary_size),
        )
        if keras.config.backend() == "tensorflow":
            # TensorFlow's categorical kernel is itself inverse-CDF sampling
            # in one pass: 20 ms against 61 ms for the ops below (640 rows
            # of 8,000 logits, one core).
            samples = keras.random.categorical(
                flat, 1, seed=self.seed_generator
            )
            return ops.reshape(samples, ops.shape(logits)[:2])
        # Inverse-CDF sampling draws one random number per row; Keras'
        # `categorical` draws one per vocabulary entry on the other backends
        # (an exponential on torch, Gumbel noise on JAX), which cost up to a
        # fifth of a pre-training step.
        cdf = ops.cumsum(ops.softmax(flat, axis=-1), axis=-1)
        uniform = keras.random.uniform(
            ops.shape(flat)[:1] + (1,), seed=self.seed_generator
        )
        target = uniform * cdf[:, -1:]
        if keras.config.backend() == "torch":
            import torch

            # How many CDF entries are <= the target, by binary search: the
            # sampling took 69 ms on PyTorch's CPU with the comparison and
            # sum below, 13 with this (640 rows of 8,000, one core). XLA
            # fuses them on JAX.
            below = torch.searchsorted(cdf, target, right=True)[:, 0].int()
        else:
            below = ops.sum(ops.cast(cdf <= target, "int32"), axis=-1)
        samples = ops.minimum(below, vocabulary_size - 1)
        return ops.reshape(samples, ops.shape(logits)[:2])

    def compute_output_shape(self, generator_logits_shape, token_ids_shape,
                             *args):
        return tuple(token_ids_shape), tuple(token_ids_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "seed": self.seed})
        return config
