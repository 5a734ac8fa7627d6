"""keras-electra: ELECTRA for Keras 3 on TensorFlow, JAX and PyTorch."""

from keras_electra import layers
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.convert import export_to_huggingface
from keras_electra.convert import from_preset
from keras_electra.presets import list_presets
from keras_electra.export import export_for_serving
from keras_electra.models.electra_tokenizer import ElectraTokenizer
