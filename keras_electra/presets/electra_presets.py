"""The Google ELECTRA releases as keras_electra presets.

Each entry gives the exact architecture (as the HF `ElectraConfig` of the
release), the tokenizer (the BERT uncased WordPiece vocabulary bundled in
`keras_electra/data`, lower-cased), a description, the backbone parameter
count (HF `ElectraModel`; keras-hub's count adds its pooler) and where the
weights come from. The weights are downloaded, converted and cached on first
use (see `keras_electra.convert.preset_store`).
"""


def _config(architecture, embedding, hidden, layers, heads, intermediate):
    return {
        "model_type": "electra",
        "architectures": [architecture],
        "vocab_size": 30522,
        "embedding_size": embedding,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }


def _preset(size, part, config, params):
    role = (
        "discriminator (replaced token detection head included); the "
        "encoder to fine-tune"
        if part == "discriminator"
        else "generator (masked language model head included)"
    )
    layers = config["num_hidden_layers"]
    return {
        "metadata": {
            "description": (
                f"{layers}-layer ELECTRA-{size.capitalize()} {role}. Google's "
                "release, trained on English Wikipedia and BooksCorpus "
                "(ELECTRA-Large also on ClueWeb, CommonCrawl and Gigaword); "
                "all inputs are lower-cased."
            ),
            "params": params,
            "official_name": "ELECTRA",
            "path": "electra",
            "model_card": f"https://huggingface.co/google/electra-{size}-{part}",
        },
        "hf_handle": f"hf://google/electra-{size}-{part}",
        "config": config,
        "vocabulary": "bert_uncased_vocab.txt",
        "lowercase": True,
    }


_DISCRIMINATOR = "ElectraForPreTraining"
_GENERATOR = "ElectraForMaskedLM"

backbone_presets = {
    "electra_small_discriminator_uncased_en": _preset(
        "small", "discriminator",
        _config(_DISCRIMINATOR, 128, 256, 12, 4, 1024), 13483008,
    ),
    "electra_small_generator_uncased_en": _preset(
        "small", "generator",
        # Google's released Small generator is full size (hidden 256).
        _config(_GENERATOR, 128, 256, 12, 4, 1024), 13483008,
    ),
    "electra_base_discriminator_uncased_en": _preset(
        "base", "discriminator",
        _config(_DISCRIMINATOR, 768, 768, 12, 12, 3072), 108891648,
    ),
    "electra_base_generator_uncased_en": _preset(
        "base", "generator",
        _config(_GENERATOR, 768, 256, 12, 4, 1024), 33511168,
    ),
    "electra_large_discriminator_uncased_en": _preset(
        "large", "discriminator",
        _config(_DISCRIMINATOR, 1024, 1024, 24, 16, 4096), 334092288,
    ),
    "electra_large_generator_uncased_en": _preset(
        "large", "generator",
        _config(_GENERATOR, 1024, 256, 24, 4, 1024), 50999552,
    ),
}
