"""Pre-training data: corpora packed into sequences, and corpus vocabularies."""

from keras_electra.pretraining.corpus import pretraining_dataset
from keras_electra.pretraining.sequence_packer import SequencePacker
from keras_electra.pretraining.vocabulary import build_vocabulary
