"""Every writer survives a SIGKILL half-way: the destination keeps its old
result, the hidden temporary sibling the killed writer left is not a result
and is removed by the next write, and nothing is replaced without
`overwrite=True`.

Each case writes an old result here, then starts a child process that writes
a different result over it with `overwrite=True` and blocks at a known point
inside the write (a monkeypatched function prints BLOCKED and sleeps); the
test kills the child with SIGKILL there.
"""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from serving_helpers import randomize
from serving_helpers import tiny_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")

# Imports and the blocking hook of every child.
CHILD_HEAD = f"""
import os, sys, time
sys.path[:0] = [{ROOT!r}, {TESTS!r}]

def block(*args, **kwargs):
    print("BLOCKED", flush=True)
    time.sleep(600)

def block_after(function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        block()
        return result
    return wrapped
"""


def kill_inside(code):
    """Run `code` in a child, SIGKILL it when it prints BLOCKED."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_HEAD + textwrap.dedent(code)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        for line in child.stdout:
            if line.strip() == "BLOCKED":
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, child.stderr.read()[-3000:]
    return child.pid


def snapshot(path):
    """{relative path: sha256} of every file under `path` (or of `path`)."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return {".": hashlib.sha256(f.read()).hexdigest()}
    files = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = hashlib.sha256(
                    f.read()).hexdigest()
    return files


def leftovers(dest):
    parent, name = os.path.split(os.fspath(dest))
    return sorted(e for e in os.listdir(parent) if e != name)


def check_killed_write(dest, old, pid, write_again):
    """The kill left `dest` as it was and one hidden temporary sibling; a
    new write replaces `dest` and removes what the killed one left."""
    assert snapshot(dest) == old
    left = leftovers(dest)
    name = os.path.basename(os.fspath(dest))
    assert left and all(e.startswith(f".{name}.tmp-{pid}-") for e in left)
    write_again()
    assert snapshot(dest) != old
    assert leftovers(dest) == []


def test_task_preset_killed_while_saving(tmp_path):
    from keras_electra import ElectraClassifier

    dest = tmp_path / "preset"
    tiny_task("classifier", seed=0).save_to_preset(dest)
    old = snapshot(dest)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tiny_task("classifier", seed=1).save_to_preset(dest)
    pid = kill_inside(f"""
        from keras_hub.src.utils import preset_utils
        from serving_helpers import tiny_task
        task = tiny_task("classifier", seed=1)
        # Task config, head and backbone written; preprocessor not yet.
        preset_utils.KerasPresetSaver.save_preprocessor = block
        task.save_to_preset({str(dest)!r}, overwrite=True)
    """)
    reloaded = ElectraClassifier.from_preset(dest)
    texts = ["A fine soup.", ""]
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0),
                               tiny_task("classifier", seed=0).predict(
                                   texts, verbose=0), atol=1e-6)
    check_killed_write(dest, old, pid, lambda: tiny_task(
        "classifier", seed=1).save_to_preset(dest, overwrite=True))


def test_tokenizer_merged_into_a_preset_killed_at_the_rename(tmp_path):
    from keras_electra import ElectraTokenizer

    dest = tmp_path / "preset"
    task = tiny_task("classifier", seed=0)
    task.backbone.save_to_preset(dest)
    # A tokenizer joins the backbone's folder: no file of it is replaced.
    task.preprocessor.tokenizer.save_to_preset(dest)
    old = snapshot(dest)
    assert {"config.json", "tokenizer.json"} <= set(old)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "soup"]
    with pytest.raises(FileExistsError, match="tokenizer.json"):
        ElectraTokenizer(vocabulary=words).save_to_preset(dest)
    pid = kill_inside(f"""
        from keras_electra import ElectraTokenizer
        from keras_electra.convert import atomic_dir
        # The merged folder is complete; the exchange has not happened.
        atomic_dir._commit = block
        ElectraTokenizer(vocabulary={words!r}).save_to_preset(
            {str(dest)!r}, overwrite=True)
    """)

    def write_again():
        ElectraTokenizer(vocabulary=words).save_to_preset(dest, overwrite=True)
        assert ElectraTokenizer.from_preset(dest).get_vocabulary() == words
        # The backbone's files were kept, not rewritten.
        now = snapshot(dest)
        assert {k: now[k] for k in ("config.json", "model.weights.h5")} == {
            k: old[k] for k in ("config.json", "model.weights.h5")}

    check_killed_write(dest, old, pid, write_again)


def test_pretrainer_preset_killed_between_its_two_models(tmp_path):
    dest = tmp_path / "pair"
    code = """
        import keras
        from keras_electra import ElectraBackbone, ElectraPretrainer
        from keras_electra import ElectraPretrainerPreprocessor
        from keras_electra import ElectraTokenizer

        def pretrainer(seed):
            keras.utils.set_random_seed(seed)
            discriminator = ElectraBackbone(
                vocabulary_size=30522, num_layers=1, num_heads=2,
                hidden_dim=16, embedding_dim=8, intermediate_dim=32,
                max_sequence_length=16)
            generator = ElectraPretrainer.generator_backbone_for(
                discriminator)
            return ElectraPretrainer(generator, discriminator,
                                     ElectraPretrainerPreprocessor(
                                         ElectraTokenizer(),
                                         sequence_length=16))
    """
    namespace = {}
    exec(textwrap.dedent(code), namespace)
    namespace["pretrainer"](0).save_to_preset(dest)
    old = snapshot(dest)
    assert "generator/model.weights.h5" in old
    pid = kill_inside(code + f"""
        from keras_electra import ElectraMaskedLM
        # The discriminator is written; the generator not yet.
        ElectraMaskedLM.save_to_preset = block
        pretrainer(1).save_to_preset({str(dest)!r}, overwrite=True)
    """)
    check_killed_write(dest, old, pid, lambda: namespace["pretrainer"](
        1).save_to_preset(dest, overwrite=True))


def test_serving_export_killed_before_its_rename(tmp_path):
    import keras_electra

    dest = tmp_path / "serving" / "1"
    keras_electra.export_for_serving(tiny_task("classifier", seed=0), dest)
    old = snapshot(dest)
    assert "saved_model.pb" in old
    with pytest.raises(FileExistsError, match="overwrite=True"):
        keras_electra.export_for_serving(tiny_task("classifier", seed=1), dest)
    pid = kill_inside(f"""
        import keras_electra
        from keras_electra.export import serving_export
        from serving_helpers import tiny_task
        # The SavedModel is written; it is not yet renamed into place.
        serving_export._export_here = block_after(serving_export._export_here)
        keras_electra.export_for_serving(tiny_task("classifier", seed=1),
                                         {str(dest)!r}, overwrite=True)
    """)
    check_killed_write(dest, old, pid, lambda: keras_electra.export_for_serving(
        tiny_task("classifier", seed=1), dest, overwrite=True))


def test_conversion_both_ways_killed_half_way(tmp_path):
    from keras_electra import export_to_huggingface
    from keras_electra.convert import convert_checkpoint

    # Each in a folder of its own: leftovers are counted per parent folder.
    hf_dest, keras_dest = tmp_path / "a" / "hf", tmp_path / "b" / "keras"
    task = tiny_task("discriminator", seed=0)
    export_to_huggingface(task, hf_dest)
    convert_checkpoint(str(hf_dest), str(keras_dest))
    old_hf, old_keras = snapshot(hf_dest), snapshot(keras_dest)
    source = tmp_path / "c" / "hf_new"
    export_to_huggingface(randomize(task, seed=1), source)
    # To Hugging Face: config, weights and vocabulary are written.
    pid = kill_inside(f"""
        from keras_electra import export_to_huggingface
        from keras_electra.convert import hf_export
        from serving_helpers import randomize, tiny_task
        write_json = hf_export._write_json
        def write_json_then_block(path, value):
            if path.endswith("tokenizer_config.json"):
                block()
            write_json(path, value)
        hf_export._write_json = write_json_then_block
        export_to_huggingface(randomize(tiny_task("discriminator"), seed=1),
                              {str(hf_dest)!r}, overwrite=True)
    """)
    check_killed_write(hf_dest, old_hf, pid, lambda: export_to_huggingface(
        task, hf_dest, overwrite=True))
    # From Hugging Face: the model is written, its tokenizer not yet.
    pid = kill_inside(f"""
        from keras_electra import ElectraTokenizer
        from keras_electra.convert import convert_checkpoint
        ElectraTokenizer.save_assets = block
        convert_checkpoint({str(source)!r}, {str(keras_dest)!r},
                           overwrite=True)
    """)
    check_killed_write(keras_dest, old_keras, pid, lambda: convert_checkpoint(
        str(source), str(keras_dest), overwrite=True))


def test_records_killed_while_appending(tmp_path):
    # The pre-training scripts' records (epoch logs, results, statistics)
    # go through `append_record` / `atomic_file`; this child loads that one
    # module by path, without keras.
    dest = tmp_path / "epochs.jsonl"
    module = os.path.join(ROOT, "keras_electra", "convert", "atomic_dir.py")
    load = f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("atomic", {module!r})
        atomic = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(atomic)
    """
    namespace = {}
    exec(textwrap.dedent(load), namespace)
    append_record = namespace["atomic"].append_record
    for epoch in (1, 2):
        append_record(dest, f'{{"epoch": {epoch}, "loss": 0.5}}')
    old = snapshot(dest)
    pid = kill_inside(load + f"""
        # The new file is written, not yet flushed to disk and renamed.
        atomic.os.fsync = block
        atomic.append_record({str(dest)!r}, '{{"epoch": 3, "loss": 0.4}}')
    """)
    check_killed_write(dest, old, pid, lambda: append_record(
        dest, '{"epoch": 3, "loss": 0.4}'))
    with open(dest) as f:
        assert [line.split(",")[0] for line in f] == [
            '{"epoch": 1', '{"epoch": 2', '{"epoch": 3']
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with namespace["atomic"].atomic_file(dest):
            pass
