"""`ElectraPretrainer.fit` throughput per Keras backend, in tokens per second.

The architecture of the bundled `electra_tiny_uncased_en` (vocabulary 8,000,
discriminator H=E=128 with 3 layers and 2 heads, generator 1/4 as wide with
shared embeddings), sequences of 128, batch 32, masked 15 % as ELECTRA does
(20 masked positions), Google's optimizer (`compile()` defaults). Each
backend runs in its own process on the same integer batches (drawn from the
bundled Austen novels, tokenized with the BERT vocabulary's first 8,000 ids
folded in); `--steps` timed steps follow `--warmup` untimed ones (compile
and tracing), so set-up is left out. No HF baseline: transformers has no
ELECTRA pre-training.

    python benchmarks/pretraining_throughput.py [--steps 20] [--threads 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per framework (0: its default)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def batches(args):
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
    dataset = pretraining_dataset(novels, tokenizer, args.sequence_length,
                                  seed=0).batch(args.batch_size)
    for packed in dataset.take(args.warmup + args.steps):
        x = {k: np.asarray(v) for k, v in preprocessor(packed).items()}
        for key in ("token_ids", "mask_ids"):
            x[key] = x[key] % 8000  # the tiny preset's vocabulary size
        yield x


def worker(args):
    import keras

    harness.apply_threads(args.threads or None)

    from keras_electra import ElectraBackbone
    from keras_electra import ElectraPretrainer

    keras.utils.set_random_seed(0)
    discriminator = ElectraBackbone(
        vocabulary_size=8000, num_layers=args.layers, num_heads=2,
        hidden_dim=128, embedding_dim=128, intermediate_dim=512,
        max_sequence_length=args.sequence_length)
    generator = ElectraPretrainer.generator_backbone_for(discriminator)
    pretrainer = ElectraPretrainer(generator, discriminator, seed=0)
    pretrainer.compile(warmup_steps=10)
    data = list(batches(args))
    times = []
    for i, x in enumerate(data):
        started = time.perf_counter()
        logs = pretrainer.train_on_batch(x, return_dict=True)
        float(logs["loss"])  # synchronise
        if i >= args.warmup:
            times.append(time.perf_counter() - started)
    tokens = args.batch_size * args.sequence_length
    print(json.dumps({
        "backend": keras.config.backend(),
        "steps": len(times),
        "seconds_per_step": sum(times) / len(times),
        "tokens_per_second": tokens * len(times) / sum(times),
        "peak_rss_mb": round(harness.peak_rss_mb()),
    }))


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    load_before = harness.loadavg()
    results = []
    for backend in args.backends:
        env = {**os.environ, **harness.CHILD_ENV, "KERAS_BACKEND": backend}
        if args.threads:
            env.update(harness.thread_env(args.threads))
        command = [sys.executable, os.path.abspath(__file__), "--worker", "1",
                   *[a for a in (argv or sys.argv[1:])]]
        done = subprocess.run(command, env=env, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{backend} worker failed:\n"
                               f"{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    info = harness.machine_info()
    print(f"# ElectraPretrainer throughput ({info['cpu']}, "
          f"{info['usable_cores']} usable cores, load {load_before} -> "
          f"{harness.loadavg()})")
    print(harness.markdown_table(
        ["backend", "s/step", "tokens/s", "peak RSS MB"],
        [[r["backend"], harness.fmt(r["seconds_per_step"], 3),
          harness.fmt(r["tokens_per_second"], 0), r["peak_rss_mb"]]
         for r in results]))


if __name__ == "__main__":
    main()
