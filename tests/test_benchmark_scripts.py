"""Smoke runs of the benchmark scripts, so that they keep working.

Tiny sizes; timings are printed, never asserted."""

import os
import subprocess
import sys

BENCHMARKS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def test_pretraining_throughput_runs():
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "pretraining_throughput.py"),
         "--backends", "tensorflow", "--steps", "1", "--warmup", "1",
         "--layers", "1", "--sequence-length", "32", "--batch-size", "4"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| backend | s/step | tokens/s | peak RSS MB |" in result.stdout
    assert "| tensorflow |" in result.stdout


def test_predict_memory_runs():
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "predict_memory.py"),
         "--counts", "40", "--batch-size", "16", "--sequence-length", "16"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| strings | RSS before MB | max during MB | growth MB |" in (
        result.stdout)
    assert "| 40 |" in result.stdout
