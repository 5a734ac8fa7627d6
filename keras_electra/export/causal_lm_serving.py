"""Raw-string serving signature of `ElectraCausalLM`."""

import tensorflow as tf
from keras_hub.samplers import GreedySampler

from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import string_spec


class CausalLMServing(TaskServing):
    """`ElectraCausalLM` as a SavedModel that completes prompts.

    The integer core is the task's `generate_step` (the key/value-cached
    decoding loop) with greedy sampling and `[SEP]` as the stop token, so
    serving is deterministic.

    Signature:
        `generate(text)` (also `serving_default`): each prompt is packed
        with `generate_preprocess` (`[CLS]` in front, cut to
        `sequence_length`), completed up to `sequence_length` tokens or
        `[SEP]`, and detokenized as `generate_postprocess` does.

    Outputs:
        `generated_text` `(batch,)`: the prompt's text and its continuation,
        as `task.generate(text)` returns it after
        `task.compile(sampler="greedy")`.
    """

    task_class_name = "ElectraCausalLM"

    def core_function(self):
        task = self.task
        sampler = GreedySampler()
        stop_token_ids = [self.tokenizer.end_token_id]

        def generate(inputs):
            # `generate_step` decodes with `task.sampler`; greedy for export.
            saved = getattr(task, "sampler", None)
            task.sampler = sampler
            try:
                return task.generate_step(inputs, stop_token_ids=stop_token_ids)
            finally:
                task.sampler = saved

        return generate

    def signatures(self, core):
        special_ids = tf.constant(self.tokenizer.special_token_ids, tf.int32)

        @tf.function(input_signature=[string_spec("text")])
        def generate(text):
            inputs = self.preprocessor.generate_preprocess(text)
            outputs = self.call_core(core, inputs)
            token_ids = tf.cast(outputs["token_ids"], tf.int32)
            # `generate_postprocess`: drop padding and special tokens.
            is_special = tf.reduce_any(
                tf.equal(token_ids[..., tf.newaxis], special_ids), axis=-1
            )
            keep = tf.cast(outputs["padding_mask"], tf.bool) & ~is_special
            text = self.tokenizer.detokenize(
                tf.ragged.boolean_mask(token_ids, keep)
            )
            return {"generated_text": text}

        return {"generate": generate}
