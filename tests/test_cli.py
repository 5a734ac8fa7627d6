"""`keras-electra convert` and `keras-electra presets`."""

import os
import re
import subprocess
import sys

import keras
import pytest
from convert_fixtures import random_hf
from convert_fixtures import save_hf

from keras_electra import ElectraBackbone
from keras_electra.cli import main
from keras_electra.convert import from_preset


def reported_difference(output):
    match = re.search(r"max abs output difference vs (.+): (\S+)", output)
    assert match, output
    return match.group(1), float(match.group(2))


def test_convert_hf_to_keras_reports_difference(tmp_path, capsys):
    source = save_hf(random_hf("ElectraClassifier"), str(tmp_path / "hf"))
    dest = str(tmp_path / "keras")
    assert main(["convert", source, dest]) == 0
    captured = capsys.readouterr()
    reference, difference = reported_difference(captured.out)
    assert reference == "HF transformers"
    assert difference <= 1e-5
    assert "reloading and comparing outputs" in captured.err  # Progress bar.
    model = from_preset(dest)
    assert type(model).__name__ == "ElectraClassifier"
    assert model.label_names == ["neg", "neutral", "pos"]


def test_convert_keras_to_huggingface(tmp_path, capsys):
    source = save_hf(random_hf("ElectraMaskedLM"), str(tmp_path / "hf"))
    keras_dest = str(tmp_path / "keras")
    assert main(["convert", source, keras_dest, "--no-check"]) == 0
    hf_dest = str(tmp_path / "back")
    assert main(["convert", keras_dest, hf_dest, "--to", "huggingface"]) == 0
    reference, difference = reported_difference(capsys.readouterr().out)
    assert reference == "the exported HF model"
    assert difference <= 1e-5
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(
        os.listdir(hf_dest))


def test_convert_with_other_task_compares_the_encoder(tmp_path, capsys):
    source = save_hf(random_hf("ElectraDiscriminator"), str(tmp_path / "hf"))
    dest = str(tmp_path / "keras")
    assert main(["convert", source, dest, "--task", "ElectraBackbone"]) == 0
    reference, difference = reported_difference(capsys.readouterr().out)
    assert reference.startswith("HF transformers (encoder only")
    assert difference <= 1e-5
    assert type(from_preset(dest)) is ElectraBackbone


def test_existing_destination_and_bad_source(tmp_path, capsys):
    source = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))
    dest = tmp_path / "dest"
    dest.mkdir()
    assert main(["convert", source, str(dest)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", source, str(dest), "--overwrite",
                 "--no-check"]) == 0
    assert main(["convert", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "electra_large_discriminator_uncased_en" in out
    assert "334,092,288" in out
    assert "hf://google/electra-large-discriminator" in out


def test_console_script(tmp_path):
    source = save_hf(random_hf("ElectraBackbone"), str(tmp_path / "hf"))
    script = os.path.join(os.path.dirname(sys.executable), "keras-electra")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(),
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [script, "convert", source, str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert reported_difference(result.stdout)[1] <= 1e-5


@pytest.mark.parametrize("argv", [[], ["convert", "only-one-arg"]])
def test_usage_errors(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
