"""Reading and writing weight files: safetensors (plain and sharded), `.bin`.

The safetensors reader parses the format itself (an 8-byte header length, a
JSON header, then raw little-endian data) so that a truncated or corrupt
file gives an error naming the file and the tensor, and so that bfloat16 and
float16 tensors load without a deep learning framework. PyTorch `.bin` files
are read only through `torch.load(weights_only=True)`, which refuses to run
arbitrary pickled code.
"""

import json
import os

import numpy as np

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PYTORCH_FILE = "pytorch_model.bin"
PYTORCH_INDEX_FILE = "pytorch_model.bin.index.json"

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
# Headers above this size are not safetensors files (the format caps them).
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or of the wrong kind."""


def _looks_like_pickle(head):
    # A torch.save zip archive, or a raw pickle (0x80, protocol 2 to 5).
    return head.startswith(b"PK\x03\x04") or (
        head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    )


def read_safetensors(path):
    """The tensors of one `.safetensors` file as a name -> numpy array dict."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
        # A safetensors header is JSON, so byte 8 is "{".
        if head[8:9] != b"{" and _looks_like_pickle(head):
            raise CheckpointError(
                f"{path}: this is a pickle (PyTorch `torch.save` output), not "
                "a safetensors file. Pickles can run code when loaded; "
                "re-save it with transformers' `save_pretrained()` (which "
                "writes safetensors) or name it pytorch_model.bin."
            )
        if len(head) < 9:
            raise CheckpointError(
                f"{path}: file is {size} bytes, too short for a safetensors "
                "header (truncated download?)."
            )
        f.seek(8)
        head = head[:8]
        header_len = int.from_bytes(head, "little")
        if header_len > min(_MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(
                f"{path}: header length {header_len} does not fit in the "
                f"{size}-byte file; the file is truncated or not safetensors."
            )
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(
                f"{path}: the safetensors header is not valid JSON ({e}); "
                "the file is corrupt."
            ) from None
    header.pop("__metadata__", None)
    data_start = 8 + header_len
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start,
                     shape=(size - data_start,)) if size > data_start else None
    return {
        name: _safetensor(path, name, info, data, size - data_start)
        for name, info in header.items()
    }


def _safetensor(path, name, info, data, data_size):
    try:
        dtype, shape = info["dtype"], tuple(info["shape"])
        begin, end = info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"{path}: tensor '{name}' has a malformed header entry {info!r}."
        ) from None
    if end > data_size or begin > end:
        raise CheckpointError(
            f"{path}: tensor '{name}' needs bytes [{begin}, {end}) but the "
            f"file holds {data_size} data bytes; the file is truncated."
        )
    if dtype == "BF16":
        itemsize = 2
    elif dtype in _DTYPES:
        itemsize = np.dtype(_DTYPES[dtype]).itemsize
    else:
        raise CheckpointError(
            f"{path}: tensor '{name}' has unsupported dtype {dtype}."
        )
    if end - begin != int(np.prod(shape)) * itemsize:
        raise CheckpointError(
            f"{path}: tensor '{name}' declares {dtype} shape {shape} but "
            f"holds {end - begin} bytes; the file is corrupt."
        )
    raw = data[begin:end] if data is not None else np.zeros(0, np.uint8)
    if dtype == "BF16":
        # bfloat16 is the upper half of a float32.
        array = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        array = raw.view(np.dtype(_DTYPES[dtype]).newbyteorder("<"))
    return array.reshape(shape)


def read_torch_bin(path):
    """The tensors of a PyTorch `.bin` state dict, loaded without pickle code."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path}: reading PyTorch `.bin` checkpoints needs torch "
            "(`pip install torch`); safetensors checkpoints do not."
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for bad archives.
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch state dict with "
            f"weights_only=True ({type(e).__name__}: {str(e)[:300]}). The "
            "file is truncated, corrupt, or holds objects other than tensors."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: holds a {type(state).__name__}, expected a state dict "
            "(tensor name -> tensor)."
        )
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path}: entry '{name}' is a {type(value).__name__}, not a "
                "tensor."
            )
        if value.dtype == torch.bfloat16:
            value = value.float()
        tensors[name] = value.detach().cpu().numpy()
    return tensors


def inside_folder(folder, path):
    """Whether `path` names a file inside `folder` (no `..` or absolute
    name leading out; links are not followed, since huggingface_hub's
    snapshot folders hold links into its blob store)."""
    folder = os.path.abspath(folder)
    return os.path.commonpath([folder, os.path.abspath(path)]) == folder


def _read_index(folder, index_file, read_one):
    index_path = os.path.join(folder, index_file)
    try:
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{index_path}: not a valid shard index ({e!r}); expected JSON "
            "with a 'weight_map' of tensor name -> shard file."
        ) from None
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = os.path.join(folder, shard)
        if not inside_folder(folder, shard_path):
            raise CheckpointError(
                f"{index_path}: shard {shard!r} lies outside {folder}; "
                "refusing to read it. Shard names must be files inside the "
                "checkpoint folder."
            )
        if not os.path.exists(shard_path):
            raise CheckpointError(
                f"{index_path}: shard '{shard}' is listed but missing from "
                f"{folder}."
            )
        shard_tensors = read_one(shard_path)
        for name, file in weight_map.items():
            if file == shard and name not in shard_tensors:
                raise CheckpointError(
                    f"{shard_path}: tensor '{name}' is listed in "
                    f"{index_file} but absent from the shard."
                )
        tensors.update(shard_tensors)
    return tensors, index_path


def weight_file(folder):
    """The weight file (or shard index) of an HF checkpoint folder, or None."""
    for name in (SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, PYTORCH_FILE,
                 PYTORCH_INDEX_FILE):
        if os.path.exists(os.path.join(folder, name)):
            return name
    return None


def read_hf_weights(folder, allow_pickle=True):
    """`(tensors, path)` of an HF checkpoint folder, safetensors first.

    With `allow_pickle=False` a folder that only has `pytorch_model.bin` is
    refused.
    """
    name = weight_file(folder)
    if name is None:
        raise CheckpointError(
            f"{folder}: no weights found; expected {SAFETENSORS_FILE}, "
            f"{SAFETENSORS_INDEX_FILE} (sharded) or {PYTORCH_FILE}."
        )
    if name.startswith("pytorch") and not allow_pickle:
        raise CheckpointError(
            f"{folder}: only {name} (a pickle) is present and safetensors "
            "was required; convert it with `save_pretrained("
            "safe_serialization=True)` first."
        )
    path = os.path.join(folder, name)
    if name == SAFETENSORS_FILE:
        return read_safetensors(path), path
    if name == SAFETENSORS_INDEX_FILE:
        return _read_index(folder, name, read_safetensors)
    if name == PYTORCH_FILE:
        return read_torch_bin(path), path
    return _read_index(folder, name, read_torch_bin)


def write_safetensors(tensors, path):
    """Write a name -> numpy array dict as a PyTorch-flavoured safetensors."""
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, path, metadata={"format": "pt"})
