"""The same fine-tuning on TensorFlow, JAX and PyTorch.

keras_electra is Keras 3: the backend is chosen by `KERAS_BACKEND` before
Keras is imported, and the code does not change. This guide runs
`classifier_guide.py` (single texts; 600 reviews, 2 epochs) once per backend, each in its own
process, and compares the figures. Data still flows through `tf.data` on
every backend (keras-hub's preprocessing runs there); the model, the
gradients and the optimizer run on the chosen backend. The losses differ a
little between backends (dropout draws and float summation order).

A full run saves the loss per epoch of each backend to
`guides/images/backends_loss.png`.

    python guides/backends_guide.py                      # 5 to 15 minutes
    python guides/backends_guide.py --quick --backends jax,torch
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "images")


def run_guide(backend, quick):
    """The classifier guide's JSON summary, run under `backend`."""
    command = [sys.executable, os.path.join(HERE, "classifier_guide.py"),
               "--single-only", "--no-plot"] + (
        ["--quick"] if quick else ["--train", "600", "--epochs", "2"])
    env = {**os.environ, "KERAS_BACKEND": backend,
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"classifier_guide.py failed on {backend}:\n"
                           f"{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.4))
    for result in results:
        epochs = range(1, len(result["loss"]) + 1)
        axis.plot(epochs, result["loss"], "o-", label=(
            f"{result['backend']}: accuracy {result['test_accuracy']:.3f}, "
            f"{result['seconds']:.0f} s"))
    axis.set_xlabel("epoch")
    axis.set_xticks(list(epochs))
    axis.set_ylabel("training loss")
    axis.set_title("ElectraClassifier.fit on each backend")
    axis.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    print("saved", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="the classifier guide's quick size")
    parser.add_argument("--backends", default="tensorflow,jax,torch",
                        help="comma-separated (default: %(default)s)")
    parser.add_argument("--images", default=IMAGES)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        result = run_guide(backend, args.quick)
        results.append(result)
        print(f"{backend:10} loss {result['loss']}  held-out accuracy "
              f"{result['test_accuracy']:.3f}  {result['seconds']:.0f} s",
              flush=True)
    if not args.no_plot and not args.quick:
        plot(results, os.path.join(args.images, "backends_loss.png"))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
