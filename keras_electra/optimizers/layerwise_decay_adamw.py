import re

import keras
from keras import ops

# Variables of transformer block i (the backbone names its blocks this way).
LAYER_PATTERN = re.compile(r"(?:^|/)transformer_layer_(\d+)/")
# Variables of the embedding layer, below every block.
EMBEDDINGS_PATTERN = re.compile(r"(?:^|/)embeddings/")


@keras.saving.register_keras_serializable(package="keras_electra")
class LayerwiseDecayAdamW(keras.optimizers.AdamW):
    """AdamW with ELECTRA's layer-wise learning-rate decay.

    ELECTRA fine-tunes with a learning rate that shrinks with depth from
    the top: the task head trains at the full rate, transformer block `i`
    of `L` at `learning_rate * layer_decay ** (L - i)` and the embeddings at
    `learning_rate * layer_decay ** (L + 1)` (Clark et al., 2020, and
    Google's `optimization.py`). Each variable's multiplier is read from
    its path (`transformer_layer_<i>/...`, `embeddings/...`) when the
    optimizer is built, so the optimizer needs no reference to the model
    and serializes with `get_config`. Variables outside the backbone keep
    the full rate.

    Adam's step is invariant to the scale of the gradient, so the
    multiplier scales the update itself (the per-variable learning rate),
    including the decoupled weight decay, as in Google's code.

    Weight decay skips every variable whose path matches one of
    `exclude_from_weight_decay_patterns` (by default the layer norms and
    biases, as BERT and ELECTRA do), through Keras'
    `exclude_from_weight_decay`.

    Args:
        learning_rate: float or `keras.optimizers.schedules` schedule. The
            rate of the head (the top); lower layers get a fraction of it.
        layer_decay: float. Factor per layer of depth; `1.0` is plain AdamW.
            ELECTRA used 0.8 (0.9 for Large).
        weight_decay: float. Decoupled weight decay.
        num_layers: int or `None`. Number of transformer blocks `L`; `None`
            counts the `transformer_layer_<i>` variables at build time.
        exclude_from_weight_decay_patterns: list of regular expressions
            searched in variable paths; matching variables get no weight
            decay.
        beta_1, beta_2, epsilon, amsgrad: as `keras.optimizers.AdamW`
            (`epsilon` defaults to BERT's and ELECTRA's 1e-6).
        **kwargs: other `keras.optimizers.Optimizer` arguments (`clipnorm`,
            `global_clipnorm`, `name`, ...).

    Example:
    >>> import keras_electra
    >>> backbone = keras_electra.ElectraBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> optimizer = LayerwiseDecayAdamW(1e-4, layer_decay=0.8)
    >>> optimizer.build(backbone.trainable_variables)
    >>> multipliers = optimizer.learning_rate_multipliers()
    >>> round(multipliers["transformer_layer_1/query/kernel"], 4)
    0.8
    >>> round(multipliers["embeddings/token_embedding/embeddings"], 4)
    0.512
    """

    def __init__(
        self,
        learning_rate=1e-4,
        layer_decay=0.8,
        weight_decay=0.01,
        num_layers=None,
        exclude_from_weight_decay_patterns=("layer_norm", "bias"),
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            **kwargs,
        )
        if not 0.0 < layer_decay <= 1.0:
            raise ValueError(
                f"`layer_decay` must be in (0, 1]; received {layer_decay}."
            )
        if num_layers is not None and num_layers < 0:
            raise ValueError(
                f"`num_layers` must be >= 0 or None; received {num_layers}."
            )
        self.layer_decay = float(layer_decay)
        self.num_layers = num_layers
        self.exclude_from_weight_decay_patterns = list(
            exclude_from_weight_decay_patterns or []
        )
        self._multipliers = []
        self._variable_paths = []

    def build(self, variables):
        if self.built:
            return
        variables = list(variables)
        self._variable_paths = [variable.path for variable in variables]
        self._multipliers = self._compute_multipliers(self._variable_paths)
        if self.exclude_from_weight_decay_patterns:
            patterns = self.exclude_from_weight_decay_patterns
            pattern = re.compile("|".join(patterns))
            self.exclude_from_weight_decay(
                var_list=[v for v in variables if pattern.search(v.path)]
            )
        super().build(variables)

    def _compute_multipliers(self, paths):
        depths = [_layer_index(path) for path in paths]
        found = [d for d in depths if d is not None]
        num_layers = self.num_layers
        if num_layers is None:
            num_layers = max(found) + 1 if found else 0
        if found and max(found) >= num_layers:
            raise ValueError(
                f"Found variables of transformer_layer_{max(found)}, but "
                f"`num_layers={num_layers}`. Pass the backbone's num_layers "
                "or leave it as None."
            )
        if self.layer_decay != 1.0 and not found:
            raise ValueError(
                "LayerwiseDecayAdamW assigns learning rates by variable path "
                "and found no `transformer_layer_<i>/` variables among "
                f"{len(paths)} trainable variables (e.g. {paths[:3]}). Use "
                "it with a model containing an `ElectraBackbone`, or set "
                "`layer_decay=1.0`."
            )
        multipliers = []
        for path, index in zip(paths, depths):
            if index is not None:
                depth = num_layers - index
            elif EMBEDDINGS_PATTERN.search(path):
                depth = num_layers + 1
            else:
                depth = 0
            multipliers.append(self.layer_decay**depth)
        return multipliers

    def learning_rate_multipliers(self):
        """`{variable path: learning-rate multiplier}` of a built optimizer."""
        if not self.built:
            raise ValueError(
                "The optimizer is not built yet; call `build(variables)` or "
                "train for a step first."
            )
        return dict(zip(self._variable_paths, self._multipliers))

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        learning_rate = ops.multiply(
            ops.cast(learning_rate, variable.dtype), self._multipliers[index]
        )
        # Decoupled weight decay at the layer's own rate (Keras' AdamW would
        # use the global rate in `_apply_weight_decay`, disabled below).
        if self._use_weight_decay(variable):
            decay = ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(
                variable, ops.multiply(variable, decay * learning_rate)
            )
        super().update_step(gradient, variable, learning_rate)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if keras.config.backend() != "torch":
            return super()._backend_update_step(
                grads, trainable_variables, learning_rate
            )
        from keras_electra.optimizers import torch_grouped_update

        torch_grouped_update.update(
            self, grads, trainable_variables, learning_rate
        )

    def _apply_weight_decay(self, variables):
        # Applied per variable in `update_step`, scaled by its multiplier.
        return

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer_decay": self.layer_decay,
                "num_layers": self.num_layers,
                "exclude_from_weight_decay_patterns": list(
                    self.exclude_from_weight_decay_patterns
                ),
            }
        )
        return config


def _layer_index(path):
    match = LAYER_PATTERN.search(path)
    return int(match.group(1)) if match else None
