"""Export a `.keras` task file for serving: the child process of the
PyTorch route of `export_for_serving`, also usable by hand. Run it under
the TensorFlow (or JAX) backend; under PyTorch it starts one more child.

    KERAS_BACKEND=tensorflow python -m keras_electra.export task.keras out/1
"""

import argparse
import json
import sys

# Registers every keras_electra class, so that `load_model` finds it.
import keras_electra


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_electra.export",
        description="Export a keras_electra task saved as .keras to a "
        "SavedModel that takes raw strings (for TF Serving).",
    )
    parser.add_argument("model_file", help="the task, saved with task.save()")
    parser.add_argument("path", help="the SavedModel folder to write")
    parser.add_argument(
        "--options",
        default="{}",
        help="export_for_serving options as JSON, e.g. '{\"top_k\": 3}'",
    )
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing folder at PATH")
    args = parser.parse_args(argv)
    task = keras_electra.load_model(args.model_file)
    keras_electra.export_for_serving(
        task, args.path, overwrite=args.overwrite,
        **json.loads(args.options)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
