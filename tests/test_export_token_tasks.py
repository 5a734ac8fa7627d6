"""`export_for_serving` of the per-token tasks: token classifier,
discriminator, masked LM. Served in a fresh TensorFlow-only process and
compared with the tasks' own `predict`, `replaced_token_probabilities` and
`fill_mask`.

CI runs these on TensorFlow only: what differs per backend is the export of
the task's integer core, which tests/test_export_classifier.py and the
causal LM's export test cover on JAX and PyTorch too."""

import numpy as np
import pytest
from serving_helpers import EDGE_TEXTS
from serving_helpers import INVALID_UTF8
from serving_helpers import LONG_TEXT
from serving_helpers import MULTI_SCRIPT_TEXT
from serving_helpers import ORDINARY_TEXTS
from serving_helpers import SEQUENCE_LENGTH
from serving_helpers import serve
from serving_helpers import tiny_task

import keras_electra

TOLERANCE = 1e-5
SLOTS = SEQUENCE_LENGTH - 2
TAGS = ["O", "B-FOOD", "I-FOOD", "B-PLACE"]


def expected_tokens(task, text):
    """Word pieces and character offsets of `text`, cut as packing cuts."""
    tokenizer = task.preprocessor.tokenizer
    ids, starts, ends = tokenizer.tokenize_with_offsets(text)
    vocabulary = tokenizer.get_vocabulary()
    ids = [int(i) for i in ids][:SLOTS]
    return (
        [vocabulary[i] for i in ids],
        [int(s) for s in starts][: len(ids)],
        [int(e) for e in ends][: len(ids)],
    )


def check_token_slots(task, texts, response):
    for row, text in enumerate(texts):
        tokens, starts, ends = expected_tokens(task, text)
        n = len(tokens)
        assert response["num_tokens"][row] == n
        assert [t.decode() for t in response["tokens"][row]] == tokens + [""] * (
            SLOTS - n
        )
        assert response["start"][row].tolist() == starts + [-1] * (SLOTS - n)
        assert response["end"][row].tolist() == ends + [-1] * (SLOTS - n)
        if isinstance(text, str) and text.isascii():
            for token, start, end in zip(tokens, starts, ends):
                assert text[start:end].lower() == token.removeprefix("##")


def test_token_classifier_tags_raw_text_like_predict(tmp_path):
    task = tiny_task("token_classifier")
    texts = ORDINARY_TEXTS + [LONG_TEXT, MULTI_SCRIPT_TEXT]
    # The preprocessor takes words; the served model the text they come from.
    logits = task.predict([text.split() for text in texts], verbose=0)

    path = keras_electra.export_for_serving(
        task, tmp_path / "model", label_names=TAGS
    )
    signatures, (tagged, edges, invalid) = serve(
        path,
        [
            ("serving_default", {"text": texts}),
            ("tag", {"text": EDGE_TEXTS}),
            ("tag", {"text": INVALID_UTF8}),
        ],
        tmp_path,
    )

    assert signatures == ["serving_default", "tag"]
    check_token_slots(task, texts, tagged)
    check_token_slots(task, EDGE_TEXTS, edges)
    check_token_slots(task, INVALID_UTF8, invalid)
    for row in range(len(texts)):
        n = tagged["num_tokens"][row]
        reference = logits[row, 1 : 1 + n]
        np.testing.assert_allclose(
            tagged["logits"][row, :n], reference, atol=TOLERANCE
        )
        probabilities = np.exp(reference) / np.exp(reference).sum(-1, keepdims=True)
        np.testing.assert_allclose(
            tagged["probabilities"][row, :n], probabilities, atol=TOLERANCE
        )
        best = reference.argmax(-1)
        assert tagged["label_ids"][row, :n].tolist() == best.tolist()
        assert [t.decode() for t in tagged["labels"][row, :n]] == [
            TAGS[i] for i in best
        ]
        np.testing.assert_allclose(
            tagged["scores"][row, :n], probabilities.max(-1), atol=TOLERANCE
        )
        assert (tagged["label_ids"][row, n:] == -1).all()
        assert (tagged["logits"][row, n:] == 0).all()


def test_discriminator_serves_replaced_token_probabilities(tmp_path):
    task = tiny_task("discriminator")
    texts = ORDINARY_TEXTS + EDGE_TEXTS
    logits = task.predict(texts, verbose=0)
    scored = task.replaced_token_probabilities(ORDINARY_TEXTS + [LONG_TEXT])

    path = keras_electra.export_for_serving(task, tmp_path / "model")
    signatures, (response, invalid) = serve(
        path,
        [
            ("serving_default", {"text": texts}),
            ("replaced_tokens", {"text": INVALID_UTF8}),
        ],
        tmp_path,
    )

    assert signatures == ["replaced_tokens", "serving_default"]
    check_token_slots(task, texts, response)
    check_token_slots(task, INVALID_UTF8, invalid)
    for row in range(len(texts)):
        n = response["num_tokens"][row]
        np.testing.assert_allclose(
            response["logits"][row, :n], logits[row, 1 : 1 + n], atol=TOLERANCE
        )
    for row, pairs in zip((0, 1, 4), scored):
        n = response["num_tokens"][row]
        assert [t.decode() for t in response["tokens"][row, :n]] == [
            token for token, _ in pairs
        ]
        np.testing.assert_allclose(
            response["probabilities"][row, :n],
            [p for _, p in pairs],
            atol=TOLERANCE,
        )


def test_masked_lm_serves_fill_mask(tmp_path):
    task = tiny_task("masked_lm")
    one_mask = "Paris is the [MASK] of France."
    two_masks = "The [MASK] sat on the [MASK]."
    script = "Café [MASK] 日本語"
    expected = task.fill_mask([one_mask, two_masks, script], top_k=3)
    # The second mask of this text lies past the cut: it is dropped.
    cut = "[MASK] " + "word " * 20 + "[MASK]"
    texts = [one_mask, two_masks, script, cut, "no mask here", ""]

    path = keras_electra.export_for_serving(task, tmp_path / "model", top_k=3)
    signatures, (response, invalid) = serve(
        path,
        [
            ("serving_default", {"text": texts}),
            ("fill_mask", {"text": INVALID_UTF8}),
        ],
        tmp_path,
    )

    assert signatures == ["fill_mask", "serving_default"]
    assert response["num_masks"].tolist() == [1, 2, 1, 1, 0, 0]
    assert response["tokens"].shape == (len(texts), 2, 3)
    per_mask = [[expected[0]], expected[1], [expected[2]]]
    for row, masks in enumerate(per_mask):
        for slot, candidates in enumerate(masks):
            assert [t.decode() for t in response["tokens"][row, slot]] == [
                c["token_str"] for c in candidates
            ]
            assert response["token_ids"][row, slot].tolist() == [
                c["token"] for c in candidates
            ]
            np.testing.assert_allclose(
                response["scores"][row, slot],
                [c["score"] for c in candidates],
                atol=TOLERANCE,
            )
    for row, text in enumerate(texts):
        for slot in range(response["num_masks"][row]):
            start = response["mask_start"][row, slot]
            end = response["mask_end"][row, slot]
            assert text[start:end] == "[MASK]"
    # Empty slots.
    assert response["tokens"][0, 1].tolist() == [b""] * 3
    assert (response["token_ids"][4:] == -1).all()
    assert (response["mask_start"][4:] == -1).all()
    assert invalid["num_masks"].tolist() == [0, 0]


def test_masked_lm_export_checks_top_k(tmp_path):
    task = tiny_task("masked_lm")
    with pytest.raises(ValueError, match="top_k.*30522"):
        keras_electra.export_for_serving(task, tmp_path / "m", top_k=0)
    with pytest.raises(ValueError, match="label_names.*ElectraMaskedLM has none"):
        keras_electra.export_for_serving(task, tmp_path / "m", label_names=["a"])
    with pytest.raises(ValueError, match=r"options \['label_names', 'top_k'\]"):
        keras_electra.export_for_serving(task, tmp_path / "m", topk=3)
