"""guides/distributed_training.py runs at reduced size on 2 virtual CPU
devices, on JAX (data and model parallel) and TensorFlow (MirroredStrategy).
"""

import os
import re
import subprocess
import sys

import pytest

GUIDE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "guides", "distributed_training.py")


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_distributed_guide_runs(tmp_path, backend):
    result = subprocess.run(
        [sys.executable, GUIDE, "--virtual-devices", "2", "--examples", "16",
         "--batch-size", "8", "--sequence-length", "32",
         "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=1200,
        env={**os.environ, "KERAS_BACKEND": backend,
             "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    engine = "DataParallel" if backend == "jax" else "MirroredStrategy"
    assert f"{backend}: {engine}" in out
    difference = re.search(r"largest difference: (\S+)", out).group(1)
    assert float(difference) <= 1e-5
    assert re.search(r"pre-training: loss \d+\.\d+, replaced_auc", out)
    assert (tmp_path / "process_0" / "pretrained" / "generator").is_dir()
    if backend == "jax":
        assert "sharded as P(None, 'model', None)" in out
