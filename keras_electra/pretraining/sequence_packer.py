import random

import numpy as np


class SequencePacker:
    """Packs tokenized sentences into full sequences, as Google's ELECTRA.

    The example builder of Google's `build_pretraining_dataset.py`:
    sentences of a document are collected until they fill `sequence_length`;
    the collected sentences are split at a sentence boundary into segment A
    (about half, or all of it 10 % of the time) and segment B and packed as
    `[CLS] A [SEP] B [SEP]`, truncated to the length; 5 % of sequences aim at
    a random shorter length so that the model also sees short inputs. The end
    of a document closes the sequence being built.

    Args:
        sequence_length: int. Length of every packed sequence.
        cls_id, sep_id, pad_id: ids of `[CLS]`, `[SEP]` and `[PAD]`.
        seed: int or `None`, for the random segment split.

    Example:
    >>> packer = SequencePacker(8, cls_id=1, sep_id=2, pad_id=0, seed=0)
    >>> examples = list(packer.pack([[[5, 6], [7, 8, 9], [10, 11]]]))
    >>> [list(e["token_ids"]) for e in examples]
    [[1, 5, 6, 2, 7, 8, 9, 2], [1, 10, 11, 2, 0, 0, 0, 0]]
    """

    def __init__(self, sequence_length, cls_id, sep_id, pad_id, seed=None):
        if sequence_length < 3:
            raise ValueError(
                "sequence_length must be at least 3 ([CLS] and two [SEP]); "
                f"received {sequence_length}."
            )
        self.sequence_length = sequence_length
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.random = random.Random(seed)

    def pack(self, documents):
        """Yields packed examples from an iterable of documents, each an
        iterable of sentences given as lists of token ids."""
        for document in documents:
            sentences, length = [], 0
            target = self._target_length()
            for sentence in document:
                if not len(sentence):
                    continue
                sentences.append(list(sentence))
                length += len(sentence)
                if length >= target:
                    yield self._example(sentences, target)
                    sentences, length = [], 0
                    target = self._target_length()
            if sentences:
                yield self._example(sentences, target)

    def pack_flat(self, flat_ids, sentence_lengths):
        """The examples of one document given as concatenated sentence ids
        and their lengths, stacked as `(token_ids, segment_ids,
        padding_mask)` arrays of shape `(num_examples, sequence_length)`."""
        sentences = np.split(flat_ids, np.cumsum(sentence_lengths)[:-1])
        examples = list(self.pack([sentences]))
        if not examples:
            shape = (0, self.sequence_length)
            return (np.zeros(shape, "int32"), np.zeros(shape, "int32"),
                    np.zeros(shape, bool))
        return tuple(
            np.stack([e[name] for e in examples])
            for name in ("token_ids", "segment_ids", "padding_mask")
        )

    def _target_length(self):
        if self.random.random() < 0.05:
            return self.random.randint(5, self.sequence_length)
        return self.sequence_length

    def _example(self, sentences, target):
        first_target = (target - 3) // 2
        if self.random.random() < 0.1:
            first_target = target  # one segment only
        first, second = [], []
        for sentence in sentences:
            if (
                not first
                or len(first) + len(sentence) < first_target
                or (not second and len(first) < first_target
                    and self.random.random() < 0.5)
            ):
                first += sentence
            else:
                second += sentence
        # Google's truncation: segment A first, B gets what is left.
        first = first[: self.sequence_length - 2]
        second = second[: max(0, self.sequence_length - len(first) - 3)]
        token_ids = [self.cls_id] + first + [self.sep_id]
        segment_ids = [0] * len(token_ids)
        if second:
            token_ids += second + [self.sep_id]
            segment_ids += [1] * (len(second) + 1)
        padding = self.sequence_length - len(token_ids)
        return {
            "token_ids": np.array(token_ids + [self.pad_id] * padding, "int32"),
            "segment_ids": np.array(segment_ids + [0] * padding, "int32"),
            "padding_mask": np.array(
                [True] * (self.sequence_length - padding) + [False] * padding
            ),
        }
