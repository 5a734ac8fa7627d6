"""Training throughput and peak memory: `ElectraClassifier.fit` vs HF + AdamW.

Same architecture, same random initial weights (HF's initialisation of
`ElectraForSequenceClassification`, copied into Keras with
`keras_electra.convert.hf_heads.load_hf_tensors`), same integer batches and
labels, dropout on (0.1) in both:

- `keras-<backend>`: `ElectraClassifier(backbone, num_classes=2,
  preprocessor=None)` with its default `compile()` (AdamW, learning rate
  5e-5, weight decay 0.01 except layer norms and biases, epsilon 1e-6;
  sparse categorical cross-entropy; accuracy metric), trained with
  `fit(x, y, batch_size=..., shuffle=False)` on numpy integer inputs. Keras
  defaults: `tf.function` without XLA (CPU-only TensorFlow), `jax.jit`,
  eager PyTorch.
- `hf-torch`: `transformers.ElectraForSequenceClassification` in train
  mode with a plain loop: `zero_grad`, `model(**batch, labels=y).loss`,
  `backward`, `torch.optim.AdamW` step (same hyper-parameters, same
  no-decay groups), `loss.item()`.

Mixed-precision variants (not in the default list): `hf-torch-bf16` runs
the HF forward and loss under `torch.autocast("cpu", dtype=torch.bfloat16)`
(what HF's `Trainer(bf16=True)` does), `keras-<backend>-bf16` builds the
backbone with `dtype="mixed_bfloat16"` (float32 variables, bfloat16
compute, float32 logits and loss). Both keep float32 weights and optimizer.

Extra variants for JAX on CPU, whose step faults in a fresh temporary
buffer: `keras-<backend>-heap` runs the child with `HEAP_ENV` (glibc
`malloc` keeps freed memory in one heap instead of unmapping it), and
`keras-<backend>-thp` with `THP_ENV` (glibc asks for transparent huge pages
for the memory it maps: one page fault per 2 MiB instead of per 4 KiB,
where the kernel's THP mode is `madvise` or `always`);
`keras-<backend>-keep` calls `keras_electra.keep_freed_memory()` in the
child before it builds the model (the same glibc settings, in-process).
Options combine with "+": `keras-jax-bf16+keep`.
`keras-tensorflow-eigen` runs TensorFlow with `EIGEN_ENV` (its Eigen
kernels instead of oneDNN's).

Before and after in one run: with `--baseline DIR` (another checkout, e.g.
`git worktree add /tmp/base HEAD~1`), a variant named `<variant>@baseline`
runs the keras_electra of DIR, the others this checkout's.

Extra variant: `keras-<backend>-adamw` compiles the classifier with Keras'
own `keras.optimizers.AdamW` (same hyper-parameters) instead of the default
`LayerwiseDecayAdamW(layer_decay=1.0)`, to measure the optimizer's cost.
`keras-<backend>-jit` compiles it with `jit_compile=True` (`torch.compile`
on torch, XLA on tensorflow); with `--warmup 3` or more its compiling
(PyTorch compiles again at the second step) stays out of the rounds.

Cases (`--case`; `--layers`, `--sequence-length`, `--batch-size` override
a case's values):

- `small4-8x64` (default): ELECTRA-Small's widths (vocabulary 30522,
  embedding 128, hidden 256, 4 heads, intermediate 1024) with 4 layers
  instead of 12, batch 8 x length 64, so that a run fits in about 3 minutes
  on 2 shared cores;
- `small12-32x128`: the full 12-layer ELECTRA-Small, batch 32 x length 128
  (several minutes per round on 2 shared cores);
- `tiny-2x16`: a 2-layer, 32-wide model, for smoke tests of the script.

Each timed round is one `fit` call (one training loop for HF) of `--steps`
steps; a callback (or the loop) reads the loss after every step, which
synchronises every backend. Throughput counts steps 2..N of a round, timed
from the end of step 1 to the end of step N, so per-call `fit` set-up is
left out. Peak memory is each child process's resident-set high-water mark
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) at the end, which includes the
framework itself; the RSS after building the model (before any training
step) is shown beside it.

`--device gpu` trains HF and the jax and torch backends on the first CUDA
GPU (autocast on "cuda" for `hf-torch-bf16`); the loss read after every
step waits for the GPU. Use `--threads 0` there.

Run: `python benchmarks/classifier_training.py [--repeats 3] [--steps 6]`
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DEFAULT_VARIANTS = "hf-torch,keras-tensorflow,keras-jax,keras-torch"
# case -> (config, layers, batch size, sequence length)
CASES = {
    "small4-8x64": ("small", 4, 8, 64),
    "small12-32x128": ("small", 12, 32, 128),
    "tiny-2x16": ("tiny", 2, 2, 16),
}
# glibc settings that keep freed memory in the heap: XLA's CPU runtime maps a
# fresh temporary buffer for every execution (2 GB for ELECTRA-Small at
# 32 x 128), and faulting its pages in costs about 0.9 s of each step.
HEAP_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(1 << 34),
}
# glibc >= 2.35: `madvise(MADV_HUGEPAGE)` on the memory malloc maps.
THP_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
# TensorFlow's Eigen kernels instead of oneDNN's (read at TensorFlow's import).
EIGEN_ENV = {"TF_ENABLE_ONEDNN_OPTS": "0"}
ENVIRONMENTS = {"heap": HEAP_ENV, "thp": THP_ENV, "eigen": EIGEN_ENV}
LEARNING_RATE = 5e-5
WEIGHT_DECAY = 0.01
EPSILON = 1e-6
NUM_CLASSES = 2


def parse_variant(name):
    """`keras-torch-adamw` -> ("keras", "torch", "adamw")."""
    if name in ("hf-torch", "hf-torch-bf16"):
        return "hf", "torch", "bf16" if name.endswith("bf16") else None
    parts = name.split("-")
    if len(parts) not in (2, 3) or parts[0] != "keras":
        raise ValueError(f"unknown variant {name!r}")
    if parts[1] not in ("tensorflow", "jax", "torch"):
        raise ValueError(f"unknown backend in variant {name!r}")
    option = parts[2] if len(parts) == 3 else None
    known = ("adamw", "bf16", "jit", "keep", *ENVIRONMENTS)
    if option is not None and not set(option.split("+")) <= set(known):
        raise ValueError(f"unknown option in variant {name!r}")
    return "keras", parts[1], option


def has_option(option, name):
    """Whether the variant's option (`bf16`, or several: `bf16+keep`)
    includes `name`."""
    return option is not None and name in option.split("+")


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def load_data(spec):
    data = np.load(spec["data_path"])
    x = {k: data[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    return x, data["labels"]


def setup_hf(spec):
    import torch
    import transformers

    harness.apply_threads(spec["threads"])
    device = harness.torch_device(spec)
    config = transformers.ElectraConfig(
        **spec["hf_config"], num_labels=NUM_CLASSES
    )
    model = transformers.ElectraForSequenceClassification(config)
    state = {
        k: torch.from_numpy(v) for k, v in np.load(spec["weights_path"]).items()
    }
    model.load_state_dict(state)
    model.to(device).train()
    # The usual BERT/ELECTRA recipe: no weight decay on biases and norms.
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        skip = name.endswith("bias") or "LayerNorm" in name
        (no_decay if skip else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=LEARNING_RATE,
        eps=EPSILON,
    )
    x, y = load_data(spec)
    batch_size = spec["batch_size"]
    batches = []
    for start in range(0, len(y), batch_size):
        rows = slice(start, start + batch_size)
        arrays = {hf: x[ours][rows] for hf, ours in harness.HF_INPUTS.items()}
        arrays["labels"] = y[rows]
        batches.append(
            {k: torch.from_numpy(v).long().to(device) for k, v in arrays.items()}
        )
    rss_built = harness.current_rss_mb()

    def train(steps):
        """Returns the time at the end of each step and the losses."""
        ends, losses = [], []
        bf16 = has_option(spec["option"], "bf16")
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                loss = model(**batches[step % len(batches)]).loss
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            ends.append((time.perf_counter(), harness.cpu_seconds()))
        return ends, losses

    info = {
        "threads": torch.get_num_threads(),
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return info, train, rss_built


def setup_keras(spec):
    import keras

    import keras_electra
    from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
    from keras_electra.convert.hf_heads import load_hf_tensors
    from keras_electra.models.electra_backbone import ElectraBackbone
    from keras_electra.models.electra_classifier import ElectraClassifier

    if has_option(spec["option"], "keep"):
        keras_electra.keep_freed_memory()
    harness.apply_threads(spec["threads"])
    backbone = ElectraBackbone(
        **backbone_kwargs_from_hf_config(spec["hf_config"]),
        dtype="mixed_bfloat16" if has_option(spec["option"], "bf16") else None,
    )
    classifier = ElectraClassifier(
        backbone, num_classes=NUM_CLASSES, preprocessor=None
    )
    load_hf_tensors(classifier, dict(np.load(spec["weights_path"])))
    compile_options = {}
    if has_option(spec["option"], "jit"):
        compile_options["jit_compile"] = True
    if has_option(spec["option"], "adamw"):
        # Keras' own AdamW (same hyper-parameters, no layer-wise decay):
        # on torch Keras swaps it for its fused `torch._foreach` version.
        optimizer = keras.optimizers.AdamW(
            LEARNING_RATE, weight_decay=WEIGHT_DECAY, epsilon=EPSILON
        )
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
        compile_options["optimizer"] = optimizer
    if compile_options:
        classifier.compile(**compile_options)
    x, y = load_data(spec)
    batch_size = spec["batch_size"]
    rss_built = harness.current_rss_mb()

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends, self.losses = [], []

        def on_train_batch_end(self, batch, logs=None):
            # Reading the loss waits for the step (JAX dispatches async).
            self.losses.append(float(logs["loss"]))
            self.ends.append((time.perf_counter(), harness.cpu_seconds()))

    def train(steps):
        rows = slice(0, steps * batch_size)
        clock = StepClock()
        classifier.fit(
            {k: v[rows] for k, v in x.items()},
            y[rows],
            batch_size=batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[clock],
        )
        return clock.ends, clock.losses

    info = {
        "package": os.path.dirname(keras_electra.__file__),
        "backend": keras.backend.backend(),
        "jit_compile": bool(classifier.jit_compile),
        "optimizer": type(classifier.optimizer).__name__,
        "parameters": int(classifier.count_params()),
    }
    return info, train, rss_built


def worker_setup(spec):
    start = time.perf_counter()
    if spec["framework"] == "hf":
        info, train, rss_built = setup_hf(spec)
    else:
        info, train, rss_built = setup_keras(spec)
    t0 = time.perf_counter()
    _, warmup_losses = train(spec["warmup"])
    info.update(
        rss_built_mb=rss_built,
        warmup_seconds=time.perf_counter() - t0,
        setup_seconds=time.perf_counter() - start,
        first_loss=warmup_losses[0],
    )

    def handler(command):
        if command["cmd"] != "run":
            return {}
        ends, losses = train(command["steps"])
        wall = ends[-1][0] - ends[0][0]
        cpu = ends[-1][1] - ends[0][1]
        step_times = [b[0] - a[0] for a, b in zip(ends, ends[1:])]
        return {
            "wall": wall,
            "cpu": cpu,
            "steps": len(ends) - 1,
            "step_times": step_times,
            "losses": losses,
        }

    return info, handler


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def write_fixtures(args, out_dir):
    import torch
    import transformers

    hf_config = dict(
        harness.ELECTRA_CONFIGS[CASES[args.case][0]],
        num_hidden_layers=args.layers,
    )
    torch.manual_seed(args.seed)
    model = transformers.ElectraForSequenceClassification(
        transformers.ElectraConfig(**hf_config, num_labels=NUM_CLASSES)
    )
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    weights_path = os.path.join(out_dir, "weights.npz")
    np.savez(weights_path, **weights)
    rows = args.batch_size * max(args.steps, args.warmup)
    x = harness.integer_batch(
        hf_config["vocab_size"], rows, args.sequence_length, seed=args.seed
    )
    # Shuffle the rows so that every batch mixes padding lengths.
    order = np.random.default_rng(args.seed).permutation(rows)
    x = {k: v[order] for k, v in x.items()}
    labels = (np.arange(rows) % NUM_CLASSES).astype("int32")
    data_path = os.path.join(out_dir, "data.npz")
    np.savez(data_path, labels=labels, **x)
    return hf_config, weights_path, data_path


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Training throughput and peak RSS of keras_electra.ElectraClassifier"
            ".fit (tensorflow, jax, torch) vs an HF "
            "ElectraForSequenceClassification + AdamW loop."
        )
    )
    harness.add_common_arguments(parser, repeats=3)
    harness.add_baseline_argument(parser)
    parser.add_argument(
        "--steps",
        type=int,
        default=6,
        help="training steps per timed round (default 6; step 1 is not timed)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="untimed steps before the rounds (default 2)",
    )
    parser.add_argument(
        "--case",
        default="small4-8x64",
        choices=sorted(CASES),
        help="model and batch (default small4-8x64; small12-32x128 is the "
        "full ELECTRA-Small)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: the case's"
    )
    parser.add_argument(
        "--sequence-length", type=int, default=None, help="default: the case's"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="transformer layers (default: the case's; ELECTRA-Small has 12)",
    )
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS, help=f"default {DEFAULT_VARIANTS}"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)
    if args.steps < 2:
        parser.error("--steps must be at least 2")
    _, layers, batch_size, sequence_length = CASES[args.case]
    args.layers = args.layers or layers
    args.batch_size = args.batch_size or batch_size
    args.sequence_length = args.sequence_length or sequence_length

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    baseline = {v: harness.split_baseline(v, args) for v in variants}
    parsed = {v: parse_variant(baseline[v][0]) for v in variants}
    gpu = harness.check_device(args.device)
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_training_bench_")
    hf_config, weights_path, data_path = write_fixtures(args, out_dir)
    specs = []
    for name in variants:
        framework, backend, option = parsed[name]
        spec = dict(
            name=name,
            framework=framework,
            option=option,
            hf_config=hf_config,
            weights_path=weights_path,
            data_path=data_path,
            batch_size=args.batch_size,
            warmup=args.warmup,
            threads=args.threads,
            device=args.device,
        )
        env = harness.child_env(backend, args)
        for setting, environment in ENVIRONMENTS.items():
            if has_option(option, setting):
                env.update(environment)
        env.update(baseline[name][1])
        specs.append((name, spec, env))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    failed = {}
    workers = harness.start_workers(
        __file__, specs, log_dir=out_dir, failed=failed
    )
    variants = [w.name for w in workers]
    ready = {w.name: w.ready for w in workers}
    try:
        results = harness.run_rounds(
            workers, args.repeats, {"cmd": "run", "steps": args.steps}
        )
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    print(
        harness.report_header(
            "Classifier training: ElectraClassifier.fit vs HF "
            "ElectraForSequenceClassification + AdamW",
            ["benchmarks/classifier_training.py"] + sys.argv[1:],
            info,
            load_before,
            load_after,
        )
    )
    print(f"- threads per framework: {args.threads or 'framework default'}")
    harness.report_failed(failed)
    if gpu:
        print(f"- device: {gpu} (HF, jax, torch); read the wall-time columns")
    config = harness.ELECTRA_CONFIGS[CASES[args.case][0]]
    print(
        f"- case {args.case}: {CASES[args.case][0]} widths "
        f"(E={config['embedding_size']}, H={config['hidden_size']}, heads "
        f"{config['num_attention_heads']}, I={config['intermediate_size']}, "
        f"vocab {config['vocab_size']}) with {args.layers} layers; batch {args.batch_size} x "
        f"length {args.sequence_length}; {args.repeats} rounds of "
        f"{args.steps} steps ({args.steps - 1} timed), {args.warmup} warm-up "
        "steps excluded"
    )
    if "hf-torch" in ready:
        print(
            f"- HF attention implementation: "
            f"{ready['hf-torch'].get('attn_implementation')}"
        )
    print()
    rows = []
    payload = {"script": "classifier_training", "machine": info,
               "load_before": load_before,
               "load_after": load_after, "args": vars(args), "ready": ready,
               "finals": finals, "results": results, "failed": failed}
    reference = None
    summaries = {}
    for variant in variants:
        rounds = results[variant]
        throughput = [
            args.batch_size * r["steps"] / r["wall"] for r in rounds
        ]
        steps = [t for r in rounds for t in r["step_times"]]
        cpu_per_step = sum(r["cpu"] for r in rounds) / sum(
            r["steps"] for r in rounds
        )
        summaries[variant] = (harness.summary(throughput), steps, cpu_per_step)
    if "hf-torch" in summaries:
        reference = summaries["hf-torch"][0]["median"]
    for variant in variants:
        tput, steps, cpu_per_step = summaries[variant]
        rounds = results[variant]
        losses = [loss for r in rounds for loss in r["losses"]]
        rows.append(
            [
                variant,
                ready[variant].get("optimizer", "torch AdamW"),
                f"{harness.fmt(tput['median'])} "
                f"({harness.fmt(tput['min'])}-{harness.fmt(tput['max'])})",
                f"{100 * tput['spread']:.0f} %",
                harness.fmt(1000 * harness.percentile(steps, 0.5), 0),
                harness.fmt(1000 * cpu_per_step, 0),
                f"{tput['median'] / reference:.2f}x" if reference else "n/a",
                harness.fmt(ready[variant]["rss_built_mb"], 0),
                harness.fmt(finals[variant].get("peak_rss_mb"), 0),
                f"{ready[variant]['first_loss']:.3f} -> {losses[-1]:.3f}",
                f"{ready[variant]['warmup_seconds']:.1f}",
            ]
        )
    print(
        harness.markdown_table(
            [
                "variant",
                "optimizer",
                "seq/s median (min-max)",
                "spread",
                "step p50 ms",
                "CPU ms / step",
                "vs HF",
                "RSS after build MiB",
                "peak RSS MiB",
                "loss first -> last",
                "warm-up s",
            ],
            rows,
        )
    )
    harness.write_json(args.json, payload)
    if failed:  # Their logs stay in out_dir.
        return 1
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
