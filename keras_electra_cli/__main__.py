"""`python -m keras_electra_cli` runs the `keras-electra` command."""

import sys

from keras_electra_cli import main

sys.exit(main())
