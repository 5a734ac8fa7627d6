"""Run a fine-tuned task on a file or stdin; JSON lines out.

MODEL is a `keras-electra finetune` output folder, a `.keras` file or a
preset folder with a task head. INPUT is a CSV, TSV or JSON-lines file laid
out as for finetune (labels are not needed), a .txt file with one text per
line, or `-`/nothing for stdin (one text per line, or JSON objects). One
JSON object per example goes to stdout (or --output), in input order:

  classifier         {"text": ..., "label": "great", "score": 0.91,
                      "probabilities": {"other": 0.09, "great": 0.91}}
  token-classifier   {"words": [...], "labels": ["B-PER", "O", ...]}
  question-answerer  {"question": ..., "answer": ..., "score": ...,
                      "start": ..., "end": ...}
  multiple-choice    {"prompt": ..., "choice": 1, "answer": ...,
                      "probabilities": [0.2, 0.8]}
"""

import json
import sys

from keras_electra_cli import _tasks
from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import positive_int

EXAMPLES = """examples:
  keras-electra predict electra-finetuned reviews.csv --text-column review
  echo "Tastes great." | keras-electra predict electra-finetuned
  keras-electra predict electra-finetuned/model.keras questions.jsonl -o out.jsonl
"""


def add_parser(commands, parents):
    parser = add_command(commands, "predict", __doc__,
                         parents + [_tasks.column_options()],
                         epilog=EXAMPLES)
    parser.add_argument("model", help="finetune output folder, .keras file "
                        "or preset folder")
    parser.add_argument("input", nargs="?", default="-",
                        help="examples file, or - for stdin")
    parser.add_argument("-o", "--output", default="-",
                        help="JSON-lines file to write, or - for stdout")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="examples per model call")
    parser.set_defaults(run=run)
    return parser


def run(args):
    heavy_imports(args)
    from keras_electra_cli._models import load_task
    from keras_electra_cli._models import task_kind
    from keras_electra_cli._progress import Steps

    task = load_task(args.model)
    args.task = task_kind(task)
    rows, source = _rows(args)
    inputs = _tasks.read_inputs(args.task, rows, args, source)
    count = len(rows)
    out = sys.stdout if args.output == "-" else open(
        args.output, "w", encoding="utf-8")
    try:
        batches = range(0, count, args.batch_size)
        with Steps(total=len(batches)) as steps:
            for start in batches:
                stop = min(start + args.batch_size, count)
                results = steps.run(
                    f"predicting {stop}/{count}", _predict, task, args.task,
                    _slice(inputs, start, stop))
                for result in results:
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
                out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    where = "stdout" if args.output == "-" else args.output
    print(f"predicted {count} examples with {type(task).__name__} "
          f"-> {where}", file=sys.stderr)
    return 0


def _rows(args):
    from keras_electra_cli._data import read_rows
    from keras_electra_cli._data import read_stdin

    if args.input == "-":
        return read_stdin(), "stdin"
    return read_rows(args.input, ("csv", "tsv", "jsonl", "text")), args.input


def _slice(inputs, start, stop):
    if isinstance(inputs, tuple):
        return tuple(v[start:stop] for v in inputs)
    return inputs[start:stop]


def _predict(task, kind, inputs):
    if kind == "classifier":
        return _classify(task, inputs)
    if kind == "token-classifier":
        labels = task.predict_words(inputs)
        return [{"words": w, "labels": l} for w, l in zip(inputs, labels)]
    if kind == "question-answerer":
        questions, contexts = inputs
        answers = task.answer(list(questions), list(contexts))
        return [{"question": question, **_plain(best_answer(found))}
                for question, found in zip(questions, answers)]
    return _choose(task, inputs)


def _classify(task, inputs):
    import numpy as np

    pairs = isinstance(inputs, tuple)
    x = (list(inputs[0]), list(inputs[1])) if pairs else list(inputs)
    logits = np.asarray(task.predict(x, verbose=0), "float64")
    texts = inputs[0] if pairs else inputs
    results = []
    for i, row in enumerate(_labels_and_scores(task, logits)):
        result = {"text": texts[i]}
        if pairs:
            result["text_pair"] = inputs[1][i]
        results.append({**result, **row})
    return results


def _labels_and_scores(task, logits):
    """`{label, score, probabilities}` per row, as HF's text-classification
    pipeline and the exported SavedModel answer. (A private stand-in for a
    public classifier helper.)"""
    import numpy as np

    problem = getattr(task, "problem_type", "single_label_classification")
    if problem == "regression":
        return [{"score": float(row[0])} for row in logits]
    names = task.label_names or [str(i) for i in range(logits.shape[-1])]
    activation = getattr(task.activation, "__name__", "")
    if problem == "multi_label_classification":
        probs = logits if activation == "sigmoid" else 1 / (1 + np.exp(-logits))
        return [{"labels": [n for n, p in zip(names, row) if p > 0.5],
                 "probabilities": dict(zip(names, map(float, row)))}
                for row in probs]
    probs = logits
    if activation != "softmax":
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = shifted / shifted.sum(axis=-1, keepdims=True)
    return [{"label": names[int(np.argmax(row))],
             "score": float(np.max(row)),
             "probabilities": dict(zip(names, map(float, row)))}
            for row in probs]


def _choose(task, inputs):
    import numpy as np

    prompts, choices = inputs
    logits = np.asarray(task.predict(
        (np.array(prompts), np.array(choices)), verbose=0), "float64")
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    results = []
    for prompt, options, row in zip(prompts, choices, probs):
        best = int(np.argmax(row))
        results.append({"prompt": prompt, "choice": best,
                        "answer": options[best],
                        "probabilities": [float(p) for p in row]})
    return results


def best_answer(found):
    """The best answer of one question: `answer()` gives a list of dicts
    (best first) per question, or a dict where it answers as HF's pipeline
    does for `top_k=1`."""
    if isinstance(found, dict):
        return found
    return found[0] if found else {"answer": "", "score": 0.0, "start": 0,
                                   "end": 0}


def _plain(answer):
    return {k: (float(v) if k == "score" else v) for k, v in answer.items()}
