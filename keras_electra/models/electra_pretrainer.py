import os

import keras
import numpy as np
from keras import ops

from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.layers.replaced_token_sampler import ReplacedTokenSampler
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_discriminator import ElectraDiscriminator
from keras_electra.models.electra_masked_lm import ElectraMaskedLM
from keras_electra.models.electra_pretrainer_preprocessor import (
    ElectraPretrainerPreprocessor,
)
from keras_electra.models.electra_task import ElectraTask
from keras_electra.optimizers.warmup_linear_decay import WarmupLinearDecay


@keras.saving.register_keras_serializable(package="keras_electra")
class ElectraPretrainer(ElectraTask):
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
    >>> x = preprocessor(["It is a truth universally acknowledged."] * 2)
    >>> outputs = pretrainer(x)
    >>> loss = keras.ops.convert_to_numpy(outputs["loss"])  # per sequence
    >>> loss.shape, bool((loss > 0).all())
    ((2,), True)

    `pretrainer.fit(texts)` pre-trains on raw text (a list of strings or a
    `tf.data.Dataset` of them).
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
        share_embeddings(generator_backbone, discriminator_backbone)
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
        generator_guesses = ops.argmax(generator_logits, axis=-1)
        generator_accuracy = _weighted_mean(
            ops.equal(generator_guesses, inputs["mask_ids"]),
            inputs["mask_weights"],
        )
        # Of the masked positions, how many the generator really changed.
        replaced_fraction = ops.sum(labels) / (
            ops.sum(ops.cast(inputs["mask_weights"], "float32")) + 1e-6
        )
        outputs = {
            "loss": generator_loss
            + discriminator_loss_weight * discriminator_loss,
            "generator_loss": generator_loss,
            "generator_accuracy": generator_accuracy,
            "discriminator_loss": discriminator_loss,
            "discriminator_accuracy": accuracy,
            "replaced_fraction": ops.zeros_like(accuracy) + replaced_fraction,
            "discriminator_logits": discriminator_logits,
            "replaced_labels": labels,
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # `fit` logs each part of the loss next to the total, and how well
        # the discriminator finds the replaced tokens among the real ones.
        self.part_trackers = [
            keras.metrics.Mean(name=name) for name in SCALAR_METRICS
        ]
        self.replaced_trackers = [
            keras.metrics.Precision(name="replaced_precision"),
            keras.metrics.Recall(name="replaced_recall"),
            keras.metrics.AUC(name="replaced_auc"),
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
        probabilities = ops.sigmoid(
            ops.cast(y_pred["discriminator_logits"], "float32")
        )
        for tracker in self.replaced_trackers:
            tracker.update_state(
                y_pred["replaced_labels"], probabilities,
                sample_weight=ops.cast(x["padding_mask"], "float32"),
            )
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def compile(self, optimizer="auto", learning_rate=5e-4, warmup_steps=0,
                total_steps=None, **kwargs):
        """Compiles with ELECTRA's pre-training optimizer by default.

        `"auto"` is Google's recipe: AdamW (epsilon 1e-6) with weight decay
        0.01 skipping layer norms and biases, global-norm clipping at 1.0,
        and a learning rate that warms up linearly over `warmup_steps` and
        then decays linearly to 0 at `total_steps` (`WarmupLinearDecay`).

        Args:
            optimizer: `"auto"` or any Keras optimizer (then the other
                arguments are ignored).
            learning_rate: float. Peak rate; 5e-4 is ELECTRA-Small's.
            warmup_steps: int. The paper warms up over 10,000 steps.
            total_steps: int or `None` (no decay). Usually the number of
                steps `fit` will run.
        """
        if optimizer == "auto":
            schedule = WarmupLinearDecay(
                learning_rate, warmup_steps=warmup_steps,
                total_steps=total_steps,
            )
            optimizer = keras.optimizers.AdamW(
                learning_rate=schedule, weight_decay=0.01,
                global_clipnorm=1.0, epsilon=1e-6,
            )
            optimizer.exclude_from_weight_decay(
                var_names=["bias", "gamma", "beta"]
            )
        super().compile(optimizer=optimizer, **kwargs)

    @classmethod
    def from_preset(cls, preset, generator_preset=None, sequence_length=128,
                    mask_selection_length=None, load_weights=True,
                    **kwargs):
        """Continues pre-training from a checkpoint (domain-adaptive RTD).

        Loads the discriminator (encoder and replaced-token head) from
        `preset` and the generator (encoder and masked-LM head) from
        `generator_preset`, then ties their embeddings as in the paper: the
        pair reads the discriminator's word, position and segment embeddings
        and embedding layer norm (Google's checkpoints hold one copy; HF's
        releases hold two equal copies).

        Args:
            preset: a Google TF1 pre-training checkpoint (both models), a
                keras_electra pre-training preset (generator in
                `generator/`), or a discriminator: an HF
                `ElectraForPreTraining` folder, `hf://` handle or preset
                name.
            generator_preset: where the generator is; `None` reads it from
                `preset` (TF1 checkpoints and keras_electra presets), e.g.
                `"hf://google/electra-small-generator"` beside
                `"hf://google/electra-small-discriminator"`.
            sequence_length: int. Length of the preprocessor's sequences.
            mask_selection_length: int or `None` (15 % of the length + 1).
            load_weights: bool. Load the checkpoints' weights.
            **kwargs: `num_heads` (TF1 discriminators, invisible in the
                tensors), and `discriminator_loss_weight`, `temperature`,
                `seed` of the pre-trainer.

        Example:
        ```python
        pretrainer = keras_electra.ElectraPretrainer.from_preset(
            "hf://google/electra-small-discriminator",
            generator_preset="hf://google/electra-small-generator")
        pretrainer.compile(learning_rate=1e-4, warmup_steps=1000,
                           total_steps=10000)
        pretrainer.fit(domain_texts_dataset)
        ```
        """
        conversion = {k: kwargs.pop(k) for k in ("num_heads",)
                      if k in kwargs}
        discriminator = ElectraDiscriminator.from_preset(
            preset, load_weights=load_weights, preprocessor=None,
            **conversion,
        )
        generator = ElectraMaskedLM.from_preset(
            generator_preset or preset, load_weights=load_weights,
            preprocessor=None, checkpoint_part="generator",
        )
        if generator_preset is None and _same_encoder(generator, discriminator):
            raise ValueError(
                f"{preset!r} holds no generator (only a discriminator), so "
                "there is nothing to pre-train it against. Pass "
                "`generator_preset=`, e.g. \"hf://google/electra-small-"
                "generator\" beside \"hf://google/electra-small-"
                "discriminator\"."
            )
        preprocessor = None
        try:
            preprocessor = ElectraPretrainerPreprocessor.from_preset(
                preset, sequence_length=sequence_length,
                mask_selection_length=mask_selection_length
                or int(0.15 * sequence_length) + 1,
            )
        except (FileNotFoundError, ValueError) as error:
            if "tokenizer" not in str(error).lower():
                raise
            # A checkpoint without vocabulary: integer inputs only.
        pretrainer = cls(generator.backbone, discriminator.backbone,
                         preprocessor, **kwargs)
        pretrainer.discriminator.discriminator_head.set_weights(
            discriminator.discriminator_head.get_weights()
        )
        theirs = generator.generator_head
        ours = pretrainer.generator.generator_head
        # Not the head's decoder: that is the shared word embedding.
        ours.dense.set_weights(theirs.dense.get_weights())
        ours.layer_norm.set_weights(theirs.layer_norm.get_weights())
        ours.bias.assign(theirs.bias)
        return pretrainer

    def save_to_preset(self, preset_dir, overwrite=False):
        """Saves the pair as one preset folder, each model with its head.

        The discriminator (`ElectraDiscriminator`, with an
        `ElectraDiscriminatorPreprocessor`) goes to `preset_dir`, the
        generator (`ElectraMaskedLM`, with an `ElectraMaskedLMPreprocessor`)
        to `preset_dir/generator`. `ElectraDiscriminator`, `ElectraClassifier`
        and every other encoder task load the discriminator from it,
        `ElectraMaskedLM` the generator, `ElectraPretrainer.from_preset` both.
        The folder is written beside the destination and renamed into place
        (`atomic_dir`); an existing `preset_dir` is refused unless
        `overwrite=True`, which replaces it as a whole.

        Args:
            preset_dir: path of the new preset folder.
            overwrite: replace an existing `preset_dir`.
        """
        from keras_electra.models.electra_discriminator_preprocessor import (
            ElectraDiscriminatorPreprocessor,
        )
        from keras_electra.models.electra_masked_lm_preprocessor import (
            ElectraMaskedLMPreprocessor,
        )

        tokenizer = getattr(self.preprocessor, "tokenizer", None)
        length = getattr(self.preprocessor, "sequence_length", None)
        with atomic_dir(preset_dir, overwrite=overwrite) as staging:
            for task, preprocessor_cls, folder in (
                (self.discriminator, ElectraDiscriminatorPreprocessor,
                 staging),
                (self.generator, ElectraMaskedLMPreprocessor,
                 os.path.join(staging, "generator")),
            ):
                task.preprocessor = None
                if tokenizer is not None:
                    task.preprocessor = preprocessor_cls(
                        tokenizer, sequence_length=length)
                task.save_to_preset(folder)

    @staticmethod
    def generator_backbone_for(discriminator_backbone, width_fraction=0.25,
                               num_layers=None, name="generator_backbone"):
        """A generator backbone sized from the discriminator, as the paper's.

        The generator keeps the discriminator's vocabulary, embedding width,
        positions and depth, with `width_fraction` of its hidden width (the
        paper finds 1/4 to 1/2 best; its Small model uses 1/4), 64-wide
        attention heads (at least one) and a feed-forward 4 times as wide.

        Args:
            discriminator_backbone: an `ElectraBackbone`.
            width_fraction: float in (0, 1]. Generator width over the
                discriminator's.
            num_layers: int or `None` for the discriminator's depth.
            name: name of the new backbone.
        """
        if not 0 < width_fraction <= 1:
            raise ValueError(
                "width_fraction must lie in (0, 1]; received "
                f"{width_fraction!r}. The paper uses 0.25 to 0.5."
            )
        d = discriminator_backbone
        hidden_dim = max(1, round(d.hidden_dim * width_fraction))
        num_heads = max(1, hidden_dim // 64)
        while hidden_dim % num_heads:
            num_heads -= 1
        return ElectraBackbone(
            vocabulary_size=d.vocabulary_size,
            num_layers=num_layers or d.num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            embedding_dim=d.embedding_dim,
            intermediate_dim=4 * hidden_dim,
            dropout=d.dropout,
            max_sequence_length=d.max_sequence_length,
            num_segments=d.num_segments,
            layer_norm_epsilon=d.layer_norm_epsilon,
            dtype=d.dtype_policy,
            name=name,
        )

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


SCALAR_METRICS = (
    "generator_loss", "generator_accuracy", "discriminator_loss",
    "discriminator_accuracy", "replaced_fraction",
)


def _same_encoder(generator, discriminator):
    """Whether the "generator" was read from the discriminator's encoder."""
    ours, theirs = generator.backbone, discriminator.backbone
    if ours.get_config() != {**theirs.get_config(), "name": ours.name}:
        return False
    return all(
        np.array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
        for a, b in zip(ours.weights, theirs.weights)
    )


def share_embeddings(generator_backbone, discriminator_backbone):
    """Ties the generator's embeddings to the discriminator's (section 3.2)."""
    generator_backbone.embeddings.share_embeddings(
        discriminator_backbone.embeddings
    )
    # The generator head decodes with the backbone's word embedding, which
    # the backbone also tracks directly.
    ours = generator_backbone.token_embedding
    theirs = discriminator_backbone.token_embedding
    if ours is not theirs:
        tracker = generator_backbone._tracker
        if tracker.is_in_store("layers", ours):
            tracker.replace_tracked_value("layers", ours, theirs)
        object.__setattr__(generator_backbone, "token_embedding", theirs)


def _check_compatible(generator_backbone, discriminator_backbone):
    for name in ("vocabulary_size", "embedding_dim", "max_sequence_length",
                 "num_segments"):
        ours, theirs = (getattr(b, name) for b in (generator_backbone,
                                                   discriminator_backbone))
        if ours != theirs:
            raise ValueError(
                f"The generator and discriminator must share {name}; got "
                f"{ours} and {theirs}. Build the generator with "
                "`ElectraPretrainer.generator_backbone_for(discriminator)`."
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
