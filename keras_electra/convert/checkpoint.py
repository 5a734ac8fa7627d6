"""One in-memory form for every checkpoint format: HF config, HF tensors, vocab.

Each reader (HF transformers folder, Google TF1 checkpoint, keras-hub preset)
produces a `Checkpoint`; `keras_model.build_model` turns any of them into a
keras_electra backbone or task.
"""

import json
import os
from dataclasses import dataclass
from dataclasses import field

from keras_electra.convert.hf_config import electra_config_from_bert
from keras_electra.convert.tensor_files import CheckpointError
from keras_electra.convert.tensor_files import read_hf_weights

HF_CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
DEFAULT_VOCAB = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "data", "bert_uncased_vocab.txt"
)


@dataclass
class Checkpoint:
    """An ELECTRA checkpoint in HF terms, whatever file format it came from.

    Attributes:
        config: dict. An HF `ElectraConfig` dict (`architectures` included).
        tensors: dict. HF state-dict name -> numpy array.
        vocabulary: list of str, or None when the checkpoint has none.
        lowercase: bool. Whether the tokenizer lower-cases (`do_lower_case`).
        strip_accents: bool or None (follow `lowercase`), as HF.
        split_on_cjk: bool. HF `tokenize_chinese_chars`.
        source: str. Where the tensors were read from, for error messages.
        notes: list of str worth telling the user (e.g. a default vocab).
    """

    config: dict
    tensors: dict
    vocabulary: list = None
    lowercase: bool = True
    source: str = "checkpoint"
    strip_accents: object = None
    split_on_cjk: bool = True
    notes: list = field(default_factory=list)

    @property
    def architecture(self):
        """The HF class name; from the tensor names when the config has none."""
        names = self.config.get("architectures")
        if names:
            return names[0]
        return architecture_from_tensors(self.tensors, self.config)


# First HF tensor-name prefix that identifies each head.
_HEAD_PREFIXES = (
    ("discriminator_predictions.", "ElectraForPreTraining"),
    ("generator_predictions.", "ElectraForMaskedLM"),
    ("qa_outputs.", "ElectraForQuestionAnswering"),
    ("sequence_summary.", "ElectraForMultipleChoice"),
    ("classifier.dense.", "ElectraForSequenceClassification"),
    ("classifier.", "ElectraForTokenClassification"),
)


def architecture_from_tensors(tensors, config):
    """The HF class a state dict belongs to (configs saved without one)."""
    for prefix, architecture in _HEAD_PREFIXES:
        if any(name.startswith(prefix) for name in tensors):
            if architecture == "ElectraForMaskedLM" and config.get("is_decoder"):
                return "ElectraForCausalLM"
            return architecture
    return "ElectraModel"


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e}).") from None


def read_vocab_file(path):
    """A WordPiece `vocab.txt`: one token per line, the line number its id."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n").rstrip("\r") for line in f]
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise CheckpointError(f"{path}: the vocabulary file is empty.")
    return tokens


def _vocab_from_tokenizer_json(path):
    model = read_json(path).get("model", {})
    vocab = model.get("vocab")
    if model.get("type") != "WordPiece" or not isinstance(vocab, dict):
        raise CheckpointError(
            f"{path}: expected a WordPiece tokenizer with a vocab dict, found "
            f"model type {model.get('type')!r}."
        )
    tokens = [None] * (max(vocab.values()) + 1)
    for token, index in vocab.items():
        tokens[index] = token
    if None in tokens:
        raise CheckpointError(f"{path}: the WordPiece vocab has gaps in ids.")
    return tokens


def tokenizer_options(folder):
    """HF tokenizer settings: `lowercase`, `strip_accents`, `split_on_cjk`.

    Read from tokenizer_config.json, else tokenizer.json's BertNormalizer;
    HF's defaults otherwise (lower-case, accents follow lower-casing).
    """
    options = {"lowercase": True, "strip_accents": None, "split_on_cjk": True}
    tokenizer_path = os.path.join(folder, TOKENIZER_FILE)
    if os.path.exists(tokenizer_path):
        normalizer = read_json(tokenizer_path).get("normalizer") or {}
        for ours, theirs in (("lowercase", "lowercase"),
                             ("strip_accents", "strip_accents"),
                             ("split_on_cjk", "handle_chinese_chars")):
            if theirs in normalizer:
                options[ours] = normalizer[theirs]
    config_path = os.path.join(folder, TOKENIZER_CONFIG_FILE)
    if os.path.exists(config_path):
        config = read_json(config_path)
        for ours, theirs in (("lowercase", "do_lower_case"),
                             ("strip_accents", "strip_accents"),
                             ("split_on_cjk", "tokenize_chinese_chars")):
            if theirs in config:
                options[ours] = config[theirs]
    options["lowercase"] = bool(options["lowercase"])
    options["split_on_cjk"] = bool(options["split_on_cjk"])
    return options


def read_tokenizer_files(folder):
    """`(vocabulary or None, tokenizer_options(folder))` of an HF folder."""
    vocab_path = os.path.join(folder, VOCAB_FILE)
    tokenizer_path = os.path.join(folder, TOKENIZER_FILE)
    if os.path.exists(vocab_path):
        vocabulary = read_vocab_file(vocab_path)
    elif os.path.exists(tokenizer_path):
        vocabulary = _vocab_from_tokenizer_json(tokenizer_path)
    else:
        vocabulary = None
    return vocabulary, tokenizer_options(folder)


def default_vocabulary(vocab_size, source):
    """The bundled BERT uncased vocabulary when its size fits the model."""
    tokens = read_vocab_file(DEFAULT_VOCAB)
    if len(tokens) != vocab_size:
        return None, []
    note = (
        f"{source}: no vocab.txt or tokenizer.json; using the bundled BERT "
        "uncased vocabulary (the one every Google ELECTRA release uses)."
    )
    return tokens, [note]


def is_hf_folder(path):
    config_path = os.path.join(path, HF_CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    return "model_type" in read_json(config_path)


def bert_encoder_tensors(tensors, source):
    """A BERT-family state dict under `ElectraModel` names, and a note.

    `BertModel` names are ELECTRA's already; task classes prefix them with
    `bert.`. The pooler and BERT's heads (`cls.*`, `classifier.*`) have no
    place in an ELECTRA model and are left out; the note says which.
    """
    prefixed = any(name.startswith("bert.") for name in tensors)
    encoder, dropped = {}, set()
    for name, value in tensors.items():
        short = name[len("bert."):] if name.startswith("bert.") else name
        if (name.startswith("bert.") or not prefixed) and short.startswith(
            ("embeddings.", "encoder.")
        ):
            encoder[short] = value
        else:
            dropped.add(name.rsplit(".", 2)[0] if "." in name else name)
    notes = []
    if dropped:
        notes.append(
            f"{source}: a BERT-family checkpoint loaded as an ELECTRA "
            f"encoder; not loaded (no ELECTRA counterpart): "
            f"{', '.join(sorted(dropped))}."
        )
    return encoder, notes


def read_hf_checkpoint(folder, allow_pickle=True):
    """A `Checkpoint` from an HF transformers ELECTRA or BERT-family folder.

    A BERT-family folder (`model_type` "bert": `BertModel`,
    `BertForPreTraining`, `BertForMaskedLM`, ...) reads as an `ElectraModel`
    with `embedding_size == hidden_size`: the same encoder, its pooler and
    heads left out (see `bert_encoder_tensors`).
    """
    config_path = os.path.join(folder, HF_CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{folder}: no {HF_CONFIG_FILE}.")
    config = read_json(config_path)
    model_type = config.get("model_type")
    if model_type not in ("electra", "bert"):
        raise CheckpointError(
            f"{config_path}: model_type is {model_type!r}, not 'electra' or "
            "'bert'. keras_electra converts ELECTRA and BERT-family "
            "checkpoints only."
        )
    if model_type == "bert":
        config = electra_config_from_bert(config, config_path)
    tensors, weights_path = read_hf_weights(folder, allow_pickle=allow_pickle)
    notes = []
    if model_type == "bert":
        tensors, notes = bert_encoder_tensors(tensors, weights_path)
    vocabulary, options = read_tokenizer_files(folder)
    if vocabulary is None:
        vocabulary, default_notes = default_vocabulary(
            config.get("vocab_size", 30522), folder
        )
        notes += default_notes
    return Checkpoint(
        config=config,
        tensors=tensors,
        vocabulary=vocabulary,
        source=weights_path,
        notes=notes,
        **options,
    )
