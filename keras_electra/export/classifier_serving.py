"""Raw-string serving signatures of `ElectraClassifier`."""

import tensorflow as tf

from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import probabilities_of
from keras_electra.export.task_serving import string_spec

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"


class ClassifierServing(TaskServing):
    """`ElectraClassifier` as a SavedModel on strings.

    Signatures:
        `classify(text)` and `classify_pairs(text, text_pair)`; the first is
        also `serving_default`, or the second with `text_pair=True`. Both
        pack with the task's own `ElectraClassifierPreprocessor`.

    Outputs:
        `logits` `(batch, num_classes)`: what `task.predict` returns;
        `probabilities` (softmax, or sigmoid for multi-label; not for
        regression); `label_id` `(batch,)` int32, the arg-max (single-label
        only); with label names also `label` `(batch,)` and `label_names`
        `(batch, num_classes)` strings.

    Options:
        text_pair: bool. Make the pair signature `serving_default`.
    """

    task_class_name = "ElectraClassifier"
    predicts_classes = True

    def __init__(self, task, label_names=None, text_pair=False):
        super().__init__(task, label_names=label_names)
        self.text_pair = bool(text_pair)
        self.problem_type = getattr(task, "problem_type", SINGLE_LABEL)

    def signatures(self, core):
        @tf.function(input_signature=[string_spec("text")])
        def classify(text):
            return self._outputs(core, self.preprocessor(text))

        @tf.function(
            input_signature=[string_spec("text"), string_spec("text_pair")]
        )
        def classify_pairs(text, text_pair):
            return self._outputs(core, self.preprocessor(x=(text, text_pair)))

        if self.text_pair:
            return {"classify_pairs": classify_pairs, "classify": classify}
        return {"classify": classify, "classify_pairs": classify_pairs}

    def _outputs(self, core, inputs):
        logits = self.call_core(core, inputs)
        outputs = {"logits": logits}
        if self.problem_type != REGRESSION:
            outputs["probabilities"] = probabilities_of(
                self.task, logits, multi_label=self.problem_type == MULTI_LABEL
            )
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if self.problem_type == SINGLE_LABEL:
            outputs["label_id"] = label_id
        if self.label_names:
            names = tf.constant(self.label_names)
            if self.problem_type == SINGLE_LABEL:
                outputs["label"] = tf.gather(names, label_id)
            outputs["label_names"] = tf.tile(
                names[tf.newaxis], [tf.shape(logits)[0], 1]
            )
        return outputs
