"""Loading runs no code from a checkpoint and writes nothing outside.

`.keras` files load in Keras' safe mode; nothing `from_preset` reaches
unpickles code or trusts remote code; names in archives, shard indexes and
hub listings cannot lead outside their folder; downloads are checked
against the hashes the hub lists.
"""

import glob
import json
import os
import re
import zipfile

import keras
import pytest
from convert_fixtures import random_hf
from convert_fixtures import save_hf
from hub_stand_in import COMMIT
from hub_stand_in import HubStandIn

import keras_electra
from keras_electra.convert import CheckpointError
from keras_electra.convert import PresetUnavailableError
from keras_electra.convert.tensor_files import read_hf_weights

PACKAGE = os.path.dirname(keras_electra.__file__)
REPO = "someone/electra-x"


def package_sources():
    for path in sorted(glob.glob(os.path.join(PACKAGE, "**", "*.py"),
                                 recursive=True)):
        with open(path, encoding="utf-8") as f:
            yield os.path.relpath(path, PACKAGE), f.read()


def test_audit_no_code_loading_paths_in_the_package():
    torch_loads = 0
    for name, source in package_sources():
        assert "trust_remote_code" not in source, name
        assert "safe_mode=False" not in source, name
        assert "enable_unsafe_deserialization" not in source, name
        assert not re.search(r"^\s*(import|from) (pickle|dill|cloudpickle)",
                             source, re.M), name
        assert "extractall" not in source, name
        for call in re.findall(r"torch\.load\(([^)]*)\)", source):
            torch_loads += 1
            assert "weights_only=True" in call, (name, call)
    assert torch_loads >= 1  # tensor_files.read_torch_bin (and its docs).


def tiny_keras_file(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    return path


def test_load_model_refuses_lambda_code(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="lambda"):
        keras_electra.load_model(path)


def test_load_model_refuses_members_outside_the_folder(tmp_path):
    path = tiny_keras_file(tmp_path)
    assert keras_electra.load_model(path) is not None
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../outside.txt", b"x")
        archive.writestr("/etc/outside.txt", b"x")
    with pytest.raises(ValueError, match="would land outside") as error:
        keras_electra.load_model(path)
    assert "../outside.txt" in str(error.value)


def test_load_model_detects_a_corrupt_member(tmp_path):
    path = tiny_keras_file(tmp_path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.weights.h5")
        offset = info.header_offset + 30 + len(info.filename) + len(
            info.extra)
    with open(path, "r+b") as f:  # Flip bytes inside the weights.
        f.seek(offset + info.compress_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="fails its CRC check"):
        keras_electra.load_model(path)


def test_shard_index_cannot_point_outside_the_folder(tmp_path):
    folder = save_hf(random_hf("ElectraDiscriminator"), str(tmp_path / "hf"))
    os.rename(os.path.join(folder, "model.safetensors"),
              str(tmp_path / "elsewhere.safetensors"))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {
            "electra.embeddings.word_embeddings.weight":
                "../elsewhere.safetensors"}}, f)
    with pytest.raises(CheckpointError, match="lies outside"):
        read_hf_weights(folder)


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """Empty caches and an online huggingface_hub (conftest sets offline)."""
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE",
                        str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("KERAS_ELECTRA_CACHE", str(tmp_path / "cache"))
    folder = save_hf(random_hf("ElectraDiscriminator"), str(tmp_path / "hf"))

    def serve(**options):
        stand_in = HubStandIn({REPO: folder}, **options)
        monkeypatch.setenv("HF_ENDPOINT", stand_in.endpoint)
        return stand_in

    return serve


def flipped(path):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-10] ^= 0xFF  # Same size: only the hash can tell.
    return bytes(data)


def test_download_is_checked_against_the_hub_hashes(hub_env, tmp_path):
    weights = os.path.join(str(tmp_path / "hf"), "model.safetensors")
    with hub_env(tampered={(REPO, "model.safetensors"): flipped(weights)}):
        with pytest.raises(CheckpointError) as error:
            keras_electra.ElectraBackbone.from_preset(f"hf://{REPO}")
    message = str(error.value)
    assert "model.safetensors does not match the sha256" in message
    assert "removed from the Hugging Face cache" in message
    assert not os.path.exists(tmp_path / "cache" / "hf")  # Nothing cached.
    blobs = glob.glob(str(tmp_path / "hf_home" / "hub" / "*" / "blobs" / "*"))
    good = hub_env()
    with good:  # The next try downloads the file again, and loads.
        backbone = keras_electra.ElectraBackbone.from_preset(f"hf://{REPO}")
    assert len(blobs) >= 1
    assert backbone.count_params() > 0
    assert ("GET", f"/{REPO}/resolve/{COMMIT}/model.safetensors") in (
        good.requests)


def test_hub_file_names_leading_outside_are_refused(hub_env, tmp_path):
    extra = {"../../outside.json": b"{}", "/tmp/absolute.json": b"{}"}
    with hub_env(extra_files={REPO: extra}):
        with pytest.raises(PresetUnavailableError) as error:
            keras_electra.ElectraBackbone.from_preset(f"hf://{REPO}")
    assert "outside.json" in str(error.value) or "absolute.json" in str(
        error.value)
    for root in (tmp_path, tmp_path / "hf_home"):
        assert not os.path.exists(root / "outside.json")
    assert not os.path.exists("/tmp/absolute.json")
    assert not os.path.exists(tmp_path / "cache" / "hf")

