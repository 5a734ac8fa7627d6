"""Export a fine-tuned task as a TF Serving SavedModel that takes raw strings.

MODEL is a `keras-electra finetune` output folder, a `.keras` file or a
preset with a task head. DEST (for TF Serving `.../<model>/<version>`) gets
a SavedModel whose signatures take batches of strings, tokenize inside the
graph and return named outputs (keras_electra.export_for_serving; a
classifier returns logits, probabilities, label_id, label). Loading it
needs only tensorflow and tensorflow_text.
"""

import os

from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import positive_int

EXAMPLES = """examples:
  keras-electra export electra-finetuned serving/electra/1
  docker run -p 8501:8501 -v "$PWD/serving/electra:/models/electra" \\
      -e MODEL_NAME=electra tensorflow/serving
"""


def add_parser(commands, parents):
    parser = add_command(commands, "export", __doc__, parents,
                         epilog=EXAMPLES)
    parser.add_argument("model", help="finetune output folder, .keras file "
                        "or preset folder")
    parser.add_argument("dest", help="SavedModel folder to write")
    parser.add_argument("--text-pair", action="store_true",
                        help="classifier: make the (text, text_pair) "
                        "signature serving_default")
    parser.add_argument("--top-k", type=positive_int, default=5,
                        help="masked LM: candidates per mask")
    parser.add_argument("--max-answer-length", type=positive_int, default=30,
                        help="question answering: longest answer, in tokens")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace DEST if it exists")
    parser.set_defaults(run=run)
    return parser


def run(args):
    if os.path.exists(args.dest) and not args.overwrite:
        raise CommandError(f"{os.path.abspath(args.dest)} already exists; "
                           "pass --overwrite to replace it or choose a new "
                           "version folder")
    heavy_imports(args)
    import tensorflow as tf

    from keras_electra import export_for_serving
    from keras_electra_cli._models import load_task
    from keras_electra_cli._progress import Steps

    options = _options(args)
    with Steps(total=3) as steps:
        task = steps.run(f"loading {args.model}", load_task, args.model)
        # export_for_serving writes all or nothing.
        steps.run("exporting the SavedModel", export_for_serving, task,
                  args.dest, overwrite=args.overwrite,
                  **_for(task, options))
        reloaded = steps.run("reloading it", tf.saved_model.load, args.dest)
    print(f"wrote a SavedModel of {type(task).__name__} to "
          f"{os.path.abspath(args.dest)}")
    for name, function in reloaded.signatures.items():
        inputs = sorted(function.structured_input_signature[1])
        outputs = sorted(function.structured_outputs)
        print(f"  {name}({', '.join(inputs)}) -> {', '.join(outputs)}")
    return 0


def _options(args):
    return {"text_pair": args.text_pair, "top_k": args.top_k,
            "max_answer_length": args.max_answer_length}


def _for(task, options):
    """The options `export_for_serving` takes for this task's class."""
    name = type(task).__name__
    if name == "ElectraClassifier":
        return {"text_pair": options["text_pair"]}
    if name == "ElectraMaskedLM":
        return {"top_k": options["top_k"]}
    if name == "ElectraQuestionAnswerer":
        return {"max_answer_length": options["max_answer_length"]}
    return {}
