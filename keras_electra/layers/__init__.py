from keras_electra.layers.electra_classification_head import (
    ElectraClassificationHead,
)
from keras_electra.layers.electra_discriminator_head import (
    ElectraDiscriminatorHead,
)
from keras_electra.layers.electra_embedding import ElectraEmbedding
from keras_electra.layers.electra_generator_head import ElectraGeneratorHead
from keras_electra.layers.electra_transformer_block import (
    ElectraTransformerBlock,
)
from keras_electra.layers.replaced_token_sampler import ReplacedTokenSampler
