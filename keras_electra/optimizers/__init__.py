"""Optimizers for fine-tuning ELECTRA."""

from keras_electra.optimizers.layerwise_decay_adamw import LayerwiseDecayAdamW
from keras_electra.optimizers.warmup_linear_decay import WarmupLinearDecay
