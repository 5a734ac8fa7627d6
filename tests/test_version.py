"""`keras_electra.__version__` is pyproject.toml's version."""

import importlib.metadata
import pathlib
import tomllib

import keras_electra
from keras_electra import _version

PYPROJECT = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"


def declared_version():
    with open(PYPROJECT, "rb") as f:
        return tomllib.load(f)["project"]["version"]


def test_version_is_pyproject_s():
    assert keras_electra.__version__ == declared_version()
    assert keras_electra.__version__ == importlib.metadata.version(
        "keras-electra")


def test_source_checkout_without_metadata_reads_pyproject(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert _version.package_version() == declared_version()


def test_pyproject_parsing(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[build-system]\nversion = "9"\n\n[project]\nname = "keras-electra"\n'
        'version = "1.2.3rc1"\n\n[tool.x]\nversion = "7"\n')
    assert _version.version_from_pyproject(path) == "1.2.3rc1"
    path.write_text('[project]\nname = "other"\nversion = "1.0"\n')
    assert _version.version_from_pyproject(path) is None
    assert _version.version_from_pyproject(tmp_path / "missing.toml") is None
