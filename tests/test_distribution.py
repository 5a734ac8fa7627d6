"""Data- and model-parallel training on Keras' distribution engines.

The scenarios run in fresh processes (tests/distributed_worker.py) because
the virtual devices must be configured before the backend starts: two
virtual CPU devices for JAX (`--xla_force_host_platform_device_count`) and
two logical CPU devices for TensorFlow's `MirroredStrategy`.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_electra import ElectraBackbone
from keras_electra.models.distributable_batches import distributable

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "distributed_worker.py")
TOLERANCE = 1e-5


def start(*args):
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def report_of(process, timeout=900):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-4000:]
    line = next(x for x in out.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.fixture(scope="module")
def jax_report(tmp_path_factory):
    return report_of(start("jax_one_process", tmp_path_factory.mktemp("jax")))


def test_data_parallel_step_equals_one_device_step(jax_report):
    assert jax_report["devices"] == 2
    assert jax_report["classifier_data_parallel"] <= TOLERANCE
    # The sampler draws the same replacements on a sharded batch.
    assert jax_report["pretrainer_data_parallel"] <= TOLERANCE


def test_model_parallel_shards_variables(jax_report):
    assert jax_report["query_kernel"] == {
        "spec": [None, "model", None], "shard_shape": [16, 1, 8],
        "shape": [16, 2, 8]}
    assert jax_report["token_embedding"]["spec"] == [None, "model"]
    assert jax_report["token_embedding"]["shard_shape"][1] == 4
    generator = jax_report["pretrainer_sharded_generator_query"]
    assert generator["shard_shape"] == [8, 1, 4]


def test_model_parallel_numbers_equal_unsharded(jax_report):
    assert jax_report["model_parallel_init"] == 0.0
    assert jax_report["model_parallel_predict"] <= TOLERANCE
    assert jax_report["model_parallel_fit"] <= TOLERANCE
    assert jax_report["pretrainer_model_parallel"] <= TOLERANCE
    other_tasks = jax_report["other_tasks_model_parallel"]
    assert len(other_tasks) == 6
    for task, difference in other_tasks.items():
        assert difference <= TOLERANCE, task


def test_saved_under_data_parallel_loads_on_one_device(jax_report):
    assert jax_report["reload_keras_file"] <= 1e-6
    assert jax_report["reload_preset"] <= 1e-6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_jax_processes_end_with_the_single_process_weights(tmp_path):
    port = free_port()
    processes = [start("jax_two_processes", tmp_path, i, port)
                 for i in (0, 1)]
    reference = start("jax_reference", tmp_path)
    reports = [report_of(p) for p in processes]
    report_of(reference)
    assert [r["global_devices"] for r in reports] == [4, 4]
    assert [r["local_devices"] for r in reports] == [2, 2]
    first, second, single = (
        np.load(tmp_path / f"{name}.npz")
        for name in ("process_0", "process_1", "reference"))
    assert len(first.files) == len(single.files) > 20
    for key in single.files:
        np.testing.assert_array_equal(first[key], second[key])
        np.testing.assert_allclose(first[key], single[key], atol=TOLERANCE)


def test_tensorflow_mirrored_strategy(tmp_path):
    report = report_of(start("tf_mirrored", tmp_path))
    assert report["replicas"] == 2
    assert report["classifier_mirrored"] <= TOLERANCE
    assert report["reload_keras_file"] <= 1e-6
    assert all(np.isfinite(report["pretrainer_mirrored_losses"]))


def mesh(shape=(1, 1)):
    return keras.distribution.DeviceMesh(
        shape, ("batch", "model"), ["cpu:0"] * int(np.prod(shape)))


def test_layout_map_covers_every_large_kernel():
    layout_map = ElectraBackbone.get_layout_map(mesh())
    backbone = ElectraBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
        embedding_dim=4, intermediate_dim=16, max_sequence_length=8)
    sharded = {v.path for v in backbone.weights
               if layout_map[v.path] is not None}
    for layer in range(2):
        for name in ("query", "key", "value", "attention_output",
                     "intermediate", "output"):
            assert f"transformer_layer_{layer}/{name}/kernel" in sharded
    assert "embeddings/token_embedding/embeddings" in sharded
    # Norms and the attention output's bias stay replicated.
    assert layout_map["transformer_layer_0/attention_output/bias"] is None
    assert layout_map["embeddings/layer_norm/gamma"] is None
    assert layout_map["transformer_layer_1/output/kernel"].axes == (
        "model", None)


def test_layout_map_errors_name_the_argument():
    with pytest.raises(ValueError, match="`device_mesh` must be"):
        ElectraBackbone.get_layout_map("mesh")
    with pytest.raises(ValueError, match="model_parallel_dim_name='heads'"):
        ElectraBackbone.get_layout_map(mesh(), model_parallel_dim_name="heads")


def test_distributable_batches_keep_batch_size_and_cast_masks():
    @tf.function(input_signature=[tf.TensorSpec([3], tf.string)],
                 autograph=False)
    def preprocess(texts):
        ragged = tf.strings.split(texts)
        mask = ragged.to_tensor(shape=[None, 4]) != ""
        assert mask.shape.as_list() == [None, 4]
        out = distributable({"padding_mask": mask}, texts)
        assert out["padding_mask"].shape.as_list() == [3, 4]
        return out

    out = preprocess(tf.constant(["a b", "c", ""]))
    assert out["padding_mask"].dtype == tf.int32
    np.testing.assert_array_equal(
        out["padding_mask"], [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
