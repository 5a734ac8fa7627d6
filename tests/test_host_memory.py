"""`keep_freed_memory`: XLA's temporary buffers stop faulting in each call.

The settings change `malloc` for a whole process, for good, so each case
runs in a fresh Python process.
"""

import json
import subprocess
import sys

import pytest

import keras_electra
from keras_electra import host_memory

# A jitted function whose XLA temporary buffer (`sin(x)`, a 128 MiB input
# to a product) is far above what glibc maps afresh; prints the minor page
# faults of each of 16 calls, and any warnings.
PROBE = """
import json, os, resource, sys, warnings
os.environ["JAX_PLATFORMS"] = "cpu"
when = sys.argv[1]
if when == "command":  # what `keras-electra finetune` / `pretrain` do
    os.environ["KERAS_BACKEND"] = "jax"
    from keras_electra_cli._runtime import keep_freed_memory_on_jax_cpu
    keep_freed_memory_on_jax_cpu()
from keras_electra.host_memory import keep_freed_memory
if when == "before":
    keep_freed_memory()
import jax, jax.numpy as jnp
f = jax.jit(lambda x: (jnp.sin(x) @ jnp.ones((4096, 8))).sum())
x = jnp.ones((8192, 4096), "float32")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if when == "after":
        f(x).block_until_ready()
        keep_freed_memory()
faults = []
for _ in range(16):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
print(json.dumps({"faults": faults,
                  "warnings": [str(w.message) for w in caught]}))
"""
BUFFER_PAGES = 8192 * 4096 * 4 // 4096


def buffer_faults():
    """Page faults that mapping the buffer afresh costs: one per 4 KiB
    page, or per 2 MiB where the kernel gives every mapping huge pages."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            always = "[always]" in f.read()
    except OSError:
        always = False
    return BUFFER_PAGES // 512 if always else BUFFER_PAGES


def probe(when):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, when],
        capture_output=True, text=True, timeout=300, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    host_memory.platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_buffer_is_reused_when_called_first():
    plain, kept, late = probe("never"), probe("before"), probe("after")
    faults = buffer_faults()

    # Without it every call maps the buffer afresh.
    assert min(plain["faults"][1:]) >= faults // 2
    # With it the buffer is reused once the heap settles: small allocations
    # between calls may split the freed buffer at first (up to 9 calls in
    # 20 runs of this probe).
    assert min(kept["faults"][1:]) < faults // 20
    assert kept["warnings"] == []
    # Too late: XLA's threads already allocate from heaps of their own.
    assert min(late["faults"][1:]) >= faults // 2
    assert any("before building a model" in w for w in late["warnings"])


@pytest.mark.skipif(
    host_memory.platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_training_commands_keep_freed_memory_on_jax():
    kept = probe("command")
    assert min(kept["faults"][1:]) < buffer_faults() // 20
    assert kept["warnings"] == []


def test_does_nothing_without_glibc(monkeypatch):
    monkeypatch.setattr(
        host_memory.platform, "libc_ver", lambda: ("musl", "1.2")
    )
    monkeypatch.setattr(
        host_memory.ctypes, "CDLL",
        lambda name: pytest.fail("mallopt called outside glibc"),
    )
    assert keras_electra.keep_freed_memory() is False
