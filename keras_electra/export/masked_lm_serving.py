"""Raw-string serving signature of `ElectraMaskedLM`."""

import tensorflow as tf

from keras_electra.export.task_serving import NO_OFFSET
from keras_electra.export.task_serving import TaskServing
from keras_electra.export.task_serving import string_spec


class MaskedLMServing(TaskServing):
    """`ElectraMaskedLM` (the generator) as a fill-mask SavedModel.

    Signature:
        `fill_mask(text)` (also `serving_default`): texts with literal
        `[MASK]` tokens, packed as `[CLS] text [SEP]` like
        `ElectraMaskedLM.fill_mask` does, and cut to `sequence_length`
        (masks past the cut are dropped; a text without a mask is fine).

    Outputs, with one slot per mask (as many as the text of the batch with
    the most masks has, at least one; empty slots hold "", -1 and 0):
        `tokens`, `token_ids` and `scores` (softmax probabilities)
        `(batch, masks, top_k)`, best first; `mask_start`/`mask_end`
        `(batch, masks)`, the character span of each `[MASK]` in `text`;
        `num_masks` `(batch,)`.

    Options:
        top_k: int. Candidates per mask. Defaults to 5.
    """

    task_class_name = "ElectraMaskedLM"

    def __init__(self, task, label_names=None, top_k=5):
        super().__init__(task, label_names=label_names)
        vocabulary_size = len(self.vocabulary)
        if not isinstance(top_k, int) or not 1 <= top_k <= vocabulary_size:
            raise ValueError(
                f"`top_k` must be an int in [1, {vocabulary_size}] (the "
                f"vocabulary size); received {top_k!r}."
            )
        self.top_k = top_k

    def core_signature(self):
        specs = super().core_signature()
        # Any number of masks per text.
        specs["mask_positions"] = tf.TensorSpec(
            (None, None), specs["mask_positions"].dtype, name="mask_positions"
        )
        return specs

    def signatures(self, core):
        @tf.function(input_signature=[string_spec("text")])
        def fill_mask(text):
            inputs, starts, ends = self.pack_text(text)
            mask_id = self.tokenizer.mask_token_id
            is_mask = tf.equal(inputs["token_ids"], mask_id)
            positions = tf.ragged.boolean_mask(
                tf.broadcast_to(
                    tf.range(self.sequence_length), tf.shape(is_mask)
                ),
                is_mask,
            )
            num_masks = tf.cast(positions.row_lengths(), tf.int32)
            # At least one slot, so the core never sees an empty axis.
            slots = tf.maximum(tf.reduce_max(num_masks), 1)
            batch = tf.shape(is_mask)[0]
            mask_positions = positions.to_tensor(shape=[batch, slots])
            logits = self.call_core(
                core, {**inputs, "mask_positions": mask_positions}
            )
            scores, token_ids = tf.math.top_k(
                tf.nn.softmax(logits, axis=-1), k=self.top_k
            )
            valid = tf.range(slots)[tf.newaxis] < num_masks[:, tf.newaxis]
            top = valid[..., tf.newaxis]
            return {
                "tokens": tf.where(top, self.token_strings(token_ids), ""),
                "token_ids": tf.where(top, token_ids, -1),
                "scores": tf.where(top, scores, 0.0),
                "mask_start": tf.where(
                    valid,
                    tf.gather(starts, mask_positions, batch_dims=1),
                    NO_OFFSET,
                ),
                "mask_end": tf.where(
                    valid,
                    tf.gather(ends, mask_positions, batch_dims=1),
                    NO_OFFSET,
                ),
                "num_masks": num_masks,
            }

        return {"fill_mask": fill_mask}
