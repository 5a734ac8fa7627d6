"""The base class of keras_electra's tasks."""

import keras
import numpy as np
import tensorflow as tf
from keras.src.models.functional import Functional
from keras_hub.models import Task

from keras_electra.convert.preset_loading import ElectraPresetMixin
from keras_electra.models.distributable_batches import distributable
from keras_electra.models.electra_preprocessor import is_token_ids
from keras_electra.models.in_memory_predict import InMemoryPredictMixin
from keras_electra.models.input_checks import check_sequence_fits
from keras_electra.models.jax_predict_on_batch import JaxPredictOnBatchMixin
from keras_electra.models.python_batches import is_python_batches
from keras_electra.models.python_batches import preprocessed
from keras_electra.models.shuffled_fit import in_memory_dataset
from keras_electra.models.shuffled_fit import in_memory_datasets
from keras_electra.models.shuffled_fit import is_dataset
from keras_electra.models.shuffled_fit import promptly_unless_chosen
from keras_electra.models.text_inputs import check_label_count
from keras_electra.models.text_inputs import check_text_batch
from keras_electra.models.text_inputs import is_raw_batch
from keras_electra.models.xla_predict import XlaPredictMixin


class ElectraTask(
    ElectraPresetMixin, InMemoryPredictMixin, JaxPredictOnBatchMixin,
    XlaPredictMixin, Task, Functional
):
    """Base class of keras_electra's tasks: keras-hub's `Task`, plus

    - `from_preset`, `presets` and atomic `save_to_preset` for every ELECTRA
      checkpoint format (`ElectraPresetMixin`);
    - raw-string `x` and `y` checked in Python before `fit`, `evaluate` and
      `predict` hand them to `tf.data`, where a wrong type only gives a
      graph-tracing error;
    - a `fit` that reshuffles in-memory inputs every epoch (keras-hub's
      turns them into a dataset that Keras does not shuffle);
    - preprocessed batches that Keras' distribution engines accept;
    - on JAX, a `predict_on_batch` that does not copy every variable in and
      out of the compiled step (`JaxPredictOnBatchMixin`);
    - on CPU-only TensorFlow, a `predict` compiled with XLA under the
      default `jit_compile="auto"` (`XlaPredictMixin`);
    - with two or more cores, both of those on the two halves of a batch
      side by side;
    - a `predict` that takes in-memory inputs (raw texts, arrays) a batch
      at a time through `predict_on_batch`, without the `tf.data` pipeline
      keras-hub builds for every call (`InMemoryPredictMixin`);
    - `.keras` files that reload compiled as saved, through the task's own
      `compile()`.

    Put it before a specialised keras-hub task:
    `class ElectraClassifier(ElectraTask, TextClassifier)`. Tasks whose `x`
    is not a batch of strings (or of `(first, second)` pairs) set
    `text_pairs = False` to refuse tuples, and may override
    `_prepared_labels(y, owner)` to check or convert labels and
    `_check_raw_x(x, owner)` to check other kinds of `x`.
    """

    # Why `Functional` is a base: the first functional construction of a
    # `keras.Model` subclass makes Keras rewrite the class hierarchy to put
    # `Functional` under `Model`, walking every base; a task that reaches
    # keras-hub's `Task` twice (through this class and through
    # `TextClassifier`, `MaskedLM` or `CausalLM`) makes that walk fail with
    # "a __bases__ item causes an inheritance cycle". With `Functional` here
    # the hierarchy is already what the rewrite would make, and Keras skips it.

    text_pairs = True
    # Whether `y` is one label per example (not a tuple of label parts).
    labels_per_example = True
    # Whether `predict` may sort raw texts by length: its outputs have one
    # row per example and no sequence axis.
    predicts_per_example = False

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        task = super().from_preset(preset, load_weights=load_weights, **kwargs)
        if getattr(task, "backbone", None) is not None:
            check_sequence_fits(task)
        return task

    from_preset.__func__.__doc__ = ElectraPresetMixin.from_preset.__doc__

    def fit(self, x=None, y=None, batch_size=None, sample_weight=None,
            validation_data=None, validation_split=None, shuffle=True,
            group_by_length=False, **kwargs):
        """As keras-hub's `Task.fit`; in-memory inputs (raw strings, arrays)
        are reshuffled every epoch unless `shuffle=False`.

        Shuffling follows `keras.utils.set_random_seed`. A `tf.data.Dataset`
        is used as it is: shuffle it with `.shuffle(buffer_size)`.
        `validation_split` holds out the last examples, as Keras does, of
        arrays and of Python lists of strings or numbers.

        `group_by_length=True` (HF's `TrainingArguments.group_by_length`)
        puts raw texts of similar length (in characters) in the same
        batches, so that a `padding="longest"` preprocessor pads them
        little: each epoch's shuffled texts are taken 50 batches at a time
        and each run is sorted longest first. Batches are then less random
        than a uniform shuffle; HF leaves it off by default, so do we.

        `x` may also be a `keras.utils.PyDataset` or a generator of raw
        batches, as Keras' `Model.fit` takes them (then `shuffle=True`
        shuffles the order of a `PyDataset`'s batches each epoch, as Keras
        does).
        """
        if is_python_batches(x):
            if group_by_length:
                self._check_groupable(x)
            x = self._preprocessed_batches(x, "fit", shuffle, y,
                                           sample_weight)
            return keras.Model.fit(
                self, x, batch_size=batch_size,
                validation_data=self._preprocessed_validation(
                    validation_data
                ),
                validation_split=validation_split,
                # Keras shuffles a `PyDataset`'s batches; generators and
                # datasets it would only warn about.
                shuffle=shuffle and isinstance(x, keras.utils.PyDataset),
                **kwargs,
            )
        x, y = self._checked_inputs("fit", x, y)
        if group_by_length:
            self._check_groupable(x)
        x = promptly_unless_chosen(x)
        validation_data = promptly_unless_chosen(validation_data)
        if not is_dataset(x):
            x, validation_data = in_memory_datasets(
                x, y, sample_weight, batch_size, validation_data,
                validation_split, shuffle,
                _text_lengths if group_by_length else None,
                prepare=self._pretokenized,
            )
            y = sample_weight = batch_size = validation_split = None
        # Datasets shuffle themselves; Keras would only warn about `shuffle`.
        return super().fit(
            x, y, batch_size=batch_size, sample_weight=sample_weight,
            validation_data=validation_data,
            validation_split=validation_split, shuffle=False, **kwargs,
        )

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto",
                 sample_weight=None, **kwargs):
        if is_python_batches(x):
            x = self._preprocessed_batches(x, "evaluate", False, y,
                                           sample_weight)
            return keras.Model.evaluate(
                self, x, batch_size=batch_size, verbose=verbose, **kwargs
            )
        x, y = self._checked_inputs("evaluate", x, y)
        x = promptly_unless_chosen(self._pretokenized(x))
        if not is_dataset(x):
            # As `fit`'s: a dataset whose iterator is deleted promptly.
            x = in_memory_dataset(x, y, sample_weight, batch_size,
                                  shuffle=False)
            y = sample_weight = batch_size = None
        return super().evaluate(
            x, y, batch_size=batch_size, verbose=verbose,
            sample_weight=sample_weight, **kwargs,
        )

    def predict(self, x, *args, **kwargs):
        """As keras-hub's `Task.predict`. In-memory inputs (raw texts,
        arrays) go a batch at a time through `predict_on_batch`, without a
        `tf.data` pipeline per call (`InMemoryPredictMixin`). With a
        `padding="longest"` preprocessor, in-memory raw texts are predicted
        in order of length (so that each batch holds texts of similar
        length and is padded little) and the outputs are returned in the
        order given. A `keras.utils.PyDataset` or a generator of raw
        batches is predicted as Keras' `Model.predict` does."""
        if is_python_batches(x):
            return keras.Model.predict(
                self, self._preprocessed_batches(x, "predict"), *args,
                **kwargs,
            )
        x, _ = self._checked_inputs("predict", x, None)
        x = promptly_unless_chosen(self._pretokenized(x))
        order = self._length_order(x)
        if order is None:
            return super().predict(x, *args, **kwargs)
        outputs = super().predict(_take(x, order), *args, **kwargs)
        inverse = np.argsort(order)
        return keras.tree.map_structure(lambda a: a[inverse], outputs)

    def _preprocessed_batches(self, x, method, shuffle=False, y=None,
                              sample_weight=None):
        """A `PyDataset` or generator `x` of raw batches, each checked and
        preprocessed as it is read (`y` and `sample_weight` must be None:
        they come in the batches)."""

        def preprocess(x, y, sample_weight):
            x, y = self._checked_inputs(method, x, y)
            return self.preprocess_samples(x, y, sample_weight)

        return preprocessed(
            x, preprocess, f"{type(self).__name__}.{method}()", shuffle, y,
            sample_weight,
        )

    def _preprocessed_validation(self, data):
        """`fit`'s `validation_data` beside a `PyDataset` or generator: as
        keras-hub's `Task.fit` would have preprocessed it."""
        if data is None:
            return None
        if is_python_batches(data):
            return self._preprocessed_batches(data, "fit")
        if not isinstance(data, tf.data.Dataset):
            if is_dataset(data):  # grain's
                raise ValueError(
                    f"{type(self).__name__}.fit() takes `validation_data` "
                    "beside a PyDataset or generator as arrays, texts, a "
                    "tf.data.Dataset, a PyDataset or a generator; received "
                    f"{type(data).__name__}."
                )
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            x, y = self._checked_inputs("fit", x, y)
            data = in_memory_dataset(self._pretokenized(x), y, sample_weight,
                                     shuffle=False)
        return promptly_unless_chosen(data).map(
            self.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)

    def _length_order(self, x):
        """Indices that sort raw `x` by length, or None to keep it."""
        preprocessor = getattr(self, "preprocessor", None)
        if (
            not self.predicts_per_example
            or getattr(preprocessor, "padding", None) != "longest"
        ):
            return None
        lengths = _text_lengths(x)
        return None if lengths is None else np.argsort(lengths, kind="stable")

    def _pretokenized(self, x):
        """In-memory raw texts `x` as ragged token ids, where the
        preprocessor takes them (`takes_token_ids`); else `x` unchanged.

        Tokenizing before `tf.data` reuses the tokenizer's optimised graph,
        which a dataset would optimise again for every iterator (each epoch
        and `predict`): about 1 s of CPU each time, a tenth of a `fit`
        epoch on 256 reviews.
        """
        preprocessor = getattr(self, "preprocessor", None)
        parts = _text_parts(x)
        if parts is None or not getattr(preprocessor, "takes_token_ids", False):
            return x
        if any(is_token_ids(part) for part in parts):
            return x
        ids = tuple(
            preprocessor.tokenizer.ragged_token_ids(part) for part in parts
        )
        return ids if isinstance(x, tuple) else ids[0]

    def _check_groupable(self, x):
        """A clear error where `fit(group_by_length=True)` cannot help."""
        owner = f"{type(self).__name__}.fit(group_by_length=True)"
        if is_dataset(x):
            raise ValueError(
                f"{owner} groups in-memory raw texts; a dataset is used as "
                "it is. Group its examples yourself, e.g. with "
                "`dataset.bucket_by_sequence_length(...)`."
            )
        if _text_parts(x) is None:
            raise ValueError(
                f"{owner} needs raw texts (a list or array of strings, or a "
                f"tuple of two for pairs); received {type(x).__name__}."
            )
        preprocessor = getattr(self, "preprocessor", None)
        if not hasattr(preprocessor, "padding"):
            raise ValueError(
                f"{owner}: {type(preprocessor).__name__} pads every row to "
                "`sequence_length` (it has no `padding='longest'`), so "
                "grouping by length would save nothing; leave "
                "`group_by_length` off."
            )
        padding = preprocessor.padding
        if padding != "longest":
            raise ValueError(
                f"{owner} only saves work when each batch is padded to its "
                f"longest row; this preprocessor pads with padding="
                f"{padding!r}. Set `task.preprocessor.padding = 'longest'` "
                "(or pass `padding='longest'` to `from_preset`), or leave "
                "`group_by_length` off."
            )

    def preprocess_samples(self, x, y=None, sample_weight=None):
        return distributable(
            super().preprocess_samples(x, y, sample_weight),
            (x, y, sample_weight),
        )

    def compile_from_config(self, config):
        # Keras skips `compile()` on load, with a warning, when a model
        # overrides it. The tasks' `compile()` only fills in `"auto"`
        # defaults, so the saved arguments (optimizer with its schedule,
        # loss, metrics) pass through it as they are; building the optimizer
        # gives Keras variables to load its saved state into.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _checked_inputs(self, method, x, y):
        owner = f"{type(self).__name__}.{method}()"
        if y is not None:
            y = self._prepared_labels(y, owner)
        if getattr(self, "preprocessor", None) is None or not is_raw_batch(x):
            return x, y
        check_sequence_fits(self)
        size = self._check_raw_x(x, owner)
        if y is not None and self.labels_per_example:
            check_label_count(y, size, owner)
        return x, y

    def _check_raw_x(self, x, owner):
        """The batch size of raw `x`, or a clear error."""
        return check_text_batch(x, owner, pairs=self.text_pairs)

    def _prepared_labels(self, y, owner):
        return y


def _text_parts(x):
    """In-memory raw texts `x` (strings, or their ragged token ids) as a
    tuple of one or two parts (pairs), or None if `x` is not such a batch."""
    parts = x if isinstance(x, tuple) else (x,)
    if not all(
        isinstance(part, (list, np.ndarray)) or is_token_ids(part)
        for part in parts
    ):
        return None
    return parts


def _text_lengths(x):
    """Length per example of raw texts `x` (both parts of a pair): tokens
    when tokenized (as HF's `group_by_length`), else characters; None if
    `x` is not an in-memory batch of texts."""
    parts = _text_parts(x)
    if parts is None:
        return None
    return sum(_lengths(part) for part in parts)


def _lengths(part):
    if is_token_ids(part):
        return part.row_lengths().numpy()
    return np.array([len(t) for t in part])


def _take(x, order):
    """Raw texts `x` (a batch, or a tuple of two for pairs) in `order`."""
    if isinstance(x, tuple):
        return tuple(_take(part, order) for part in x)
    if is_token_ids(x):
        return tf.gather(x, order)
    return [x[i] for i in order]
