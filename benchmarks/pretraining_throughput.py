"""`ElectraPretrainer.fit` throughput per Keras backend, and its overhead.

Model: the architecture of the bundled `electra_tiny_uncased_en`
(vocabulary 8,000, discriminator H=E=128 with `--layers` 3 layers, 2 heads,
I=512; generator from `ElectraPretrainer.generator_backbone_for`, 1/4 as
wide, shared embeddings), sequences of `--sequence-length` 128, batch
`--batch-size` 32, masked 15 % as ELECTRA does, Google's optimizer
(`compile()` defaults: AdamW, weight decay, global-norm clipping, warm-up).
The integer batches are made once by the parent from the bundled Austen
novels (`pretraining_dataset` + `ElectraPretrainerPreprocessor`, ids folded
into the 8,000-token vocabulary) and shared by all children. No HF
baseline: transformers has no ELECTRA pre-training.

Each backend runs in its own child (`keras-tensorflow`, `keras-jax`,
`keras-torch`); after `--warmup` untimed steps (tracing, compilation) the
parent asks the children in turn, order alternating, for timed rounds. A
round is one `fit(x, batch_size=B, shuffle=False)` of `--steps` steps; a
callback reads the loss after every step (which synchronises every
backend), and steps 2..N are timed (per-call `fit` set-up left out). Both
wall and CPU time are recorded; tokens/s = B x L x steps / wall seconds.

Share of a step spent outside the two models. In the same child and
round, on the same batches, a second Keras model ("models only") is fitted
the same way: a Functional model over the *same* generator and
discriminator layers (shared weights), whose loss is the generator's
masked-LM cross-entropy at the masked positions plus 50 x the
discriminator's sigmoid cross-entropy on the *uncorrupted* ids (all labels
"original"), with the same optimizer configuration. It runs both models'
forward and backward passes and the optimizer update, but not the
sampling of replacements (categorical sampling over the vocabulary, the
scatter of samples into the ids, the labels), the pre-trainer's extra
outputs (accuracies, replaced fraction) and its metrics (mean trackers,
replaced-token precision, recall and AUC). The share outside the models is
`1 - CPU per step (models only) / CPU per step (full fit)`, also given in
wall time.

    python benchmarks/pretraining_throughput.py [--repeats 3] [--steps 6]
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

BACKENDS = ("tensorflow", "jax", "torch")
VOCABULARY_SIZE = 8000
INPUT_KEYS = (
    "token_ids", "segment_ids", "padding_mask", "mask_positions", "mask_ids",
    "mask_weights",
)


def write_batches(args, path):
    """Masked integer batches from real text (the preprocessor's output)."""
    from keras_electra import ElectraPretrainerPreprocessor
    from keras_electra import ElectraTokenizer
    from keras_electra.pretraining import pretraining_dataset

    tokenizer = ElectraTokenizer()
    preprocessor = ElectraPretrainerPreprocessor(
        tokenizer, sequence_length=args.sequence_length,
        mask_selection_length=int(0.15 * args.sequence_length) + 1)
    novels = os.path.join(harness.REPO_ROOT, "keras_electra", "data",
                          "austen_novels.txt.gz")
    steps = max(args.steps, args.warmup)
    dataset = pretraining_dataset(novels, tokenizer, args.sequence_length,
                                  seed=0).batch(args.batch_size)
    parts = []
    for packed in dataset.take(steps):
        x = {k: np.asarray(v) for k, v in preprocessor(packed).items()}
        for key in ("token_ids", "mask_ids"):
            x[key] = x[key] % VOCABULARY_SIZE
        parts.append(x)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in INPUT_KEYS}
    np.savez(path, **arrays)


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def models_only(pretrainer):
    """The pre-trainer's two models and losses, without sampling or metrics."""
    import keras
    from keras import ops

    from keras_electra.models.electra_pretrainer import _sigmoid_cross_entropy
    from keras_electra.models.electra_pretrainer import _weighted_mean

    class LossModel(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None,
                         sample_weight=None, training=True):
            return ops.mean(y_pred["loss"])

    inputs = {
        k: keras.Input((None,), dtype=pretrainer.input[k].dtype, name=k)
        for k in INPUT_KEYS
    }
    features = {k: inputs[k] for k in ("token_ids", "segment_ids",
                                       "padding_mask")}
    generator_logits = pretrainer.generator(
        {**features, "mask_positions": inputs["mask_positions"]})
    generator_loss = _weighted_mean(
        keras.losses.sparse_categorical_crossentropy(
            inputs["mask_ids"], generator_logits, from_logits=True),
        inputs["mask_weights"])
    discriminator_logits = pretrainer.discriminator(features)
    discriminator_loss = _weighted_mean(
        _sigmoid_cross_entropy(ops.zeros_like(discriminator_logits),
                               discriminator_logits),
        features["padding_mask"])
    loss = generator_loss + pretrainer.discriminator_loss_weight * (
        discriminator_loss)
    model = LossModel(inputs=inputs, outputs={"loss": loss})
    return model


def optimizer_like_compile(warmup_steps):
    """The optimizer `ElectraPretrainer.compile()` builds by default."""
    import keras

    from keras_electra.optimizers.warmup_linear_decay import WarmupLinearDecay

    optimizer = keras.optimizers.AdamW(
        learning_rate=WarmupLinearDecay(5e-4, warmup_steps=warmup_steps),
        weight_decay=0.01, global_clipnorm=1.0, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def worker_setup(spec):
    import keras

    import keras_electra
    from keras_electra import ElectraBackbone
    from keras_electra import ElectraPretrainer

    start = time.perf_counter()
    if spec["keep"]:
        keras_electra.keep_freed_memory()
    harness.apply_threads(spec["threads"])
    keras.utils.set_random_seed(0)
    discriminator = ElectraBackbone(
        vocabulary_size=VOCABULARY_SIZE, num_layers=spec["layers"],
        num_heads=2, hidden_dim=128, embedding_dim=128, intermediate_dim=512,
        max_sequence_length=spec["sequence_length"])
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    pretrainer = ElectraPretrainer(generator, discriminator, seed=0)
    pretrainer.compile(warmup_steps=10)
    plain = models_only(pretrainer)
    plain.compile(optimizer=optimizer_like_compile(10))
    data = np.load(spec["data_path"])
    x = {k: data[k] for k in INPUT_KEYS}
    batch_size = spec["batch_size"]

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # synchronise (JAX dispatches async)
            self.ends.append((time.perf_counter(), harness.cpu_seconds()))

    def train(model, steps):
        rows = slice(0, steps * batch_size)
        clock = StepClock()
        model.fit({k: v[rows] for k, v in x.items()}, batch_size=batch_size,
                  epochs=1, shuffle=False, verbose=0, callbacks=[clock])
        ends = clock.ends
        return {
            "wall": ends[-1][0] - ends[0][0],
            "cpu": ends[-1][1] - ends[0][1],
            "steps": len(ends) - 1,
        }

    models = {"fit": pretrainer, "models": plain}
    warmup = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        train(model, spec["warmup"])
        warmup[name] = time.perf_counter() - t0
    info = {
        "backend": keras.config.backend(),
        "warmup_seconds": warmup,
        "setup_seconds": time.perf_counter() - start,
        "parameters": int(pretrainer.count_params()),
    }

    def handler(command):
        if command["cmd"] != "run":
            return {}
        return train(models[command["model"]], command["steps"])

    return info, handler


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="ElectraPretrainer.fit tokens/s per Keras backend, and "
        "the share of a step spent outside the generator and discriminator."
    )
    harness.add_common_arguments(parser, repeats=3)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated (default tensorflow,jax,torch); "
                        "<backend>-keep calls keras_electra.keep_freed_memory() "
                        "in the child first")
    parser.add_argument("--steps", type=int, default=6,
                        help="steps per timed round (step 1 not timed; default 6)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps per model before the rounds (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3,
                        help="discriminator (and generator) layers (default 3)")
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)
    if args.steps < 2:
        parser.error("--steps must be at least 2")

    # (entry, backend, whether the child keeps freed memory)
    backends = [(b, b.removesuffix("-keep"), b.endswith("-keep"))
                for b in (b.strip() for b in args.backends.split(",")) if b]
    for entry, backend, _ in backends:
        if backend not in BACKENDS:
            parser.error(f"unknown backend {entry!r}")
    harness.check_device(args.device)
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_pretraining_bench_")
    data_path = os.path.join(out_dir, "batches.npz")
    write_batches(args, data_path)
    specs = []
    for entry, backend, keep in backends:
        name = f"keras-{entry}"
        spec = dict(name=name, data_path=data_path, threads=args.threads,
                    layers=args.layers, batch_size=args.batch_size,
                    sequence_length=args.sequence_length, warmup=args.warmup,
                    keep=keep)
        specs.append((name, spec, harness.child_env(backend, args)))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    workers = harness.start_workers(__file__, specs, log_dir=out_dir)
    ready = {w.name: w.ready for w in workers}
    results = {w.name: {"fit": [], "models": []} for w in workers}
    try:
        for r in range(args.repeats):
            order = workers if r % 2 == 0 else workers[::-1]
            for worker in order:
                for model in ("fit", "models") if r % 2 == 0 else ("models", "fit"):
                    results[worker.name][model].append(worker.request(
                        cmd="run", model=model, steps=args.steps))
            harness.ROUND_LOADS.append(harness.loadavg().split()[0])
            print(f"  round {r + 1}/{args.repeats} done (load "
                  f"{harness.loadavg()})", file=sys.stderr, flush=True)
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    print(harness.report_header(
        "Pre-training throughput: ElectraPretrainer.fit per backend",
        ["benchmarks/pretraining_throughput.py"] + sys.argv[1:],
        info, load_before, load_after))
    print(f"- threads per framework: {args.threads or 'framework default'}")
    print(f"- discriminator: vocabulary {VOCABULARY_SIZE}, H=E=128, "
          f"{args.layers} layers, 2 heads, I=512; generator 1/4 as wide; "
          f"batch {args.batch_size} x length {args.sequence_length}; "
          f"{args.repeats} rounds of {args.steps} steps ({args.steps - 1} "
          f"timed) per model, {args.warmup} warm-up steps excluded")
    print("- \"models only\": the same generator and discriminator, forward + "
          "backward + optimizer, without sampling, corruption and metrics "
          "(see the docstring)")
    print()
    tokens = args.batch_size * args.sequence_length
    rows = []
    summary = {}
    for worker in workers:
        name = worker.name
        per = {}
        for model in ("fit", "models"):
            rounds = results[name][model]
            steps = sum(r["steps"] for r in rounds)
            per[model] = {
                "tokens_per_second": harness.summary(
                    [tokens * r["steps"] / r["wall"] for r in rounds]),
                "cpu_per_step": sum(r["cpu"] for r in rounds) / steps,
                "wall_per_step": sum(r["wall"] for r in rounds) / steps,
            }
        fit, plain = per["fit"], per["models"]
        outside_cpu = 1 - plain["cpu_per_step"] / fit["cpu_per_step"]
        outside_wall = 1 - plain["wall_per_step"] / fit["wall_per_step"]
        summary[name] = dict(per, outside_cpu=outside_cpu,
                             outside_wall=outside_wall)
        tput = fit["tokens_per_second"]
        rows.append([
            name,
            f"{harness.fmt(tput['median'], 0)} "
            f"({harness.fmt(tput['min'], 0)}-{harness.fmt(tput['max'], 0)})",
            f"{100 * tput['spread']:.0f} %",
            harness.fmt(1000 * fit["wall_per_step"], 0),
            harness.fmt(1000 * fit["cpu_per_step"], 0),
            harness.fmt(1000 * plain["cpu_per_step"], 0),
            f"{100 * outside_cpu:.0f} %",
            f"{100 * outside_wall:.0f} %",
            f"{ready[name]['warmup_seconds']['fit']:.1f}",
            harness.fmt(finals[name].get("peak_rss_mb"), 0),
        ])
    print(harness.markdown_table(
        ["variant", "fit tokens/s median (min-max)", "spread",
         "wall ms / step", "CPU ms / step", "models only CPU ms / step",
         "outside the models (CPU)", "outside the models (wall)",
         "warm-up s", "peak RSS MiB"],
        rows))
    harness.write_json(args.json, {
        "script": "pretraining_throughput", "machine": info,
        "load_before": load_before, "load_after": load_after,
        "args": vars(args), "ready": ready, "finals": finals,
        "results": results, "summary": summary})
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
