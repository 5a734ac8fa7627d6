"""Presets whose weights ship inside the package (no download)."""

import os

HERE = os.path.dirname(__file__)

bundled_presets = {
    "electra_tiny_austen_uncased_en": {
        "metadata": {
            "description": (
                "2-layer tiny ELECTRA discriminator (E=32, H=128, 2 heads), "
                "pre-trained in this repository with ElectraPretrainer on "
                "the bundled Jane Austen novels (scripts/make_tiny_preset.py, "
                "see training.json); for demos and tests, not for accuracy."
            ),
            "params": 1381696,
            "official_name": "ELECTRA",
            "path": "electra",
        },
        "path": os.path.join(HERE, "electra_tiny_austen_uncased_en"),
    },
}
