"""The README's main job (`python -m keras_electra`) at reduced size."""

import keras
import numpy as np

from keras_electra import ElectraBackbone
from keras_electra.__main__ import main


def test_main_job_fine_tunes_and_saves(tmp_path, capsys):
    output = str(tmp_path / "reviews.keras")
    accuracy = main(["--train-limit", "32", "--epochs", "1",
                     "--sequence-length", "32", "--output", output])
    assert 0.0 <= accuracy <= 1.0
    out = capsys.readouterr().out
    assert "preset electra_tiny_uncased_en" in out
    assert "guides/pretraining_comparison.md" in out
    restored = keras.saving.load_model(output)
    assert restored.preprocessor.sequence_length == 32


def test_main_job_random_init_baseline(tmp_path):
    output = str(tmp_path / "scratch.keras")
    main(["--train-limit", "8", "--epochs", "1", "--sequence-length", "32",
          "--random-init", "--output", output])
    restored = keras.saving.load_model(output)
    pretrained = ElectraBackbone.from_preset("electra_tiny_uncased_en")
    ours = keras.ops.convert_to_numpy(
        restored.backbone.token_embedding.embeddings)
    theirs = keras.ops.convert_to_numpy(pretrained.token_embedding.embeddings)
    assert ours.shape == theirs.shape
    assert not np.allclose(ours, theirs, atol=1e-3)
