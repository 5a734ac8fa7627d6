"""Bad checkpoints give clear errors and never a half-written destination."""

import json
import os

import numpy as np
import pytest
import torch
from convert_fixtures import random_hf
from convert_fixtures import save_hf
from safetensors.numpy import save_file

from keras_electra import ElectraBackbone
from keras_electra.convert import CheckpointError
from keras_electra.convert import WeightMismatchError
from keras_electra.convert import convert_checkpoint
from keras_electra.convert import export_to_huggingface
from keras_electra.convert.tensor_files import read_safetensors


@pytest.fixture
def hf_folder(tmp_path):
    return save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))


def rewrite_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, "w") as f:
        json.dump(config, f)


def rewrite_tensors(folder, change):
    path = os.path.join(folder, "model.safetensors")
    tensors = {k: np.array(v) for k, v in read_safetensors(path).items()}
    change(tensors)
    save_file(tensors, path, metadata={"format": "pt"})
    return path


def test_wrong_model_type(hf_folder):
    rewrite_config(hf_folder, model_type="roberta")
    with pytest.raises(CheckpointError,
                       match=r"config\.json: model_type is 'roberta', not "
                       r"'electra' or 'bert'"):
        ElectraBackbone.from_preset(hf_folder)


def test_config_disagrees_with_tensors(hf_folder):
    rewrite_config(hf_folder, intermediate_size=64)
    with pytest.raises(
        WeightMismatchError,
        match=r"model\.safetensors: tensor 'encoder\.layer\.0\.intermediate"
        r"\.dense\.weight' has shape \(48, 32\), expected \(64, 32\)",
    ):
        ElectraBackbone.from_preset(hf_folder)


def test_missing_tensor(hf_folder):
    rewrite_tensors(hf_folder, lambda t: t.pop("encoder.layer.1.output.dense.bias"))
    with pytest.raises(WeightMismatchError,
                       match=r"missing tensor\(s\) \['encoder\.layer\.1\.output"
                       r"\.dense\.bias'\]"):
        ElectraBackbone.from_preset(hf_folder)


def test_unexpected_tensor(hf_folder):
    def add(tensors):
        tensors["pooler.dense.weight"] = np.zeros((32, 32), "float32")

    rewrite_tensors(hf_folder, add)
    with pytest.raises(WeightMismatchError,
                       match=r"unexpected tensor\(s\) \['pooler\.dense\.weight'\]"):
        ElectraBackbone.from_preset(hf_folder)


def test_truncated_safetensors(hf_folder):
    path = os.path.join(hf_folder, "model.safetensors")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor "
                       r"'.*' needs bytes .* the file is truncated"):
        ElectraBackbone.from_preset(hf_folder)


def test_corrupt_safetensors_header(hf_folder):
    path = os.path.join(hf_folder, "model.safetensors")
    data = bytearray(open(path, "rb").read())
    data[8:20] = b"{not json!!!"
    open(path, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="header is not valid JSON"):
        ElectraBackbone.from_preset(hf_folder)


def test_pickle_where_safetensors_was_required(hf_folder):
    path = os.path.join(hf_folder, "model.safetensors")
    torch.save({"x": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: this is a "
                       "pickle"):
        ElectraBackbone.from_preset(hf_folder)


def test_safetensors_only_refuses_bin(tmp_path):
    folder = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"),
                     fmt="bin")
    with pytest.raises(CheckpointError, match="safetensors was required"):
        ElectraBackbone.from_preset(folder, allow_pickle=False)


def test_truncated_bin(tmp_path):
    folder = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"),
                     fmt="bin")
    path = os.path.join(folder, "pytorch_model.bin")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin: cannot be "
                       "read as a PyTorch state dict"):
        ElectraBackbone.from_preset(folder)


class NotATensor:
    pass


def test_bin_with_code_is_refused(tmp_path):
    folder = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"),
                     fmt="bin")
    torch.save({"x": NotATensor()}, os.path.join(folder, "pytorch_model.bin"))
    with pytest.raises(CheckpointError, match="weights_only=True"):
        ElectraBackbone.from_preset(folder)


def test_missing_shard(tmp_path):
    folder = str(tmp_path / "hf")
    random_hf("ElectraBackbone").save_pretrained(folder, max_shard_size="40KB")
    shards = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    os.remove(os.path.join(folder, shards[-1]))
    with pytest.raises(CheckpointError, match=f"shard '{shards[-1]}' is listed "
                       "but missing"):
        ElectraBackbone.from_preset(folder)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a recognised ELECTRA "
                       "checkpoint"):
        ElectraBackbone.from_preset(str(tmp_path))


def test_existing_destination_needs_overwrite(hf_folder, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        convert_checkpoint(hf_folder, str(dest))
    assert (dest / "keep.txt").read_text() == "mine"
    convert_checkpoint(hf_folder, str(dest), overwrite=True)
    assert sorted(os.listdir(dest)) == [
        "assets", "config.json", "metadata.json", "model.weights.h5",
        "tokenizer.json",
    ]
    backbone = ElectraBackbone.from_preset(str(dest))
    with pytest.raises(FileExistsError):
        export_to_huggingface(backbone, str(dest))


def test_failed_conversion_leaves_nothing(hf_folder, tmp_path):
    rewrite_config(hf_folder, intermediate_size=64)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(WeightMismatchError):
        convert_checkpoint(hf_folder, str(out / "preset"))
    assert os.listdir(out) == []


def test_failed_write_leaves_nothing(hf_folder, tmp_path, monkeypatch):
    backbone = ElectraBackbone.from_preset(hf_folder)
    out = tmp_path / "out"
    out.mkdir()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(
        "keras_electra.convert.hf_export.write_safetensors", broken)
    with pytest.raises(OSError, match="disk full"):
        export_to_huggingface(backbone, str(out / "hf"))
    assert os.listdir(out) == []
