"""Write a folder or a file completely or not at all.

Every writer of keras_electra (presets, conversion, `export_for_serving`,
the pre-training scripts' records) goes through this module. The new
result is written to a hidden temporary sibling of the destination
(`.<name>.tmp-<pid>-*`, on the same file system) and renamed into place, so a
reader sees the old result or the new one, never a mixture, and a killed
writer leaves only that hidden sibling behind (removed by the next writer of
the same destination once its process is gone).
"""

import contextlib
import contextvars
import ctypes
import ctypes.util
import os
import shutil
import tempfile

# Staging folders of the writes in progress in this context: a writer asked
# to save into one of them (a task saving its backbone into the task's
# staging folder) writes directly, the outer write commits it all at once.
_staging = contextvars.ContextVar("keras_electra_staging", default=())


def in_staging(path):
    """Whether `path` lies inside a folder that `atomic_dir` is writing."""
    path = os.path.abspath(os.fspath(path))
    return any(
        path == folder or path.startswith(folder + os.sep)
        for folder in _staging.get()
    )


@contextlib.contextmanager
def atomic_dir(dest, overwrite=False, merge=False):
    """Yield a temporary folder that becomes `dest` only if the block succeeds.

    The temporary folder is a sibling of `dest` (same file system), so the
    final step is a rename: a reader never sees a half-written `dest`, and a
    failure (or a killed process) leaves `dest` as it was.

    Args:
        dest: the folder to write.
        overwrite: replace an existing `dest` (with `merge`: replace the
            files of `dest` that the block writes again). Without it an
            existing `dest` is an error, checked before the block runs.
        merge: keep the files of an existing `dest` that the block does not
            write (a tokenizer saved into a backbone's preset folder); only
            files written again count as overwriting.
    """
    dest = os.path.abspath(os.fspath(dest))
    if not overwrite and os.path.lexists(dest) and not (
        merge and os.path.isdir(dest)
    ):
        raise FileExistsError(
            f"{dest} already exists; pass overwrite=True (CLI: --overwrite) "
            "to replace it."
        )
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    _remove_abandoned(dest)
    tmp = _sibling(dest, "tmp")
    token = _staging.set(_staging.get() + (tmp,))
    try:
        try:
            yield tmp
        finally:
            _staging.reset(token)
        if merge and os.path.isdir(dest):
            _merge_into(dest, tmp, overwrite)
        else:
            _commit(tmp, dest, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(dest, overwrite=False, mode="w", **open_kwargs):
    """Yield an open temporary file that becomes `dest` if the block succeeds.

    Args:
        dest: the file to write.
        overwrite: replace an existing `dest`; without it an existing `dest`
            is an error.
        mode, **open_kwargs: passed to `open` (`"w"` or `"wb"`).
    """
    dest = os.path.abspath(os.fspath(dest))
    if os.path.lexists(dest) and not overwrite:
        raise FileExistsError(
            f"{dest} already exists; pass overwrite=True to replace it."
        )
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    _remove_abandoned(dest)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(dest, "tmp"),
                               dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, dest)
        else:
            # A link fails if `dest` appeared meanwhile; a rename would not.
            os.link(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def append_record(path, record_line, key=None):
    """Append one line to a records file by rewriting it atomically.

    A killed writer leaves the file with all its old lines or all its new
    ones, never half a line. With `key` (a function of a line), a line whose
    key is already in the file replaces that line instead (an epoch logged
    again after a restart from a backup).
    """
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
    if key is not None:
        lines = [line for line in lines if key(line) != key(record_line)]
    lines.append(record_line)
    with atomic_file(path, overwrite=True, encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def _prefix(dest, kind):
    return f".{os.path.basename(dest)}.{kind}-{os.getpid()}-"


def _sibling(dest, kind):
    return tempfile.mkdtemp(prefix=_prefix(dest, kind),
                            dir=os.path.dirname(dest))


def _remove_abandoned(dest):
    """Remove the temporary siblings of `dest` left by killed writers."""
    parent, name = os.path.split(dest)
    for entry in os.listdir(parent):
        for kind in ("tmp", "old"):
            head = f".{name}.{kind}-"
            if not entry.startswith(head):
                continue
            pid = entry[len(head):].split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                path = os.path.join(parent, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(path)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _commit(tmp, dest, overwrite):
    if os.path.lexists(dest) and overwrite:
        _swap(tmp, dest)
        # `tmp` now holds the old result.
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        # Fails if a non-empty `dest` appeared meanwhile (another writer).
        os.rename(tmp, dest)


def _merge_into(dest, tmp, overwrite):
    """Replace `dest` by its files plus those of `tmp`, in one rename."""
    written = sorted(_files(tmp))
    existing = [rel for rel in written
                if os.path.lexists(os.path.join(dest, rel))]
    if existing and not overwrite:
        raise FileExistsError(
            f"{dest} already holds {', '.join(existing)}; pass "
            "overwrite=True to replace them (or save to a new folder)."
        )
    if not os.listdir(dest):
        _commit(tmp, dest, overwrite=True)
        return
    merged = _sibling(dest, "tmp")
    try:
        # Hard links: the old files are shared, not copied, and replacing
        # one in `merged` leaves `dest`'s untouched.
        shutil.copytree(dest, merged, symlinks=True, dirs_exist_ok=True,
                        copy_function=_link_or_copy)
        for rel in written:
            target = os.path.join(merged, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            os.replace(os.path.join(tmp, rel), target)
        _commit(merged, dest, overwrite=True)
    finally:
        shutil.rmtree(merged, ignore_errors=True)


def _files(folder):
    for root, _, names in os.walk(folder):
        for name in names:
            yield os.path.relpath(os.path.join(root, name), folder)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _swap(new, dest):
    """Exchange `new` and `dest` in one step where the OS can (Linux)."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD,
                           os.fsencode(dest), _RENAME_EXCHANGE)
        if result == 0:
            return
    # Two renames: for an instant `dest` is missing (never half-written);
    # the old result stays in `.<name>.old-*` if the process dies there.
    old = os.path.join(_sibling(dest, "old"), "result")
    os.rename(dest, old)
    os.rename(new, dest)
    os.rename(old, new)
    os.rmdir(os.path.dirname(old))


def _renameat2():
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    function = getattr(ctypes.CDLL(path, use_errno=True), "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                             ctypes.c_char_p, ctypes.c_uint]
        function.restype = ctypes.c_int
    return function
