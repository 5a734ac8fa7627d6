import json
import os

import keras
import numpy as np

from keras_electra.convert.atomic_dir import atomic_dir

RANDOM_STATES_FILE = "random_states.npz"


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that resumes exactly where it stopped.

    A `fit` killed at any point (SIGKILL, a lost machine) and started again
    with the same arguments continues from the last backup and, given data
    whose order is reproducible (`shuffle=False`, or a `tf.data` pipeline
    without unseeded randomness), ends with the weights of an uninterrupted
    run. Keras' own callback (Keras 3.15) does not: it restarts an
    interrupted epoch from its first batch with the weights of its middle
    (training those batches twice), does not save the random states of
    dropout and samplers (`keras.random.SeedGenerator`, PyTorch's global
    generator), and overwrites its backup in place, so a kill while saving
    leaves a broken one. This one:

    - writes the weights, optimizer, random states and position (epoch and
      batch) as one folder, renamed into place (`atomic_dir`): a kill while
      saving leaves the previous backup;
    - restores the random states with the weights;
    - resumes an interrupted epoch after its last saved batch: the batches
      before it are read from the data and not trained on.

    Args:
        backup_dir: folder of the backup (replaced on every save).
        save_freq: `"epoch"` or every how many batches to save.
        delete_checkpoint: delete the backup when `fit` completes.

    Example:
    ```python
    classifier.fit(texts, labels, batch_size=32, epochs=3, shuffle=False,
                   callbacks=[keras_electra.callbacks.BackupAndRestore(
                       "backup", save_freq=100)])
    ```
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(backup_dir, save_freq=save_freq,
                         delete_checkpoint=delete_checkpoint)
        self._batches_done = 0
        self._skip = 0
        self._torch_state = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # Weights, optimizer and epoch.
        self._skip = 0
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as f:
                self._skip = json.load(f).get("batch", 0)
        states = os.path.join(self.backup_dir, RANDOM_STATES_FILE)
        if os.path.exists(states):
            with np.load(states) as saved:
                self._set_random_states(dict(saved))
        if self._skip:
            self._skip_batches(self._skip)

    def on_epoch_begin(self, epoch, logs=None):
        self._batches_done = 0
        if not self._skip:
            self._restore_torch_state()

    def on_train_batch_begin(self, batch, logs=None):
        # Inside an epoch the backup was taken after the epoch's data
        # iterator was made; PyTorch's DataLoader draws its seed from the
        # global generator when it is made, so restore after that draw.
        self._restore_torch_state()

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done = batch + 1
        if self._batches_done <= self._skip:
            # A batch of the interrupted epoch that the backup has seen:
            # count it, save nothing.
            self._should_save_on_batch(batch)
            return
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._batches_done = 0
        self._skip = 0
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        with atomic_dir(self.backup_dir, overwrite=True) as staging:
            self.model.save_weights(
                os.path.join(staging, os.path.basename(self._weights_path)))
            np.savez(os.path.join(staging, RANDOM_STATES_FILE),
                     **self._random_states())
            metadata = os.path.basename(self._training_metadata_path)
            with open(os.path.join(staging, metadata), "w") as f:
                json.dump({"epoch": self._current_epoch,
                           "batch": self._batches_done}, f)

    def _seed_states(self):
        return [v for v in self.model.variables
                if v.path.endswith("seed_generator_state")]

    def _random_states(self):
        states = {f"seed_{i}": keras.ops.convert_to_numpy(v)
                  for i, v in enumerate(self._seed_states())}
        if keras.config.backend() == "torch":
            import torch

            # Unseeded PyTorch dropout draws from the global generator.
            states["torch"] = torch.get_rng_state().numpy()
        return states

    def _set_random_states(self, states):
        variables = self._seed_states()
        saved = sum(name.startswith("seed_") for name in states)
        if saved != len(variables):
            raise ValueError(
                f"The backup in {self.backup_dir} holds {saved} random "
                f"states; this model has {len(variables)}. It was made by "
                "another model: delete the folder or use another backup_dir."
            )
        for i, variable in enumerate(variables):
            variable.assign(states[f"seed_{i}"])
        if "torch" in states and keras.config.backend() == "torch":
            self._torch_state = states["torch"]

    def _restore_torch_state(self):
        if self._torch_state is not None:
            import torch

            torch.set_rng_state(torch.from_numpy(self._torch_state))
            self._torch_state = None

    def _skip_batches(self, count):
        """Make the next `count` steps read their batch and not train."""
        model = self.model
        if getattr(model, "steps_per_execution", 1) != 1:
            raise ValueError(
                "BackupAndRestore resumes inside an epoch only with "
                "steps_per_execution=1; received steps_per_execution="
                f"{model.steps_per_execution}. Compile with "
                "steps_per_execution=1 or save with save_freq='epoch'."
            )
        train_function = model.train_function
        backend = keras.config.backend()
        left = [count]

        def skip(*args):
            left[0] -= 1
            if left[0] == 0:
                model.train_function = train_function
            if backend == "jax":  # (state, iterator) -> (logs, state)
                next(args[1])
                return {}, args[0]
            if backend == "tensorflow":  # (iterator) -> logs
                next(args[0])
            return {}  # PyTorch: the loop has read the batch already.

        model.train_function = skip
