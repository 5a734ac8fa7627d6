"""Write a folder completely or not at all."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_dir(dest, overwrite=False):
    """Yield a temporary folder that becomes `dest` only if the block succeeds.

    The temporary folder is a sibling of `dest` (same file system), so the
    final step is a rename: a reader never sees a half-written `dest`, and a
    failure leaves `dest` as it was. An existing `dest` is an error unless
    `overwrite=True`.
    """
    dest = os.path.abspath(os.fspath(dest))
    if os.path.exists(dest) and not overwrite:
        raise FileExistsError(
            f"{dest} already exists; pass overwrite=True (CLI: --overwrite) "
            "to replace it."
        )
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.tmp-", dir=parent)
    try:
        yield tmp
        old = None
        if os.path.exists(dest):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.old-",
                                   dir=parent)
            os.rename(dest, os.path.join(old, "x"))
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
