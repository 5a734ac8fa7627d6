"""List the named presets: parameters, source, licence and tasks.

Each has a model card in the repository's presets/<name>/README.md
(architecture, training data and its licence, training record, downstream
figures, known limits). Google's releases download from the Hugging Face
hub on first use; the tiny preset ships in the wheel.
"""

import importlib.util
import os

from keras_electra_cli._runtime import add_command



def add_parser(commands, parents):
    parser = add_command(commands, "presets", __doc__, parents)
    parser.set_defaults(run=run)
    return parser


def _table(name):
    """A module of keras_electra/presets, read without importing the
    package (whose __init__ imports Keras and TensorFlow)."""
    package = importlib.util.find_spec("keras_electra")
    folder = os.path.join(os.path.dirname(package.origin), "presets")
    spec = importlib.util.spec_from_file_location(
        f"_keras_electra_presets_{name}", os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def presets():
    """Name -> `{"params", "description", "source", "license", "tasks",
    "training_data"}` for every named preset."""
    google = _table("electra_presets").backbone_presets
    bundled = _table("bundled_presets").bundled_presets
    facts = _table("preset_facts").preset_facts
    found = {}
    for name, preset in {**google, **bundled}.items():
        found[name] = {**preset["metadata"], **facts[name]}
    return found


def run(args):
    table = presets()
    for name, preset in table.items():
        print(f"{name}  {preset['params']:,} parameters")
        print(f"    source:   {preset['source']}")
        print(f"    licence:  {preset['license']}")
        print(f"    data:     {preset['training_data']}")
        print(f"    tasks:    {', '.join(preset['tasks'])}")
        print(f"    card:     presets/{name}/README.md")
    print(f"{len(table)} presets; use a name with --preset, from_preset() "
          "or `keras-electra convert NAME DEST`")
    return 0
