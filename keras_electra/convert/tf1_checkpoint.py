"""Google's original TF1 ELECTRA checkpoints (google-research/electra).

A pre-training checkpoint holds both networks: the discriminator under
`electra/...` and `discriminator_predictions/...`, the generator under
`generator/...` and `generator_predictions/...`; by default the generator
shares the discriminator's `electra/embeddings`. Names are translated to HF
transformers names (as transformers v4's `load_tf_weights_in_electra` did) so
that the HF weight tables load them. Optimizer slots, `global_step` and the
unused BERT pooler are skipped. The architecture is read from tensor shapes;
only the number of attention heads is not visible in them, and defaults to
Google's rule `max(1, hidden_size // 64)`.
"""

import os
import re

import numpy as np

from keras_electra.convert.checkpoint import Checkpoint
from keras_electra.convert.checkpoint import default_vocabulary
from keras_electra.convert.checkpoint import read_vocab_file
from keras_electra.convert.tensor_files import CheckpointError

PARTS = ("discriminator", "generator")
# Variables that hold no model weight: Adam slots, step counters, and the
# BERT pooler that ELECTRA's modeling code builds but never trains.
SKIPPED = ("adam_m", "adam_v", "global_step", "temperature", "pooler")
_LAYER = re.compile(r"^layer_(\d+)$")


def tf1_checkpoint_prefix(path):
    """The checkpoint prefix (`.../model.ckpt-N`) that `path` names, or None."""
    path = os.fspath(path)
    if os.path.exists(path + ".index"):
        return path
    if not os.path.isdir(path):
        return None
    if os.path.exists(os.path.join(path, "checkpoint")):
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
    prefixes = sorted(
        name[: -len(".index")] for name in os.listdir(path)
        if name.endswith(".index")
    )
    if len(prefixes) == 1:
        return os.path.join(path, prefixes[0])
    return None


def _read_variables(prefix):
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
    except Exception as e:  # DataLossError, NotFoundError, ...
        raise CheckpointError(
            f"{prefix}: cannot open the TF checkpoint ({type(e).__name__}: "
            f"{str(e)[:300]}). The .index or .data files are missing, "
            "truncated or corrupt."
        ) from None
    return reader, shapes


def _skipped(name):
    return any(part in SKIPPED for part in name.split("/"))


def _owner(name, part, untied_embeddings):
    """Which scope prefix of `name` belongs to `part`, or None."""
    scope = name.split("/")[0]
    if part == "discriminator":
        if scope in ("electra", "discriminator_predictions"):
            return scope
        return None
    if scope == "electra" and name.startswith("electra/embeddings/"):
        return None if untied_embeddings else scope
    if scope in ("generator", "generator_predictions"):
        return scope
    return None


def hf_name(name):
    """The HF tensor name of a TF1 variable (scopes already made HF-like)."""
    parts = []
    for piece in name.split("/"):
        match = _LAYER.match(piece)
        if match:
            parts += ["layer", match.group(1)]
        elif piece in ("kernel", "gamma", "output_weights"):
            parts.append("weight")
        elif piece in ("beta", "output_bias"):
            parts.append("bias")
        else:
            parts.append(piece)
    if parts[-1].endswith("_embeddings"):
        parts.append("weight")
    return ".".join(parts)


def _rename_scope(name, part):
    scope, _, rest = name.partition("/")
    if scope == "discriminator_predictions":
        # tf.layers.dense names its second layer `dense_1`.
        return "discriminator_predictions/" + rest.replace(
            "dense_1/", "dense_prediction/"
        )
    if scope == "generator_predictions" and rest == "output_bias":
        return "generator_lm_head/bias"
    if scope == "generator":
        return "electra/" + rest
    return name


def _config_from_shapes(shapes, tensors, prefix, num_heads, architecture):
    def shape(name):
        if name not in tensors:
            raise CheckpointError(
                f"{prefix}: missing variable for '{name}'; this is not an "
                "ELECTRA checkpoint or the requested part is absent."
            )
        return tensors[name].shape

    vocab_size, embedding_size = shape("electra.embeddings.word_embeddings.weight")
    layers = {
        int(m.group(1)) for n in tensors
        if (m := re.match(r"electra\.encoder\.layer\.(\d+)\.", n))
    }
    if not layers:
        raise CheckpointError(f"{prefix}: no encoder layers found.")
    hidden = shape("electra.encoder.layer.0.attention.self.query.weight")[0]
    intermediate = shape("electra.encoder.layer.0.intermediate.dense.weight")[0]
    heads = num_heads or max(1, hidden // 64)
    if hidden % heads:
        raise CheckpointError(
            f"{prefix}: hidden size {hidden} is not divisible by "
            f"num_heads={heads}; pass num_heads explicitly."
        )
    return {
        "model_type": "electra",
        "architectures": [architecture],
        "vocab_size": int(vocab_size),
        "embedding_size": int(embedding_size),
        "hidden_size": int(hidden),
        "num_hidden_layers": len(layers),
        "num_attention_heads": int(heads),
        "intermediate_size": int(intermediate),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": int(
            shape("electra.embeddings.position_embeddings.weight")[0]
        ),
        "type_vocab_size": int(
            shape("electra.embeddings.token_type_embeddings.weight")[0]
        ),
        "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }


def _find_vocabulary(prefix, vocab_size):
    folder = os.path.dirname(os.path.abspath(prefix))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, "vocab.txt")
        if os.path.exists(path):
            return read_vocab_file(path), []
    return default_vocabulary(vocab_size, prefix)


def read_tf1_checkpoint(path, part="discriminator", num_heads=None):
    """A `Checkpoint` (HF names) of one network of a Google TF1 checkpoint.

    Args:
        path: a checkpoint prefix (`.../model.ckpt-N`) or its folder.
        part: `"discriminator"` or `"generator"`.
        num_heads: attention heads; defaults to `max(1, hidden_size // 64)`,
            the rule of Google's code (right for every released model).
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}; received {part!r}.")
    prefix = tf1_checkpoint_prefix(path)
    if prefix is None:
        raise CheckpointError(
            f"{path}: not a TF checkpoint (no `.index` file and no "
            "`checkpoint` file naming one)."
        )
    reader, shapes = _read_variables(prefix)
    untied = any(n.startswith("generator/embeddings/") for n in shapes)
    tensors, ignored = {}, []
    for name in sorted(shapes):
        if _skipped(name):
            continue
        if _owner(name, part, untied) is None:
            if not name.startswith(("electra/", "generator/",
                                    "discriminator_predictions/",
                                    "generator_predictions/")):
                ignored.append(name)
            continue
        tensors[hf_name(_rename_scope(name, part))] = _get(reader, prefix, name)
    head = "discriminator_predictions" if part == "discriminator" else (
        "generator_predictions")
    has_head = any(n.startswith(head + ".") for n in tensors) or (
        "generator_lm_head.bias" in tensors and part == "generator")
    architecture = "ElectraModel"
    if has_head:
        architecture = ("ElectraForPreTraining" if part == "discriminator"
                        else "ElectraForMaskedLM")
    config = _config_from_shapes(shapes, tensors, prefix, num_heads,
                                 architecture)
    vocabulary, notes = _find_vocabulary(prefix, config["vocab_size"])
    if ignored:
        notes.append(
            f"{prefix}: ignored variables outside the ELECTRA scopes: "
            f"{ignored[:5]}{' ...' if len(ignored) > 5 else ''}"
        )
    return Checkpoint(config=config, tensors=tensors, vocabulary=vocabulary,
                      lowercase=True, source=prefix, notes=notes)


def _get(reader, prefix, name):
    try:
        value = np.asarray(reader.get_tensor(name))
    except Exception as e:
        raise CheckpointError(
            f"{prefix}: variable '{name}' cannot be read ({type(e).__name__}: "
            f"{str(e)[:200]}); the .data file is truncated or corrupt."
        ) from None
    # TF kernels are (in, out); HF Linear weights are (out, in).
    if name.endswith("/kernel"):
        value = value.T
    return value
