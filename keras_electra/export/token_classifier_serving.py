"""Raw-string serving signature of `ElectraTokenClassifier`."""

import tensorflow as tf

from keras_electra.export.task_serving import NO_OFFSET
from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import probabilities_of
from keras_electra.export.task_serving import string_spec
from keras_electra.export.task_serving import token_slots


class TokenClassifierServing(TaskServing):
    """`ElectraTokenClassifier` as a SavedModel on strings.

    Signature:
        `tag(text)` (also `serving_default`): the whole text is tokenized
        (BERT splits words at whitespace first, so these are the word
        pieces the task's preprocessor gives for the words
        `text.split()`), packed as `[CLS] tokens [SEP]` and cut to
        `sequence_length`, as `ElectraTokenClassifierPreprocessor` does.

    Outputs, with `sequence_length - 2` slots per text (one per word piece
    that fits; empty slots hold "", -1 and 0):
        `tokens`, `start`/`end` (character offsets into `text`, end
        exclusive), `label_ids` (arg-max), `scores` (its probability),
        `logits` and `probabilities` `(batch, slots, num_classes)`,
        `num_tokens` `(batch,)`, and `labels` (names) when label names are
        known (`export_for_serving(..., label_names=[...])`).
    """

    task_class_name = "ElectraTokenClassifier"
    predicts_classes = True

    def signatures(self, core):
        @tf.function(input_signature=[string_spec("text")])
        def tag(text):
            inputs, starts, ends = self.pack_text(text)
            logits = self.call_core(core, inputs)
            probabilities = probabilities_of(self.task, logits)
            label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
            valid = starts >= 0
            outputs = {
                "tokens": token_slots(
                    self.token_strings(inputs["token_ids"]), valid, ""
                ),
                "start": token_slots(starts, valid, NO_OFFSET),
                "end": token_slots(ends, valid, NO_OFFSET),
                "label_ids": token_slots(label_ids, valid, -1),
                "scores": token_slots(
                    tf.reduce_max(probabilities, axis=-1), valid, 0.0
                ),
                "logits": token_slots(logits, valid, 0.0),
                "probabilities": token_slots(probabilities, valid, 0.0),
                "num_tokens": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
            }
            if self.label_names:
                names = tf.gather(tf.constant(self.label_names), label_ids)
                outputs["labels"] = token_slots(names, valid, "")
            return outputs

        return {"tag": tag}
