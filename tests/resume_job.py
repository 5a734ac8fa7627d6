"""A tiny `fit` that kills itself mid-epoch or resumes and compares.

The child process of tests/test_crash_resume.py:

    python tests/resume_job.py kill MODEL DATA BACKUP STEP
    python tests/resume_job.py resume DATA BACKUP OUT

`kill` fits MODEL (`classifier` or `pretrainer`) with
`keras_electra.callbacks.BackupAndRestore(save_freq=2)` and SIGKILLs itself
after STEP steps. `resume` runs both models again with their backups (in
BACKUP/<model>), then uninterrupted from the same seed, and writes the
largest weight difference per model to OUT (JSON).
"""

import json
import os
import signal
import sys

import keras
import numpy as np

SAVE_FREQ = 2
TEXTS = [f"review {i}: the soup was {'good' if i % 3 else 'bad'} today"
         for i in range(24)]
LABELS = np.arange(24) % 2


def build(model, seed=0):
    from keras_electra import ElectraBackbone
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraClassifierPreprocessor
    from keras_electra import ElectraPretrainer
    from keras_electra import ElectraTokenizer

    keras.utils.set_random_seed(seed)

    def backbone(width):
        return ElectraBackbone(
            vocabulary_size=30522, num_layers=1, num_heads=2,
            hidden_dim=width, embedding_dim=8, intermediate_dim=2 * width,
            max_sequence_length=16, dropout=0.1)

    if model == "classifier":
        task = ElectraClassifier(
            backbone(16), num_classes=2, preprocessor=(
                ElectraClassifierPreprocessor(ElectraTokenizer(),
                                              sequence_length=16)))
        task.compile(optimizer=keras.optimizers.Adam(1e-3))
        return task
    task = ElectraPretrainer(backbone(8), backbone(16), seed=seed)
    task.compile(learning_rate=1e-3, warmup_steps=2, total_steps=8)
    return task


def fit(task, data, callbacks):
    """Two epochs of batches of 4 in a fixed order (6 + 6 or 4 + 4 steps)."""
    x, y = (data, None) if data else (TEXTS, LABELS)
    return task.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                    callbacks=callbacks)


def data_for(model, path):
    if model == "classifier":
        return {}
    with np.load(path) as saved:
        return dict(saved)


class KillAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv):
    from keras_electra.callbacks import BackupAndRestore

    if os.environ.get("RESUME_JOB_CALLBACK") == "keras":
        # For comparison by hand: Keras' own callback (not exact).
        BackupAndRestore = keras.callbacks.BackupAndRestore  # noqa: N806

    if argv[0] == "kill":
        model, data, backup, step = argv[1:]
        task = build(model)
        fit(task, data_for(model, data),
            [BackupAndRestore(os.path.join(backup, model),
                              save_freq=SAVE_FREQ), KillAt(int(step))])
        raise SystemExit("not killed")
    data, backup, out = argv[1:]
    result = {}
    for model in ("classifier", "pretrainer"):
        resumed = build(model)
        fit(resumed, data_for(model, data),
            [BackupAndRestore(os.path.join(backup, model),
                              save_freq=SAVE_FREQ)])
        straight = build(model)
        fit(straight, data_for(model, data), [])
        result[model] = {
            "max_difference": max(
                float(np.abs(keras.ops.convert_to_numpy(a)
                             - keras.ops.convert_to_numpy(b)).max())
                for a, b in zip(resumed.weights, straight.weights)),
            "iterations": [int(resumed.optimizer.iterations),
                           int(straight.optimizer.iterations)],
            "backup_left": os.path.exists(os.path.join(backup, model)),
        }
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    main(sys.argv[1:])
