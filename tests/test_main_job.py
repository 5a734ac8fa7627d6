"""The README's main job (`python -m keras_electra`) at reduced size."""

import keras
import numpy as np

from keras_electra import ElectraBackbone
from keras_electra.__main__ import LABELS
from keras_electra.__main__ import SENTENCES
from keras_electra.__main__ import main


def test_main_job_fine_tunes_saves_and_serves(tmp_path, capsys):
    output = str(tmp_path / "reviews.keras")
    serving = str(tmp_path / "serving" / "1")
    accuracy = main(["--train-limit", "32", "--epochs", "1",
                     "--sequence-length", "32", "--output", output,
                     "--serving-dir", serving])
    assert 0.0 <= accuracy <= 1.0
    captured = capsys.readouterr()
    out = captured.out
    assert "preset electra_tiny_uncased_en" in out
    assert "guides/pretraining_comparison.md" in out
    assert "fine-tuning" in captured.err                     # progress bar
    restored = keras.saving.load_model(output)
    assert restored.preprocessor.sequence_length == 32
    # The fresh process's answers are printed, one line per sentence, and
    # agree with the Keras model's own predictions.
    assert "a fresh TensorFlow process classifies" in out
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(
        restored.predict(SENTENCES, verbose=0)))
    for sentence, row in zip(SENTENCES, probabilities):
        line = next(line for line in out.splitlines() if sentence in line)
        label, score = line.split()[:2]
        assert label == LABELS[int(np.argmax(row))]
        assert abs(float(score) - float(np.max(row))) <= 0.006   # 2 digits


def test_main_job_random_init_baseline(tmp_path):
    output = str(tmp_path / "scratch.keras")
    main(["--train-limit", "8", "--epochs", "1", "--sequence-length", "32",
          "--random-init", "--output", output, "--skip-serving"])
    restored = keras.saving.load_model(output)
    pretrained = ElectraBackbone.from_preset("electra_tiny_uncased_en")
    ours = keras.ops.convert_to_numpy(
        restored.backbone.token_embedding.embeddings)
    theirs = keras.ops.convert_to_numpy(pretrained.token_embedding.embeddings)
    assert ours.shape == theirs.shape
    assert not np.allclose(ours, theirs, atol=1e-3)
