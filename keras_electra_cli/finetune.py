"""Fine-tune a preset on a labelled CSV, TSV or JSON-lines file.

Writes OUTPUT/model.keras (load with keras.saving.load_model after
`import keras_electra`), OUTPUT/preset/ (load with from_preset) and
OUTPUT/metrics.json (training history, validation figures, the arguments).
`keras-electra predict OUTPUT` and `keras-electra export OUTPUT` take the
folder. The optimizer is AdamW with ELECTRA's layer-wise learning-rate
decay (keras_electra.optimizers.LayerwiseDecayAdamW).
"""

import json
import os
import random
import time

from keras_electra_cli import _tasks
from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import fraction
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import layer_decay
from keras_electra_cli._runtime import positive_float
from keras_electra_cli._runtime import positive_int
from keras_electra_cli._runtime import training_options

EXAMPLES = """examples:
  keras-electra finetune reviews.csv --text-column review --label-column score
  keras-electra finetune nli.jsonl --text-pair-column hypothesis -o nli-model
  keras-electra finetune ner.jsonl --task token-classifier --epochs 5
  keras-electra finetune squad.jsonl --task question-answerer --sequence-length 384
  keras-electra finetune swag.csv --task multiple-choice \\
      --preset hf://google/electra-small-discriminator

""" + _tasks.FORMATS_HELP

# Measured on the bundled reviews: 5e-5 (HF's default) barely moves the
# 1.6 M-parameter tiny preset; 2e-4 fine-tunes it (the main job's rate).
SMALL_MODEL_PARAMETERS = 5_000_000
SMALL_MODEL_RATE = 2e-4
DEFAULT_RATE = 5e-5


def add_parser(commands, parents):
    parser = add_command(commands, "finetune", __doc__,
                         parents + [_tasks.column_options(),
                                    training_options()],
                         epilog=EXAMPLES)
    parser.add_argument("data", help="training examples: .csv, .tsv or "
                        ".jsonl (formats below)")
    parser.add_argument("--task", choices=tuple(_tasks.TASK_CLASSES),
                        default="classifier", help="what to fine-tune for")
    parser.add_argument("--preset", default="electra_tiny_uncased_en",
                        help="preset name, local folder or hf://owner/name")
    parser.add_argument("-o", "--output", default="electra-finetuned",
                        help="folder to write")
    parser.add_argument("--epochs", type=positive_int, default=3,
                        help="passes over the training examples")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="examples per training step")
    parser.add_argument(
        "--learning-rate", type=positive_float, default=None,
        help="peak AdamW rate; default 2e-4 for presets under 5 M "
        "parameters (the tiny one), else 5e-5")
    parser.add_argument(
        "--layer-decay", type=layer_decay, default=0.8,
        help="ELECTRA's layer-wise rate decay: layer l of L trains at "
        "rate * decay^(L - l); 1 turns it off")
    parser.add_argument("--sequence-length", type=positive_int, default=128,
                        help="tokens per example (per window for QA)")
    parser.add_argument(
        "--validation-split", type=fraction, default=0.1,
        help="fraction of the examples (shuffled with --seed) held out "
        "for the validation figures; 0 for none")
    parser.add_argument(
        "--label-names", default=None,
        help="classifier, token-classifier: comma-separated class names in "
        "the order to use; default the labels found, sorted")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (split, initialisation, order)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT if it exists")
    parser.set_defaults(run=run)
    return parser


def run(args):
    started = time.time()
    if os.path.exists(args.output) and not args.overwrite:
        raise CommandError(f"{os.path.abspath(args.output)} already exists; "
                           "pass --overwrite to replace it or choose another "
                           "-o/--output")
    rows = _read(args)
    # Data problems are reported before the seconds of importing Keras.
    train, validation, names = _examples(rows, args)
    heavy_imports(args)
    import keras

    from keras_electra.convert.atomic_dir import atomic_dir
    from keras_electra_cli._progress import FitProgress
    from keras_electra_cli._progress import Steps

    keras.utils.set_random_seed(args.seed)
    with Steps(total=1) as steps:
        task = steps.run(f"loading {args.preset}", _build, args, names,
                         train[0])
    rate = args.learning_rate or _default_rate(task)
    task.compile(optimizer=_optimizer(rate, args.layer_decay))
    history = task.fit(
        *_fit_data(args.task, train), batch_size=args.batch_size,
        epochs=args.epochs, verbose=2 if args.verbose else 0,
        callbacks=[FitProgress("fine-tuning")],
    ).history
    figures = {}
    if _count(validation):
        figures = _evaluate(task, args, validation)
    record = {
        "task": type(task).__name__, "preset": args.preset,
        "data": os.path.abspath(args.data),
        "train_examples": _count(train),
        "validation_examples": _count(validation),
        "label_names": names, "learning_rate": rate,
        "keras_backend": keras.config.backend(),
        "parameters": int(task.count_params()),
        "history": {k: [round(float(v), 6) for v in values]
                    for k, values in history.items()},
        "validation": figures,
        "seconds": round(time.time() - started, 1),
        "command": "keras-electra " + " ".join(args.argv),
        "arguments": {k: v for k, v in vars(args).items()
                      if k not in ("run", "argv")},
    }
    with atomic_dir(args.output, overwrite=args.overwrite) as folder:
        task.save(os.path.join(folder, "model.keras"))
        task.save_to_preset(os.path.join(folder, "preset"))
        with open(os.path.join(folder, "metrics.json"), "w") as f:
            json.dump(record, f, indent=2)
    _summary(record, args)
    return 0


def _read(args):
    from keras_electra_cli._data import read_rows

    allowed = ("csv", "tsv", "jsonl")
    return read_rows(args.data, allowed)


def _examples(rows, args):
    """`(train, validation, label_names)`; each split `(inputs, targets)`."""
    source = args.data
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    held = int(round(len(rows) * args.validation_split))
    if held and len(rows) - held < 1:
        raise CommandError(f"{source} has {len(rows)} examples; too few for "
                           f"--validation-split {args.validation_split}")
    inputs = _tasks.read_inputs(args.task, rows, args, source)
    labels = _tasks.read_labels(args.task, rows, args, source, inputs)
    names = None
    if args.task == "classifier":
        names = _tasks.label_names(labels, args.label_names)
        labels = [names.index(label) for label in labels]
    elif args.task == "token-classifier":
        names = _tasks.label_names(
            [tag for tags in labels for tag in tags], args.label_names)
        labels = [[names.index(tag) for tag in tags] for tags in labels]
    if names is not None and len(names) < 2:
        raise CommandError(f"{source}: every example has the label "
                           f"{names[0]!r}; a classifier needs two or more")
    split = {"train": order[held:], "validation": order[:held]}
    return (_take(inputs, labels, split["train"]),
            _take(inputs, labels, split["validation"]), names)


def _count(split):
    """Examples in a split `(inputs, targets)`: inputs may be a tuple of
    columns, targets a dict of columns (question answering)."""
    targets = split[1]
    return len(targets["text"] if isinstance(targets, dict) else targets)


def _take(inputs, labels, indices):
    def pick(values):
        if isinstance(values, tuple):
            return tuple(pick(v) for v in values)
        if isinstance(values, dict):
            return {k: pick(v) for k, v in values.items()}
        return [values[i] for i in indices]

    return pick(inputs), pick(labels)


def _fit_data(task, split):
    import numpy as np

    x, y = split
    if task in ("classifier", "multiple-choice"):
        y = np.array(y, "int32")
    if task == "multiple-choice":
        x = (np.array(x[0]), np.array(x[1]))
    if task == "question-answerer":
        y = {"answer_start": np.array(y["answer_start"], "int32"),
             "text": np.array(y["text"])}
    return x, y


def _build(args, names, inputs):
    import keras_electra

    options = {"sequence_length": args.sequence_length}
    if args.task == "classifier":
        return keras_electra.ElectraClassifier.from_preset(
            args.preset, num_classes=len(names), label_names=names, **options)
    if args.task == "token-classifier":
        return keras_electra.ElectraTokenClassifier.from_preset(
            args.preset, num_classes=len(names), label_names=names, **options)
    if args.task == "question-answerer":
        return keras_electra.ElectraQuestionAnswerer.from_preset(
            args.preset, **options)
    return keras_electra.ElectraMultipleChoice.from_preset(
        args.preset, num_choices=len(inputs[1][0]), **options)


def _default_rate(task):
    parameters = task.backbone.count_params()
    return SMALL_MODEL_RATE if parameters < SMALL_MODEL_PARAMETERS \
        else DEFAULT_RATE


def _optimizer(rate, decay):
    from keras_electra.optimizers import LayerwiseDecayAdamW

    return LayerwiseDecayAdamW(rate, layer_decay=decay)


def _evaluate(task, args, split):
    """Validation figures: the compiled metrics, and for QA exact match."""
    x, y = _fit_data(args.task, split)
    results = task.evaluate(x, y, batch_size=args.batch_size, verbose=0,
                            return_dict=True)
    figures = {k: round(float(v), 6) for k, v in results.items()}
    if args.task == "question-answerer":
        questions, contexts = split[0]
        from keras_electra_cli.predict import best_answer

        answers = task.answer(list(questions), list(contexts))
        exact = [
            _normal(best_answer(found)["answer"]) == _normal(text)
            for found, text in zip(answers, split[1]["text"])
        ]
        figures["exact_match"] = round(sum(exact) / len(exact), 6)
    return figures


def _normal(text):
    return " ".join(text.lower().split())


def _summary(record, args):
    last = {k: v[-1] for k, v in record["history"].items()}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in last.items())
    print(f"fine-tuned {record['task']} ({record['parameters']:,} "
          f"parameters) from {args.preset} on {record['train_examples']} "
          f"examples, {args.epochs} epoch(s), learning rate "
          f"{record['learning_rate']:g}, in {record['seconds']:.0f} s "
          f"({record['keras_backend']})")
    print(f"last epoch: {shown}")
    if record["validation"]:
        figures = ", ".join(f"{k} {v:.4f}"
                            for k, v in record["validation"].items())
        print(f"validation ({record['validation_examples']} examples): "
              f"{figures}")
    else:
        print("no validation examples (--validation-split 0 or too few "
              "rows)")
    output = os.path.abspath(args.output)
    print(f"wrote {output}/model.keras, {output}/preset/, "
          f"{output}/metrics.json")
    print(f"next: keras-electra predict {args.output} FILE, or "
          f"keras-electra export {args.output} serving/1")
