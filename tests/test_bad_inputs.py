"""The bad-input table: one case per row, through the public API.

Each row calls keras_electra the way a user would, with one wrong input,
and asserts the error type and the meaningful parts of its message (the
argument, what was received, what to do). Rows marked `works` are inputs
that must simply work. docs/errors.md lists every row with its message;
`test_docs_list_every_row` keeps the two in step, and
`python tests/test_bad_inputs.py` prints the table with the messages as
they are now.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import keras_electra
from keras_electra import ElectraBackbone
from keras_electra import ElectraCausalLM
from keras_electra import ElectraCausalLMPreprocessor
from keras_electra import ElectraClassifier
from keras_electra import ElectraClassifierPreprocessor
from keras_electra import ElectraMaskedLM
from keras_electra import ElectraMaskedLMPreprocessor
from keras_electra import ElectraMultipleChoice
from keras_electra import ElectraMultipleChoicePreprocessor
from keras_electra import ElectraQuestionAnswerer
from keras_electra import ElectraQuestionAnswererPreprocessor
from keras_electra import ElectraTokenClassifier
from keras_electra import ElectraTokenClassifierPreprocessor
from keras_electra import ElectraTokenizer
from keras_electra.presets.bundled_presets import bundled_presets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs", "errors.md")
TINY_PRESET = "electra_tiny_uncased_en"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["good", "bad", "food", "is", "the", "a", "what", "?"]
TEXTS = ["good food", "bad"]


def backbone(max_sequence_length=16):
    return ElectraBackbone(
        vocabulary_size=len(SPECIAL_TOKENS) + len(WORDS), num_layers=1,
        num_heads=1, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=max_sequence_length,
    )


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    return build_models(tmp_path_factory.mktemp("bad_inputs"))


def build_models(tmp):
    """Tiny models and files shared by the rows (built once)."""
    keras.utils.set_random_seed(0)
    tokenizer = ElectraTokenizer(vocabulary=SPECIAL_TOKENS + WORDS)
    preprocessor = ElectraClassifierPreprocessor(tokenizer, sequence_length=8)
    classifier = ElectraClassifier(
        backbone(), 2, preprocessor=preprocessor, label_names=["neg", "pos"],
    )
    classifier.compile(run_eagerly=True)  # No tracing: quick single steps.
    keras_file = str(tmp / "classifier.keras")
    classifier.save(keras_file)
    with open(keras_file, "rb") as f:
        data = f.read()
    truncated = str(tmp / "truncated.keras")
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 2])
    not_zip = str(tmp / "not_zip.keras")
    with open(not_zip, "wb") as f:
        f.write(b"<html>404 Not Found</html>")
    incomplete = str(tmp / "incomplete_preset")
    shutil.copytree(bundled_presets[TINY_PRESET]["path"], incomplete)
    os.remove(os.path.join(incomplete, "model.weights.h5"))
    os.makedirs(tmp / "presets" / "reviews_model")
    return SimpleNamespace(
        tmp=tmp,
        tokenizer=tokenizer,
        preprocessor=preprocessor,
        classifier=classifier,
        keras_file=keras_file,
        truncated=truncated,
        not_zip=not_zip,
        incomplete=incomplete,
        masked_lm=ElectraMaskedLM(
            backbone(), ElectraMaskedLMPreprocessor(tokenizer,
                                                    sequence_length=8)),
        causal_lm=ElectraCausalLM(
            backbone(), ElectraCausalLMPreprocessor(tokenizer,
                                                    sequence_length=8)),
        token_classifier=ElectraTokenClassifier(
            backbone(), 2, preprocessor=ElectraTokenClassifierPreprocessor(
                tokenizer, sequence_length=8)),
        multiple_choice=ElectraMultipleChoice(
            backbone(), 2, preprocessor=ElectraMultipleChoicePreprocessor(
                tokenizer, sequence_length=8, num_choices=2)),
        question_answerer=ElectraQuestionAnswerer(
            backbone(), ElectraQuestionAnswererPreprocessor(
                tokenizer, sequence_length=8)),
    )


def classifier_for(m, **kwargs):
    kwargs.setdefault("preprocessor", m.preprocessor)
    model = ElectraClassifier(backbone(kwargs.pop("max_length", 16)),
                              **kwargs)
    model.compile(run_eagerly=True)
    return model


def ids(x):
    return keras.ops.convert_to_numpy(x["token_ids"]).tolist()


def works_bytes(m):
    assert ids(m.preprocessor([b"good", b"food"])) == ids(
        m.preprocessor(["good", "food"]))


def works_empty_string(m):
    # [CLS] [SEP] and padding, as HF's tokenizer gives for "".
    assert ids(m.preprocessor(["", "good"]))[0] == [2, 3, 0, 0, 0, 0, 0, 0]
    assert m.classifier.predict(["", "good"], verbose=0).shape == (2, 2)


def works_million_characters(m):
    start = time.monotonic()
    packed = ids(m.preprocessor(["good " * 200_000]))  # 1,000,000 chars.
    assert time.monotonic() - start < 30
    assert packed == [[2, 5, 5, 5, 5, 5, 5, 3]]  # Truncated to 8.


def works_invalid_utf8(m):
    # Undecodable bytes are replaced (U+FFFD, then dropped as HF's
    # normalizer drops it); the valid words around them survive.
    assert ids(m.preprocessor([b"good \xff\xfe food"])) == ids(
        m.preprocessor(["good food"]))


def works_string_labels(m):
    history = m.classifier.fit(TEXTS, ["pos", "neg"], epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def keras_file_before_import(m):
    # A fresh process that never imported keras_electra.
    code = ("import sys, keras\n"
            f"keras.saving.load_model({m.keras_file!r})\n")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    raise TypeError(last_line.removeprefix("TypeError: "))


class Batches(keras.utils.PyDataset):
    """A `PyDataset` of the given batches."""

    def __init__(self, *batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def once(batch):
    yield batch


# (id, the bad input, call, expected error type or "works", message parts)
ROWS = [
    ("texts-none", "`x=None` in `predict`",
     lambda m: m.classifier.predict(None, verbose=0), ValueError,
     ["`x` must be a non-empty batch of strings", "received None"]),
    ("texts-number", "a number as `x`",
     lambda m: m.classifier.predict(3, verbose=0), ValueError,
     ["received int 3", "Pass a list of strings"]),
    ("texts-single-string", "one string, not a batch, in `predict`",
     lambda m: m.classifier.predict("good food", verbose=0), ValueError,
     ["received a single string", "Wrap it in a list"]),
    ("texts-int-list-predict", "a list of ints in `predict`",
     lambda m: m.classifier.predict([1, 2], verbose=0), ValueError,
     ["received a list of int", "Token ids go in as a dict"]),
    ("texts-int-list-fit", "a list of ints in `fit`",
     lambda m: m.classifier.fit([1, 2], [0, 1], verbose=0), ValueError,
     ["ElectraClassifier.fit()", "received a list of int"]),
    ("texts-bytes", "`bytes` texts", works_bytes, "works", []),
    ("texts-nested", "nested lists as `x`",
     lambda m: m.classifier.predict([["good", "bad"], ["food"]], verbose=0),
     ValueError,
     ["received a list of list",
      "pass a tuple (first_texts, second_texts)"]),
    ("texts-empty-predict", "an empty list in `predict`",
     lambda m: m.classifier.predict([], verbose=0), ValueError,
     ["received an empty list", "Pass at least one string"]),
    ("texts-empty-fit", "an empty list in `fit`",
     lambda m: m.classifier.fit([], [], verbose=0), ValueError,
     ["ElectraClassifier.fit()", "received an empty list"]),
    ("py-dataset-empty", "a `PyDataset` with no batches in `fit`",
     lambda m: m.classifier.fit(Batches(), verbose=0), ValueError,
     ["ElectraClassifier.fit()", "Batches with no batches",
      "give it at least one batch"]),
    ("py-dataset-and-y", "a `PyDataset` and `y` in `fit`",
     lambda m: m.classifier.fit(Batches((TEXTS, [1, 0])), [1, 0],
                                verbose=0),
     ValueError, ["ElectraClassifier.fit() takes `y` from the batches of "
                  "a Batches", "Return `(x, y)`"]),
    ("generator-four-parts", "a generator batch of four parts",
     lambda m: m.classifier.predict(once((TEXTS, [1, 0], None, None)),
                                    verbose=0),
     ValueError, ["ElectraClassifier.predict()",
                  "`x`, `(x, y)` or `(x, y, sample_weight)`",
                  "a tuple of 4"]),
    ("generator-int-texts", "a generator batch of ints as texts",
     lambda m: m.classifier.fit(once(([1, 2], [1, 0])), verbose=0),
     ValueError, ["ElectraClassifier.fit()", "received a list of int"]),
    ("texts-empty-array", "an empty array in `predict`",
     lambda m: m.classifier.predict(np.array([], str), verbose=0),
     ValueError, ["received an empty array"]),
    ("texts-empty-string", "an empty string in a batch", works_empty_string,
     "works", []),
    ("predict-batch-size-negative", "`batch_size=-1` in `predict`",
     lambda m: m.classifier.predict(["good"], batch_size=-1, verbose=0),
     ValueError, ["ElectraClassifier.predict()",
                  "`batch_size` must be a positive integer", "received -1"]),
    ("predict-batch-size-float", "`batch_size=2.5` in `predict`",
     lambda m: m.classifier.predict(["good"], batch_size=2.5, verbose=0),
     ValueError, ["`batch_size` must be a positive integer",
                  "received 2.5"]),
    ("texts-million-characters", "a text of 1,000,000 characters",
     works_million_characters, "works", []),
    ("texts-invalid-utf8", "invalid UTF-8 bytes", works_invalid_utf8,
     "works", []),
    ("pairs-unequal", "pairs `(first, second)` of unequal length",
     lambda m: m.classifier.predict((["good", "bad"], ["food"]), verbose=0),
     ValueError,
     ["must have the same length", "received 2 first and 1 second texts"]),
    ("labels-out-of-range", "label 2 with `num_classes=2`",
     lambda m: m.classifier.fit(TEXTS, np.array([0, 2]), verbose=0),
     ValueError, ["expects integer labels in [0, 2)", "found labels in [0, 2]"]),
    ("labels-negative", "label -1",
     lambda m: m.classifier.fit(TEXTS, np.array([-1, 1]), verbose=0),
     ValueError, ["found labels in [-1, 1]"]),
    ("labels-float", "float labels such as 0.5",
     lambda m: m.classifier.fit(TEXTS, np.array([0.5, 1.0]), verbose=0),
     ValueError,
     ["expects integer class labels; received non-integer floats",
      "problem_type='regression'"]),
    ("labels-strings", "string labels that are `label_names`",
     works_string_labels, "works", []),
    ("labels-unknown-strings", "string labels not in `label_names`",
     lambda m: m.classifier.fit(TEXTS, ["pos", "nope"], verbose=0),
     ValueError, ["`y` holds labels ['nope']",
                  "label_names=['neg', 'pos']"]),
    ("labels-strings-without-names", "string labels, no `label_names`",
     lambda m: classifier_for(m, num_classes=2).fit(
         TEXTS, ["pos", "neg"], verbose=0),
     ValueError, ["has no `label_names`", "create the classifier with "
                  "label_names="]),
    ("labels-length", "3 labels for 2 texts",
     lambda m: m.classifier.fit(TEXTS, np.array([0, 1, 1]), verbose=0),
     ValueError, ["received 3 labels for 2 texts"]),
    ("num-classes-0", "`num_classes=0`",
     lambda m: ElectraClassifier(backbone(), 0), ValueError,
     ["`num_classes` must be a positive int; received 0",
      "Pass the number of classes"]),
    ("num-classes-1-sparse-loss",
     "`num_classes=1` with the default single-label loss",
     lambda m: classifier_for(m, num_classes=1).fit(
         TEXTS, np.array([0, 0]), verbose=0),
     ValueError, ["num_classes=1", "cannot learn",
                  "Use num_classes=2 for a binary label"]),
    ("sequence-length-above-positions",
     "`sequence_length` 64 on a backbone with 16 positions",
     lambda m: classifier_for(
         m, num_classes=2, preprocessor=ElectraClassifierPreprocessor(
             m.tokenizer, sequence_length=64)).predict(TEXTS, verbose=0),
     ValueError, ["`sequence_length` (64) exceeds the backbone's "
                  "max_sequence_length=16", "Pass sequence_length=16"]),
    ("sequence-length-above-preset",
     "`from_preset(..., sequence_length=100000)`",
     lambda m: ElectraClassifier.from_preset(
         TINY_PRESET, num_classes=2, sequence_length=100_000),
     ValueError, ["(100000) exceeds the backbone's max_sequence_length=128",
                  "Pass sequence_length=128 or less"]),
    ("sequence-length-below-3", "`sequence_length=2`",
     lambda m: ElectraClassifierPreprocessor(m.tokenizer, sequence_length=2),
     ValueError, ["`sequence_length` must be an int of at least 3",
                  "received 2", "Pass a longer sequence_length"]),
    ("token-classifier-texts", "texts, not word lists, in "
     "`ElectraTokenClassifier.predict`",
     lambda m: m.token_classifier.predict(TEXTS, verbose=0), ValueError,
     ["`x` must be a non-empty batch of word lists", "received a list of str",
      "or call predict_words(texts)"]),
    ("token-classifier-empty", "an empty list in "
     "`ElectraTokenClassifier.fit`",
     lambda m: m.token_classifier.fit([], [], verbose=0), ValueError,
     ["ElectraTokenClassifier.fit()", "received an empty list"]),
    ("multiple-choice-int-list", "a list of ints in "
     "`ElectraMultipleChoice.predict`",
     lambda m: m.multiple_choice.predict([1, 2], verbose=0), ValueError,
     ["`x` must be a tuple (prompts, choices)", "received a list of int"]),
    ("multiple-choice-flat-choices", "one flat list of choices for a batch",
     lambda m: m.multiple_choice.predict((TEXTS, ["good", "bad"]),
                                         verbose=0),
     ValueError, ["`choices` must hold one list of N choice strings per "
                  "prompt (2 prompts)", "received a list of str"]),
    ("qa-question-too-long", "a question longer than the QA window",
     lambda m: m.question_answerer.answer(
         "what is the good food is the food good a bad ?", "good food"),
     ValueError, ["a question is too long", "Shorten the question, raise "
                  "sequence_length or lower doc_stride"]),
    ("fill-mask-without-mask", "`fill_mask` on text without `[MASK]`",
     lambda m: m.masked_lm.fill_mask("good food"), ValueError,
     ["needs text containing the literal [MASK]", "Write [MASK] where"]),
    ("fill-mask-top-k-0", "`top_k=0`",
     lambda m: m.masked_lm.fill_mask("good [MASK]", top_k=0), ValueError,
     ["`top_k` must be an int in [1, 13]", "received 0"]),
    ("fill-mask-top-k-above-vocabulary", "`top_k` above the vocabulary",
     lambda m: m.masked_lm.fill_mask("good [MASK]", top_k=1000),
     ValueError, ["`top_k` must be an int in [1, 13] (the vocabulary size)",
                  "received 1000"]),
    ("generate-none", "`generate(None)`",
     lambda m: m.causal_lm.generate(None), TypeError,
     ["generate() expects a string or a non-empty list of strings",
      "received NoneType None"]),
    ("preset-name-typo", "a preset name with a typo",
     lambda m: ElectraClassifier.from_preset("electra_tiny_uncased",
                                             num_classes=2),
     ValueError, ["Unknown preset 'electra_tiny_uncased'",
                  "Did you mean 'electra_tiny_uncased_en'",
                  "keras_electra.list_presets()"]),
    ("preset-folder-typo", "a local folder with a typo",
     lambda m: ElectraClassifier.from_preset(
         str(m.tmp / "presets" / "review_model"), num_classes=2),
     FileNotFoundError, ["review_model' does not exist",
                         "Close names in", "reviews_model"]),
    ("preset-missing-file", "a preset folder without `model.weights.h5`",
     lambda m: ElectraClassifier.from_preset(m.incomplete, num_classes=2),
     FileNotFoundError, ["is incomplete: it lacks model.weights.h5 (the "
                         "backbone's weights)", "save it again"]),
    ("vocabulary-without-special-tokens",
     "a vocabulary without `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`",
     lambda m: ElectraTokenizer(vocabulary=["good", "food"]), ValueError,
     ["`vocabulary` lacks the special tokens ['[CLS]', '[SEP]', '[PAD]', "
      "'[MASK]', '[UNK]']", "build_vocabulary reserves them"]),
    ("keras-file-truncated", "a `.keras` file cut half-way",
     lambda m: keras_electra.load_model(m.truncated), ValueError,
     ["exists (", "is not a valid .keras file",
      "It is truncated or corrupt"]),
    ("keras-file-not-zip", "a `.keras` file that is not a zip",
     lambda m: keras_electra.load_model(m.not_zip), ValueError,
     ["not a readable zip archive", "It is truncated or corrupt"]),
    ("keras-file-missing", "a `.keras` path that does not exist",
     lambda m: keras_electra.load_model(str(m.tmp / "nothing.keras")),
     FileNotFoundError, ["no such .keras file"]),
    ("keras-file-before-import",
     "`keras.saving.load_model` before `import keras_electra`",
     keras_file_before_import, TypeError,
     ["Could not locate class 'ElectraClassifier'", "make sure they are all "
      "imported", "'module': 'keras_electra.models.electra_classifier'"]),
]


def _message(call, m):
    try:
        call(m)
    except Exception as error:  # The row decides which type it wants.
        return error
    return None


@pytest.mark.parametrize(
    "row", ROWS, ids=[row[0] for row in ROWS]
)
def test_bad_input(row, m):
    _, _, call, expected, parts = row
    if expected == "works":
        call(m)
        return
    with pytest.raises(expected) as error:
        call(m)
    message = str(error.value)
    for part in parts:
        assert part in message
    # A message the user can read: no ANSI escapes, no graph trace.
    assert "\x1b[" not in message
    assert "in user code" not in message


def _doc_rows():
    with open(DOCS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    rows = {}
    for line in lines:
        match = re.match(r"\| `([a-z0-9-]+)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_docs_list_every_row():
    documented = _doc_rows()
    assert sorted(documented) == sorted(row[0] for row in ROWS)
    for name, _, _, expected, parts in ROWS:
        line = documented[name].replace("\\|", "|")
        if expected == "works":
            assert "works" in line
        for part in parts:
            assert part in line, (name, part)


def markdown_table():
    """The docs table, with every message as it is now."""
    import pathlib
    import tempfile

    shared = build_models(pathlib.Path(tempfile.mkdtemp()))
    lines = ["| row | bad input | error | message |", "|---|---|---|---|"]
    for name, what, call, expected, _ in ROWS:
        if expected == "works":
            call(shared)
            kind, text = "works", "works (no error)"
        else:
            error = _message(call, shared)
            kind = type(error).__name__
            text = " ".join(str(error).split())
            text = text.replace(str(shared.tmp), "TMP")
            if len(text) > 600:  # Keras' message ends with the whole config.
                text = text[:600] + " …"
        text = text.replace("|", "\\|")
        lines.append(f"| `{name}` | {what} | {kind} | {text} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
