"""rich progress bars on stderr: named steps, and Keras training steps."""

import keras
from rich.console import Console
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn
from rich.progress import TimeRemainingColumn


def progress_bar():
    return Progress(
        TextColumn("{task.description:<34}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
    )


class Steps:
    """A progress bar over the named steps of a command."""

    def __init__(self, total):
        self.progress = progress_bar()
        self.total = total

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task("starting", total=self.total,
                                           note="")
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def run(self, description, fn, *args, **kwargs):
        self.progress.update(self.task, description=description)
        result = fn(*args, **kwargs)
        self.progress.advance(self.task)
        return result


class FitProgress(keras.callbacks.Callback):
    """One bar over all training steps of `fit`, with the latest loss."""

    def __init__(self, description):
        super().__init__()
        self.description = description

    def on_train_begin(self, logs=None):
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        total = steps * epochs if steps and epochs else None
        self.progress = progress_bar()
        self.progress.start()
        self.bar = self.progress.add_task(self.description, total=total,
                                          note="")

    def on_train_batch_end(self, batch, logs=None):
        note = ""
        if logs and "loss" in logs:
            note = f"loss {float(logs['loss']):.4f}"
        self.progress.update(self.bar, advance=1, note=note)

    def on_epoch_end(self, epoch, logs=None):
        shown = {k: v for k, v in (logs or {}).items()
                 if isinstance(v, (int, float))}
        text = ", ".join(f"{k} {float(v):.4f}" for k, v in shown.items())
        self.progress.console.print(f"epoch {epoch + 1}: {text}")

    def on_train_end(self, logs=None):
        self.progress.stop()
