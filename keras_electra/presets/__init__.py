"""Named presets for the Google ELECTRA releases."""

from keras_electra.presets.electra_presets import backbone_presets


def list_presets():
    """Name -> metadata (description, params, weights source) of every preset.

    Example:
    >>> import keras_electra
    >>> sorted(keras_electra.list_presets())[0]
    'electra_base_discriminator_uncased_en'
    """
    return {
        name: {**preset["metadata"], "weights": preset["hf_handle"]}
        for name, preset in backbone_presets.items()
    }
