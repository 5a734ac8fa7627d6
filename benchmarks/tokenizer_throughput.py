"""Tokenizer throughput: `ElectraTokenizer` in tf.data vs HF `BertTokenizerFast`.

Both tokenize the 5,000 bundled Amazon fine-food reviews
(`keras_electra/data/fine_foods/{train,test}.csv`, column `review`) in
batches, with the bundled BERT uncased vocabulary:

- `keras-tokenizer`: `ElectraTokenizer()` mapped over
  `tf.data.Dataset.from_tensor_slices(texts).batch(B)` (ragged int32 ids,
  no special tokens); the dataset is built once and iterated once per round.
- `hf-fast`: `transformers.BertTokenizerFast(vocab=<same file>)` (Rust),
  `tokenizer(batch, add_special_tokens=False)["input_ids"]` over the same
  batches. (`vocab_file=` is silently ignored by transformers 5 and maps
  every word to `[UNK]`; the script checks a known tokenization first.)

Extra variants: `keras-preprocessor` (`ElectraClassifierPreprocessor`,
`[CLS] ... [SEP]` packed and padded to `--sequence-length`, in tf.data) vs
`hf-fast-padded` (`truncation=True, padding="max_length"`,
`return_tensors="np"`), `keras-eager` (`tokenizer(list_of_strings)`
called eagerly per batch, no tf.data) and `keras-ragged-ids`
(`tokenizer.ragged_token_ids(list_of_strings)` per batch, as `fit`,
`evaluate` and `predict` tokenize in-memory texts, in chunks of 1,024:
compare it with `hf-fast` at `--batch-size 1024`).

The table also reports how many of the 5,000 reviews get identical ids
from the Keras and HF variants (a throughput number for a tokenizer that
gives different tokens would mean little).

Run: `python benchmarks/tokenizer_throughput.py [--repeats 5] [--batch-size 32]`
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DATA_DIR = os.path.join(harness.REPO_ROOT, "keras_electra", "data")
VOCAB_PATH = os.path.join(DATA_DIR, "bert_uncased_vocab.txt")
DEFAULT_VARIANTS = "hf-fast,keras-tokenizer"
VARIANTS = {
    "keras-tokenizer": "`ElectraTokenizer()` in `tf.data` `.batch(B).map(...)`",
    "keras-preprocessor": "`ElectraClassifierPreprocessor` in `tf.data`, padded",
    "keras-eager": "`ElectraTokenizer()(list_of_strings)` eagerly per batch",
    "keras-ragged-ids": "`ElectraTokenizer().ragged_token_ids(list_of_strings)` per batch",
    "hf-fast": "`BertTokenizerFast(vocab=...)(batch, add_special_tokens=False)`",
    "hf-fast-padded": "`BertTokenizerFast(...)(batch, truncation, padding=max_length)`",
}
# Pairs whose ids are compared: (keras variant, HF variant).
PARITY_PAIRS = (
    ("keras-tokenizer", "hf-fast"),
    ("keras-eager", "hf-fast"),
    ("keras-ragged-ids", "hf-fast"),
    ("keras-preprocessor", "hf-fast-padded"),
)
KNOWN = ("The quick brown fox.", [1996, 4248, 2829, 4419, 1012])


def load_reviews(limit=None):
    texts = []
    for name in ("train.csv", "test.csv"):
        with open(os.path.join(DATA_DIR, "fine_foods", name), newline="") as f:
            texts.extend(row["review"] for row in csv.DictReader(f))
    return texts[:limit] if limit else texts


def batches(texts, batch_size):
    return [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def setup_hf(spec, texts):
    import transformers

    harness.apply_threads(spec["threads"])
    tokenizer = transformers.BertTokenizerFast(vocab=VOCAB_PATH, do_lower_case=True)
    ids = tokenizer(KNOWN[0], add_special_tokens=False)["input_ids"]
    if ids != KNOWN[1]:
        raise RuntimeError(
            f"BertTokenizerFast did not load the vocabulary: {ids} != {KNOWN[1]}"
        )
    chunks = batches(texts, spec["batch_size"])
    if spec["name"] == "hf-fast":

        def one_pass():
            out = []
            for chunk in chunks:
                out.extend(tokenizer(chunk, add_special_tokens=False)["input_ids"])
            return out

        to_lists = lambda out: out  # noqa: E731

    else:
        length = spec["sequence_length"]

        def one_pass():
            return [
                tokenizer(
                    chunk,
                    truncation=True,
                    padding="max_length",
                    max_length=length,
                    return_tensors="np",
                )["input_ids"]
                for chunk in chunks
            ]

        def to_lists(out):
            return [row.tolist() for array in out for row in array]

    return {"tokenizers_backend": type(tokenizer).__name__}, one_pass, to_lists


def setup_keras(spec, texts):
    import tensorflow as tf

    from keras_electra.models.electra_tokenizer import ElectraTokenizer

    harness.apply_threads(spec["threads"])
    tokenizer = ElectraTokenizer()
    ids = tokenizer(KNOWN[0])
    ids = ids.numpy().tolist() if hasattr(ids, "numpy") else list(ids)
    if ids != KNOWN[1]:
        raise RuntimeError(f"ElectraTokenizer gave {ids} != {KNOWN[1]}")
    name = spec["name"]
    if name in ("keras-eager", "keras-ragged-ids"):
        chunks = batches(texts, spec["batch_size"])
        call = tokenizer if name == "keras-eager" else (
            lambda chunk: tokenizer.ragged_token_ids(chunk, len(chunk))
        )

        def one_pass():
            return [call(chunk) for chunk in chunks]

        def to_lists(out):
            rows = []
            for ids in out:
                if hasattr(ids, "to_list"):
                    ids = ids.to_list()
                rows.extend([list(map(int, row)) for row in ids])
            return rows

        return {}, one_pass, to_lists

    if name == "keras-preprocessor":
        from keras_electra.models.electra_classifier_preprocessor import (
            ElectraClassifierPreprocessor,
        )

        fn = ElectraClassifierPreprocessor(
            tokenizer, sequence_length=spec["sequence_length"]
        )
    else:
        fn = tokenizer
    threads = spec["threads"]
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(spec["batch_size"])
    dataset = dataset.map(fn, num_parallel_calls=threads or tf.data.AUTOTUNE)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = dataset.with_options(options)

    def one_pass():
        return [batch for batch in dataset]

    def to_lists(out):
        rows = []
        for batch in out:
            ids = batch["token_ids"] if isinstance(batch, dict) else batch
            if isinstance(ids, tf.RaggedTensor):
                rows.extend(ids.to_list())
            else:
                rows.extend(ids.numpy().tolist())
        return rows

    return {}, one_pass, to_lists


def worker_setup(spec):
    texts = load_reviews(spec.get("limit"))
    start = time.perf_counter()
    if spec["name"].startswith("hf"):
        info, one_pass, to_lists = setup_hf(spec, texts)
    else:
        info, one_pass, to_lists = setup_keras(spec, texts)
    t0 = time.perf_counter()
    out = one_pass()
    info["first_pass_seconds"] = time.perf_counter() - t0
    rows = to_lists(out)
    with open(os.path.join(spec["out_dir"], f"{spec['name']}_ids.json"), "w") as f:
        json.dump(rows, f)
    info["setup_seconds"] = time.perf_counter() - start
    info["tokens"] = sum(1 for row in rows for t in row if t != 0)

    def handler(command):
        if command["cmd"] != "run":
            return {}
        cpu = harness.cpu_seconds()
        t0 = time.perf_counter()
        one_pass()
        return {
            "wall": time.perf_counter() - t0,
            "cpu": harness.cpu_seconds() - cpu,
        }

    return info, handler


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def parity(out_dir, ours, theirs):
    with open(os.path.join(out_dir, f"{ours}_ids.json")) as f:
        a = json.load(f)
    with open(os.path.join(out_dir, f"{theirs}_ids.json")) as f:
        b = json.load(f)
    same = sum(1 for x, y in zip(a, b) if x == y)
    return same, len(b)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Texts/s of keras_electra.ElectraTokenizer (tf.data) vs "
            "transformers.BertTokenizerFast on the 5,000 bundled reviews."
        )
    )
    harness.add_common_arguments(parser, repeats=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--sequence-length",
        type=int,
        default=128,
        help="for the padded variants (default 128)",
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, from {sorted(VARIANTS)} (default {DEFAULT_VARIANTS})",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the first N reviews (default: all 5,000)",
    )
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {sorted(VARIANTS)}")
    texts = load_reviews(args.limit)
    harness.check_device(args.device)
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_tokenizer_bench_")
    specs = []
    for name in variants:
        spec = dict(
            name=name,
            batch_size=args.batch_size,
            sequence_length=args.sequence_length,
            threads=args.threads,
            out_dir=out_dir,
            limit=args.limit,
        )
        specs.append((name, spec, harness.child_env("tensorflow", args)))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    workers = harness.start_workers(__file__, specs, log_dir=out_dir)
    ready = {w.name: w.ready for w in workers}
    try:
        results = harness.run_rounds(workers, args.repeats, {"cmd": "run"})
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    print(
        harness.report_header(
            "Tokenizer throughput: ElectraTokenizer vs "
            "transformers.BertTokenizerFast",
            ["benchmarks/tokenizer_throughput.py"] + sys.argv[1:],
            info,
            load_before,
            load_after,
        )
    )
    print(f"- threads per framework: {args.threads or 'framework default'}")
    print(
        f"- data: {len(texts):,} reviews ({sum(len(t) for t in texts):,} "
        f"characters), batch {args.batch_size}; {args.repeats} rounds of one "
        "full pass each, one untimed pass first"
    )
    print()
    reference = None
    summaries = {}
    for variant in variants:
        rounds = results[variant]
        rates = [len(texts) / r["wall"] for r in rounds]
        cpu = sum(r["cpu"] for r in rounds) / len(rounds)
        summaries[variant] = (harness.summary(rates), cpu)
    if "hf-fast" in summaries:
        reference = summaries["hf-fast"][0]["median"]
    parities = {}
    for ours, theirs in PARITY_PAIRS:
        if ours in variants and theirs in variants:
            parities[ours] = parity(out_dir, ours, theirs) + (theirs,)
    rows = []
    for variant in variants:
        rate, cpu = summaries[variant]
        same = parities.get(variant)
        rows.append(
            [
                variant,
                VARIANTS[variant],
                f"{harness.fmt(rate['median'], 0)} "
                f"({harness.fmt(rate['min'], 0)}-{harness.fmt(rate['max'], 0)})",
                f"{100 * rate['spread']:.0f} %",
                harness.fmt(1e6 * cpu / len(texts), 0),
                f"{rate['median'] / reference:.2f}x" if reference else "n/a",
                f"{same[0]}/{same[1]} vs {same[2]}" if same else "",
                f"{ready[variant]['first_pass_seconds']:.1f}",
                harness.fmt(finals[variant].get("peak_rss_mb"), 0),
            ]
        )
    print(
        harness.markdown_table(
            [
                "variant",
                "call",
                "texts/s median (min-max)",
                "spread",
                "CPU us / text",
                "vs hf-fast",
                "identical ids",
                "first pass s",
                "peak RSS MiB",
            ],
            rows,
        )
    )
    harness.write_json(
        args.json,
        {"script": "tokenizer_throughput", "machine": info,
         "load_before": load_before, "load_after": load_after,
         "cpu_us_per_text": {v: 1e6 * summaries[v][1] / len(texts)
                             for v in variants},
         "texts": len(texts), "args": vars(args), "ready": ready, "finals": finals,
         "results": results, "parity": parities},
    )
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
