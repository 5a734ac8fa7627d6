"""Fine-tuning and pre-training ELECTRA on several devices and hosts.

keras_electra runs on the distribution engines Keras already has; there is
no launcher of its own. What each backend supports:

| backend | one host, N devices | several hosts | model parallel |
|---|---|---|---|
| JAX | `keras.distribution.DataParallel` | the same, after `keras.distribution.initialize` | `ModelParallel` with `ElectraBackbone.get_layout_map` |
| TensorFlow | `tf.distribute.MirroredStrategy` | no (see below) | no |
| PyTorch | no (Keras has no distribution API for torch) | no | no |

To scale out, use JAX or TensorFlow; weights saved from either load on any
backend. Every model here (`ElectraClassifier` and the other tasks,
`ElectraPretrainer`) is built inside the distribution's scope and trained
with plain `fit`, on raw strings: the preprocessing runs inside `tf.data`,
and Keras splits each global batch between the devices (and between the
processes on several hosts).

This guide fine-tunes the bundled `electra_tiny_uncased_en` classifier on
the bundled reviews, shards the same model by `get_layout_map` (JAX), and
continues pre-training the generator/discriminator pair, then saves from
the distributed run and reloads on one device.

On a host with 8 accelerators (GPU or TPU), JAX:

    KERAS_BACKEND=jax python guides/distributed_training.py

On 2 hosts, run on each (process ids 0 and 1, host 0's address first):

    KERAS_BACKEND=jax python guides/distributed_training.py \\
        --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0

TensorFlow on the GPUs of one host (`MirroredStrategy`):

    KERAS_BACKEND=tensorflow python guides/distributed_training.py

TensorFlow on several hosts does not work with Keras 3.15: with
`MultiWorkerMirroredStrategy` (tried with 2 workers on 127.0.0.1), Keras'
TensorFlow trainer fails to build the model from the first distributed
batch (`ValueError: Attempt to convert a value ({'token_ids':
PerReplica...`, in `_maybe_symbolic_build`). Use JAX for several hosts.

Without accelerators, `--virtual-devices 2` splits the CPU into 2 devices
(JAX: `--xla_force_host_platform_device_count`; TensorFlow: logical
devices), which is how the test suite runs this guide.

Global batches must have a static size for several hosts: batch `tf.data`
datasets with `drop_remainder=True`, and make the global batch size a
multiple of the number of devices.
"""

import argparse
import os


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--virtual-devices", type=int, default=0,
                        help="split the CPU into this many devices (0: use "
                        "the real devices)")
    parser.add_argument("--coordinator", default=None,
                        help="host:port of process 0, for several hosts "
                        "(JAX only)")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--examples", type=int, default=512,
                        help="training reviews (and pre-training sequences)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="global batch size")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--output", default="distributed_run")
    return parser.parse_args(argv)


def configure_devices(count):
    """Virtual CPU devices; must happen before the backend starts."""
    if count and os.environ.get("KERAS_BACKEND", "tensorflow") == "jax":
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={count}")
    elif count:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def data_parallel(args):
    """This backend's data-parallel engine; its `.scope()` holds models."""
    import keras

    if keras.backend.backend() == "jax":
        if args.coordinator:
            keras.distribution.initialize(
                job_addresses=args.coordinator,
                num_processes=args.num_processes,
                process_id=args.process_id)
        return keras.distribution.DataParallel(
            devices=keras.distribution.list_devices())
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices()
                   if d.device_type in ("GPU", "TPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise SystemExit(
        "Keras has no distribution API for the PyTorch backend: run this "
        "guide with KERAS_BACKEND=jax or KERAS_BACKEND=tensorflow.")


def review_dataset(args):
    import tensorflow as tf

    from keras_electra.__main__ import load_reviews

    texts, labels = load_reviews("train", args.examples)
    return (tf.data.Dataset.from_tensor_slices((texts, labels))
            .shuffle(len(texts), seed=0)
            .batch(args.batch_size, drop_remainder=True))


def fine_tune(args, engine, output):
    import keras

    import keras_electra

    with engine.scope():
        classifier = keras_electra.ElectraClassifier.from_preset(
            "electra_tiny_uncased_en", num_classes=2,
            sequence_length=args.sequence_length)
        classifier.compile(optimizer=keras.optimizers.AdamW(1e-3))
        history = classifier.fit(review_dataset(args), epochs=args.epochs,
                                 verbose=2)
        probe = ["A delicious snack, I will buy it again.",
                 "Stale and tasteless, a waste of money."]
        expected = classifier.predict(probe, verbose=0)
        path = os.path.join(output, "classifier.keras")
        classifier.save(path)
    print(f"fine-tuning loss: {history.history['loss'][-1]:.4f}")
    # Loaded outside the scope: on one device, same numbers.
    reloaded = keras.saving.load_model(path)
    difference = abs(reloaded.predict(probe, verbose=0) - expected).max()
    print(f"reloaded on one device, largest difference: {difference:.2e}")


def model_parallel(args):
    """JAX only: weights split over the devices along a `model` axis."""
    import keras

    import keras_electra

    devices = keras.distribution.list_devices()
    mesh = keras.distribution.DeviceMesh(
        (1, len(devices)), ("batch", "model"), devices)
    layout_map = keras_electra.ElectraBackbone.get_layout_map(mesh)
    distribution = keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name="batch")
    with distribution.scope():
        classifier = keras_electra.ElectraClassifier.from_preset(
            "electra_tiny_uncased_en", num_classes=2,
            sequence_length=args.sequence_length)
        classifier.compile(optimizer=keras.optimizers.AdamW(1e-3))
        history = classifier.fit(review_dataset(args), epochs=1, verbose=2)
    query = classifier.backbone.get_layer("transformer_layer_0").weights[0]
    print(f"model parallel: {query.path} {tuple(query.shape)} sharded as "
          f"{query.value.sharding.spec}, loss "
          f"{history.history['loss'][-1]:.4f}")


def pretrain(args, engine, output):
    import keras_electra
    from keras_electra.pretraining import pretraining_dataset

    data = os.path.join(os.path.dirname(keras_electra.__file__), "data")
    with engine.scope():
        pretrainer = keras_electra.ElectraPretrainer.from_preset(
            "electra_tiny_uncased_en", sequence_length=args.sequence_length)
        pretrainer.compile(learning_rate=2e-4)
        tokenizer = pretrainer.preprocessor.tokenizer
        dataset = (pretraining_dataset(
            os.path.join(data, "austen_novels.txt.gz"), tokenizer,
            args.sequence_length, seed=0)
            .take(args.examples)
            .batch(args.batch_size, drop_remainder=True))
        history = pretrainer.fit(dataset, epochs=1, verbose=2)
        pretrainer.save_to_preset(os.path.join(output, "pretrained"))
    print("pre-training: "
          f"loss {history.history['loss'][-1]:.4f}, replaced_auc "
          f"{history.history['replaced_auc'][-1]:.3f}")


def main(argv=None):
    args = parse_args(argv)
    configure_devices(args.virtual_devices)
    import keras

    output = os.path.join(args.output, f"process_{args.process_id}")
    os.makedirs(output, exist_ok=True)
    engine = data_parallel(args)
    print(f"{keras.backend.backend()}: {type(engine).__name__}")
    fine_tune(args, engine, output)
    if keras.backend.backend() == "jax":
        model_parallel(args)
    pretrain(args, engine, output)


if __name__ == "__main__":
    main()
