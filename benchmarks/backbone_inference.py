"""Forward throughput and latency: `ElectraBackbone` vs HF `ElectraModel`.

Same architecture (ELECTRA-Small by default: vocabulary 30522, embedding 128,
hidden 256, 12 layers, 4 heads, intermediate 1024), same random weights
(HF's own initialisation, copied into Keras with
`keras_electra.convert.hf_heads.load_hf_tensors`) and the same integer batch
for every variant. Each variant runs in its own process:

- `hf-torch`: `transformers.ElectraModel` in eval mode under
  `torch.no_grad()`, inputs as pre-built torch tensors.
- `keras-<backend>`: `backbone.predict_on_batch(numpy inputs)`, as a Keras
  user calls it. With Keras' defaults that is a `tf.function` (no XLA: Keras
  turns XLA off on CPU-only TensorFlow) on tensorflow, a `jax.jit`-compiled
  step on jax and eager PyTorch (no `torch.compile`) on torch.

Extra variants for investigation (not in the default list):
`keras-tensorflow-xla` (`compile(jit_compile=True)`), `keras-torch-compile`
(`compile(jit_compile=True)`, i.e. `torch.compile`), `keras-<backend>-call`
(a direct `backbone(inputs, training=False)` under `torch.no_grad()` on
torch-native / backend tensors, no `predict_on_batch`), and
`keras-<backend>-nochecks` (the input checks of
`keras_electra/models/input_checks.py` replaced by a no-op).

Warm-up calls (tracing, compilation) are not timed. Each timed round makes
calls for at least `--round-seconds` seconds; throughput is sequences per
second per round (median and spread over `--repeats` rounds), latency is the
wall time of a single call (median and 90th percentile over all calls).

Run: `python benchmarks/backbone_inference.py [--repeats 5] [--cases 8x128,1x32]`
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SMALL = harness.ELECTRA_SMALL
DEFAULT_VARIANTS = "hf-torch,keras-tensorflow,keras-jax,keras-torch"
HOW_CALLED = {
    "hf-torch": "`model(**inputs)`, eval, `torch.no_grad()`",
    "predict": "`predict_on_batch(numpy)`",
    "xla": "`predict_on_batch`, `compile(jit_compile=True)`",
    "compile": "`predict_on_batch`, `compile(jit_compile=True)`",
    "call": "`backbone(inputs)` on backend tensors",
    "nochecks": "`predict_on_batch`, input checks disabled",
}


def parse_variant(name):
    """`keras-torch-call` -> ("keras", "torch", "call")."""
    if name == "hf-torch":
        return "hf", "torch", "hf-torch"
    parts = name.split("-")
    if parts[0] != "keras" or len(parts) not in (2, 3):
        raise ValueError(f"unknown variant {name!r}")
    backend = parts[1]
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(f"unknown backend in variant {name!r}")
    mode = parts[2] if len(parts) == 3 else "predict"
    if mode not in HOW_CALLED:
        raise ValueError(f"unknown mode in variant {name!r}")
    return "keras", backend, mode


def parse_cases(text):
    cases = []
    for item in text.split(","):
        batch, length = item.lower().split("x")
        cases.append((int(batch), int(length)))
    return cases


def case_name(case):
    return f"{case[0]}x{case[1]}"


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def load_inputs(spec):
    data = np.load(spec["inputs_path"])
    inputs = {}
    for case in spec["cases"]:
        name = case_name(case)
        inputs[name] = {
            key: data[f"{name}/{key}"]
            for key in ("token_ids", "segment_ids", "padding_mask")
        }
    return inputs


def setup_hf(spec):
    import torch
    import transformers

    harness.apply_threads(spec["threads"])
    config = transformers.ElectraConfig(**spec["hf_config"])
    model = transformers.ElectraModel(config).eval()
    state = {k: torch.from_numpy(v) for k, v in np.load(spec["weights_path"]).items()}
    model.load_state_dict(state)
    inputs = {}
    for name, case in load_inputs(spec).items():
        inputs[name] = {
            "input_ids": torch.from_numpy(case["token_ids"]).long(),
            "token_type_ids": torch.from_numpy(case["segment_ids"]).long(),
            "attention_mask": torch.from_numpy(case["padding_mask"]).long(),
        }

    def forward(name):
        with torch.no_grad():
            return model(**inputs[name]).last_hidden_state

    info = {
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "threads": torch.get_num_threads(),
    }
    return info, forward, lambda out: out.numpy()


def setup_keras(spec):
    import keras

    from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
    from keras_electra.convert.hf_heads import load_hf_tensors
    from keras_electra.models import electra_backbone

    harness.apply_threads(spec["threads"])
    mode = spec["mode"]
    if mode == "nochecks":
        # Measures what the eager input checks cost.
        electra_backbone.check_backbone_inputs = lambda backbone, inputs: None
    backbone = electra_backbone.ElectraBackbone(
        **backbone_kwargs_from_hf_config(spec["hf_config"])
    )
    load_hf_tensors(backbone, dict(np.load(spec["weights_path"])))
    if mode in ("xla", "compile"):
        backbone.compile(jit_compile=True)
    inputs = load_inputs(spec)
    backend = keras.backend.backend()

    if mode == "call":
        tensors = {
            name: {k: keras.ops.convert_to_tensor(v) for k, v in case.items()}
            for name, case in inputs.items()
        }
        if backend == "torch":
            import torch

            def forward(name):
                with torch.no_grad():
                    return backbone(tensors[name], training=False)

        else:

            def forward(name):
                return backbone(tensors[name], training=False)

        def to_numpy(out):
            return keras.ops.convert_to_numpy(out)

    else:

        def forward(name):
            return backbone.predict_on_batch(inputs[name])

        def to_numpy(out):
            return np.asarray(out)

    info = {"backend": backend}
    if backend == "tensorflow":
        import tensorflow as tf

        info["threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    elif backend == "torch":
        import torch

        info["threads"] = torch.get_num_threads()
    if hasattr(backbone, "jit_compile"):
        info["jit_compile"] = bool(backbone.jit_compile)
    return info, forward, to_numpy


def worker_setup(spec):
    import time

    start = time.perf_counter()
    if spec["framework"] == "hf":
        info, forward, to_numpy = setup_hf(spec)
    else:
        info, forward, to_numpy = setup_keras(spec)
    names = [case_name(c) for c in spec["cases"]]
    warmup = {}
    for name in names:
        t0 = time.perf_counter()
        out = forward(name)
        first = time.perf_counter() - t0
        for _ in range(spec["warmup"] - 1):
            forward(name)
        warmup[name] = first
        np.save(
            os.path.join(spec["out_dir"], f"{spec['name']}_{name}.npy"),
            to_numpy(out),
        )
    info.update(
        setup_seconds=time.perf_counter() - start, first_call_seconds=warmup
    )

    def handler(command):
        if command["cmd"] != "run":
            return {}
        return harness.timed_calls(
            lambda: forward(command["case"]), command["seconds"]
        )

    return info, handler


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def write_fixtures(args, cases, out_dir):
    """HF config, random HF weights and the inputs, shared by all workers."""
    import torch
    import transformers

    hf_config = dict(SMALL, num_hidden_layers=args.layers)
    torch.manual_seed(args.seed)
    model = transformers.ElectraModel(transformers.ElectraConfig(**hf_config))
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    weights_path = os.path.join(out_dir, "weights.npz")
    np.savez(weights_path, **weights)
    arrays = {}
    for case in cases:
        case_inputs = harness.integer_batch(
            SMALL["vocab_size"], *case, seed=args.seed
        )
        for key, value in case_inputs.items():
            arrays[f"{case_name(case)}/{key}"] = value
    inputs_path = os.path.join(out_dir, "inputs.npz")
    np.savez(inputs_path, **arrays)
    return hf_config, weights_path, inputs_path


def max_abs_diff(out_dir, name, reference, case, inputs_path):
    ours = np.load(os.path.join(out_dir, f"{name}_{case}.npy"))
    theirs = np.load(os.path.join(out_dir, f"{reference}_{case}.npy"))
    mask = np.load(inputs_path)[f"{case}/padding_mask"].astype(bool)
    return float(np.max(np.abs(ours[mask] - theirs[mask])))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Forward throughput/latency of keras_electra.ElectraBackbone "
            "(tensorflow, jax, torch backends) vs transformers.ElectraModel."
        )
    )
    harness.add_common_arguments(parser, repeats=5)
    parser.add_argument(
        "--cases",
        default="8x128,1x32",
        help="comma-separated BATCHxLENGTH shapes (default 8x128,1x32)",
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=(
            f"comma-separated (default {DEFAULT_VARIANTS}); extras: "
            "keras-tensorflow-xla, keras-torch-compile, keras-<backend>-call, "
            "keras-<backend>-nochecks"
        ),
    )
    parser.add_argument(
        "--round-seconds",
        type=float,
        default=1.0,
        help="minimum length of one timed round per variant and case (default 1.0)",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed calls per case (default 3)"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=12,
        help="number of transformer layers (default 12, ELECTRA-Small)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)

    cases = parse_cases(args.cases)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    parsed = {v: parse_variant(v) for v in variants}
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_backbone_bench_")
    hf_config, weights_path, inputs_path = write_fixtures(args, cases, out_dir)
    specs = []
    for name in variants:
        framework, backend, mode = parsed[name]
        spec = dict(
            name=name,
            framework=framework,
            mode=mode,
            hf_config=hf_config,
            weights_path=weights_path,
            inputs_path=inputs_path,
            cases=cases,
            warmup=args.warmup,
            out_dir=out_dir,
            threads=args.threads,
        )
        env = {"KERAS_BACKEND": backend, **harness.thread_env(args.threads)}
        specs.append((name, spec, env))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    workers = harness.start_workers(__file__, specs, log_dir=out_dir)
    ready = {w.name: w.ready for w in workers}
    results = {}
    try:
        for case in cases:
            print(f"case {case_name(case)}", file=sys.stderr)
            results[case_name(case)] = harness.run_rounds(
                workers,
                args.repeats,
                {"cmd": "run", "case": case_name(case), "seconds": args.round_seconds},
            )
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    reference = "hf-torch" if "hf-torch" in variants else None
    print(
        harness.report_header(
            "Backbone inference: ElectraBackbone vs transformers.ElectraModel",
            ["benchmarks/backbone_inference.py"] + sys.argv[1:],
            info,
            load_before,
            load_after,
        )
    )
    threads = args.threads or "framework default"
    print(f"- threads per framework: {threads}")
    print(
        f"- architecture: ELECTRA-Small layout, {args.layers} layers; "
        f"{args.repeats} rounds of >= {args.round_seconds:g} s per variant "
        f"and case, {args.warmup} warm-up calls excluded"
    )
    if reference:
        print(
            f"- HF attention implementation: "
            f"{ready[reference].get('attn_implementation')}, torch threads "
            f"{ready[reference].get('threads')}"
        )
    payload = {"machine": info, "load_before": load_before, "load_after": load_after,
               "args": vars(args), "ready": ready, "finals": finals, "results": {}}
    for case in cases:
        name = case_name(case)
        batch = case[0]
        rows = []
        hf_median = None
        stats = {}
        for variant in variants:
            rounds = results[name][variant]
            throughput = [
                batch * len(r["times"]) / sum(r["times"]) for r in rounds
            ]
            latencies = [t for r in rounds for t in r["times"]]
            cores = sum(r["cpu"] for r in rounds) / sum(latencies)
            cpu_per_call = sum(r["cpu"] for r in rounds) / len(latencies)
            stats[variant] = (
                harness.summary(throughput), latencies, cores, cpu_per_call
            )
        if reference:
            hf_median = stats[reference][0]["median"]
        for variant in variants:
            tput, latencies, cores, cpu_per_call = stats[variant]
            framework, backend, mode = parsed[variant]
            how = HOW_CALLED[mode] if framework == "keras" else HOW_CALLED["hf-torch"]
            diff = (
                "reference"
                if variant == reference
                else (
                    f"{max_abs_diff(out_dir, variant, reference, name, inputs_path):.1e}"
                    if reference
                    else "n/a"
                )
            )
            rows.append(
                [
                    variant,
                    how,
                    f"{harness.fmt(tput['median'])} "
                    f"({harness.fmt(tput['min'])}-{harness.fmt(tput['max'])})",
                    f"{100 * tput['spread']:.0f} %",
                    harness.fmt(1000 * harness.percentile(latencies, 0.5), 2),
                    harness.fmt(1000 * harness.percentile(latencies, 0.9), 2),
                    f"{tput['median'] / hf_median:.2f}x" if hf_median else "n/a",
                    harness.fmt(1000 * cpu_per_call),
                    f"{cores:.2f}",
                    diff,
                    f"{ready[variant]['first_call_seconds'][name]:.2f}",
                ]
            )
            payload["results"].setdefault(name, {})[variant] = {
                "throughput": tput,
                "latencies": latencies,
                "cpu_per_wall": cores,
                "cpu_seconds_per_call": cpu_per_call,
            }
        print()
        print(f"### batch {case[0]} x length {case[1]}")
        print()
        print(
            harness.markdown_table(
                [
                    "variant",
                    "call",
                    "seq/s median (min-max)",
                    "spread",
                    "latency p50 ms",
                    "latency p90 ms",
                    "vs HF",
                    "CPU ms / call",
                    "CPU s / wall s",
                    "max abs diff vs HF",
                    "first call s",
                ],
                rows,
            )
        )
    harness.write_json(args.json, payload)
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
