"""Recognise a checkpoint's format and read it into a `Checkpoint`."""

import os

from keras_electra.convert.checkpoint import is_hf_folder
from keras_electra.convert.checkpoint import read_hf_checkpoint
from keras_electra.convert.checkpoint import read_json
from keras_electra.convert.keras_hub_preset import is_keras_hub_preset
from keras_electra.convert.keras_hub_preset import read_keras_hub_preset
from keras_electra.convert.tensor_files import CheckpointError
from keras_electra.convert.tf1_checkpoint import read_tf1_checkpoint
from keras_electra.convert.tf1_checkpoint import tf1_checkpoint_prefix

KAGGLE_PREFIX = "kaggle://"
HF_PREFIX = "hf://"
# `kind` values of `source_kind`.
KERAS_ELECTRA = "keras_electra"
KERAS_HUB = "keras_hub"
HF = "huggingface"
TF1 = "tf1"


def is_keras_electra_preset(path):
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        return False
    name = read_json(config_path).get("registered_name", "")
    return str(name).startswith("keras_electra>")


def source_kind(path):
    """Which format the local `path` (or a `kaggle://` handle) holds."""
    path = os.fspath(path)
    if path.startswith(KAGGLE_PREFIX):
        return KERAS_HUB
    if os.path.isdir(path):
        if is_keras_electra_preset(path):
            return KERAS_ELECTRA
        if is_keras_hub_preset(path):
            return KERAS_HUB
        if is_hf_folder(path):
            return HF
    if tf1_checkpoint_prefix(path) is not None:
        return TF1
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder.")
    config_path = os.path.join(path, "config.json")
    if os.path.isfile(config_path):
        config = read_json(config_path)
        if "registered_name" in config:
            raise CheckpointError(
                f"{config_path}: a Keras preset of "
                f"{config['registered_name']!r}; keras_electra reads its own "
                "presets and keras-hub ElectraBackbone presets only."
            )
    raise CheckpointError(
        f"{path}: not a recognised ELECTRA checkpoint. Expected an HF "
        "transformers folder (config.json with model_type 'electra' or "
        "'bert' and "
        "model.safetensors / pytorch_model.bin), a Google TF1 checkpoint "
        "(model.ckpt-N.index/.data), a keras-hub ElectraBackbone preset or a "
        "keras_electra preset."
    )


def read_checkpoint(path, part="discriminator", num_heads=None,
                    allow_pickle=True):
    """A `Checkpoint` from any supported non-keras_electra format."""
    kind = source_kind(path)
    if kind == HF:
        return read_hf_checkpoint(path, allow_pickle=allow_pickle)
    if kind == TF1:
        return read_tf1_checkpoint(path, part=part, num_heads=num_heads)
    if kind == KERAS_HUB:
        return read_keras_hub_preset(path)
    raise CheckpointError(f"{path}: a keras_electra preset needs no reading.")
