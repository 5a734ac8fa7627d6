"""The optimizer a task's `compile()` builds for `optimizer="auto"`."""

from keras_electra.optimizers.layerwise_decay_adamw import LayerwiseDecayAdamW


def default_optimizer(task, optimizer, learning_rate, build=None):
    """`optimizer`, or for `"auto"` the fine-tuning default at a rate.

    The rate is `learning_rate`, else `task.default_learning_rate` (5e-5,
    or what the task's preset names). `build(rate)` makes the optimizer;
    the default is AdamW with weight decay 0.01 that skips layer norms and
    biases (`LayerwiseDecayAdamW(rate, layer_decay=1.0)`).
    """
    if optimizer != "auto":
        if learning_rate is not None:
            raise ValueError(
                "`learning_rate` sets the rate of the default optimizer "
                f"(optimizer='auto'); received learning_rate={learning_rate} "
                f"with optimizer={optimizer!r:.80}. Set the rate on that "
                "optimizer instead."
            )
        return optimizer
    rate = task.default_learning_rate if learning_rate is None else learning_rate
    if build is None:
        return LayerwiseDecayAdamW(rate, layer_decay=1.0)
    return build(rate)
