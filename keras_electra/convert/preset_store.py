"""Turn any preset handle into a local keras_electra preset folder.

Handles:
- our preset names (`electra_small_discriminator_uncased_en`, ...), looked
  up in keras_electra's own table (never in keras-hub's global registry,
  which owns the same names for its own backbone);
- `hf://owner/name[@revision]`: downloaded with huggingface_hub, converted
  once, and cached under `$KERAS_ELECTRA_CACHE` (default
  `~/.cache/keras_electra`); later loads use the cache with no network;
- local folders: HF transformers checkpoints, Google TF1 checkpoints,
  keras-hub `ElectraBackbone` presets (and `kaggle://` handles), which are
  converted into a temporary keras preset; keras_electra presets are used
  as they are.
"""

import contextlib
import difflib
import json
import os
import shutil
import tempfile

import keras

from keras_electra.convert.atomic_dir import atomic_dir
from keras_electra.convert.checkpoint import DEFAULT_VOCAB
from keras_electra.convert.checkpoint import read_vocab_file
from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
from keras_electra.convert.keras_model import build_model
from keras_electra.convert.keras_model import electra_class
from keras_electra.convert.sources import HF_PREFIX
from keras_electra.convert.sources import KERAS_ELECTRA
from keras_electra.convert.sources import KAGGLE_PREFIX
from keras_electra.convert.sources import read_checkpoint
from keras_electra.convert.sources import source_kind
from keras_electra.convert.tensor_files import CheckpointError
from keras_electra.convert.tensor_files import weight_file
from keras_electra.presets.bundled_presets import bundled_presets
from keras_electra.presets.electra_presets import backbone_presets

GENERATOR_FOLDER = "generator"
CACHE_ENV = "KERAS_ELECTRA_CACHE"
# Files worth downloading from an HF repo: configs, vocabularies, safetensors
# weights, and keras presets' files. Not tf_model.h5, flax, onnx, ...
HF_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.weights.h5",
               "assets/**"]
HF_PICKLE_PATTERNS = ["pytorch_model*.bin", "pytorch_model.bin.index.json"]


class PresetUnavailableError(FileNotFoundError):
    """A preset needs a download, and neither the hub nor a cache has it."""


def cache_dir():
    """Where converted presets are cached: `$KERAS_ELECTRA_CACHE` or
    `~/.cache/keras_electra`."""
    path = os.environ.get(CACHE_ENV)
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        path = os.path.join(base, "keras_electra")
    return path


def parse_hf_handle(handle):
    """`hf://owner/name[@revision]` -> `(repo_id, revision or None)`."""
    repo = handle[len(HF_PREFIX):].strip("/")
    repo, _, revision = repo.partition("@")
    if repo.count("/") > 1 or not repo:
        raise ValueError(
            f"Hugging Face handles have the form 'hf://owner/name' (optionally "
            f"'@revision'); received {handle!r}."
        )
    return repo, revision or None


def cached_hf_path(handle):
    repo, revision = parse_hf_handle(handle)
    name = repo.replace("/", "--") + (f"@{revision}" if revision else "")
    return os.path.join(cache_dir(), "hf", name)


def _offline():
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get(
        "TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in ("1", "on", "yes", "true")


def _unavailable(handle, repo, reason):
    return PresetUnavailableError(
        f"Cannot load '{handle}': it is not in the keras_electra cache "
        f"({cached_hf_path(handle)}) and downloading it failed ({reason}).\n"
        "To load it without a network, get the checkpoint folder on a machine "
        f"that has one (`hf download {repo} --local-dir DIR`, or "
        f"`git clone https://huggingface.co/{repo}`), copy it here and pass "
        "the folder: `from_preset('DIR')`; or convert it once with "
        "`keras-electra convert DIR DEST` and pass DEST. Point "
        f"${CACHE_ENV} at a folder holding converted presets to reuse them."
    )


def _hf_cache_dir():
    """huggingface_hub's cache, from the environment as it is now."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None  # huggingface_hub's default.


def download_hf(handle):
    """The local snapshot folder of an `hf://` repo (huggingface_hub cache)."""
    import huggingface_hub

    repo, revision = parse_hf_handle(handle)
    kwargs = dict(
        repo_id=repo,
        revision=revision,
        # Read at call time so that HF_ENDPOINT / HF_HUB_OFFLINE / HF_HOME
        # set after huggingface_hub was imported still count.
        endpoint=os.environ.get("HF_ENDPOINT") or None,
        cache_dir=_hf_cache_dir(),
        local_files_only=_offline(),
    )
    try:
        folder = huggingface_hub.snapshot_download(
            allow_patterns=HF_PATTERNS, **kwargs
        )
        if weight_file(folder) is None and not os.path.exists(
            os.path.join(folder, "model.weights.h5")
        ):
            folder = huggingface_hub.snapshot_download(
                allow_patterns=HF_PATTERNS + HF_PICKLE_PATTERNS, **kwargs
            )
    except Exception as e:  # No network, offline mode, 404, auth, ...
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        raise _unavailable(handle, repo, reason) from None
    if not kwargs["local_files_only"]:
        verify_download(handle, folder, kwargs["endpoint"])
    return folder


def verify_download(handle, folder, endpoint=None):
    """Every downloaded file of `folder` (a snapshot of `handle`) has the
    hash the hub lists for it: the LFS sha256 of weight files, git's blob
    sha1 of the others. A mismatching file is removed from huggingface_hub's
    cache, so that the next try downloads it again."""
    import huggingface_hub

    repo, _ = parse_hf_handle(handle)
    result = huggingface_hub.HfApi(endpoint=endpoint).verify_repo_checksums(
        repo, revision=os.path.basename(folder), local_dir=folder
    )
    if not result.mismatches:
        return
    for mismatch in result.mismatches:
        path = os.path.join(folder, mismatch["path"])
        blob = os.path.realpath(path)
        for name in {path, blob}:
            if os.path.lexists(name):
                os.remove(name)
    first = result.mismatches[0]
    raise CheckpointError(
        f"{handle}: downloaded {first['path']} does not match the "
        f"{first['algorithm']} the hub lists for it (expected "
        f"{first['expected']}, got {first['actual']}; "
        f"{len(result.mismatches)} file(s) differ). The download was "
        "corrupted or altered on the way; the file was removed from the "
        "Hugging Face cache, so loading again downloads it afresh."
    )


def write_keras_preset(model, tokenizer, dest, overwrite=False):
    """Save a backbone or task (and tokenizer) as a keras preset folder."""
    with atomic_dir(dest, overwrite=overwrite) as tmp:
        model.save_to_preset(tmp)
        is_task = hasattr(model, "backbone")
        if tokenizer is not None and (
            not is_task or getattr(model, "preprocessor", None) is None
        ):
            tokenizer.save_to_preset(tmp)
    return os.path.abspath(os.fspath(dest))


def convert_checkpoint(source, dest, task=None, overwrite=False,
                       part="discriminator", num_heads=None,
                       allow_pickle=True):
    """Convert any supported checkpoint into a keras_electra preset folder.

    Args:
        source: an HF transformers folder, a Google TF1 checkpoint (prefix or
            folder), a keras-hub ElectraBackbone preset or `kaggle://` handle.
        dest: the keras preset folder to write (complete or not at all).
        task: keras_electra task class name to build; `None` follows the
            checkpoint's HF `architectures` (a backbone for `ElectraModel`).
        overwrite: replace an existing `dest`.
        part: for TF1 pre-training checkpoints, `"discriminator"` or
            `"generator"`.
        num_heads: for TF1 checkpoints (heads are not visible in shapes);
            defaults to `hidden_size // 64` like Google's code.
        allow_pickle: accept `pytorch_model.bin` (read with
            `torch.load(weights_only=True)`); `False` requires safetensors.

    Returns:
        `(model, checkpoint)`: the converted model and the source
        `Checkpoint` (its `notes` list anything worth telling the user).
    """
    if os.path.exists(os.fspath(dest)) and not overwrite:
        raise FileExistsError(
            f"{os.path.abspath(dest)} already exists; pass overwrite=True "
            "(CLI: --overwrite) to replace it."
        )
    checkpoint = read_checkpoint(source, part=part, num_heads=num_heads,
                                 allow_pickle=allow_pickle)
    model, tokenizer = build_model(checkpoint, task=task)
    write_keras_preset(model, tokenizer, dest, overwrite=overwrite)
    return model, checkpoint


def cached_hf_preset(handle):
    """The cached converted preset of an `hf://` handle, made on first use."""
    dest = cached_hf_path(handle)
    if os.path.isdir(dest):
        return dest
    folder = download_hf(handle)
    if source_kind(folder) == KERAS_ELECTRA:
        return folder
    try:
        convert_checkpoint(folder, dest)
    except OSError:
        if not os.path.isdir(dest):
            raise
        # Another process cached it first; the rename makes it complete.
    return dest


def _serialized_backbone(config):
    kwargs = backbone_kwargs_from_hf_config(config)
    kwargs["activation"] = keras.activations.serialize(
        keras.activations.get(kwargs["activation"])
    )
    return {
        "module": "keras_electra.models.electra_backbone",
        "class_name": "ElectraBackbone",
        "config": {"name": "electra_backbone", "trainable": True, **kwargs},
        "registered_name": "keras_electra>ElectraBackbone",
    }


def write_architecture_preset(name, dest):
    """A weightless preset (config and tokenizer) of a named preset."""
    preset = backbone_presets[name]
    with open(os.path.join(dest, "config.json"), "w") as f:
        json.dump(_serialized_backbone(preset["config"]), f, indent=4)
    vocabulary = read_vocab_file(
        os.path.join(os.path.dirname(DEFAULT_VOCAB), preset["vocabulary"])
    )
    tokenizer = electra_class("ElectraTokenizer")(
        vocabulary=vocabulary, lowercase=preset["lowercase"]
    )
    tokenizer.save_to_preset(dest)


def _looks_like_path(handle):
    return (
        os.sep in handle
        or "/" in handle
        or handle.startswith((".", "~"))
        or os.path.isabs(handle)
    )


def missing_folder_error(handle):
    """A local preset path that does not exist, with close names beside it."""
    path = os.path.abspath(os.path.expanduser(handle))
    parent, name = os.path.split(path.rstrip(os.sep))
    if not os.path.isdir(parent):
        return FileNotFoundError(
            f"Preset folder {handle!r} does not exist, nor does its parent "
            f"folder {parent}. Check the path."
        )
    close = difflib.get_close_matches(name, os.listdir(parent), n=3,
                                      cutoff=0.6)
    hint = (
        f" Close names in {parent}: {', '.join(close)}." if close
        else f" {parent} holds nothing with a similar name."
    )
    return FileNotFoundError(
        f"Preset folder {handle!r} does not exist ({path}).{hint} Check the "
        "path."
    )


def unknown_preset_error(handle):
    names = sorted({**backbone_presets, **bundled_presets})
    close = difflib.get_close_matches(handle, names, n=3, cutoff=0.8)
    if close:
        return ValueError(
            f"Unknown preset {handle!r}. Did you mean "
            f"{' or '.join(repr(name) for name in close)}? "
            "`keras_electra.list_presets()` lists every preset name."
        )
    if _looks_like_path(handle):
        return missing_folder_error(handle)
    return ValueError(
        f"Unknown preset {handle!r}. keras_electra accepts: a preset name "
        f"({', '.join(names)}); "
        "'hf://owner/name'; a local "
        "folder holding a Hugging Face transformers ELECTRA checkpoint, a "
        "Google TF1 checkpoint (or its model.ckpt-N prefix), a keras-hub "
        "ElectraBackbone preset or a keras_electra preset; or a "
        "'kaggle://keras/electra/keras/...' handle."
    )


# File -> what it holds, for the message about an incomplete preset.
PRESET_FILES = {
    "config.json": "the backbone's config",
    "model.weights.h5": "the backbone's weights",
    "tokenizer.json": "the tokenizer's config",
    "assets/tokenizer/vocabulary.txt": "the vocabulary",
    "task.weights.h5": "the task head's weights",
}


def _required_files(path, load_weights):
    def has(name):
        return os.path.isfile(os.path.join(path, name))

    required = ["config.json"]
    if load_weights and not has("model.weights.json"):  # Sharded weights.
        required.append("model.weights.h5")
    if has("preprocessor.json") or has("assets/tokenizer/vocabulary.txt"):
        required.append("tokenizer.json")
    if has("tokenizer.json"):
        required.append("assets/tokenizer/vocabulary.txt")
    if load_weights and has("task.json"):
        required.append("task.weights.h5")
    return [name for name in required if not has(name)]


def check_complete_preset(path, load_weights=True):
    """A keras_electra preset folder holds every file its loader reads."""
    missing = _required_files(path, load_weights)
    if missing:
        what = ", ".join(f"{name} ({PRESET_FILES[name]})" for name in missing)
        raise FileNotFoundError(
            f"Preset folder {path} is incomplete: it lacks {what}. Copy the "
            "missing files from where the preset came from, or save it again "
            "with save_to_preset(); load_weights=False builds the model "
            "without weight files."
        )


def _part_folder(path, part):
    """A pre-training preset keeps its generator in `generator/` beside the
    discriminator; generator tasks load that one."""
    generator = os.path.join(path, GENERATOR_FOLDER)
    if part == "generator" and os.path.isfile(
        os.path.join(generator, "config.json")
    ):
        return generator
    return path


@contextlib.contextmanager
def resolved_preset(handle, load_weights=True, part="discriminator",
                    num_heads=None, allow_pickle=True):
    """Yield a local keras_electra preset folder for any preset handle.

    Named presets and `hf://` handles resolve to the cache (converted on
    first use); local checkpoints in other formats are converted into a
    temporary folder that is deleted when the block ends.
    """
    if not isinstance(handle, (str, os.PathLike)):
        raise TypeError(
            f"A preset must be a string or path; received {type(handle)}."
        )
    handle = os.fspath(handle)
    temporary = None
    try:
        if handle in bundled_presets:
            path = bundled_presets[handle]["path"]
        elif handle in backbone_presets:
            hf_handle = backbone_presets[handle]["hf_handle"]
            if load_weights:
                path = cached_hf_preset(hf_handle)
            elif os.path.isdir(cached_hf_path(hf_handle)):
                path = cached_hf_path(hf_handle)
            else:
                temporary = path = tempfile.mkdtemp(prefix="keras_electra-")
                write_architecture_preset(handle, path)
        elif handle.startswith(HF_PREFIX):
            path = cached_hf_preset(handle)
        elif handle.startswith(KAGGLE_PREFIX) or os.path.exists(handle) or (
            os.path.exists(handle + ".index")
        ):
            if source_kind(handle) == KERAS_ELECTRA:
                path = handle
            else:
                temporary = tempfile.mkdtemp(prefix="keras_electra-")
                path = os.path.join(temporary, "preset")
                convert_checkpoint(handle, path, part=part,
                                   num_heads=num_heads,
                                   allow_pickle=allow_pickle)
        else:
            raise unknown_preset_error(handle)
        path = _part_folder(path, part)
        if source_kind(path) == KERAS_ELECTRA:
            check_complete_preset(path, load_weights)
        yield path
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
