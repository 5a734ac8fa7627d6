"""Raw-string serving signature of `ElectraMultipleChoice`."""

import tensorflow as tf

from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import string_spec


class MultipleChoiceServing(TaskServing):
    """`ElectraMultipleChoice` as a SavedModel on strings.

    Signature:
        `choose(prompt, choices)` (also `serving_default`): `prompt`
        `(batch,)` and `choices` `(batch, num_choices)` strings, packed by
        the task's `ElectraMultipleChoicePreprocessor` as
        `[CLS] prompt [SEP] choice [SEP]`. In a TF Serving REST request
        every instance is `{"prompt": "...", "choices": ["...", ...]}`.

    Outputs:
        `logits` and `probabilities` `(batch, num_choices)`, `choice`
        `(batch,)` (the arg-max index) and `answer` (the chosen string).
    """

    task_class_name = "ElectraMultipleChoice"

    def signatures(self, core):
        num_choices = self.task.num_choices

        @tf.function(
            input_signature=[
                string_spec("prompt"),
                string_spec("choices", shape=(None, num_choices)),
            ]
        )
        def choose(prompt, choices):
            inputs = self.preprocessor(x=(prompt, choices))
            logits = self.call_core(core, inputs)
            choice = tf.argmax(logits, axis=-1, output_type=tf.int32)
            return {
                "logits": logits,
                "probabilities": tf.nn.softmax(logits, axis=-1),
                "choice": choice,
                "answer": tf.gather(choices, choice, batch_dims=1),
            }

        return {"choose": choose}
