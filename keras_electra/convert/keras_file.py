"""Load `.keras` files safely, with clear errors for broken files."""

import os
import posixpath
import zipfile

import keras

# What every `.keras` archive holds.
KERAS_FILE_MEMBERS = ("config.json", "model.weights.h5")


def _corrupt(path, reason):
    size = os.path.getsize(path)
    return ValueError(
        f"{path} exists ({size} bytes) but is not a valid .keras file: "
        f"{reason}. It is truncated or corrupt (an interrupted save, copy or "
        "download); save the model again or copy the file again."
    )


def _unsafe_member(name):
    parts = posixpath.normpath(name.replace("\\", "/")).split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]


def check_keras_file(path):
    """`path` is a complete `.keras` zip archive, or a clear error.

    Keras itself says "File not found" for an existing file that is not a
    readable zip. Here a truncated or corrupt file is named as such, every
    member's CRC is checked, and members whose names would land outside an
    extraction folder (`../x`, `/etc/x`) are refused.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such .keras file. Check the path (model.save(path) "
            "writes one)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            broken = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise _corrupt(path, f"not a readable zip archive ({error})") from None
    if broken is not None:
        raise _corrupt(path, f"member {broken!r} fails its CRC check")
    unsafe = [name for name in names if _unsafe_member(name)]
    if unsafe:
        raise ValueError(
            f"{path}: refusing to load, its members {unsafe[:3]} would land "
            "outside the folder they are extracted to. Only load .keras files "
            "from sources you trust."
        )
    missing = [name for name in KERAS_FILE_MEMBERS if name not in names]
    if missing:
        raise _corrupt(path, f"it lacks {missing}")


def load_model(filepath, custom_objects=None, compile=True):
    """Load a `.keras` file of any keras_electra model, in Keras' safe mode.

    As `keras.saving.load_model(filepath, safe_mode=True)` (no lambda or
    other code is deserialised), after checking that the file is a complete
    `.keras` archive: a truncated or corrupt file gets an error that says
    so, where Keras reports "File not found".

    Args:
        filepath: path of the `.keras` file.
        custom_objects: optional dict of extra classes or functions.
        compile: whether to compile the model as it was saved.

    Example:
    ```python
    classifier.save("reviews.keras")
    restored = keras_electra.load_model("reviews.keras")
    ```
    """
    check_keras_file(filepath)
    return keras.saving.load_model(
        filepath, custom_objects=custom_objects, compile=compile,
        safe_mode=True,
    )
