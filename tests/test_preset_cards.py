"""Every named preset has a model card in presets/, with computed figures."""

import os
import re

import pytest

from keras_electra import ElectraBackbone
from keras_electra import list_presets
from keras_electra.presets.electra_presets import backbone_presets
from keras_electra.presets.preset_facts import parameter_count
from keras_electra.presets.preset_facts import preset_facts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("## Architecture", "## Training data", "## Training record",
            "## Downstream", "## Known limits")


def card(name):
    with open(os.path.join(ROOT, "presets", name, "README.md"),
              encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_named_preset_has_a_card_with_its_facts(name):
    text = card(name)
    assert text.startswith(f"# {name}\n")
    for section in SECTIONS:
        assert section in text, (name, section)
    params = list_presets()[name]["params"]
    assert f"{params:,}" in text
    assert re.search(r"licen[cs]e", text, re.IGNORECASE)
    assert set(preset_facts) == set(list_presets())


def test_the_presets_index_lists_every_card():
    with open(os.path.join(ROOT, "presets", "README.md"),
              encoding="utf-8") as f:
        index = f.read()
    for name in list_presets():
        assert f"({name}/README.md)" in index, name
    folders = {entry for entry in os.listdir(os.path.join(ROOT, "presets"))
               if os.path.isdir(os.path.join(ROOT, "presets", entry))}
    assert folders == set(list_presets())


def test_the_tiny_card_names_the_script_that_made_it():
    text = card("electra_tiny_uncased_en")
    assert "scripts/make_tiny_preset.py" in text
    assert os.path.isfile(os.path.join(ROOT, "scripts", "make_tiny_preset.py"))


def test_parameter_counts_are_computed_from_the_architecture():
    for name, preset in backbone_presets.items():
        config = preset["config"]
        assert parameter_count(
            config["vocab_size"], config["embedding_size"],
            config["hidden_size"], config["num_hidden_layers"],
            config["intermediate_size"]) == preset["metadata"]["params"], name
    # The formula against built models: ELECTRA-Small (with the embedding
    # projection) and the bundled tiny preset.
    small = ElectraBackbone(
        vocabulary_size=30522, num_layers=12, num_heads=4, hidden_dim=256,
        embedding_dim=128, intermediate_dim=1024, max_sequence_length=512)
    assert small.count_params() == parameter_count(30522, 128, 256, 12, 1024)
    tiny = ElectraBackbone.from_preset("electra_tiny_uncased_en")
    assert tiny.count_params() == parameter_count(
        tiny.vocabulary_size, tiny.embedding_dim, tiny.hidden_dim,
        tiny.num_layers, tiny.intermediate_dim, tiny.max_sequence_length)
    assert tiny.count_params() == list_presets()[
        "electra_tiny_uncased_en"]["params"]
