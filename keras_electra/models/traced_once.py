"""Preprocessing steps run through one cached `tf.function` per object.

The packers are large TensorFlow graphs: tracing them takes a while, and
tf.data traces the function it maps anew for every dataset (each `predict`
or `fit` call on raw strings), while eager calls dispatch their ops one by
one. A `tf.function` kept per object is traced once; other traces (tf.data's,
a serving signature's) call it. The cache lives outside the layers so that
saving and export never see it. (The tokenizer's normaliser goes further:
one function per vocabulary and options, shared by every tokenizer,
`electra_tokenizer._traced_tokenize_flat`.)
"""

import weakref

import tensorflow as tf

# owner -> {method name: (key, tf.function)}
_FUNCTIONS = weakref.WeakKeyDictionary()


def traced_once(owner, method, key, **function_kwargs):
    """`owner.<method>` through a `tf.function` that is made again only
    when `key` (whatever the method's result depends on besides its
    arguments) changes."""
    functions = _FUNCTIONS.setdefault(owner, {})
    cached = functions.get(method)
    if cached is None or cached[0] != key:
        # A weak reference: the cache must not keep its owner alive.
        reference = weakref.ref(owner)

        @tf.function(autograph=False, **function_kwargs)
        def function(*args):
            return getattr(reference(), method)(*args)

        cached = functions[method] = (key, function)
    return cached[1]
