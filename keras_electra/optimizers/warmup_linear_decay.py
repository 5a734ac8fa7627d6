import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_electra")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0, then linear decay to `end_learning_rate`.

    The schedule of ELECTRA's pre-training (as HF transformers'
    `get_linear_schedule_with_warmup`): the rate rises linearly to
    `learning_rate` over `warmup_steps`, then falls linearly to
    `end_learning_rate` at `total_steps` and stays there.

    Args:
        learning_rate: float. The peak rate, reached after `warmup_steps`.
        warmup_steps: int. Steps of linear warm-up (0 for none).
        total_steps: int or `None`. Step at which the decay ends; `None`
            keeps the peak rate after the warm-up.
        end_learning_rate: float. The rate from `total_steps` on.

    Example:
    >>> schedule = WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 60, 200)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(self, learning_rate, warmup_steps=0, total_steps=None,
                 end_learning_rate=0.0):
        if warmup_steps < 0 or (
            total_steps is not None and total_steps <= warmup_steps
        ):
            raise ValueError(
                "WarmupLinearDecay needs 0 <= warmup_steps < total_steps; "
                f"received warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}."
            )
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.end_learning_rate = end_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.convert_to_tensor(self.learning_rate, "float32")
        if self.total_steps is not None:
            span = float(self.total_steps - self.warmup_steps)
            done = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            rate = rate + (self.end_learning_rate - rate) * done
        if self.warmup_steps:
            rate = rate * ops.minimum(step / self.warmup_steps, 1.0)
        return rate

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "end_learning_rate": self.end_learning_rate,
        }
