import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_electra")
class SpanLoss(keras.losses.Loss):
    """Extractive QA loss: the mean of the start and end cross-entropies.

    `y_true` is `(batch, 2)` integer `(start, end)` token positions and
    `y_pred` the `(batch, length, 2)` start and end logits of
    `ElectraQuestionAnswerer`; the loss is
    `(CE(start) + CE(end)) / 2`, as HF `ElectraForQuestionAnswering`.

    Args:
        from_logits: bool. Whether `y_pred` holds logits (default) or
            probabilities over positions.

    Example:
    >>> import numpy as np
    >>> logits = np.zeros((1, 4, 2), "float32")
    >>> round(float(SpanLoss()(np.array([[1, 2]]), logits)), 4)  # log(4)
    1.3863
    """

    def __init__(self, from_logits=True, name="span_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        losses = [
            keras.losses.sparse_categorical_crossentropy(
                y_true[..., i], y_pred[..., i], from_logits=self.from_logits
            )
            for i in range(2)
        ]
        return (losses[0] + losses[1]) / 2

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config
