"""Named presets: the Google ELECTRA releases and the bundled tiny model."""

from keras_electra.presets.bundled_presets import bundled_presets
from keras_electra.presets.electra_presets import backbone_presets


def list_presets():
    """Name -> metadata (description, params, weights source) of every preset.

    Example:
    >>> import keras_electra
    >>> sorted(keras_electra.list_presets())[0]
    'electra_base_discriminator_uncased_en'
    """
    presets = {
        name: {**preset["metadata"], "weights": preset["hf_handle"]}
        for name, preset in backbone_presets.items()
    }
    for name, preset in bundled_presets.items():
        presets[name] = {**preset["metadata"], "weights": "bundled"}
    return presets
