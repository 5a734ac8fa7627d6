"""keras-electra: ELECTRA for Keras 3 on TensorFlow, JAX and PyTorch."""

from keras_electra._version import __version__

# Layers.
from keras_electra import layers

# Tokenizer and preprocessors.
from keras_electra.models.electra_causal_lm_preprocessor import (
    ElectraCausalLMPreprocessor,
)
from keras_electra.models.electra_classifier_preprocessor import (
    ElectraClassifierPreprocessor,
)
from keras_electra.models.electra_discriminator_preprocessor import (
    ElectraDiscriminatorPreprocessor,
)
from keras_electra.models.electra_masked_lm_preprocessor import (
    ElectraMaskedLMPreprocessor,
)
from keras_electra.models.electra_multiple_choice_preprocessor import (
    ElectraMultipleChoicePreprocessor,
)
from keras_electra.models.electra_preprocessor import ElectraPreprocessor
from keras_electra.models.electra_question_answerer_preprocessor import (
    ElectraQuestionAnswererPreprocessor,
)
from keras_electra.models.electra_token_classifier_preprocessor import (
    ElectraTokenClassifierPreprocessor,
)
from keras_electra.models.electra_tokenizer import ElectraTokenizer

# Backbone and tasks.
from keras_electra.models.electra_backbone import ElectraBackbone
from keras_electra.models.electra_causal_lm import ElectraCausalLM
from keras_electra.models.electra_classifier import ElectraClassifier
from keras_electra.models.electra_discriminator import ElectraDiscriminator
from keras_electra.models.electra_masked_lm import ElectraMaskedLM
from keras_electra.models.electra_multiple_choice import ElectraMultipleChoice
from keras_electra.models.electra_question_answerer import (
    ElectraQuestionAnswerer,
)
from keras_electra.models.electra_task import ElectraTask
from keras_electra.models.electra_token_classifier import (
    ElectraTokenClassifier,
)
from keras_electra.models.span_loss import SpanLoss

# Pre-training.
from keras_electra.models.electra_pretrainer import ElectraPretrainer
from keras_electra.models.electra_pretrainer_preprocessor import (
    ElectraPretrainerPreprocessor,
)
from keras_electra.models.replaced_token_detection_loss import (
    ReplacedTokenDetectionLoss,
)

# Conversion and export.
from keras_electra.convert import export_to_huggingface
from keras_electra.convert import from_preset
from keras_electra.convert import load_model
from keras_electra.export import export_for_serving
from keras_electra.presets import list_presets

# Utilities.
from keras_electra import callbacks
from keras_electra.host_memory import keep_freed_memory
from keras_electra import optimizers
from keras_electra.optimizers import LayerwiseDecayAdamW

__all__ = [
    "__version__",
    # Layers.
    "layers",
    # Tokenizer and preprocessors.
    "ElectraCausalLMPreprocessor",
    "ElectraClassifierPreprocessor",
    "ElectraDiscriminatorPreprocessor",
    "ElectraMaskedLMPreprocessor",
    "ElectraMultipleChoicePreprocessor",
    "ElectraPreprocessor",
    "ElectraQuestionAnswererPreprocessor",
    "ElectraTokenClassifierPreprocessor",
    "ElectraTokenizer",
    # Backbone and tasks.
    "ElectraBackbone",
    "ElectraCausalLM",
    "ElectraClassifier",
    "ElectraDiscriminator",
    "ElectraMaskedLM",
    "ElectraMultipleChoice",
    "ElectraQuestionAnswerer",
    "ElectraTask",
    "ElectraTokenClassifier",
    "SpanLoss",
    # Pre-training.
    "ElectraPretrainer",
    "ElectraPretrainerPreprocessor",
    "ReplacedTokenDetectionLoss",
    # Conversion and export.
    "export_for_serving",
    "export_to_huggingface",
    "from_preset",
    "list_presets",
    "load_model",
    # Utilities.
    "LayerwiseDecayAdamW",
    "callbacks",
    "keep_freed_memory",
    "optimizers",
]
