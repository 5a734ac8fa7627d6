"""Each guide in guides/ runs end to end at its quick size, in a subprocess
as a user runs it."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_guide(name, *args, backend="tensorflow"):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           # This checkout's keras_electra, also beside another install.
           "PYTHONPATH": os.pathsep.join(
               [ROOT, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "guides", name), *args],
        capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_classifier_guide(tmp_path):
    out = run_guide("classifier_guide.py", "--quick", "--images",
                    str(tmp_path))
    figures = last_json(out)
    # compile() with no arguments took the tiny preset's rate.
    assert figures["learning_rate"] == pytest.approx(2e-4)
    assert len(figures["loss"]) == len(figures["pair_loss"]) == 1
    assert 0 <= figures["pair_test_accuracy"] <= 1
    assert "classify: [{'label': '" in out
    assert "classify pair: [{'label': '" in out
    assert (tmp_path / "classifier_loss_curves.png").stat().st_size > 10_000


def test_backends_guide_runs_the_classifier_on_jax_and_torch():
    out = run_guide("backends_guide.py", "--quick", "--backends", "jax,torch")
    results = last_json(out)
    assert [r["backend"] for r in results] == ["jax", "torch"]
    for result in results:
        assert result["learning_rate"] == pytest.approx(2e-4)
        assert 0.3 < result["loss"][0] < 1.2  # Near ln 2 for 2 classes.


def test_token_classification_guide():
    out = run_guide("token_classification_guide.py", "--quick")
    figures = last_json(out)
    assert set(figures["held_out_accuracy"]) == {"O", "PER", "TITLE"}
    assert "('Darcy', '" in out  # predict_words: one label per word


def test_question_answering_guide():
    out = run_guide("question_answering_guide.py", "--quick")
    assert "windows of 32 tokens" in out
    assert int(out.split("becomes ")[1].split()[0]) > 1  # a long context
    best = out.split("answer(): ")[1].splitlines()[0]
    assert best.startswith("{") and "'score': " in best  # one dict
    assert 0 <= last_json(out)["held_out_exact_match"] <= 1


def test_multiple_choice_guide():
    out = run_guide("multiple_choice_guide.py", "--quick")
    assert "choice probabilities: [[" in out
    assert 0 <= last_json(out)["test_accuracy"] <= 1


def test_fill_mask_guide(tmp_path):
    out = run_guide("fill_mask_guide.py", "--quick", "--images",
                    str(tmp_path))
    assert "she was the [MASK] of a very respectable family" in out
    # Both trained heads ship with the preset: no fresh-head warning.
    assert "newly initialized" not in out
    python = float(out.split("P(replaced) of 'python': ")[1].split(";")[0])
    others = float(out.split("other tokens: ")[1].split()[0])
    assert python > others  # The blatant replacement stands out.
    assert (tmp_path / "replaced_token_probabilities.png").exists()


def test_conversion_guide(tmp_path):
    out = run_guide("conversion_guide.py", "--output", str(tmp_path))
    line = out.strip().splitlines()[-1]
    hf = float(line.split("HF: ")[1].split(",")[0])
    tf1 = float(line.split("TF1: ")[1].split(";")[0])
    assert hf <= 1e-5 and tf1 <= 1e-5
    assert line.endswith("keras-hub embeddings equal: True")
    assert (tmp_path / "back_to_hf" / "model.safetensors").exists()
    assert (tmp_path / "tf1" / "model.ckpt-1000.index").exists()
