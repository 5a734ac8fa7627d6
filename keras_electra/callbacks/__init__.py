"""Callbacks for long `fit` runs."""

from keras_electra.callbacks.backup_and_restore import BackupAndRestore
