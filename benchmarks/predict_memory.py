"""Does `predict` over a stream of raw strings run in flat memory?

`ElectraClassifier.predict` on N raw review strings that come from a Python
generator through `tf.data.Dataset.from_generator` (never a list in memory),
for each N in `--counts`, each N in a fresh child process. A thread samples
the child's resident set every 0.2 s; the table gives the RSS before
`predict`, the highest RSS during it, the growth, the RSS at the end and the
process's peak. Flat memory: the growth does not scale with N (only the
outputs, N x num_classes float32, have to grow).

    python benchmarks/predict_memory.py                      # 5,000 and 50,000
    python benchmarks/predict_memory.py --counts 500 1000 --batch-size 16
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import harness  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--counts", type=int, nargs="+",
                        default=[5_000, 50_000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--preset", default="electra_tiny_uncased_en",
                        help="the classifier's encoder")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads per child (0: all cores)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def reviews(count):
    """`count` strings cycled from the bundled reviews, one at a time."""
    from keras_electra.__main__ import load_reviews

    texts, _ = load_reviews("train")
    for i in range(count):
        # A number keeps every string distinct (no caching can help).
        yield f"{texts[i % len(texts)]} ({i})"


class RssSampler(threading.Thread):
    def __init__(self, interval=0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.samples.append(harness.current_rss_mb())
            time.sleep(self.interval)

    def stop(self):
        self.stopped.set()
        self.join()
        return self.samples


def child(args):
    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from keras_electra import ElectraClassifier

    keras.utils.set_random_seed(0)
    classifier = ElectraClassifier.from_preset(
        args.preset, num_classes=2, sequence_length=args.sequence_length)
    data = tf.data.Dataset.from_generator(
        lambda: reviews(args.child),
        output_signature=tf.TensorSpec((), tf.string),
    ).batch(args.batch_size)
    # One batch first, so that tracing is not counted as growth.
    classifier.predict(data.take(1), verbose=0)
    before = harness.current_rss_mb()
    sampler = RssSampler()
    sampler.start()
    started = time.perf_counter()
    outputs = classifier.predict(data, verbose=0)
    seconds = time.perf_counter() - started
    samples = sampler.stop() or [before]
    assert outputs.shape == (args.child, 2), outputs.shape
    print(json.dumps({
        "count": args.child,
        "rss_before_mb": before,
        "rss_max_during_mb": max(samples),
        "growth_mb": max(samples) - before,
        "rss_after_mb": harness.current_rss_mb(),
        "peak_rss_mb": harness.peak_rss_mb(),
        "outputs_mb": outputs.nbytes / 2**20,
        "strings_per_second": args.child / seconds,
    }), flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        return child(args)
    load_before = os.getloadavg()
    rows = []
    for count in args.counts:
        command = [sys.executable, os.path.abspath(__file__),
                   "--child", str(count),
                   "--batch-size", str(args.batch_size),
                   "--sequence-length", str(args.sequence_length),
                   "--preset", args.preset, "--threads", str(args.threads)]
        result = subprocess.run(command, capture_output=True, text=True,
                                env={**os.environ, **harness.CHILD_ENV})
        if result.returncode != 0:
            sys.exit(f"child for {count} strings failed:\n"
                     f"{result.stderr[-3000:]}")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    info = harness.machine_info()
    print(harness.report_header(
        "predict memory over streamed raw strings", sys.argv, info,
        load_before, os.getloadavg()))
    print()
    print(harness.markdown_table(
        ["strings", "RSS before MB", "max during MB", "growth MB",
         "RSS after MB", "peak RSS MB", "outputs MB", "strings/s"],
        [[f"{r['count']:,}", harness.fmt(r["rss_before_mb"]),
          harness.fmt(r["rss_max_during_mb"]), harness.fmt(r["growth_mb"]),
          harness.fmt(r["rss_after_mb"]), harness.fmt(r["peak_rss_mb"]),
          harness.fmt(r["outputs_mb"], 2),
          harness.fmt(r["strings_per_second"], 0)] for r in rows],
    ))


if __name__ == "__main__":
    main()
