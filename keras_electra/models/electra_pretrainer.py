import keras
from keras import ops
from keras_hub.models import Task

from keras_electra.layers.replaced_token_sampler import ReplacedTokenSampler
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_discriminator import ElectraDiscriminator
from keras_electra.models.electra_masked_lm import ElectraMaskedLM
from keras_electra.models.electra_pretrainer_preprocessor import (
    ElectraPretrainerPreprocessor,
)


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraPretrainer(Task):
    """Replaced-token-detection pre-training of ELECTRA with `fit()`.

    A small generator (an `ElectraMaskedLM`) predicts the masked tokens; its
    samples replace them; the discriminator (an `ElectraDiscriminator`) learns
    for every token whether it was replaced. The loss is Google's:
    `generator_loss + discriminator_loss_weight * discriminator_loss`, the
    generator's cross-entropy averaged over masked positions and the
    discriminator's sigmoid cross-entropy averaged over real (non-padding)
    tokens. Samples carry no gradient, as in the paper. A sampled token that
    equals the original counts as "not replaced".

    Called on the preprocessor's output it returns a dict of the batch's
    `loss`, `generator_loss`, `discriminator_loss` and
    `discriminator_accuracy` (each repeated along the batch axis, since
    Functional outputs keep one); `fit()` minimises `loss`.

    The discriminator is the model to fine-tune afterwards:
    `pretrainer.discriminator.backbone` (also `pretrainer.backbone`) is an
    `ElectraBackbone` that every task accepts, and `pretrainer.generator` is
    a complete `ElectraMaskedLM`.

    Args:
        generator_backbone: `ElectraBackbone` of the generator (ELECTRA uses
            1/4 of the discriminator's width and the same embedding size).
        discriminator_backbone: `ElectraBackbone` of the discriminator.
        preprocessor: an `ElectraPretrainerPreprocessor` or `None`.
        discriminator_loss_weight: float. Google's lambda, 50.
        temperature: float. Sampling temperature of the generator.
        seed: optional int, for reproducible sampling.

    Example:
    >>> from keras_electra import ElectraBackbone, ElectraTokenizer
    >>> from keras_electra import ElectraPretrainerPreprocessor
    >>> def backbone(width):
    ...     return ElectraBackbone(
    ...         vocabulary_size=30522, num_layers=1, num_heads=2,
    ...         hidden_dim=width, embedding_dim=16, intermediate_dim=2 * width,
    ...         max_sequence_length=32)
    >>> preprocessor = ElectraPretrainerPreprocessor(
    ...     ElectraTokenizer(), sequence_length=32, mask_selection_length=5)
    >>> pretrainer = ElectraPretrainer(backbone(8), backbone(32), preprocessor)
    >>> history = pretrainer.fit(
    ...     ["It is a truth universally acknowledged."] * 4, epochs=1,
    ...     verbose=0)
    """

    backbone_cls = ElectraBackbone
    preprocessor_cls = ElectraPretrainerPreprocessor

    def __init__(
        self,
        generator_backbone,
        discriminator_backbone,
        preprocessor=None,
        discriminator_loss_weight=50.0,
        temperature=1.0,
        seed=None,
        **kwargs,
    ):
        _check_compatible(generator_backbone, discriminator_backbone)
        # === Layers ===
        self.generator = ElectraMaskedLM(
            generator_backbone, None, compile=False, name="generator"
        )
        self.discriminator = ElectraDiscriminator(
            discriminator_backbone, None, compile=False, name="discriminator"
        )
        self.backbone = discriminator_backbone
        self.preprocessor = preprocessor
        self.sampler = ReplacedTokenSampler(
            temperature=temperature, seed=seed, name="sampler"
        )

        # === Functional Model ===
        inputs = {
            **self.generator.input,
            "mask_ids": keras.Input((None,), dtype="int32", name="mask_ids"),
            "mask_weights": keras.Input(
                (None,), dtype="float32", name="mask_weights"
            ),
        }
        features = {k: inputs[k] for k in discriminator_backbone.input}
        generator_logits = self.generator(
            {**features, "mask_positions": inputs["mask_positions"]}
        )
        generator_loss = _weighted_mean(
            keras.losses.sparse_categorical_crossentropy(
                inputs["mask_ids"], generator_logits, from_logits=True
            ),
            inputs["mask_weights"],
        )
        corrupted, labels = self.sampler(
            generator_logits,
            features["token_ids"],
            inputs["mask_positions"],
            inputs["mask_ids"],
            inputs["mask_weights"],
        )
        discriminator_logits = self.discriminator(
            {**features, "token_ids": corrupted}
        )
        real = features["padding_mask"]
        discriminator_loss = _weighted_mean(
            _sigmoid_cross_entropy(labels, discriminator_logits), real
        )
        guesses = ops.cast(discriminator_logits > 0, "float32")
        accuracy = _weighted_mean(ops.equal(guesses, labels), real)
        outputs = {
            "loss": generator_loss
            + discriminator_loss_weight * discriminator_loss,
            "generator_loss": generator_loss,
            "discriminator_loss": discriminator_loss,
            "discriminator_accuracy": accuracy,
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # `fit` logs each part of the loss next to the total.
        self.part_trackers = [
            keras.metrics.Mean(name=name)
            for name in ("generator_loss", "discriminator_loss",
                         "discriminator_accuracy")
        ]

        # === Config ===
        self.discriminator_loss_weight = discriminator_loss_weight
        self.temperature = temperature
        self.seed = seed

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return ops.mean(y_pred["loss"])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for tracker in self.part_trackers:
            tracker.update_state(ops.mean(y_pred[tracker.name]))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def compile(self, optimizer="auto", **kwargs):
        """Compiles with ELECTRA's pre-training optimizer by default.

        `"auto"` is AdamW with learning rate 5e-4 (ELECTRA-Small), weight
        decay 0.01 skipping layer norms and biases, and global-norm clipping
        at 1.0, as in Google's recipe (without its warm-up schedule).
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(
                learning_rate=5e-4, weight_decay=0.01, global_clipnorm=1.0,
                epsilon=1e-6,
            )
            optimizer.exclude_from_weight_decay(
                var_names=["bias", "gamma", "beta"]
            )
        super().compile(optimizer=optimizer, **kwargs)

    def get_config(self):
        return {
            "generator_backbone": keras.layers.serialize(
                self.generator.backbone
            ),
            "discriminator_backbone": keras.layers.serialize(self.backbone),
            "preprocessor": keras.layers.serialize(self.preprocessor),
            "discriminator_loss_weight": self.discriminator_loss_weight,
            "temperature": self.temperature,
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator_backbone", "discriminator_backbone",
                    "preprocessor"):
            if isinstance(config.get(key), dict):
                config[key] = keras.layers.deserialize(config[key])
        return cls(**config)


def _check_compatible(generator_backbone, discriminator_backbone):
    for name in ("vocabulary_size", "max_sequence_length", "num_segments"):
        ours, theirs = (getattr(b, name) for b in (generator_backbone,
                                                   discriminator_backbone))
        if ours != theirs:
            raise ValueError(
                f"The generator and discriminator must share {name}; got "
                f"{ours} and {theirs}."
            )


def _weighted_mean(values, weights):
    """Mean over the batch of `values` weighted by `weights`, as a scalar
    repeated per example (Functional outputs need a batch axis)."""
    weights = ops.cast(weights, "float32")
    values = ops.cast(values, "float32")
    total = ops.sum(values * weights) / (ops.sum(weights) + 1e-6)
    return ops.zeros_like(weights[:, 0]) + total


def _sigmoid_cross_entropy(labels, logits):
    # max(x, 0) - x * z + log(1 + exp(-|x|)): stable for large |logits|.
    logits = ops.cast(logits, "float32")
    return (
        ops.relu(logits)
        - logits * labels
        + ops.log1p(ops.exp(-ops.abs(logits)))
    )
