"""Raw strings end to end: `ElectraClassifier.predict` / `fit`, fixed vs dynamic padding.

The classifier takes the bundled Amazon fine-food reviews
(`keras_electra/data/fine_foods/{train,test}.csv`, 5,000 in all, column
`review`; label: the `score` column, two classes) as Python strings, with
its `ElectraClassifierPreprocessor` inside `predict`/`fit` (tokenizing,
packing, padding in tf.data), as a user calls it:

- `fixed512`: `ElectraClassifierPreprocessor(tokenizer, sequence_length=512)`,
  every batch padded to 512;
- `longest64`: the same with `padding="longest", pad_to_multiple_of=64`
  (each batch padded to its longest row, rounded up to a multiple of 64,
  at most 512). The variant passes these two arguments to the
  preprocessor as keyword arguments; where this checkout's preprocessor
  does not accept them, it reports "not available";
- `grouped64`: `longest64`, with `fit(..., group_by_length=True)`: each run
  of 50 batches of the epoch sorted longest first (HF's `group_by_length`).

Model: ELECTRA-Small widths (vocabulary 30522, E=128, H=256, 4 heads,
I=1024, 512 positions) with `--layers` layers (default 2; 12 is the full
Small), the same random weights in every child (HF's initialisation of
`ElectraForSequenceClassification`, loaded with `load_hf_tensors`), so the
variants compute the same function and their predictions must agree: the
table gives how many argmax predictions equal `fixed512`'s and the largest
absolute difference of the logits (from an untimed `predict` over all the
texts, before any `fit`).

Method (benchmarks/harness.py): one child per (backend, variant), set-up and
warm-up (a full untimed `predict`, one untimed `fit` epoch: every padded
length traced) concurrently, then timed rounds, one child at a time,
order alternating. A round is `predict(texts, batch_size=B)` on the first
`--texts` reviews and one `fit(texts, labels, batch_size=B, epochs=1,
shuffle=False)` epoch on the first `--fit-texts`; wall and CPU time of each.

    python benchmarks/raw_text.py [--texts 500] [--layers 2] [--backends tensorflow]
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DATA_DIR = os.path.join(harness.REPO_ROOT, "keras_electra", "data", "fine_foods")
VARIANTS = {
    "fixed512": {},
    "longest64": {"padding": "longest", "pad_to_multiple_of": 64},
    "grouped64": {"padding": "longest", "pad_to_multiple_of": 64},
}
# What a variant passes to `fit` besides the texts, labels and batch size.
FIT_KWARGS = {"grouped64": {"group_by_length": True}}


def describe(variant):
    """The table's "preprocessor" cell of `variant`."""
    text = json.dumps(VARIANTS[variant]) if VARIANTS[variant] else (
        "sequence_length=512")
    for key, value in FIT_KWARGS.get(variant, {}).items():
        text += f"; fit({key}={value})"
    return text


SEQUENCE_LENGTH = 512


def load_reviews():
    texts, scores = [], []
    for name in ("train.csv", "test.csv"):
        with open(os.path.join(DATA_DIR, name), newline="") as f:
            for row in csv.DictReader(f):
                texts.append(row["review"])
                scores.append(row["score"])
    classes = sorted(set(scores))
    labels = np.array([classes.index(s) % 2 for s in scores], dtype="int32")
    return texts, labels


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def worker_setup(spec):
    import keras

    from keras_electra import ElectraBackbone
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraClassifierPreprocessor
    from keras_electra import ElectraTokenizer
    from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
    from keras_electra.convert.hf_heads import load_hf_tensors

    start = time.perf_counter()
    harness.apply_threads(spec["threads"])
    try:
        preprocessor = ElectraClassifierPreprocessor(
            ElectraTokenizer(), sequence_length=SEQUENCE_LENGTH,
            **spec["preprocessor_kwargs"])
    except (TypeError, ValueError) as error:
        info = {"available": False, "reason": f"{type(error).__name__}: {error}"}
        return info, lambda command: {}
    backbone = ElectraBackbone(**backbone_kwargs_from_hf_config(spec["hf_config"]))
    classifier = ElectraClassifier(backbone, num_classes=2,
                                   preprocessor=preprocessor)
    load_hf_tensors(classifier, dict(np.load(spec["weights_path"])))
    texts, labels = load_reviews()
    predict_texts = texts[: spec["texts"]]
    fit_texts, fit_labels = texts[: spec["fit_texts"]], labels[: spec["fit_texts"]]
    batch_size = spec["batch_size"]

    def predict():
        return classifier.predict(predict_texts, batch_size=batch_size,
                                  verbose=0)

    def fit():
        classifier.fit(fit_texts, fit_labels, batch_size=batch_size, epochs=1,
                       shuffle=False, verbose=0, **spec["fit_kwargs"])

    t0 = time.perf_counter()
    logits = np.asarray(predict())
    first_predict = time.perf_counter() - t0
    np.save(os.path.join(spec["out_dir"], f"{spec['name']}_logits.npy"), logits)
    t0 = time.perf_counter()
    if spec["fit_texts"]:
        fit()
    first_fit = time.perf_counter() - t0
    # The batches `predict` makes: sorted by length under padding="longest".
    order = getattr(classifier, "_length_order", lambda x: None)(
        list(predict_texts))
    if order is not None:
        predict_texts_in_batches = [predict_texts[i] for i in order]
    else:
        predict_texts_in_batches = predict_texts
    lengths = [
        int(np.asarray(batch["token_ids"]).shape[1])
        for batch in _padded_batches(
            preprocessor, predict_texts_in_batches, batch_size)
    ]
    info = {
        "available": True,
        "backend": keras.config.backend(),
        "first_predict_seconds": first_predict,
        "first_fit_seconds": first_fit,
        "setup_seconds": time.perf_counter() - start,
        "mean_padded_length": float(np.mean(lengths)),
        "padded_lengths": lengths,
    }

    def handler(command):
        if command["cmd"] != "run":
            return {}
        out = {}
        for name, fn in (("predict", predict), ("fit", fit)):
            if name == "fit" and not spec["fit_texts"]:
                continue
            cpu = harness.cpu_seconds()
            t0 = time.perf_counter()
            fn()
            out[name] = {"wall": time.perf_counter() - t0,
                         "cpu": harness.cpu_seconds() - cpu}
        return out

    return info, handler


def _padded_batches(preprocessor, texts, batch_size):
    for start in range(0, len(texts), batch_size):
        yield preprocessor(texts[start : start + batch_size])


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def write_fixtures(args, out_dir):
    import torch
    import transformers

    hf_config = dict(harness.ELECTRA_SMALL, num_hidden_layers=args.layers)
    torch.manual_seed(args.seed)
    model = transformers.ElectraForSequenceClassification(
        transformers.ElectraConfig(**hf_config, num_labels=2))
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    path = os.path.join(out_dir, "weights.npz")
    np.savez(path, **weights)
    return hf_config, path


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="ElectraClassifier predict/fit on raw review strings: "
        "padding to 512 vs padding='longest', pad_to_multiple_of=64."
    )
    harness.add_common_arguments(parser, repeats=2)
    parser.add_argument("--backends", default="tensorflow",
                        help="comma-separated Keras backends (default tensorflow)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated from {list(VARIANTS)}")
    parser.add_argument("--texts", type=int, default=500,
                        help="reviews to predict per round (default 500; 5000: all)")
    parser.add_argument("--fit-texts", type=int, default=64,
                        help="reviews of the fit epoch per round (default 64; 0: no fit)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2,
                        help="transformer layers (default 2; ELECTRA-Small has 12)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; choose from {list(VARIANTS)}")
    harness.check_device(args.device)
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_raw_text_bench_")
    hf_config, weights_path = write_fixtures(args, out_dir)
    specs = []
    for backend in backends:
        for variant in variants:
            name = f"{backend}-{variant}"
            spec = dict(name=name, hf_config=hf_config,
                        weights_path=weights_path, out_dir=out_dir,
                        threads=args.threads, texts=args.texts,
                        fit_texts=args.fit_texts, batch_size=args.batch_size,
                        preprocessor_kwargs=VARIANTS[variant],
                        fit_kwargs=FIT_KWARGS.get(variant, {}))
            specs.append((name, spec, harness.child_env(backend, args)))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    workers = harness.start_workers(__file__, specs, log_dir=out_dir)
    ready = {w.name: w.ready for w in workers}
    available = [w for w in workers if ready[w.name]["available"]]
    try:
        results = harness.run_rounds(available, args.repeats, {"cmd": "run"})
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    print(harness.report_header(
        "Raw strings: ElectraClassifier.predict / fit, fixed vs dynamic padding",
        ["benchmarks/raw_text.py"] + sys.argv[1:], info, load_before,
        load_after))
    print(f"- threads per framework: {args.threads or 'framework default'}")
    print(f"- model: ELECTRA-Small widths with {args.layers} layers, 512 "
          f"positions; batch {args.batch_size}; predict {args.texts:,} "
          f"reviews, fit one epoch on {args.fit_texts:,}; {args.repeats} "
          "rounds, one untimed predict + fit first")
    print()
    rows = []
    summary = {}
    for worker in workers:
        name = worker.name
        backend, variant = name.rsplit("-", 1)
        if not ready[name]["available"]:
            rows.append([name, describe(variant),
                         "not available: " + ready[name]["reason"][:120]]
                        + [""] * 7)
            continue
        rounds = results[name]
        predict = harness.summary([args.texts / r["predict"]["wall"]
                                   for r in rounds])
        predict_cpu = sum(r["predict"]["cpu"] for r in rounds) / (
            len(rounds) * args.texts)
        fit = fit_cpu = None
        if args.fit_texts:
            fit = harness.summary([args.fit_texts / r["fit"]["wall"]
                                   for r in rounds])
            fit_cpu = sum(r["fit"]["cpu"] for r in rounds) / (
                len(rounds) * args.fit_texts)
        reference = f"{backend}-fixed512"
        same = diff = None
        ours_path = os.path.join(out_dir, f"{name}_logits.npy")
        ref_path = os.path.join(out_dir, f"{reference}_logits.npy")
        if os.path.exists(ref_path):
            ours, theirs = np.load(ours_path), np.load(ref_path)
            same = int(np.sum(ours.argmax(-1) == theirs.argmax(-1)))
            diff = float(np.max(np.abs(ours - theirs)))
        summary[name] = {"predict_texts_per_second": predict,
                         "predict_cpu_seconds_per_text": predict_cpu,
                         "fit_texts_per_second": fit,
                         "fit_cpu_seconds_per_text": fit_cpu,
                         "argmax_equal": same, "max_abs_diff": diff,
                         "mean_padded_length": ready[name]["mean_padded_length"]}
        rows.append([
            name,
            describe(variant),
            f"{harness.fmt(ready[name]['mean_padded_length'], 0)}",
            f"{harness.fmt(predict['median'])} ({harness.fmt(predict['min'])}"
            f"-{harness.fmt(predict['max'])})",
            harness.fmt(1000 * predict_cpu, 1),
            f"{harness.fmt(fit['median'])} ({harness.fmt(fit['min'])}"
            f"-{harness.fmt(fit['max'])})" if fit else "n/a",
            harness.fmt(1000 * fit_cpu, 1) if fit_cpu else "n/a",
            "reference" if name == reference
            else (f"{same}/{args.texts}" if same is not None else "n/a"),
            "" if name == reference
            else (f"{diff:.1e}" if diff is not None else "n/a"),
            f"{ready[name]['first_predict_seconds']:.1f}",
        ])
    print(harness.markdown_table(
        ["variant", "preprocessor", "mean padded length",
         "predict texts/s median (min-max)", "predict CPU ms / text",
         "fit texts/s median (min-max)", "fit CPU ms / text",
         "argmax equal to fixed512", "max abs diff of logits",
         "first predict s"],
        rows))
    harness.write_json(args.json, {
        "script": "raw_text", "machine": info, "load_before": load_before,
        "load_after": load_after, "args": vars(args), "ready": ready,
        "finals": finals, "results": results, "summary": summary})
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
