"""Runs one distributed-training scenario and prints its figures as JSON.

Started by tests/test_distribution.py in a fresh process, because the
device flags (`XLA_FLAGS`, TensorFlow's logical devices) must be set before
the backend starts. Usage: `python distributed_worker.py SCENARIO [ARGS]`.
"""

import json
import os
import sys
import time

SCENARIO = sys.argv[1]
if SCENARIO.startswith("jax"):
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_electra as ke  # noqa: E402

TEXTS = ["a fine film", "dull and far too long", "great fun", "not good"] * 2
LABELS = np.array([1, 0, 1, 0] * 2)
TINY = dict(num_layers=1, num_heads=2, hidden_dim=16, embedding_dim=8,
            intermediate_dim=32, max_sequence_length=32)


def tokenizer():
    return ke.ElectraTokenizer.from_preset("electra_tiny_uncased_en")


def classifier(dropout=0.1):
    keras.utils.set_random_seed(0)
    vocab = tokenizer()
    backbone = ke.ElectraBackbone(vocabulary_size=vocab.vocabulary_size(),
                                  dropout=dropout, **TINY)
    model = ke.ElectraClassifier(
        backbone, num_classes=2, dropout=dropout,
        preprocessor=ke.ElectraClassifierPreprocessor(vocab, sequence_length=16),
    )
    model.compile(optimizer=keras.optimizers.AdamW(1e-2))
    return model


def pretrainer():
    keras.utils.set_random_seed(0)
    vocab = tokenizer()
    generator = ke.ElectraBackbone(vocabulary_size=vocab.vocabulary_size(),
                                   **{**TINY, "hidden_dim": 8, "num_heads": 2})
    discriminator = ke.ElectraBackbone(vocabulary_size=vocab.vocabulary_size(),
                                       **TINY)
    model = ke.ElectraPretrainer(generator, discriminator, seed=3)
    model.compile(learning_rate=1e-2)
    return model


def masked_batch():
    """Masks drawn once in numpy, so every run sees the same batch."""
    keras.utils.set_random_seed(1)
    preprocessor = ke.ElectraPretrainerPreprocessor(
        tokenizer(), sequence_length=16, mask_selection_length=4)
    return {k: keras.ops.convert_to_numpy(v)
            for k, v in preprocessor(TEXTS).items()}


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def largest_difference(a, b):
    return float(max(np.abs(x - y).max() for x, y in zip(a, b)))


def fit_once(build, x, y=None, steps=1):
    model = build()
    start = time.perf_counter()
    batching = {} if hasattr(x, "element_spec") else {"batch_size": 8}
    model.fit(x, y, epochs=steps, verbose=0, shuffle=False, **batching)
    return model, time.perf_counter() - start


def timed_steps(model, x, y=None, steps=2):
    """Seconds per step once compiled."""
    start = time.perf_counter()
    model.fit(x, y, batch_size=8, epochs=steps, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def model_parallel():
    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh((1, len(devices)), ("batch", "model"),
                                         devices)
    return keras.distribution.ModelParallel(
        layout_map=ke.ElectraBackbone.get_layout_map(mesh),
        batch_dim_name="batch")


def sharding_of(model, path):
    variable = next(v for v in model.weights if v.path == path)
    value = variable.value
    return {"spec": [a for a in value.sharding.spec],
            "shard_shape": list(value.addressable_shards[0].data.shape),
            "shape": list(value.shape)}


def other_tasks_model_parallel():
    """Each other task's outputs, sharded against unsharded."""
    token_ids = np.array([[2, 7, 9, 11, 3, 0], [2, 5, 4, 3, 0, 0]] * 2)
    features = {"token_ids": token_ids,
                "segment_ids": np.zeros_like(token_ids),
                "padding_mask": (token_ids > 0).astype("int32")}
    choices = {k: np.stack([v, v], axis=1) for k, v in features.items()}
    tasks = {
        "ElectraTokenClassifier": ({"num_classes": 3}, features),
        "ElectraQuestionAnswerer": ({}, features),
        "ElectraMultipleChoice": ({"num_choices": 2}, choices),
        "ElectraDiscriminator": ({}, features),
        "ElectraMaskedLM": ({}, {**features, "mask_positions":
                                 np.array([[1, 2]] * 4)}),
        "ElectraCausalLM": ({}, {k: features[k]
                                 for k in ("token_ids", "padding_mask")}),
    }
    differences = {}
    for name, (arguments, x) in tasks.items():
        def build():
            keras.utils.set_random_seed(0)
            backbone = ke.ElectraBackbone(vocabulary_size=40, **TINY)
            return getattr(ke, name)(backbone, preprocessor=None, **arguments)

        expected = keras.ops.convert_to_numpy(build()(x))
        with model_parallel().scope():
            got = keras.ops.convert_to_numpy(build()(x))
        differences[name] = float(np.abs(got - expected).max())
    return differences


def jax_one_process(folder):
    data_parallel = keras.distribution.DataParallel(
        devices=keras.distribution.list_devices())
    report = {"devices": len(keras.distribution.list_devices())}

    # Data parallel: the same step as one device with the same global batch.
    single, _ = fit_once(classifier, TEXTS, LABELS)
    with data_parallel.scope():
        parallel, _ = fit_once(classifier, TEXTS, LABELS)
        report["classifier_data_parallel"] = largest_difference(
            weights(single), weights(parallel))
        report["step_s_two_devices"] = timed_steps(parallel, TEXTS, LABELS)
        saved = parallel.predict(TEXTS, verbose=0)
        parallel.save(os.path.join(folder, "parallel.keras"))
        parallel.save_to_preset(os.path.join(folder, "parallel_preset"))
    report["step_s_one_device"] = timed_steps(single, TEXTS, LABELS)

    batch = masked_batch()
    single, _ = fit_once(pretrainer, batch)
    with data_parallel.scope():
        parallel, _ = fit_once(pretrainer, batch)
    report["pretrainer_data_parallel"] = largest_difference(
        weights(single), weights(parallel))

    # Model parallel: sharded variables, same numbers as unsharded.
    single = classifier()
    expected = single.predict(TEXTS, verbose=0)
    with model_parallel().scope():
        sharded = classifier()
        report["query_kernel"] = sharding_of(
            sharded, "transformer_layer_0/query/kernel")
        report["token_embedding"] = sharding_of(
            sharded, "embeddings/token_embedding/embeddings")
        report["model_parallel_init"] = largest_difference(
            weights(single), weights(sharded))
        report["model_parallel_predict"] = float(np.abs(
            sharded.predict(TEXTS, verbose=0) - expected).max())
        sharded.fit(TEXTS, LABELS, batch_size=8, verbose=0, shuffle=False)
    single.fit(TEXTS, LABELS, batch_size=8, verbose=0, shuffle=False)
    report["model_parallel_fit"] = largest_difference(
        weights(single), weights(sharded))

    batch = masked_batch()
    single, _ = fit_once(pretrainer, batch)
    with model_parallel().scope():
        sharded, _ = fit_once(pretrainer, batch)
        report["pretrainer_sharded_generator_query"] = sharding_of(
            sharded.generator, "transformer_layer_0/query/kernel")
    report["pretrainer_model_parallel"] = largest_difference(
        weights(single), weights(sharded))

    report["other_tasks_model_parallel"] = other_tasks_model_parallel()

    # Saved under a distribution, loaded on one device.
    for name, load in (
        ("keras_file", lambda: keras.saving.load_model(
            os.path.join(folder, "parallel.keras"))),
        ("preset", lambda: ke.ElectraClassifier.from_preset(
            os.path.join(folder, "parallel_preset"))),
    ):
        report[f"reload_{name}"] = float(np.abs(
            load().predict(TEXTS, verbose=0) - saved).max())
    return report


def string_dataset(repeats=3):
    """Raw strings batched at the global batch size, as multi-process
    `fit` requires (Keras splits each batch between the processes)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(
        (TEXTS * repeats, np.tile(LABELS, repeats))
    ).batch(8, drop_remainder=True)


def jax_two_processes(folder, process_id, port):
    """One of two processes; each saves its weights after a few steps."""
    keras.distribution.initialize(
        job_addresses=f"127.0.0.1:{port}", num_processes=2,
        process_id=int(process_id))
    distribution = keras.distribution.DataParallel(
        devices=keras.distribution.list_devices())
    with distribution.scope():
        model, seconds = fit_once(classifier, string_dataset())
    np.savez(os.path.join(folder, f"process_{process_id}.npz"),
             *[np.asarray(w) for w in weights(model)])
    return {"global_devices": len(keras.distribution.list_devices()),
            "local_devices": len(__import__("jax").local_devices()),
            "fit_s": seconds}


def jax_reference(folder):
    """The same steps in one process on one device."""
    model, _ = fit_once(classifier, string_dataset())
    np.savez(os.path.join(folder, "reference.npz"), *weights(model))
    return {}


def tf_mirrored(folder):
    """`tf.distribute.MirroredStrategy` on two logical CPU devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync}

    # Each replica draws its own dropout masks, unlike one device: compare
    # without dropout.
    def build():
        return classifier(dropout=0.0)

    single, _ = fit_once(build, TEXTS, LABELS)
    with strategy.scope():
        mirrored, _ = fit_once(build, TEXTS, LABELS)
        report["step_s_two_devices"] = timed_steps(mirrored, TEXTS, LABELS)
        saved = mirrored.predict(TEXTS, verbose=0)
        mirrored.save(os.path.join(folder, "mirrored.keras"))
    report["step_s_one_device"] = timed_steps(single, TEXTS, LABELS)
    report["classifier_mirrored"] = largest_difference(
        weights(single), weights(mirrored))
    report["reload_keras_file"] = float(np.abs(keras.saving.load_model(
        os.path.join(folder, "mirrored.keras")).predict(TEXTS, verbose=0)
        - saved).max())

    with strategy.scope():
        model = pretrainer()
        history = model.fit(masked_batch(), batch_size=4, epochs=2, verbose=0)
    report["pretrainer_mirrored_losses"] = [
        float(x) for x in history.history["loss"]]
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(globals()[SCENARIO](*sys.argv[2:])))
