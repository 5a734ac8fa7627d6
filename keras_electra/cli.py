"""The `keras-electra` command line lives in the `keras_electra_cli` package.

It is a separate top-level package so that `keras-electra --help` does not
import this package (which imports Keras and TensorFlow). This module keeps
`keras_electra.cli.main` working for code that imported it.
"""

from keras_electra_cli import main

__all__ = ["main"]
