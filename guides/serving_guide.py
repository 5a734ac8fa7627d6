"""Serving a fine-tuned ELECTRA classifier with TensorFlow Serving.

`keras_electra.export_for_serving(task, path)` writes a SavedModel that takes
*raw strings*: the WordPiece tokenizer (as TensorFlow Text ops), the packing
and truncation of the task's preprocessor, the model and the decoding of its
outputs are all inside the graph. A client sends text and gets labels back;
it never needs the vocabulary or a tokenizer of its own.

This guide

1. fine-tunes a classifier on a few of the Amazon fine-food reviews bundled
   with keras_electra ("great" = 5 stars, "other" = anything else),
2. exports it for serving,
3. inspects the SavedModel with `saved_model_cli show`,
4. serves it from a fresh Python process that imports only `tensorflow` and
   `tensorflow_text` (what TF Serving has), with the request body of TF
   Serving's REST API, and checks that the answers match `predict`,
5. prints the `docker run` line that serves it with TF Serving and the
   `curl` request that queries it.

Run it with any Keras backend; the export works from TensorFlow, JAX (the
model goes through jax2tf) and PyTorch (the task is re-built from its
`.keras` file under TensorFlow in a child process):

    KERAS_BACKEND=jax python guides/serving_guide.py --output /tmp/serving

To stay fast on a CPU the guide trains a tiny, randomly initialised
backbone on 256 reviews for four epochs: it ends up barely better than
chance. The point is the serving pipeline, which is the same for real
checkpoints. With network access, start from a pre-trained ELECTRA instead,
for example `keras_electra.ElectraClassifier.from_preset(
"hf://google/electra-small-discriminator", num_classes=2)`.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np

import keras_electra

DATA = os.path.join(os.path.dirname(keras_electra.__file__), "data", "fine_foods")
LABEL_NAMES = ["other", "great"]

# What a client sends: TF Serving's REST "row" format, one object per
# example with the signature's inputs by name.
REQUEST = {
    "instances": [
        {"text": "Great coffee, rich and smooth. I will order again!"},
        {"text": "The crackers arrived stale and broken."},
        {"text": ""},
        {"text": "Très bon thé, je recommande. 美味しいお茶です。"},
    ]
}

# The serving side: a process with TensorFlow and TensorFlow Text only. It
# turns the REST request body into tensors, calls `serving_default` and
# writes the response body TF Serving would send.
SERVER = r"""
import json
import sys

import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops, as TF Serving has them

model_dir, request = sys.argv[1], json.loads(sys.argv[2])
serve = tf.saved_model.load(model_dir).signatures["serving_default"]
names = list(serve.structured_input_signature[1])
inputs = {
    name: tf.constant([row[name] for row in request["instances"]])
    for name in names
}
outputs = {name: value.numpy() for name, value in serve(**inputs).items()}


def plain(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


predictions = [
    {name: plain(value[i]) for name, value in outputs.items()}
    for i in range(len(request["instances"]))
]
leaked = [m for m in sys.modules if m.split(".")[0] in ("keras_electra", "keras_hub")]
assert not leaked, leaked
print(json.dumps({"predictions": predictions}))
"""


def load_reviews(split, count):
    """`count` reviews of `split` and 0/1 labels, half of each class."""
    rows = {name: [] for name in LABEL_NAMES}
    with open(os.path.join(DATA, f"{split}.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows[row["score"]].append(row["review"])
    texts, labels = [], []
    for label, name in enumerate(LABEL_NAMES):
        texts += rows[name][: count // 2]
        labels += [label] * (count // 2)
    order = np.random.default_rng(0).permutation(len(texts))
    return [texts[i] for i in order], np.array(labels)[order]


def fine_tune(num_reviews, sequence_length, epochs):
    print(f"== 1. Fine-tune a classifier on {num_reviews} reviews")
    backbone = keras_electra.ElectraBackbone(
        vocabulary_size=30522,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        embedding_dim=16,
        intermediate_dim=64,
        max_sequence_length=sequence_length,
    )
    preprocessor = keras_electra.ElectraClassifierPreprocessor(
        keras_electra.ElectraTokenizer(), sequence_length=sequence_length
    )
    classifier = keras_electra.ElectraClassifier(
        backbone,
        num_classes=2,
        preprocessor=preprocessor,
        label_names=LABEL_NAMES,
    )
    # A tiny model from scratch needs a larger learning rate than the
    # fine-tuning default (5e-5, right for pre-trained checkpoints).
    classifier.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-3))
    texts, labels = load_reviews("train", num_reviews)
    history = classifier.fit(
        texts, labels, batch_size=16, epochs=epochs, verbose=0
    )
    losses = ", ".join(f"{loss:.3f}" for loss in history.history["loss"])
    print(f"training loss per epoch: {losses}")
    texts, labels = load_reviews("test", 200)
    _, accuracy = classifier.evaluate(texts, labels, verbose=0)
    print(f"accuracy on 200 held-out reviews: {accuracy:.2f}")
    return classifier


def export(classifier, output):
    print("\n== 2. Export for serving")
    # TF Serving expects <model base path>/<version>/saved_model.pb.
    model_base = os.path.join(output, "electra")
    export_dir = os.path.join(model_base, "1")
    # Re-running the guide with the same --output replaces its export.
    keras_electra.export_for_serving(classifier, export_dir, overwrite=True)
    print(f"SavedModel written to {export_dir}")
    print("assets:", sorted(os.listdir(os.path.join(export_dir, "assets"))))
    return model_base, export_dir


def saved_model_cli():
    """The `saved_model_cli` that ships with this Python's TensorFlow."""
    beside = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return beside if os.path.exists(beside) else shutil.which("saved_model_cli")


def inspect(export_dir):
    print("\n== 3. Inspect it: saved_model_cli show --dir ... --all")
    result = subprocess.run(
        [saved_model_cli(), "show", "--dir", export_dir, "--all"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    # The default signature, and which ops the server must have.
    section = result.stdout.split("signature_def['serving_default']:")[1]
    print("signature_def['serving_default']:" + section.split("\n\n")[0])
    for line in result.stdout.splitlines():
        if "contains the following ops" in line:
            ops = sorted(line.split("{")[1].rstrip("}").replace("'", "").split(", "))
            text_ops = [
                op
                for op in ops
                if "Wordpiece" in op or "RegexSplit" in op or "TFText" in op
            ]
            print(f"{len(ops)} ops; from TensorFlow Text: {text_ops}")
    return result.stdout


def serve(export_dir, classifier):
    print("\n== 4. Serve it from a fresh TensorFlow process")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-c", SERVER, export_dir, json.dumps(REQUEST)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    response = json.loads(result.stdout.strip().splitlines()[-1])
    texts = [row["text"] for row in REQUEST["instances"]]
    for text, prediction in zip(texts, response["predictions"]):
        probabilities = ", ".join(f"{p:.3f}" for p in prediction["probabilities"])
        print(f"{prediction['label']:>6} [{probabilities}]  {text!r}")
    served = np.array([p["logits"] for p in response["predictions"]])
    expected = classifier.predict(texts, verbose=0)
    difference = float(np.abs(served - expected).max())
    print(f"max |served - predict| logits difference: {difference:.2e}")
    return response, difference


def tf_serving_commands(model_base):
    print("\n== 5. Serve it with TF Serving (needs Docker)")
    body = json.dumps({"instances": REQUEST["instances"][:2]}, ensure_ascii=False)
    pairs = json.dumps(
        {
            "signature_name": "classify_pairs",
            "instances": [{"text": "Tasty?", "text_pair": "Very tasty."}],
        }
    )
    commands = (
        "docker run -t --rm -p 8501:8501 \\\n"
        f"  --mount type=bind,source={os.path.abspath(model_base)},"
        "target=/models/electra \\\n"
        "  -e MODEL_NAME=electra tensorflow/serving\n"
        "\n"
        "# in another shell:\n"
        f"curl -d '{body}' \\\n"
        "  -X POST http://localhost:8501/v1/models/electra:predict\n"
        f"curl -d '{pairs}' \\\n"
        "  -X POST http://localhost:8501/v1/models/electra:predict\n"
    )
    print(commands)
    print(
        "TF Serving answers {\"predictions\": [...]} with one object per "
        "instance, as in step 4. The tensorflow/serving image links the "
        "TensorFlow Text ops; use an image at least as new as the "
        "TensorFlow that exported the model."
    )
    return commands


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", help="folder for the SavedModel")
    parser.add_argument("--reviews", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=64)
    args = parser.parse_args(argv)
    output = args.output or tempfile.mkdtemp(prefix="electra_serving_")
    classifier = fine_tune(args.reviews, args.sequence_length, args.epochs)
    model_base, export_dir = export(classifier, output)
    inspect(export_dir)
    serve(export_dir, classifier)
    tf_serving_commands(model_base)


if __name__ == "__main__":
    main()
