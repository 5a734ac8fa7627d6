"""Checkpoints in and out: Hugging Face, Google's TF1 release, keras-hub.

Every `from_preset` of keras_electra reads any ELECTRA checkpoint format;
`export_to_huggingface` writes one that HF transformers loads. To run
offline, this guide makes small random checkpoints of each format itself
(with the bundled tiny preset's vocabulary) and checks that the numbers
survive each conversion:

1. HF transformers -> keras_electra -> HF transformers: an
   `ElectraForSequenceClassification` folder (`save_pretrained`) loads as an
   `ElectraClassifier` with its head and labels, and goes back with
   `export_to_huggingface`.
2. Google's TF1 pre-training checkpoint (`model.ckpt-N` with the
   google-research/electra variable names, generator and discriminator
   sharing their embeddings) loads as an `ElectraDiscriminator` or, with
   `checkpoint_part="generator"`, an `ElectraMaskedLM`.
3. A keras-hub `ElectraBackbone` preset loads as our `ElectraBackbone`
   (keras-hub's tanh-approximate GELU becomes the exact GELU of the
   release, and keras-hub's untrained pooler is dropped).

With a network, `from_preset("hf://google/electra-small-discriminator")`
runs the same code on the downloaded files. From the command line:
`keras-electra convert SRC DEST --to keras|huggingface`.

    python guides/conversion_guide.py [--output DIR]   # under a minute
"""

import argparse
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
import torch
import transformers

import keras_electra
from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraDiscriminator
from keras_electra import ElectraMaskedLM

VOCABULARY = os.path.join(
    os.path.dirname(keras_electra.__file__), "presets",
    "electra_tiny_uncased_en", "assets", "tokenizer", "vocabulary.txt")
TEXTS = ["The tea was fresh and fragrant.", "Stale crackers, never again."]


def config(**overrides):
    with open(VOCABULARY, encoding="utf-8") as f:
        vocab_size = len(f.read().splitlines())
    kwargs = dict(vocab_size=vocab_size, embedding_size=32, hidden_size=64,
                  num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=128, max_position_embeddings=64)
    return transformers.ElectraConfig(**{**kwargs, **overrides})


def hf_tokenizer():
    # `vocab=`, not `vocab_file=`, which transformers 5 ignores.
    return transformers.BertTokenizerFast(vocab=VOCABULARY, do_lower_case=True)


def hf_logits(model, texts):
    batch = hf_tokenizer()(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.numpy()


def ours_logits(task, texts):
    # Pad as the HF tokenizer does (to the longest text) to compare, and
    # skip Task.predict's preprocessing: `x` is packed already.
    x = task.preprocessor(texts)
    length = int(np.max(np.sum(keras.ops.convert_to_numpy(
        x["padding_mask"]), axis=1)))
    x = {k: keras.ops.convert_to_numpy(v)[:, :length] for k, v in x.items()}
    return keras.ops.convert_to_numpy(keras.Model.predict(task, x, verbose=0))


def huggingface_round_trip(folder):
    print("== 1. HF transformers -> keras_electra -> HF transformers")
    torch.manual_seed(0)
    hf = transformers.ElectraForSequenceClassification(config(
        num_labels=2, id2label={0: "other", 1: "great"},
        label2id={"other": 0, "great": 1})).eval()
    source = os.path.join(folder, "hf_classifier")
    hf.save_pretrained(source)  # safetensors
    hf_tokenizer().save_pretrained(source)

    classifier = ElectraClassifier.from_preset(source)  # head and labels
    expected = hf_logits(hf, TEXTS)
    difference = np.abs(ours_logits(classifier, TEXTS) - expected).max()
    print(f"loaded {type(classifier).__name__} with labels "
          f"{classifier.label_names}; max |ours - HF| = {difference:.1e}")
    print("classify:", classifier.classify(TEXTS))

    back = os.path.join(folder, "back_to_hf")
    keras_electra.export_to_huggingface(classifier, back)
    again = transformers.ElectraForSequenceClassification.from_pretrained(
        back).eval()
    round_trip = np.abs(hf_logits(again, TEXTS) - expected).max()
    print(f"exported to {sorted(os.listdir(back))}; "
          f"HF after the round trip: max difference {round_trip:.1e}")
    return max(difference, round_trip)


def tf1_name(hf_name, scope):
    """The variable name Google's TF1 code gives an HF tensor."""
    parts = hf_name.split(".")
    if parts[0] == "electra":
        parts[0] = scope
    if parts[:2] == ["discriminator_predictions", "dense_prediction"]:
        parts[1] = "dense_1"
    if parts[:2] == ["generator_lm_head", "bias"]:
        return "generator_predictions/output_bias"
    names = []
    for i, piece in enumerate(parts):
        if piece == "layer" and parts[i + 1].isdigit():
            continue
        names.append(f"layer_{piece}" if piece.isdigit() else piece)
    last = names.pop()
    if names[-1].endswith("_embeddings"):
        return "/".join(names)
    norm = names[-1] == "LayerNorm"
    suffix = {"weight": "gamma" if norm else "kernel",
              "bias": "beta" if norm else "bias"}[last]
    return "/".join(names + [suffix])


def write_tf1_checkpoint(discriminator, generator, folder):
    """A pre-training checkpoint as google-research/electra saves it."""
    variables = {}
    for scope, model in (("electra", discriminator), ("generator", generator)):
        for name, value in model.state_dict().items():
            if name.endswith(("position_ids", "token_type_ids")) or (
                name == "generator_lm_head.weight"
                or (scope == "generator" and ".embeddings." in name)
            ):
                continue  # Buffers, the tied decoder, shared embeddings.
            array = value.numpy()
            tf_name = tf1_name(name, scope)
            variables[tf_name] = tf.Variable(
                array.T if tf_name.endswith("/kernel") else array)
    os.makedirs(folder)
    shutil.copy(VOCABULARY, os.path.join(folder, "vocab.txt"))
    saver = tf.compat.v1.train.Saver(var_list=variables)
    return saver.save(None, os.path.join(folder, "model.ckpt"),
                      global_step=1000)


def tf1_checkpoint(folder):
    print("== 2. Google TF1 checkpoint -> keras_electra")
    torch.manual_seed(1)
    discriminator = transformers.ElectraForPreTraining(config()).eval()
    generator = transformers.ElectraForMaskedLM(config(
        hidden_size=32, num_attention_heads=1, intermediate_size=64)).eval()
    generator.electra.embeddings.load_state_dict(
        discriminator.electra.embeddings.state_dict())
    generator.tie_weights()
    prefix = write_tf1_checkpoint(discriminator, generator,
                                  os.path.join(folder, "tf1"))
    print("wrote", prefix, "with variables like",
          tf.train.list_variables(prefix)[0][0])

    # The TF1 checkpoint knows no head count (1 head per 64 hidden units
    # is Google's rule); this one has 2.
    ours = ElectraDiscriminator.from_preset(prefix, num_heads=2)
    difference = np.abs(ours_logits(ours, TEXTS) - hf_logits(
        discriminator, TEXTS)).max()
    print(f"ElectraDiscriminator: max |ours - HF| = {difference:.1e}")
    masked_lm = ElectraMaskedLM.from_preset(prefix,
                                            checkpoint_part="generator")
    print(f"ElectraMaskedLM from the same checkpoint: hidden_dim "
          f"{masked_lm.backbone.hidden_dim} (the discriminator's: "
          f"{ours.backbone.hidden_dim})")
    return difference


def keras_hub_preset(folder):
    import keras_hub

    print("== 3. keras-hub preset -> keras_electra")
    keras.utils.set_random_seed(2)
    theirs = keras_hub.models.ElectraBackbone(
        vocab_size=1000, num_layers=2, num_heads=2, hidden_dim=64,
        embedding_dim=32, intermediate_dim=128, max_sequence_length=64)
    path = os.path.join(folder, "keras_hub_backbone")
    theirs.save_to_preset(path)
    ours = ElectraBackbone.from_preset(path)
    pooler = theirs.get_layer("pooled_dense").count_params()
    same = all(
        np.array_equal(keras.ops.convert_to_numpy(a),
                       keras.ops.convert_to_numpy(b))
        for a, b in zip(ours.get_layer("embeddings").weights[:1],
                        theirs.get_layer("token_embedding").weights[:1]))
    print(f"{ours.count_params():,} parameters (keras-hub's "
          f"{theirs.count_params():,} less its {pooler:,}-parameter pooler); "
          f"word embeddings equal: {same}; activation "
          f"{keras.activations.serialize(ours.activation)}")
    return same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=None,
                        help="keep the checkpoints here (default: a "
                        "temporary folder)")
    parser.add_argument("--quick", action="store_true",
                        help="accepted for symmetry: the guide is small")
    args = parser.parse_args(argv)
    folder = args.output or tempfile.mkdtemp(prefix="conversion_guide-")
    os.makedirs(folder, exist_ok=True)
    hf_difference = huggingface_round_trip(folder)
    tf1_difference = tf1_checkpoint(folder)
    same = keras_hub_preset(folder)
    print(f"largest difference HF: {hf_difference:.1e}, TF1: "
          f"{tf1_difference:.1e}; keras-hub embeddings equal: {same}")
    if args.output is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
