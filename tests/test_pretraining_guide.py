"""guides/pretraining_guide.py runs end to end at reduced size."""

import os
import re
import subprocess
import sys

GUIDE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "guides", "pretraining_guide.py")


def test_pretraining_guide_runs(tmp_path):
    output = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, GUIDE, "--output", str(output), "--lines", "3000",
         "--vocabulary-size", "1000", "--sequence-length", "32",
         "--steps", "8", "--batch-size", "8"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "word embeddings shared: True" in out
    assert re.search(r"vocabulary: \d+ pieces", out)
    for figure in ("replaced_auc", "replaced_recall", "replaced_fraction",
                   "generator_accuracy"):
        assert f'"{figure}"' in out
    assert "fill_mask: [(" in out
    assert "replaced_token_probabilities: [('python'" in out
    assert "shared embeddings: True" in out
    for name in ("config.json", "task.weights.h5", "generator/task.json",
                 "vocab.txt"):
        path = output / "preset" / name if "/" in name or name != (
            "vocab.txt") else output / name
        assert path.exists(), path
