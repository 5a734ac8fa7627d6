"""Named presets: architectures, parameter counts, and the hf:// download
path end to end against a stand-in for the Hugging Face Hub on loopback."""

import json
import os
import time

import keras
import keras_hub
import pytest
import torch
import transformers
from convert_fixtures import max_diff
from convert_fixtures import random_hf
from convert_fixtures import save_hf
from hub_stand_in import HubStandIn

import keras_electra
from keras_electra import ElectraBackbone
from keras_electra.convert import PresetUnavailableError
from keras_electra.convert import resolved_preset
from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.keras_model import task_class
from keras_electra.presets.electra_presets import backbone_presets

# The architectures of Google's releases, as stated in the issue:
# (embedding, hidden, layers, heads, intermediate).
RELEASES = {
    "electra_small_discriminator_uncased_en": (128, 256, 12, 4, 1024),
    "electra_small_generator_uncased_en": (128, 256, 12, 4, 1024),
    "electra_base_discriminator_uncased_en": (768, 768, 12, 12, 3072),
    "electra_base_generator_uncased_en": (768, 256, 12, 4, 1024),
    "electra_large_discriminator_uncased_en": (1024, 1024, 24, 16, 4096),
    "electra_large_generator_uncased_en": (1024, 256, 24, 4, 1024),
}


def test_list_presets():
    presets = keras_electra.list_presets()
    tiny = "electra_tiny_uncased_en"
    assert sorted(presets) == sorted([*RELEASES, tiny])
    assert presets[tiny]["weights"] == "bundled"
    assert presets[tiny]["params"] == (
        ElectraBackbone.from_preset(tiny).count_params()
    )
    for name, metadata in presets.items():
        if name == tiny:
            continue
        size, part = name.split("_")[1:3]
        assert metadata["weights"] == f"hf://google/electra-{size}-{part}"
        assert metadata["description"]
        assert metadata["params"] > 0
    assert ElectraBackbone.presets.keys() == presets.keys()


def test_keras_hub_registry_is_untouched():
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    for name in RELEASES:
        assert BUILTIN_PRESETS[name]["kaggle_handle"].startswith("kaggle://")


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_preset_architecture(name):
    embedding, hidden, layers, heads, intermediate = RELEASES[name]
    with resolved_preset(name, load_weights=False) as path:
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)["config"]
        vocabulary = open(os.path.join(
            path, "assets", "tokenizer", "vocabulary.txt")).read().split("\n")
    assert (config["embedding_dim"], config["hidden_dim"],
            config["num_layers"], config["num_heads"],
            config["intermediate_dim"]) == (embedding, hidden, layers, heads,
                                            intermediate)
    assert config["vocabulary_size"] == 30522
    assert config["max_sequence_length"] == 512
    assert config["activation"] == "gelu"
    assert vocabulary[:3] == ["[PAD]", "[unused0]", "[unused1]"]
    assert vocabulary[30521] == "##～"


def hf_parameter_count(config):
    with torch.device("meta"):  # Shapes only, no memory.
        model = transformers.ElectraModel(transformers.ElectraConfig(**config))
    return sum(p.numel() for p in model.parameters())


def keras_parameter_count(config):
    """Our backbone's count, from two small builds of the same widths:
    the count is linear in the number of layers and the vocabulary size."""
    kwargs = backbone_kwargs_from_hf_config(config)

    def count(vocabulary_size, num_layers):
        return ElectraBackbone(**{**kwargs, "vocabulary_size": vocabulary_size,
                                  "num_layers": num_layers}).count_params()

    one, two, wide = count(10, 1), count(10, 2), count(20, 1)
    per_layer, per_token = two - one, (wide - one) // 10
    return (one + (kwargs["num_layers"] - 1) * per_layer
            + (kwargs["vocabulary_size"] - 10) * per_token)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_parameter_count_equals_hf(name):
    preset = backbone_presets[name]
    expected = hf_parameter_count(preset["config"])
    assert preset["metadata"]["params"] == expected
    assert keras_parameter_count(preset["config"]) == expected


def test_tokenizer_of_a_preset_needs_no_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ELECTRA_CACHE", str(tmp_path / "empty"))
    tokenizer = keras_electra.ElectraTokenizer.from_preset(
        "electra_base_generator_uncased_en"
    )
    assert tokenizer.vocabulary_size() == 30522
    # bert-base-uncased ids of "hello" and "world".
    assert [int(i) for i in tokenizer("Hello World")] == [7592, 2088]


def test_small_preset_builds_without_weights():
    backbone = ElectraBackbone.from_preset(
        "electra_small_discriminator_uncased_en", load_weights=False
    )
    assert backbone.count_params() == 13483008


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """Two repos on a loopback stand-in hub, with empty caches."""
    repos = {
        "google/electra-small-discriminator": save_hf(
            random_hf("ElectraDiscriminator"), str(tmp_path / "small")),
        "someone/electra-sst2": save_hf(
            random_hf("ElectraClassifier", seed=5), str(tmp_path / "sst2")),
    }
    # conftest switches huggingface_hub offline before it is imported.
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE",
                        str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("KERAS_ELECTRA_CACHE", str(tmp_path / "cache"))
    with HubStandIn(repos) as stand_in:
        monkeypatch.setenv("HF_ENDPOINT", stand_in.endpoint)
        yield stand_in


@pytest.mark.backend_sensitive
def test_hf_download_convert_cache_then_offline(hub, tmp_path):
    from transformers import ElectraForPreTraining
    from transformers import ElectraForSequenceClassification

    small_hf = ElectraForPreTraining.from_pretrained(
        hub.repos["google/electra-small-discriminator"]).eval()
    sst2_hf = ElectraForSequenceClassification.from_pretrained(
        hub.repos["someone/electra-sst2"]).eval()
    discriminator = task_class("ElectraDiscriminator")
    classifier = task_class("ElectraClassifier")

    def check_loads():
        model = discriminator.from_preset(
            "electra_small_discriminator_uncased_en")
        assert max_diff("ElectraDiscriminator", model, small_hf,
                        small_hf.config) <= 1e-5
        model = classifier.from_preset("hf://someone/electra-sst2")
        assert model.label_names == ["neg", "neutral", "pos"]
        assert max_diff("ElectraClassifier", model, sst2_hf,
                        sst2_hf.config) <= 1e-5

    check_loads()
    assert ("GET", "/api/models/someone/electra-sst2/revision/main") in (
        hub.requests)
    downloads = tmp_path / "hf_home" / "hub"
    assert "models--someone--electra-sst2" in os.listdir(downloads)
    cache = tmp_path / "cache" / "hf"
    assert sorted(os.listdir(cache)) == [
        "google--electra-small-discriminator", "someone--electra-sst2"]

    hub.stop()
    served = len(hub.requests)
    check_loads()  # From the cache, with the hub gone.
    assert len(hub.requests) == served

    start = time.monotonic()
    with pytest.raises(PresetUnavailableError) as error:
        ElectraBackbone.from_preset("electra_base_generator_uncased_en")
    assert time.monotonic() - start < 10
    message = str(error.value)
    assert "hf://google/electra-base-generator" in message
    assert "hf download google/electra-base-generator --local-dir DIR" in message
    assert "from_preset('DIR')" in message
    assert "keras-electra convert DIR DEST" in message


def test_offline_mode_without_cache_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("KERAS_ELECTRA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(PresetUnavailableError, match=r"from_preset\('DIR'\)"):
        ElectraBackbone.from_preset("hf://google/electra-small-generator")


def test_unknown_preset_lists_what_is_accepted():
    with pytest.raises(ValueError, match="electra_small_discriminator_uncased"):
        ElectraBackbone.from_preset("electra_small_discriminator_en")
    # keras-hub's own classes keep keras-hub's behaviour for its names.
    assert keras_hub.models.ElectraBackbone.presets[
        "electra_small_discriminator_uncased_en"]["kaggle_handle"].startswith(
        "kaggle://")


def test_bundled_preset_ships_both_trained_heads():
    from keras_electra import ElectraDiscriminator
    from keras_electra import ElectraMaskedLM

    tiny = "electra_tiny_uncased_en"
    generator = ElectraMaskedLM.from_preset(tiny)
    vocabulary_size = generator.backbone.vocabulary_size
    assert generator.backbone.hidden_dim == 32  # the generator/ folder
    best = generator.fill_mask("This coffee tastes [MASK].", top_k=3)
    # An untrained head is about uniform: 1 / 8,000 per piece.
    assert best[0]["score"] > 50 / vocabulary_size
    discriminator = ElectraDiscriminator.from_preset(tiny)
    assert discriminator.backbone.hidden_dim == 128
    natural = dict(discriminator.replaced_token_probabilities(
        "She was very happy to see him."))
    odd = dict(discriminator.replaced_token_probabilities(
        "She was very python to see him."))
    # An untrained head says about 0.5 everywhere.
    assert max(natural.values()) < 0.4
    assert odd["python"] > 0.5 > max(
        p for token, p in odd.items() if token != "python")


TINY = "electra_tiny_uncased_en"
TASK_NAMES = ["ElectraCausalLM", "ElectraClassifier", "ElectraDiscriminator",
              "ElectraMaskedLM", "ElectraMultipleChoice",
              "ElectraQuestionAnswerer", "ElectraTokenClassifier"]


def _fresh_head_warnings(record):
    return [str(w.message) for w in record
            if "were not initialized from the preset" in str(w.message)]


def test_fresh_head_warns_with_its_weights_and_loaded_head_does_not(
        tmp_path):
    import warnings

    from keras_electra import ElectraClassifier
    from keras_electra import ElectraDiscriminator
    from keras_electra import ElectraMaskedLM

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        discriminator = ElectraDiscriminator.from_preset(TINY)
        generator = ElectraMaskedLM.from_preset(TINY)
    assert _fresh_head_warnings(record) == []  # Both heads are in the preset.

    discriminator_only = tmp_path / "discriminator_only"
    discriminator.save_to_preset(discriminator_only)
    backbone_only = tmp_path / "backbone_only"
    generator.backbone.save_to_preset(backbone_only)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ElectraMaskedLM.from_preset(discriminator_only)
    [message] = _fresh_head_warnings(record)
    assert message.startswith("Some weights of ElectraMaskedLM were not")
    assert "belongs to an ElectraDiscriminator" in message
    assert "'generator_head/dense/kernel'" in message
    assert "'generator_head/bias'" in message
    assert "You should probably TRAIN this model" in message

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ElectraClassifier.from_preset(backbone_only, num_classes=3)
    [message] = _fresh_head_warnings(record)
    assert "holds no task head, only an encoder" in message
    assert "'classifier_head/output_dense/kernel'" in message
    # The encoder was loaded, so it is not named.
    assert "embeddings" not in message and "transformer" not in message

    # No weights asked for: nothing is "newly initialised" against a preset.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ElectraClassifier.from_preset(backbone_only, num_classes=3,
                                      load_weights=False)
    assert _fresh_head_warnings(record) == []


def test_preset_metadata_lists_the_task_classes(tmp_path):
    from keras_electra.models.electra_pretrainer import ElectraPretrainer

    for folder in ("", "generator"):
        path = os.path.join(
            os.path.dirname(keras_electra.__file__), "presets", TINY, folder,
            "metadata.json")
        with open(path) as f:
            assert json.load(f)["tasks"] == TASK_NAMES, path
    pretrainer = ElectraPretrainer.from_preset(TINY, sequence_length=16,
                                               load_weights=False)
    pretrainer.save_to_preset(tmp_path / "saved")
    for folder in ("", "generator"):
        with open(tmp_path / "saved" / folder / "metadata.json") as f:
            assert json.load(f)["tasks"] == TASK_NAMES
    for name in TASK_NAMES:
        assert task_class(name).__name__ == name


def test_tiny_preset_carries_its_fine_tuning_rate(tmp_path):
    from keras_electra import ElectraClassifier
    from keras_electra import ElectraTokenClassifier

    def rate(task):
        return float(keras.ops.convert_to_numpy(task.optimizer.learning_rate))

    classifier = ElectraClassifier.from_preset(TINY, num_classes=2,
                                               sequence_length=16)
    # 5e-5 barely moves the tiny preset; its metadata.json names 2e-4.
    assert classifier.default_learning_rate == 2e-4
    assert rate(classifier) == pytest.approx(2e-4)
    classifier.compile()
    assert rate(classifier) == pytest.approx(2e-4)
    classifier.compile(learning_rate=1e-3)
    assert rate(classifier) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="learning_rate=0.001 with optimizer"):
        classifier.compile(optimizer=keras.optimizers.Adam(),
                           learning_rate=1e-3)
    tagger = ElectraTokenClassifier.from_preset(TINY, num_classes=2,
                                                sequence_length=16)
    assert rate(tagger) == pytest.approx(2e-4)

    # Saved presets keep the rate; presets without one keep ELECTRA's 5e-5.
    classifier.save_to_preset(tmp_path / "fine_tuned")
    with open(tmp_path / "fine_tuned" / "metadata.json") as f:
        assert json.load(f)["fine_tuning"] == {"learning_rate": 2e-4}
    reloaded = ElectraClassifier.from_preset(tmp_path / "fine_tuned")
    assert rate(reloaded) == pytest.approx(2e-4)
    classifier.backbone.save_to_preset(tmp_path / "backbone")
    fresh = ElectraClassifier.from_preset(tmp_path / "backbone",
                                          num_classes=2)
    assert fresh.default_learning_rate == 5e-5
    assert rate(fresh) == pytest.approx(5e-5)
