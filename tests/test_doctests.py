"""The examples in the docstrings of keras_electra's public names run and
print what they show.

Public names: what `keras_electra`, `keras_electra.layers`,
`keras_electra.optimizers` and `keras_electra.callbacks` export, with the
methods and properties they define or inherit from keras_electra (not those
inherited from keras-hub or Keras). Each docstring's `>>>` examples run as a
doctest, in a temporary directory (examples may write files).
"""

import doctest
import inspect

import numpy as np
import pytest

import keras_electra

MODULES = (keras_electra, keras_electra.layers, keras_electra.optimizers,
           keras_electra.callbacks)


def _ours(obj):
    return getattr(obj, "__module__", "").startswith("keras_electra")


def _function(member):
    if isinstance(member, (classmethod, staticmethod)):
        return member.__func__
    if isinstance(member, property):
        return member.fget
    return getattr(member, "fget", member)  # keras-hub's classproperty


def public_docstrings():
    """`(qualified name, object)` for each public name and member."""
    found, seen = [], set()
    for module in MODULES:
        for name in sorted(getattr(module, "__all__", dir(module))):
            obj = getattr(module, name)
            if name.startswith("_") or inspect.ismodule(obj):
                continue
            if not _ours(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append((f"{module.__name__}.{name}", obj))
            if not inspect.isclass(obj):
                continue
            for klass in obj.__mro__:
                for member_name, member in vars(klass).items():
                    function = _function(member)
                    if (member_name.startswith("_")
                            or inspect.isclass(function)
                            or not callable(function) or not _ours(function)
                            or id(function) in seen):
                        continue
                    seen.add(id(function))
                    found.append((f"{klass.__module__}.{klass.__qualname__}."
                                  f"{member_name}", function))
    return found


def doctests():
    parser = doctest.DocTestParser()
    tests = []
    for name, obj in public_docstrings():
        docstring = inspect.getdoc(obj) or ""
        module = inspect.getmodule(obj)
        test = parser.get_doctest(docstring, dict(vars(module)), name,
                                  module.__file__, 0)
        if test.examples:
            tests.append(test)
    return tests


DOCTESTS = doctests()


def test_public_docstrings_have_examples():
    """The collector finds the examples (a broken collector runs none)."""
    names = {test.name for test in DOCTESTS}
    assert "keras_electra.ElectraBackbone" in names
    assert "keras_electra.layers.ElectraEmbedding" in names
    assert len(DOCTESTS) >= 25


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test, tmp_path, monkeypatch):
    import keras

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    # The defining module's names, as `doctest.testmod` gives, and
    # keras_electra's public names.
    test.globs = {**test.globs, "keras_electra": keras_electra,
                  "keras": keras, "np": np,
                  **{name: getattr(keras_electra, name)
                     for name in dir(keras_electra)
                     if not name.startswith("_")}}
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)
