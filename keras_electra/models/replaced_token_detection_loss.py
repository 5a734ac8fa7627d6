import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_electra")
class ReplacedTokenDetectionLoss(keras.losses.Loss):
    """ELECTRA's discriminator loss: per-token sigmoid cross-entropy.

    Every token's loss is weighted by `sample_weight` (the padding mask) and
    the sum is divided by the sum of the weights, as in Google's
    `run_pretraining.py` (`sum(mask * loss) / sum(mask)`). Unlike
    `keras.losses.BinaryCrossentropy`, no mean is taken over the last (token)
    axis first, so `(batch, length)` weights apply token by token.

    Args:
        name: optional name.
        reduction: defaults to `"mean_with_sample_weight"`.
        dtype: optional loss dtype.

    Example:
    >>> import numpy as np
    >>> loss = ReplacedTokenDetectionLoss()
    >>> value = loss(np.array([[1.0, 0.0]]), np.array([[0.0, 9.0]]),
    ...              sample_weight=np.array([[1.0, 0.0]]))
    >>> round(float(value), 4)  # log(2): the padded token does not count.
    0.6931
    """

    def __init__(
        self,
        name="replaced_token_detection_loss",
        reduction="mean_with_sample_weight",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        return ops.binary_crossentropy(y_true, y_pred, from_logits=True)
