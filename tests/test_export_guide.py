"""guides/serving_guide.py runs end to end and does what it says."""

import os
import re
import subprocess
import sys

GUIDE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "guides",
    "serving_guide.py",
)


def test_serving_guide_runs(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, GUIDE, "--output", str(tmp_path), "--reviews", "32"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    export_dir = tmp_path / "electra" / "1"
    assert (export_dir / "saved_model.pb").exists()
    assert (export_dir / "assets" / "vocab.txt").exists()
    # saved_model_cli's view of the default signature: strings in.
    assert "signature_def['serving_default']:" in out
    assert "inputs['text'] tensor_info:" in out
    assert "dtype: DT_STRING" in out
    assert "FastWordpieceTokenizeWithOffsets" in out
    # Served from a TensorFlow-only process, as predict() answers.
    difference = float(re.search(r"logits difference: (\S+)", out).group(1))
    assert difference < 1e-5
    assert out.count("[0.") + out.count("[1.") >= 4
    # The TF Serving commands, with the exported folder.
    assert "docker run -t --rm -p 8501:8501" in out
    assert f"source={tmp_path / 'electra'},target=/models/electra" in out
    assert "-e MODEL_NAME=electra tensorflow/serving" in out
    assert "curl -d '{\"instances\": [{\"text\": " in out
    assert "http://localhost:8501/v1/models/electra:predict" in out
