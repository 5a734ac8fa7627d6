"""Checkpoint formats in and out: HF transformers, Google TF1, keras-hub.

Public entry points:
- `load_preset(cls, handle, **kwargs)`: what every keras_electra class's
  `from_preset` does (via `ElectraPresetMixin`); `from_preset(handle)` picks
  the task from the checkpoint.
- `convert_checkpoint(source, dest)`: any supported checkpoint -> a
  keras_electra preset folder.
- `export_to_huggingface(model, dest)`: back to an HF transformers folder.
"""

from keras_electra.convert.checkpoint import Checkpoint
from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.hf_config import hf_config_from_backbone
from keras_electra.convert.hf_export import checkpoint_from_model
from keras_electra.convert.hf_export import export_to_huggingface
from keras_electra.convert.hf_heads import HF_TASKS
from keras_electra.convert.hf_heads import hf_tensors
from keras_electra.convert.hf_heads import load_hf_tensors
from keras_electra.convert.hf_heads import model_weights
from keras_electra.convert.keras_file import load_model
from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.convert.preset_loading import from_preset
from keras_electra.convert.preset_loading import load_preset
from keras_electra.convert.preset_store import PresetUnavailableError
from keras_electra.convert.preset_store import cache_dir
from keras_electra.convert.preset_store import convert_checkpoint
from keras_electra.convert.preset_store import resolved_preset
from keras_electra.convert.sources import read_checkpoint
from keras_electra.convert.tensor_files import CheckpointError
from keras_electra.convert.weight_map import WeightMismatchError
