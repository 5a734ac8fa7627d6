"""keras-electra: ELECTRA for Keras 3 on TensorFlow, JAX and PyTorch."""

from keras_electra import layers
from keras_electra.models.electra_backbone import ElectraBackbone
