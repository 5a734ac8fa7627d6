"""`keras_electra.__version__`: the installed distribution's version.

pyproject.toml is the one place the version is written; installing the
package (`pip install`, also `-e`) records it in the distribution metadata,
which is read here. A source checkout used without installing (on
`PYTHONPATH`) has no metadata, so the version is read from the checkout's
pyproject.toml instead.
"""

import importlib.metadata
import os
import re

DISTRIBUTION = "keras-electra"
UNKNOWN = "0+unknown"


def version_from_pyproject(path):
    """The `[project]` version in the pyproject.toml at `path`, or None.

    A regular expression rather than `tomllib`, which Python 3.10 lacks.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if project is None:
        return None
    name = re.search(r'^name\s*=\s*"([^"]*)"', project.group(1), re.M)
    version = re.search(r'^version\s*=\s*"([^"]*)"', project.group(1), re.M)
    if name is None or version is None or name.group(1) != DISTRIBUTION:
        return None
    return version.group(1)


def package_version():
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        here = os.path.dirname(os.path.abspath(__file__))
        pyproject = os.path.join(os.path.dirname(here), "pyproject.toml")
        return version_from_pyproject(pyproject) or UNKNOWN


__version__ = package_version()
