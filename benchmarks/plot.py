"""One PNG chart of benchmark results, from the scripts' `--json` outputs.

    python benchmarks/plot.py backbone.json training.json tokenizer.json \
        pretraining.json raw_text.json --out benchmarks/results.png

One panel per file, by the script that wrote it (its `"script"` key), all
in CPU time (the figure the README compares, robust to the machine's load):

- backbone_inference: speed vs HF per case, `HF CPU per call / CPU per
  call` (higher is faster), and the % of the matmul peak in the labels;
- classifier_training: CPU ms per training step;
- tokenizer_throughput: CPU us per text;
- pretraining_throughput: CPU ms per step, split into "models only" and the
  rest ("outside the models");
- raw_text: CPU ms per text of predict and of fit.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _cpu_per_round(rounds, key="cpu"):
    return sum(r[key] for r in rounds) / len(rounds)


def plot_backbone(ax, data):
    import numpy as np

    cases = list(data["results"])
    variants = list(data["results"][cases[0]])
    reference = "hf-torch" if "hf-torch" in variants else variants[0]
    width = 0.8 / len(variants)
    # Past ten variants the default cycle repeats its colours.
    colors = _colors(len(variants))
    for i, variant in enumerate(variants):
        ratios = []
        for case in cases:
            ours = data["results"][case][variant]["cpu_seconds_per_call"]
            ref = data["results"][case][reference]["cpu_seconds_per_call"]
            ratios.append(ref / ours if ours else 0.0)
        x = np.arange(len(cases)) + i * width
        ax.bar(x, ratios, width, label=variant, color=colors[i])
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(np.arange(len(cases)) + width * (len(variants) - 1) / 2)
    ax.set_xticklabels(cases, fontsize=8)
    ax.set_ylabel(f"speed vs {reference} (CPU time)")
    ax.set_title(f"Backbone inference, {_threads(data)}")
    if len(variants) > 6:
        # Room above the bars for a two-column legend.
        ax.set_ylim(top=ax.get_ylim()[1] * 1.5)
    ax.legend(fontsize=7, ncol=2 if len(variants) > 6 else 1, loc="upper left")


def _threads(data):
    threads = data["args"].get("threads", 1)
    if not threads:
        return "default threads"
    return f"{threads} thread" + ("s" if threads > 1 else "")


def _colors(count):
    import matplotlib

    name = "tab10" if count <= 10 else "tab20"
    cmap = matplotlib.colormaps[name]
    return [cmap(i % cmap.N) for i in range(count)]


def plot_bars(ax, labels, values, ylabel, title):
    ax.bar(range(len(values)), values, color="tab:blue")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.2f}", (i, v),
                    ha="center", va="bottom", fontsize=7)


def plot_training(ax, data):
    labels, values = [], []
    for variant, rounds in data["results"].items():
        steps = sum(r["steps"] for r in rounds)
        labels.append(variant)
        values.append(1000 * sum(r["cpu"] for r in rounds) / steps)
    case = data["args"].get("case", "")
    plot_bars(ax, labels, values, "CPU ms / step",
              f"Classifier training {case}".strip())


def plot_tokenizer(ax, data):
    texts = data.get("texts", 5000)
    labels, values = [], []
    for variant, rounds in data["results"].items():
        labels.append(variant)
        values.append(1e6 * _cpu_per_round(rounds) / texts)
    plot_bars(ax, labels, values, "CPU us / text", "Tokenizer")


def plot_pretraining(ax, data):
    names = list(data["summary"])
    models = [1000 * data["summary"][n]["models"]["cpu_per_step"] for n in names]
    full = [1000 * data["summary"][n]["fit"]["cpu_per_step"] for n in names]
    rest = [max(f - m, 0.0) for f, m in zip(full, models)]
    ax.bar(range(len(names)), models, label="models only")
    ax.bar(range(len(names)), rest, bottom=models, label="outside the models")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("CPU ms / step")
    ax.set_title("ElectraPretrainer.fit")
    ax.legend(fontsize=7)


def plot_raw_text(ax, data):
    import numpy as np

    names = list(data["summary"])
    predict = [1000 * data["summary"][n]["predict_cpu_seconds_per_text"]
               for n in names]
    fit = [1000 * (data["summary"][n]["fit_cpu_seconds_per_text"] or 0)
           for n in names]
    x = np.arange(len(names))
    ax.bar(x - 0.2, predict, 0.4, label="predict")
    ax.bar(x + 0.2, fit, 0.4, label="fit")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("CPU ms / text")
    ax.set_title("Raw strings: fixed vs dynamic padding")
    ax.legend(fontsize=7)


PLOTTERS = {
    "backbone_inference": plot_backbone,
    "classifier_training": plot_training,
    "tokenizer_throughput": plot_tokenizer,
    "pretraining_throughput": plot_pretraining,
    "raw_text": plot_raw_text,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_files", nargs="+")
    parser.add_argument("--out", default="benchmarks/results.png")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    payloads = []
    for path in args.json_files:
        with open(path) as f:
            data = json.load(f)
        script = data.get("script")
        if script not in PLOTTERS:
            parser.error(f"{path}: unknown or missing 'script' ({script!r})")
        if script == "raw_text" and not data.get("summary"):
            continue  # no variant was available
        payloads.append(data)
    if not payloads:
        parser.error("nothing to plot")
    columns = min(len(payloads), 2)
    rows = (len(payloads) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows),
                             squeeze=False)
    for ax, data in zip(axes.flat, payloads):
        PLOTTERS[data["script"]](ax, data)
    for ax in list(axes.flat)[len(payloads):]:
        ax.axis("off")
    first = payloads[0]
    threads = {_threads(data) for data in payloads}
    fig.suptitle(
        f"keras_electra benchmarks, {first['machine']['cpu']}, "
        + (f"{threads.pop()} per framework" if len(threads) == 1
           else "threads per framework as in each panel"),
        fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
