"""Smoke runs of the benchmark scripts: tiny configs, one round, TensorFlow.

Each script runs as a user runs it (a subprocess, with its worker
children) on a tiny model or a few texts, and must exit 0 and print a
table with one row per variant and a `--json` file with the expected
entries; `benchmarks/plot.py` must draw that file. No timing is ever
asserted; the checks are on what was computed: identical token ids,
FLOP counts from the documented formula, keras-hub's mapped weights
giving HF's outputs (with exact GELU), identical predictions under
dynamic padding.
"""

import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")


def run_script(script, args, tmp_path):
    out = tmp_path / f"{script}.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, env.get("PYTHONPATH")) if p
    )
    done = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, f"{script}.py"), *args,
         "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    with open(out) as f:
        payload = json.load(f)
    assert payload["script"] == script
    png = tmp_path / f"{script}.png"
    drawn = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "plot.py"), str(out),
         "--out", str(png)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    assert png.stat().st_size > 1000
    return done.stdout, payload


def table_rows(stdout):
    """{first cell: cells} of the markdown tables' body rows."""
    rows = {}
    for line in stdout.splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] != "variant":
            rows.setdefault(cells[0], []).append(cells)
    return rows


def baseline_stand_in(tmp_path):
    """A stand-in "other checkout": this package under another directory."""
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "keras_electra").symlink_to(os.path.join(ROOT, "keras_electra"))
    return baseline


def test_backbone_inference(tmp_path):
    variants = [
        "hf-torch", "keras-tensorflow", "keras-hub-tensorflow",
        "keras-tensorflow-bf16", "keras-tensorflow-graph@baseline",
        "keras-tensorflow-loop", "keras-hub-tensorflow-bf16",
    ]
    stdout, payload = run_script("backbone_inference", [
        "--cases", "tiny/2x16", "--variants", ",".join(variants),
        "--round-seconds", "0.05", "--warmup", "1", "--peak-size", "64",
        "--baseline", str(baseline_stand_in(tmp_path)),
    ], tmp_path)
    rows = table_rows(stdout)
    # One row per variant in the peak table and in the case table.
    assert {v: len(rows[v]) for v in variants} == {v: 2 for v in variants}
    result = payload["results"]["tiny/2x16"]
    # The documented formula by hand: T = 32 tokens, E=16, H=32, I=64,
    # 2 layers, L=16: 2*T*E*H + 2*(8*T*H^2 + 4*T*H*I + 4*B*L^2*H).
    expected = 2 * 32 * 16 * 32 + 2 * (
        8 * 32 * 32 * 32 + 4 * 32 * 32 * 64 + 4 * 2 * 16 * 16 * 32
    )
    assert result["keras-tensorflow"]["flops_per_call"] == expected
    assert result["keras-tensorflow"]["max_abs_diff_vs_hf"] < 1e-5
    assert result["keras-tensorflow-graph@baseline"]["max_abs_diff_vs_hf"] < 1e-5
    assert result["keras-tensorflow-loop"]["max_abs_diff_vs_hf"] < 1e-5
    # keras-hub's backbone holds HF's weights: with exact GELU it is HF.
    assert result["keras-hub-tensorflow"]["exact_gelu_max_abs_diff_vs_hf"] < 1e-5
    assert set(payload["peaks"]) == set(variants)
    # bfloat16 keeps about 3 significant digits of HF's float32 outputs.
    assert 1e-4 < result["keras-tensorflow-bf16"]["max_abs_diff_vs_hf"] < 0.1
    assert payload["peaks"]["keras-tensorflow-bf16"]["dtype"] == "bfloat16"
    assert payload["peaks"]["keras-tensorflow"]["dtype"] == "float32"
    hub_bf16 = result["keras-hub-tensorflow-bf16"]
    assert 1e-4 < hub_bf16["exact_gelu_max_abs_diff_vs_hf"] < 0.1
    assert payload["peaks"]["keras-hub-tensorflow-bf16"]["dtype"] == "bfloat16"


def test_classifier_training(tmp_path):
    baseline = baseline_stand_in(tmp_path)
    variants = ["keras-tensorflow", "hf-torch-bf16", "keras-tensorflow@baseline"]
    stdout, payload = run_script("classifier_training", [
        "--case", "tiny-2x16", "--variants", ",".join(variants),
        "--steps", "2", "--warmup", "1", "--baseline", str(baseline),
    ], tmp_path)
    assert list(table_rows(stdout)) == variants
    (round_,) = payload["results"]["keras-tensorflow"]
    assert round_["steps"] == 1 and len(round_["losses"]) == 2
    packages = {v: payload["ready"][v]["package"] for v in variants[::2]}
    assert packages["keras-tensorflow@baseline"] == str(
        baseline / "keras_electra"
    )
    assert packages["keras-tensorflow"] == os.path.join(ROOT, "keras_electra")


def test_tokenizer_throughput(tmp_path):
    # (Eager calls are checked against HF in test_tokenizer_fast_paths.)
    stdout, payload = run_script("tokenizer_throughput", [
        "--limit", "64", "--batch-size", "16",
        "--variants", "hf-fast,keras-tokenizer,keras-ragged-ids",
    ], tmp_path)
    rows = table_rows(stdout)
    assert list(rows) == ["hf-fast", "keras-tokenizer", "keras-ragged-ids"]
    for ours in ("keras-tokenizer", "keras-ragged-ids"):
        assert "64/64 vs hf-fast" in rows[ours][0]
        assert payload["parity"][ours][:2] == [64, 64]


def test_pretraining_throughput(tmp_path):
    stdout, payload = run_script("pretraining_throughput", [
        # `-keep`: the child calls keep_freed_memory() first.
        "--backends", "tensorflow-keep", "--steps", "2", "--warmup", "1",
        "--batch-size", "2", "--sequence-length", "16", "--layers", "1",
    ], tmp_path)
    assert list(table_rows(stdout)) == ["keras-tensorflow-keep"]
    results = payload["results"]["keras-tensorflow-keep"]
    assert [len(results["fit"]), len(results["models"])] == [1, 1]
    assert results["fit"][0]["steps"] == 1


def test_raw_text(tmp_path):
    stdout, payload = run_script("raw_text", [
        "--backends", "tensorflow", "--texts", "8", "--fit-texts", "4",
        "--batch-size", "4", "--layers", "1",
        "--variants", "fixed512,grouped64",
    ], tmp_path)
    rows = table_rows(stdout)
    assert list(rows) == ["tensorflow-fixed512", "tensorflow-grouped64"]
    assert "fit(group_by_length=True)" in rows["tensorflow-grouped64"][0][1]
    summary = payload["summary"]
    assert summary["tensorflow-fixed512"]["mean_padded_length"] == 512
    dynamic = summary["tensorflow-grouped64"]
    assert dynamic["argmax_equal"] == 8
    assert dynamic["max_abs_diff"] < 1e-4
    lengths = payload["ready"]["tensorflow-grouped64"]["padded_lengths"]
    assert all(n % 64 == 0 and 0 < n < 512 for n in lengths), lengths


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


def test_gpu_device_without_a_gpu_says_so():
    # The suite runs where PyTorch sees no CUDA GPU.
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    for script in ("backbone_inference", "classifier_training"):
        done = subprocess.run(
            [sys.executable, os.path.join(BENCHMARKS, f"{script}.py"),
             "--device", "gpu", "--repeats", "1"],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
        )
        assert done.returncode == 1, done.stderr[-2000:]
        assert "PyTorch sees no CUDA GPU" in done.stderr
        assert "--device cpu" in done.stderr
        assert "starting" not in done.stderr  # no worker was started
