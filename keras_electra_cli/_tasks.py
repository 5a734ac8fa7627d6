"""How each task's examples are laid out in a file (standard library).

`finetune` reads inputs and targets, `predict` only inputs; both name the
columns with the same options.
"""

import argparse

from keras_electra_cli._data import column
from keras_electra_cli._data import texts
from keras_electra_cli._runtime import CommandError

FORMATS_HELP = """\
file formats (CSV with a header row, TSV with a header row, or JSON lines:
one object per line; the extension .csv, .tsv or .jsonl says which):
  classifier         text, optional text pair, label (any string or number):
                       {"text": "Tastes great.", "label": "great"}
                       {"text": "A man sleeps.", "text_pair": "A person rests.",
                        "label": "entailment"}      (--text-pair-column text_pair)
  token-classifier   a list of words and one label per word (JSON lines), or
                     space-separated words and labels (CSV/TSV):
                       {"words": ["Ada", "lives", "in", "London"],
                        "labels": ["B-PER", "O", "O", "B-LOC"]}
  question-answerer  question, context, answer text and, optionally, the
                     answer's character offset in the context (else its
                     first occurrence):
                       {"question": "Who wrote it?", "context": "Austen wrote
                        Emma.", "answer": "Austen", "answer_start": 0}
  multiple-choice    a prompt, choice columns (choice0, choice1, ...) and the
                     index of the right choice:
                       {"prompt": "The sky is", "choice0": "blue.",
                        "choice1": "green.", "label": 0}
"""

DEFAULT_COLUMNS = {
    "classifier": {"text": "text", "label": "label"},
    "token-classifier": {"text": "words", "label": "labels"},
    "question-answerer": {"text": "question", "text_pair": "context",
                          "label": "answer"},
    "multiple-choice": {"text": "prompt", "label": "label"},
}
TASK_CLASSES = {
    "classifier": "ElectraClassifier",
    "token-classifier": "ElectraTokenClassifier",
    "question-answerer": "ElectraQuestionAnswerer",
    "multiple-choice": "ElectraMultipleChoice",
}


def column_options():
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("columns")
    group.add_argument(
        "--text-column", default=None,
        help="the text column; default per task: text (classifier), words "
        "(token-classifier), question (question-answerer), prompt "
        "(multiple-choice)")
    group.add_argument(
        "--text-pair-column", default=None,
        help="classifier: an optional second text (pairs); "
        "question-answerer: the context (default context)")
    group.add_argument(
        "--label-column", default=None,
        help="default per task: label (classifier; multiple-choice: the "
        "index of the right choice), labels (token-classifier), answer "
        "(question-answerer: the answer text)")
    group.add_argument(
        "--answer-start-column", default="answer_start",
        help="question-answerer: the answer's character offset in the "
        "context; when the column is absent, the answer's first occurrence")
    group.add_argument(
        "--choice-columns", default=None,
        help="multiple-choice: comma-separated choice columns; default "
        "every column whose name starts with 'choice', in file order")
    return parent


def columns(args):
    """`{"text", "text_pair", "label"}` column names for `args.task`."""
    names = dict(DEFAULT_COLUMNS[args.task])
    for key in ("text", "text_pair", "label"):
        given = getattr(args, f"{key}_column", None)
        if given:
            names[key] = given
    return names


def read_inputs(task, rows, args, source):
    """The model inputs of `rows` for `task` (Python lists)."""
    names = columns(args)
    if task == "classifier":
        first = texts(column(rows, names["text"], source, "--text-column"),
                      source, "--text-column")
        if not names.get("text_pair"):
            return first
        second = texts(column(rows, names["text_pair"], source,
                              "--text-pair-column"),
                       source, "--text-pair-column")
        return first, second
    if task == "token-classifier":
        values = column(rows, names["text"], source, "--text-column")
        return [_word_list(v, source, i, "--text-column")
                for i, v in enumerate(values)]
    if task == "question-answerer":
        questions = texts(column(rows, names["text"], source,
                                 "--text-column"), source, "--text-column")
        contexts = texts(column(rows, names["text_pair"], source,
                                "--text-pair-column"),
                         source, "--text-pair-column")
        return questions, contexts
    prompts = texts(column(rows, names["text"], source, "--text-column"),
                    source, "--text-column")
    choice_names = choice_columns(rows, args, source)
    choices = [texts(column(rows, name, source, "--choice-columns"), source,
                     "--choice-columns") for name in choice_names]
    return prompts, [list(row) for row in zip(*choices)]


def choice_columns(rows, args, source):
    if args.choice_columns:
        return [c.strip() for c in args.choice_columns.split(",")]
    found = [name for name in rows[0] if str(name).startswith("choice")]
    if len(found) < 2:
        raise CommandError(
            f"{source}: found {len(found)} columns named choice*; name at "
            "least two choice columns with --choice-columns")
    return found


def read_labels(task, rows, args, source, inputs):
    """Raw targets: label strings, word-label lists, or answers."""
    names = columns(args)
    values = column(rows, names["label"], source, "--label-column")
    if task == "classifier":
        return [_scalar_label(v, source, i) for i, v in enumerate(values)]
    if task == "token-classifier":
        labels = [_word_list(v, source, i, "--label-column")
                  for i, v in enumerate(values)]
        for i, (words, tags) in enumerate(zip(inputs, labels)):
            if len(words) != len(tags):
                raise CommandError(
                    f"{source}: example {i + 1} has {len(words)} words but "
                    f"{len(tags)} labels; give one label per word")
        return labels
    if task == "question-answerer":
        return _answers(rows, args, source, inputs, values)
    num_choices = len(inputs[1][0])
    labels = []
    for i, value in enumerate(values):
        try:
            index = int(value)
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < num_choices:
            raise CommandError(
                f"{source}: example {i + 1} has label {value!r}; expected "
                f"the index of the right choice, 0 to {num_choices - 1}")
        labels.append(index)
    return labels


def _answers(rows, args, source, inputs, answers):
    _, contexts = inputs
    starts = []
    for i, (row, context, answer) in enumerate(zip(rows, contexts, answers)):
        if not isinstance(answer, str) or not answer:
            raise CommandError(
                f"{source}: example {i + 1} has answer {answer!r}; expected "
                "the answer's text (--label-column)")
        start = row.get(args.answer_start_column)
        if start in (None, ""):
            start = context.find(answer)
        try:
            start = int(start)
        except ValueError:
            start = -1
        if start < 0 or context[start:start + len(answer)] != answer:
            raise CommandError(
                f"{source}: example {i + 1}: the answer {answer!r} is not in "
                f"its context at offset {start}; fix the answer or "
                f"{args.answer_start_column}")
        starts.append(start)
    return {"answer_start": starts, "text": list(answers)}


def _scalar_label(value, source, index):
    if isinstance(value, (list, dict)) or value is None or value == "":
        raise CommandError(
            f"{source}: example {index + 1} has label {value!r}; expected "
            "one class name or number (--label-column)")
    return str(value)


def _word_list(value, source, index, option):
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise CommandError(
        f"{source}: example {index + 1}, column of {option} holds {value!r}; "
        "expected a list of strings or space-separated words")


def label_names(labels, given=None):
    """Class names in a fixed order: `given`, or sorted (numbers as such)."""
    if given:
        names = [n.strip() for n in given.split(",")]
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise CommandError(
                f"labels {unknown} are not in --label-names {given!r}; add "
                "them or fix the data")
        return names
    found = sorted(set(labels))
    try:
        return sorted(found, key=float)
    except ValueError:
        return found
