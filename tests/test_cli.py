"""`keras-electra convert` and `keras-electra presets`."""

import os
import re
import subprocess
import sys

import keras
import pytest
from convert_fixtures import random_hf
from convert_fixtures import save_hf

from keras_electra import ElectraBackbone
from keras_electra.cli import main
from keras_electra.convert import from_preset


def reported_difference(output):
    match = re.search(r"max abs output difference vs (.+): (\S+)", output)
    assert match, output
    return match.group(1), float(match.group(2))


def test_convert_hf_to_keras_reports_difference(tmp_path, capsys):
    source = save_hf(random_hf("ElectraClassifier"), str(tmp_path / "hf"))
    dest = str(tmp_path / "keras")
    assert main(["convert", source, dest]) == 0
    captured = capsys.readouterr()
    reference, difference = reported_difference(captured.out)
    assert reference == "HF transformers"
    assert difference <= 1e-5
    assert "reloading and comparing outputs" in captured.err  # Progress bar.
    model = from_preset(dest)
    assert type(model).__name__ == "ElectraClassifier"
    assert model.label_names == ["neg", "neutral", "pos"]


def test_convert_keras_to_huggingface(tmp_path, capsys):
    source = save_hf(random_hf("ElectraMaskedLM"), str(tmp_path / "hf"))
    keras_dest = str(tmp_path / "keras")
    assert main(["convert", source, keras_dest, "--no-check"]) == 0
    hf_dest = str(tmp_path / "back")
    assert main(["convert", keras_dest, hf_dest, "--to", "huggingface"]) == 0
    reference, difference = reported_difference(capsys.readouterr().out)
    assert reference == "the exported HF model"
    assert difference <= 1e-5
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(
        os.listdir(hf_dest))


def test_convert_with_other_task_compares_the_encoder(tmp_path, capsys):
    source = save_hf(random_hf("ElectraDiscriminator"), str(tmp_path / "hf"))
    dest = str(tmp_path / "keras")
    assert main(["convert", source, dest, "--task", "ElectraBackbone"]) == 0
    reference, difference = reported_difference(capsys.readouterr().out)
    assert reference.startswith("HF transformers (encoder only")
    assert difference <= 1e-5
    assert type(from_preset(dest)) is ElectraBackbone


def test_existing_destination_and_bad_source(tmp_path, capsys):
    source = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))
    dest = tmp_path / "dest"
    dest.mkdir()
    assert main(["convert", source, str(dest)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", source, str(dest), "--overwrite",
                 "--no-check"]) == 0
    assert main(["convert", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "electra_large_discriminator_uncased_en" in out
    assert "334,092,288" in out
    assert "hf://google/electra-large-discriminator" in out


def test_console_script(tmp_path):
    source = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))
    script = os.path.join(os.path.dirname(sys.executable), "keras-electra")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(),
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [script, "convert", source, str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert reported_difference(result.stdout)[1] <= 1e-5


@pytest.mark.parametrize("argv", [[], ["convert", "only-one-arg"]])
def test_usage_errors(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


# --- the whole command line, as a user runs it (subprocesses) ---------------

import json  # noqa: E402

import numpy as np  # noqa: E402

from keras_electra_cli import build_parser  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REVIEWS = os.path.join(ROOT, "keras_electra", "data", "fine_foods",
                       "train.csv")
# TensorFlow's native log lines (absl-style prefixes) and notices.
NATIVE_LOG = re.compile(
    r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|oneDNN|cuda_|cpu_feature_guard",
    re.MULTILINE)
COMMANDS = ("finetune", "predict", "fill-mask", "export", "pretrain",
            "convert", "presets")


def cli(*argv, stdin=None, timeout=600):
    """`python -m keras_electra_cli ARGV` as a user's shell runs it: no
    TF_CPP_MIN_LOG_LEVEL of ours in the environment."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")}
    env.update(KERAS_BACKEND=keras.backend.backend(), HF_HUB_OFFLINE="1",
               PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-m", "keras_electra_cli", *argv], input=stdin,
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def reviews_csv(path, count):
    """The first `count` bundled training reviews (columns review, score)."""
    with open(REVIEWS, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    import csv as csv_module
    import io

    rows = list(csv_module.DictReader(io.StringIO("".join(lines))))[:count]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv_module.DictWriter(f, ["review", "score"],
                                       extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_help_of_every_command_without_tensorflow():
    code = (
        "import sys\n"
        "from keras_electra_cli import main\n"
        f"for command in {list(COMMANDS)!r} + [None]:\n"
        "    try:\n"
        "        main(([command] if command else []) + ['--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (command, e.code)\n"
        "from keras_electra_cli import presets\n"
        "assert len(presets.presets()) == 7\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "               ('tensorflow', 'keras', 'keras_hub', 'keras_electra',\n"
        "                'jax', 'torch'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout
    assert "finetune" in result.stdout and "--layer-decay" in result.stdout
    assert not NATIVE_LOG.search(result.stderr), result.stderr


def test_help_shows_every_default():
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    assert set(subparsers) == set(COMMANDS)
    for name, subparser in subparsers.items():
        text = " ".join(subparser.format_help().split())
        for action in subparser._actions:
            if action.default in (None, False, "==SUPPRESS=="):
                continue
            if not action.option_strings:
                continue
            assert f"(default: {action.default})" in text, (name,
                                                           action.dest)


@pytest.mark.parametrize("argv", [
    ["finetune"],                                   # DATA missing
    ["finetune", "x.csv", "--epochs", "0"],
    ["finetune", "x.csv", "--validation-split", "1.5"],
    ["finetune", "x.csv", "--task", "summarizer"],
    ["predict"],
    ["nonsense"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: keras-electra" in capsys.readouterr().err


def test_data_errors_are_one_line_and_exit_1(tmp_path):
    data = tmp_path / "reviews.csv"
    reviews_csv(data, 4)
    result = cli("finetune", str(data), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no column 'text'" in lines[0]
    assert "--text-column" in lines[0]           # says what to do
    assert not (tmp_path / "out").exists()
    verbose = cli("finetune", str(data), "--verbose")
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr
    unknown = cli("finetune", str(tmp_path / "reviews.xlsx"))
    assert unknown.returncode == 1
    assert ".csv" in unknown.stderr and "Traceback" not in unknown.stderr


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """One `finetune` run on 16 bundled reviews, shared by the tests below."""
    folder = tmp_path_factory.mktemp("finetune")
    data = folder / "reviews.csv"
    rows = reviews_csv(data, 16)
    output = folder / "model"
    result = cli("finetune", str(data), "--text-column", "review",
                 "--label-column", "score", "--epochs", "1",
                 "--batch-size", "8", "--sequence-length", "32",
                 "--validation-split", "0.25", "-o", str(output))
    return output, result, rows


def test_finetune_writes_model_preset_and_metrics(finetuned):
    output, result, _ = finetuned
    assert result.returncode == 0, result.stderr[-3000:]
    assert not NATIVE_LOG.search(result.stderr), result.stderr[-3000:]
    assert "fine-tuning" in result.stderr                  # progress bar
    assert "fine-tuned ElectraClassifier" in result.stdout  # summary
    assert "validation (4 examples)" in result.stdout
    with open(output / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["train_examples"] == 12
    assert metrics["validation_examples"] == 4
    assert metrics["label_names"] == ["great", "other"]
    assert metrics["learning_rate"] == 2e-4          # the tiny preset's
    assert len(metrics["history"]["loss"]) == 1
    assert 0 <= metrics["validation"]["sparse_categorical_accuracy"] <= 1
    task = keras.saving.load_model(output / "model.keras")
    assert task.label_names == ["great", "other"]
    assert task.preprocessor.sequence_length == 32
    assert (output / "preset" / "task.weights.h5").is_file()


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def test_predict_stdin_and_file_match_the_model(finetuned, tmp_path,
                                                monkeypatch, capsys):
    import io

    output, _, rows = finetuned
    texts = ["Tastes great, will buy again.", "Stale and bland."]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(texts) + "\n"))
    assert main(["predict", str(output)]) == 0
    lines = [json.loads(line)
             for line in capsys.readouterr().out.splitlines()]
    task = keras.saving.load_model(output / "model.keras")
    expected = softmax(np.asarray(task.predict(texts, verbose=0), "float64"))
    for line, text, probabilities in zip(lines, texts, expected):
        assert line["text"] == text
        assert line["label"] == ["great", "other"][int(probabilities.argmax())]
        np.testing.assert_allclose(
            [line["probabilities"]["great"], line["probabilities"]["other"]],
            probabilities, atol=1e-5)
        assert line["score"] == max(line["probabilities"].values())
    assert len(lines) == 2

    data = tmp_path / "more.jsonl"
    with open(data, "w") as f:
        for row in rows[:3]:
            f.write(json.dumps({"review": row["review"]}) + "\n")
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", str(output / "model.keras"), str(data),
                 "--text-column", "review", "-o", str(out)]) == 0
    with open(out) as f:
        predicted = [json.loads(line) for line in f]
    assert [p["text"] for p in predicted] == [r["review"] for r in rows[:3]]


def test_export_serves_what_predict_predicts(finetuned, tmp_path, capsys):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the SavedModel's ops

    output, _, _ = finetuned
    dest = tmp_path / "serving" / "1"
    assert main(["export", str(output), str(dest)]) == 0
    assert "serving_default(text) -> label" in capsys.readouterr().out
    texts = ["Tastes great, will buy again.", "Stale and bland."]
    served = tf.saved_model.load(str(dest)).signatures["serving_default"](
        text=tf.constant(texts))
    task = keras.saving.load_model(output / "model.keras")
    expected = softmax(np.asarray(task.predict(texts, verbose=0), "float64"))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected,
                               atol=1e-5)
    assert main(["export", str(output), str(dest)]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err


def test_fill_mask_uses_the_bundled_generator(capsys):
    assert main(["fill-mask", "This coffee tastes [MASK].", "--top-k",
                 "3"]) == 0
    line = json.loads(capsys.readouterr().out)
    predictions = line["predictions"]
    assert len(predictions) == 3
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    # A fresh head would give about 1 / 8,000 to every piece.
    assert scores[0] > 0.01
    assert predictions[0]["token_str"] in predictions[0]["sequence"]


def test_convert_a_bundled_preset_to_huggingface(tmp_path, capsys):
    dest = tmp_path / "tiny_hf"
    assert main(["convert", "electra_tiny_uncased_en", str(dest),
                 "--to", "huggingface"]) == 0
    reference, difference = reported_difference(capsys.readouterr().out)
    assert reference == "the exported HF model"
    assert difference <= 1e-5
    assert (dest / "config.json").is_file()


def test_pretrain_writes_both_presets_with_the_record(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    with open(os.path.join(ROOT, "presets", "electra_tiny_uncased_en",
                           "README.md"), encoding="utf-8") as f:
        corpus.write_text(f.read())
    output = tmp_path / "my_electra"
    assert main(["pretrain", str(corpus), "-o", str(output), "--steps", "4",
                 "--steps-per-epoch", "2", "--batch-size", "2",
                 "--sequence-length", "16", "--vocabulary-size", "1000",
                 "--hidden-dim", "16", "--embedding-dim", "16",
                 "--num-layers", "1", "--num-heads", "1"]) == 0
    captured = capsys.readouterr()
    assert "pre-training" in captured.err                     # progress bar
    assert "pre-trained" in captured.out                      # summary
    with open(output / "training.json") as f:
        record = json.load(f)
    assert record["steps"] == 4
    assert record["command"].startswith(f"keras-electra pretrain {corpus}")
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert "replaced_auc" in record["last_epoch"]
    assert record["corpus"]["tokens_per_pass"] > 0
    from keras_electra import ElectraMaskedLM
    from keras_electra.convert import from_preset as load

    discriminator = load(str(output))
    assert type(discriminator).__name__ == "ElectraDiscriminator"
    assert discriminator.backbone.hidden_dim == 16
    generator = ElectraMaskedLM.from_preset(str(output))
    assert generator.backbone.hidden_dim == 4      # a quarter of the width


def test_presets_prints_every_name_with_its_facts(capsys):
    from keras_electra import list_presets

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name, metadata in list_presets().items():
        assert f"{name}  {metadata['params']:,} parameters" in out
        assert f"presets/{name}/README.md" in out
    assert out.count("licence:  Apache-2.0") == 7


# --- the other three tasks' file formats, in this process (no new imports) --

def review_words(rows, count=12):
    return [row["review"].split()[:count] for row in rows]


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def finetune_and_predict(tmp_path, data, task, *options, finetune_only=(),
                         validation_split="0.25"):
    output = tmp_path / "model"
    assert main(["finetune", str(data), "--task", task, "--epochs", "1",
                 "--batch-size", "4", "--sequence-length", "32",
                 "--validation-split", validation_split, "-o", str(output),
                 *options, *finetune_only]) == 0
    with open(output / "metrics.json") as f:
        metrics = json.load(f)
    predictions = tmp_path / "predictions.jsonl"
    assert main(["predict", str(output), str(data), "-o", str(predictions),
                 *options]) == 0
    with open(predictions) as f:
        return metrics, [json.loads(line) for line in f]


def test_finetune_token_classifier_on_word_lists(tmp_path, capsys):
    rows = reviews_csv(tmp_path / "reviews.csv", 8)
    words = review_words(rows)
    labels = [["long" if len(w) > 4 else "short" for w in ws] for ws in words]
    data = tmp_path / "words.jsonl"
    write_jsonl(data, [{"words": w, "labels": l}
                       for w, l in zip(words, labels)])
    metrics, predicted = finetune_and_predict(
        tmp_path, data, "token-classifier", validation_split="0")
    assert metrics["task"] == "ElectraTokenClassifier"
    assert metrics["label_names"] == ["long", "short"]
    assert metrics["train_examples"] == 8
    assert "accuracy" in metrics["history"]
    assert metrics["validation"] == {}
    assert [p["words"] for p in predicted] == words
    for p, w in zip(predicted, words):
        assert len(p["labels"]) == len(w)
        assert set(p["labels"]) <= {"long", "short", None}


def test_finetune_question_answerer_finds_offsets(tmp_path):
    rows = reviews_csv(tmp_path / "reviews.csv", 8)
    records = []
    for i, words in enumerate(review_words(rows, 20)):
        context = " ".join(words)
        answer = max(words, key=len)
        record = {"question": "Which word is the longest?",
                  "context": context, "answer": answer}
        if i % 2:   # the other half: found as its first occurrence
            record["answer_start"] = context.index(answer)
        records.append(record)
    data = tmp_path / "qa.jsonl"
    write_jsonl(data, records)
    metrics, predicted = finetune_and_predict(tmp_path, data,
                                              "question-answerer")
    assert metrics["task"] == "ElectraQuestionAnswerer"
    assert (metrics["train_examples"], metrics["validation_examples"]) == (
        6, 2)
    assert 0 <= metrics["validation"]["exact_match"] <= 1
    assert len(predicted) == 8
    for p, record in zip(predicted, records):
        assert record["context"][p["start"]:p["end"]] == p["answer"]
        assert 0 <= p["score"] <= 1


def test_finetune_multiple_choice_from_csv(tmp_path):
    rows = reviews_csv(tmp_path / "reviews.csv", 8)
    data = tmp_path / "choices.csv"
    with open(data, "w", newline="", encoding="utf-8") as f:
        import csv as csv_module

        writer = csv_module.writer(f)
        writer.writerow(["prompt", "choice0", "choice1", "label"])
        for row in rows:
            writer.writerow([row["review"][:200], "I loved it.",
                             "I did not like it.",
                             0 if row["score"] == "great" else 1])
    metrics, predicted = finetune_and_predict(
        tmp_path, data, "multiple-choice", validation_split="0")
    assert metrics["task"] == "ElectraMultipleChoice"
    assert metrics["train_examples"] == 8
    assert "sparse_categorical_accuracy" in metrics["history"]
    for p in predicted:
        assert p["answer"] == ["I loved it.", "I did not like it."][
            p["choice"]]
        assert abs(sum(p["probabilities"]) - 1) < 1e-6


def test_bad_answers_and_labels_say_what_to_fix(tmp_path, capsys):
    data = tmp_path / "qa.jsonl"
    write_jsonl(data, [{"question": "Who?", "context": "Ada wrote it.",
                        "answer": "Babbage"}] * 4)
    assert main(["finetune", str(data), "--task", "question-answerer"]) == 1
    assert "not in its context" in capsys.readouterr().err
    data = tmp_path / "choices.jsonl"
    write_jsonl(data, [{"prompt": "Sky?", "choice0": "blue",
                        "choice1": "green", "label": 2}] * 4)
    assert main(["finetune", str(data), "--task", "multiple-choice"]) == 1
    assert "index of the right choice, 0 to 1" in capsys.readouterr().err


def test_finetune_classifier_on_text_pairs_from_tsv(tmp_path):
    rows = reviews_csv(tmp_path / "reviews.csv", 8)
    data = tmp_path / "pairs.tsv"
    with open(data, "w", encoding="utf-8") as f:
        f.write("first\tsecond\tlabel\n")
        for row in rows:
            words = row["review"].replace("\t", " ").split()
            f.write(f"{' '.join(words[:10])}\t{' '.join(words[10:20])}\t"
                    f"{row['score']}\n")
    metrics, predicted = finetune_and_predict(
        tmp_path, data, "classifier", "--text-column", "first",
        "--text-pair-column", "second",
        finetune_only=("--label-names", "other,great"), validation_split="0")
    assert metrics["label_names"] == ["other", "great"]    # as given
    assert metrics["train_examples"] == 8
    task = keras.saving.load_model(tmp_path / "model" / "model.keras")
    first = [p["text"] for p in predicted]
    second = [p["text_pair"] for p in predicted]
    expected = softmax(np.asarray(task.predict((first, second), verbose=0),
                                  "float64"))
    np.testing.assert_allclose(
        [[p["probabilities"]["other"], p["probabilities"]["great"]]
         for p in predicted], expected, atol=1e-5)
