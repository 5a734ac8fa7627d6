"""Presets whose weights ship inside the package (no download)."""

import os

HERE = os.path.dirname(__file__)

bundled_presets = {
    "electra_tiny_uncased_en": {
        "metadata": {
            "description": (
                "3-layer tiny ELECTRA (H=E=128, 2 heads, 8k WordPiece "
                "vocabulary learned from its corpus), pre-trained in this "
                "repository with replaced-token detection on the bundled "
                "Austen novels, training-split review texts and Python "
                "documentation prose (scripts/make_tiny_preset.py; record in "
                "training.json, model card in presets/). The discriminator "
                "with its head; ElectraMaskedLM loads the generator (H=32) "
                "with its head from generator/. For demos and tests."
            ),
            "params": 1631232,
            "official_name": "ELECTRA",
            "path": "electra",
        },
        "path": os.path.join(HERE, "electra_tiny_uncased_en"),
    },
}
