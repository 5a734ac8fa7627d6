"""The facts each named preset's model card states, for `keras-electra presets`.

Plain data and arithmetic only (no Keras): the command line reads this
module without importing TensorFlow. Parameter counts are computed from the
architecture (`parameter_count`), as HF `ElectraModel.num_parameters()`
counts them; a test checks them against built models and the cards.
"""

FINE_TUNING_TASKS = ["ElectraBackbone", "ElectraDiscriminator",
                     "ElectraClassifier", "ElectraTokenClassifier",
                     "ElectraQuestionAnswerer", "ElectraMultipleChoice",
                     "ElectraPretrainer"]
GENERATOR_TASKS = ["ElectraMaskedLM", "ElectraBackbone"]
GOOGLE = {
    "license": "Apache-2.0",
    "training_data": "English Wikipedia, BooksCorpus and (the released "
                     "checkpoints) XLNet's web data; see the card",
}

preset_facts = {
    "electra_tiny_uncased_en": {
        "source": "pre-trained in this repository "
                  "(scripts/make_tiny_preset.py); bundled in the wheel",
        "license": "Apache-2.0 (weights); data: public domain, MIT, PSF-2.0",
        "training_data": "Austen novels, bundled training reviews, Python "
                         "documentation prose",
        "tasks": FINE_TUNING_TASKS + ["ElectraMaskedLM (generator/)"],
    },
}
for _size in ("small", "base", "large"):
    for _part, _tasks in (("discriminator", FINE_TUNING_TASKS),
                          ("generator", GENERATOR_TASKS)):
        preset_facts[f"electra_{_size}_{_part}_uncased_en"] = {
            **GOOGLE,
            "source": f"Google (Clark et al., 2020), "
                      f"hf://google/electra-{_size}-{_part}",
            "tasks": list(_tasks),
        }


def parameter_count(vocabulary_size, embedding_dim, hidden_dim, num_layers,
                    intermediate_dim, max_sequence_length=512, num_segments=2):
    """Weights of an ELECTRA encoder (no head), as HF `ElectraModel`.

    Example:
    >>> parameter_count(30522, 128, 256, 12, 1024)   # ELECTRA-Small
    13483008
    """
    embeddings = (vocabulary_size + max_sequence_length + num_segments) \
        * embedding_dim + 2 * embedding_dim          # + LayerNorm
    projection = 0
    if embedding_dim != hidden_dim:
        projection = embedding_dim * hidden_dim + hidden_dim
    attention = 4 * (hidden_dim * hidden_dim + hidden_dim) + 2 * hidden_dim
    feed_forward = (2 * hidden_dim * intermediate_dim + intermediate_dim
                    + hidden_dim + 2 * hidden_dim)
    return embeddings + projection + num_layers * (attention + feed_forward)
