"""A TF Serving stand-in: serves SavedModels with TensorFlow and TF Text only.

Run as a script, in a fresh process, so that nothing but `tensorflow` and
`tensorflow_text` can be what makes the SavedModel work:

    python serving_client.py MODEL_DIR REQUESTS.json OUTPUT.npz

REQUESTS.json is a list of `{"signature": name, "inputs": {input: strings}}`
where strings are nested lists of hex-encoded bytes (so that invalid UTF-8
travels too). OUTPUT.npz gets `"<request>/<output>"` arrays (strings as
bytes arrays) and `"signatures"`, the sorted signature names.
"""

import json
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf.text ops)

FORBIDDEN = ("keras_electra", "keras_hub")


def _decode(values):
    if isinstance(values, list):
        return [_decode(v) for v in values]
    return bytes.fromhex(values)


def main(model_dir, requests_file, output_file):
    model = tf.saved_model.load(model_dir)
    with open(requests_file) as f:
        requests = json.load(f)
    results = {"signatures": np.array(sorted(model.signatures.keys()))}
    for i, request in enumerate(requests):
        function = model.signatures[request["signature"]]
        inputs = {
            name: tf.constant(_decode(values), dtype=tf.string)
            for name, values in request["inputs"].items()
        }
        for name, value in function(**inputs).items():
            value = value.numpy()
            if value.dtype == object:
                value = value.astype(bytes)
            results[f"{i}/{name}"] = value
    leaked = sorted(
        name for name in sys.modules if name.split(".")[0] in FORBIDDEN
    )
    if leaked:
        raise AssertionError(f"the serving process imported {leaked}")
    np.savez(output_file, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
