import gzip

import numpy as np
import pytest
import tensorflow as tf

from keras_electra import ElectraPretrainerPreprocessor
from keras_electra import ElectraTokenizer
from keras_electra.pretraining import SequencePacker
from keras_electra.pretraining import build_vocabulary
from keras_electra.pretraining import pretraining_dataset
from keras_electra.pretraining.vocabulary import BERT_SPECIAL_TOKENS

CLS, SEP, PAD = 101, 102, 0


def examples_of(dataset):
    return list(dataset.as_numpy_iterator())


def test_packer_fills_sequences_and_splits_segments_at_sentences():
    packer = SequencePacker(16, cls_id=CLS, sep_id=SEP, pad_id=PAD, seed=1)
    document = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10, 11], [12, 13, 14],
                [15, 16, 17, 18, 19, 20, 21, 22], [23]]
    examples = list(packer.pack([document] * 20))
    assert any(len(np.flatnonzero(e["token_ids"] == SEP)) == 2
               for e in examples)
    for example in examples:
        ids, segments = example["token_ids"], example["segment_ids"]
        mask = example["padding_mask"]
        assert ids.shape == segments.shape == mask.shape == (16,)
        assert ids[0] == CLS
        real = ids[mask]
        assert np.all(ids[~mask] == PAD) and np.all(segments[~mask] == 0)
        # Real tokens first, then padding; [CLS] A [SEP] (B [SEP]).
        assert mask.tolist() == sorted(mask.tolist(), reverse=True)
        assert real[-1] == SEP
        seps = np.flatnonzero(real == SEP)
        assert len(seps) in (1, 2)
        np.testing.assert_array_equal(
            segments[mask], (np.arange(len(real)) > seps[0]).astype(int))
    # Sentences land in order; as in Google's builder, the sentence that
    # overflows a sequence is cut, so content is a subsequence.
    content = np.concatenate([e["token_ids"][e["padding_mask"]]
                              for e in examples[:3]])
    content = content[(content != CLS) & (content != SEP)]
    assert content[:9].tolist() == list(range(1, 10))
    assert np.all(np.diff(content[content < 24]) != 0)


def test_documents_shorter_than_the_length_give_padded_sequences():
    packer = SequencePacker(16, cls_id=CLS, sep_id=SEP, pad_id=PAD, seed=0)
    examples = list(packer.pack([[[7, 8]], [[9]]]))
    # A document boundary closes the sequence: one per document.
    assert [e["token_ids"][e["padding_mask"]].tolist() for e in examples] == [
        [CLS, 7, 8, SEP], [CLS, 9, SEP]]


def test_overlong_sentences_are_truncated_to_the_length():
    packer = SequencePacker(8, cls_id=CLS, sep_id=SEP, pad_id=PAD, seed=0)
    (example,) = packer.pack([[list(range(1, 30))]])
    assert example["padding_mask"].all()
    assert example["token_ids"].tolist() == [CLS, 1, 2, 3, 4, 5, 6, SEP]


def test_packer_refuses_lengths_below_three():
    with pytest.raises(ValueError, match="at least 3"):
        SequencePacker(2, cls_id=CLS, sep_id=SEP, pad_id=PAD)


def test_corpus_files_stream_into_packed_sequences(tmp_path):
    text = ("It is a truth universally acknowledged.\n"
            "A single man must be in want of a wife.\n\n"
            "However little known the feelings may be.\n")
    plain = tmp_path / "a.txt"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "b.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as f:
        f.write(text)
    tokenizer = ElectraTokenizer()
    for corpus in ([str(plain)], str(packed), text.split("\n\n")):
        examples = examples_of(pretraining_dataset(corpus, tokenizer, 32))
        # Two documents, each shorter than 32 tokens: two sequences.
        assert len(examples) == 2
        first = examples[0]["token_ids"][examples[0]["padding_mask"]]
        expected = tokenizer(["It is a truth universally acknowledged."])
        np.testing.assert_array_equal(
            first[1:1 + len(expected[0])], np.asarray(expected[0]))


def test_packed_sequences_are_masked_like_electra():
    tokenizer = ElectraTokenizer()
    lines = [f"Sentence number {i} is about the weather and the sea."
             for i in range(400)]
    dataset = pretraining_dataset(["\n".join(lines)], tokenizer, 64, seed=0)
    preprocessor = ElectraPretrainerPreprocessor(
        tokenizer, sequence_length=64, mask_selection_length=64)
    packed, batch = next(iter(
        dataset.batch(64).map(lambda x: (x["token_ids"], preprocessor(x)))))
    packed = packed.numpy()
    batch = {k: v.numpy() for k, v in batch.items()}
    weights = batch["mask_weights"] > 0
    selectable = ~np.isin(packed, [CLS, SEP, PAD])
    rate = weights.sum() / selectable.sum()
    assert 0.13 < rate < 0.17, rate
    rows = np.repeat(np.arange(len(packed))[:, None], weights.shape[1], 1)
    positions = batch["mask_positions"]
    at_masks = batch["token_ids"][rows[weights], positions[weights]]
    originals = packed[rows[weights], positions[weights]]
    np.testing.assert_array_equal(batch["mask_ids"][weights], originals)
    became_mask = np.mean(at_masks == tokenizer.mask_token_id)
    assert 0.8 < became_mask < 0.9, became_mask
    # The rest stays as it was: no random replacements.
    np.testing.assert_array_equal(
        at_masks[at_masks != tokenizer.mask_token_id],
        originals[at_masks != tokenizer.mask_token_id])
    # Special tokens and padding are never picked.
    assert selectable[rows[weights], positions[weights]].all()


def test_an_empty_corpus_is_refused(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n", encoding="utf-8")
    for corpus in ([str(blank)], ["", "  \n"]):
        with pytest.raises(ValueError, match="corpus is empty"):
            pretraining_dataset(corpus, ElectraTokenizer(), 32)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Caf\u00e9 au lait.\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text: line 1.*iconv"):
        pretraining_dataset([str(latin)], ElectraTokenizer(), 32)


def test_missing_files_and_non_text_documents_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        pretraining_dataset([str(tmp_path / "nope.txt")], ElectraTokenizer())
    with pytest.raises(ValueError, match="type int"):
        pretraining_dataset(["a text", 3], ElectraTokenizer())


AUSTEN = [
    "It is a truth universally acknowledged, that a single man in "
    "possession of a good fortune, must be in want of a wife.",
    "However little known the feelings or views of such a man may be on "
    "his first entering a neighbourhood, this truth is so well fixed.",
    "My dear Mr. Bennet, said his lady to him one day, have you heard "
    "that Netherfield Park is let at last?",
]


def test_a_learned_vocabulary_reads_like_berts_in_hf(tmp_path):
    from transformers import BertTokenizerFast

    path = str(tmp_path / "vocab.txt")
    corpus = ["\n".join(AUSTEN * 200 + [f"word{i} and more{i}."
                                        for i in range(1500)])]
    vocabulary = build_vocabulary(corpus, 1000, path)
    with open(path, encoding="utf-8") as f:
        assert f.read().splitlines() == vocabulary
    assert vocabulary[:104] == BERT_SPECIAL_TOKENS
    assert (vocabulary.index("[UNK]"), vocabulary.index("[CLS]"),
            vocabulary.index("[SEP]"), vocabulary.index("[MASK]")) == (
                100, 101, 102, 103)
    assert len(vocabulary) == len(set(vocabulary)) <= 1000
    ours = ElectraTokenizer(vocabulary=path)
    hf = BertTokenizerFast(vocab=path, do_lower_case=True)
    assert hf.convert_tokens_to_ids("truth") == vocabulary.index("truth")
    for text in AUSTEN + ["Netherfield's WORD42, unseen zebra!"]:
        expected = hf(text, add_special_tokens=False)["input_ids"]
        assert np.asarray(ours(text)).tolist() == expected
    with pytest.raises(FileExistsError, match="never overwrites"):
        build_vocabulary(corpus, 1000, path)
    with pytest.raises(ValueError, match="at least 1000"):
        build_vocabulary(corpus, 50, str(tmp_path / "small.txt"))


def test_a_vocabulary_without_mask_token_is_refused():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "sea"]
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        ElectraPretrainerPreprocessor(
            ElectraTokenizer(vocabulary=vocabulary), sequence_length=8)(
                ["the sea"])
