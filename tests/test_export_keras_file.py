"""`.keras` round trip: a fine-tuned task saved with `task.save()` reloads
with `keras.saving.load_model` in a fresh process, after only
`import keras_electra`, and predicts exactly the same. Runs on the current
Keras backend; CI runs it on TensorFlow only (7 fine-tunings took 465 s on
JAX), and tests/test_keras_file_round_trips.py reloads every task on JAX and
PyTorch too."""

import numpy as np
from serving_helpers import KINDS
from serving_helpers import fine_tune
from serving_helpers import predictions
from serving_helpers import run_backend_script
from serving_helpers import tiny_task

import keras

RELOAD = r"""
import sys
import numpy as np
import keras
import keras_electra
from serving_helpers import KINDS, predictions

folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
results = {{}}
for kind in KINDS:
    task = keras.saving.load_model(f"{{folder}}/{{kind}}.keras")
    assert type(task).__module__.startswith("keras_electra."), type(task)
    results[kind] = predictions(kind, task)
np.savez(f"{{folder}}/reloaded.npz", **results)
"""


def test_fine_tuned_tasks_reload_from_keras_files_in_a_fresh_process(tmp_path):
    expected = {}
    for kind in KINDS:
        task = fine_tune(kind, tiny_task(kind))
        expected[kind] = predictions(kind, task)
        task.save(str(tmp_path / f"{kind}.keras"))

    run_backend_script(keras.config.backend(), RELOAD.format(folder=str(tmp_path)))

    with np.load(tmp_path / "reloaded.npz") as reloaded:
        for kind in KINDS:
            np.testing.assert_array_equal(
                reloaded[kind], expected[kind], err_msg=kind
            )
