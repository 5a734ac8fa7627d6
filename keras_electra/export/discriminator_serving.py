"""Raw-string serving signature of `ElectraDiscriminator`."""

import tensorflow as tf

from keras_electra.export.task_serving import NO_OFFSET
from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import string_spec
from keras_electra.export.task_serving import token_slots


class DiscriminatorServing(TaskServing):
    """`ElectraDiscriminator` as a SavedModel on strings.

    Signature:
        `replaced_tokens(text)` (also `serving_default`): `text` is packed
        as `[CLS] text [SEP]` and cut to `sequence_length`, as the task's
        `ElectraDiscriminatorPreprocessor` does.

    Outputs, with `sequence_length - 2` slots per text (one per word piece
    that fits; empty slots hold "", -1 and 0):
        `tokens` (word pieces), `start`/`end` (character offsets into
        `text`, end exclusive), `logits` and `probabilities` (sigmoid: the
        probability that the token was replaced, as
        `replaced_token_probabilities`), and `num_tokens` `(batch,)`.
    """

    task_class_name = "ElectraDiscriminator"

    def signatures(self, core):
        @tf.function(input_signature=[string_spec("text")])
        def replaced_tokens(text):
            inputs, starts, ends = self.pack_text(text)
            logits = self.call_core(core, inputs)
            valid = starts >= 0
            tokens = self.token_strings(inputs["token_ids"])
            return {
                "tokens": token_slots(tokens, valid, ""),
                "start": token_slots(starts, valid, NO_OFFSET),
                "end": token_slots(ends, valid, NO_OFFSET),
                "logits": token_slots(logits, valid, 0.0),
                "probabilities": token_slots(tf.sigmoid(logits), valid, 0.0),
                "num_tokens": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
            }

        return {"replaced_tokens": replaced_tokens}
