"""Forward throughput and latency: `ElectraBackbone` vs HF `ElectraModel`.

Same architecture (ELECTRA-Small by default: vocabulary 30522, embedding 128,
hidden 256, 12 layers, 4 heads, intermediate 1024), same random weights
(HF's own initialisation, copied into Keras with
`keras_electra.convert.hf_heads.load_hf_tensors`) and the same integer batch
for every variant. Each variant runs in its own process:

- `hf-torch`: `transformers.ElectraModel` in eval mode under
  `torch.no_grad()`, inputs as pre-built torch tensors.
- `keras-<backend>`: `backbone.predict_on_batch(numpy inputs)`, as a Keras
  user calls it. With the defaults that is a `tf.function` compiled with XLA
  on tensorflow (keras_electra's `XlaPredictMixin`; Keras itself leaves XLA
  off on CPU-only TensorFlow), a `jax.jit`-compiled step on jax and eager
  PyTorch (no `torch.compile`) on torch.

- `keras-hub-<backend>`: keras-hub's own `keras_hub.models.ElectraBackbone`
  with the same weights (mapped from the HF tensors; its random pooler is
  left as it is and not part of the output), `predict_on_batch`, output
  `sequence_output`. keras-hub uses tanh-approximate GELU, so its outputs
  differ from HF's by that approximation; to check the weight mapping, each
  keras-hub child also runs once with exact GELU (column "exact-GELU diff").

Cases (`--cases`): `CONFIG/BATCHxLENGTH` with CONFIG `small` (ELECTRA-Small:
vocabulary 30522, E=128, H=256, 12 layers, 4 heads, I=1024), `base`
(ELECTRA-Base: E=H=768, 12 layers, 12 heads, I=3072) or `tiny` (for smoke
tests); a bare `BATCHxLENGTH` means `small`. `--layers` overrides the depth
of every config.

Peak and achieved FLOP rates: every child also times a large fp32 matmul
(`--peak-size`, square) in its own framework (`torch.mm`, `tf.matmul`,
`jax.numpy.matmul`), one child at a time after the rounds. The forward's
FLOPs are counted analytically (a multiply-add = 2 FLOPs; all positions,
padding included, since all are computed; elementwise work such as
softmax, LayerNorm, GELU and bias adds is left out):

    T = B * L tokens, N layers, E embedding, H hidden, I intermediate
    FLOPs = 2*T*E*H [only if E != H: embedding projection]
          + N * (8*T*H^2        Q, K, V and attention-output projections
                 + 4*T*H*I      feed-forward in and out
                 + 4*B*L^2*H)   scores Q K^T and weights x V

The tables give GFLOP per CPU-second (FLOPs / CPU time per call; robust to
load) and per wall-second, and the CPU figure as % of the same child's
matmul peak (also per CPU-second).

bfloat16 variants (not in the default list): `hf-torch-bf16`
(`model.to(torch.bfloat16)`), `keras-<backend>-bf16` (the backbone built
with `dtype="bfloat16"`, HF's float32 weights cast on assignment) and
`keras-hub-<backend>-bf16` (keras-hub's, likewise). Their
outputs are cast to float32 before the comparison with `hf-torch`, so their
"max abs diff vs HF" is bfloat16's rounding. Their matmul peak is timed in
bfloat16 as well (on a CPU with AMX, PyTorch's bfloat16 matmul is several
times its float32 one).

Extra variants for investigation (not in the default list):
`keras-tensorflow-xla` (`compile(jit_compile=True)`), `keras-tensorflow-graph`
(`compile(jit_compile=False)`: a `tf.function` without XLA, Keras' own
choice on CPU-only TensorFlow), `keras-torch-compile`
(`compile(jit_compile=True)`, i.e. `torch.compile`), `keras-<backend>-call`
(a direct `backbone(inputs, training=False)` under `torch.no_grad()` on
torch-native / backend tensors, no `predict_on_batch`, the output converted
to numpy, which waits for jax's asynchronous dispatch),
`keras-<backend>-nochecks` (the input checks of
`keras_electra/models/input_checks.py` replaced by a no-op) and
`keras-<backend>-loop` (`predict(inputs, batch_size=B, verbose=0)`: the
case's batch through `predict`, as most users call the model; Keras' own
loop before keras_electra's in-memory path, a batch at a time through
`predict_on_batch` since).

`--device gpu` runs HF and the jax and torch backends on the first CUDA GPU
(TensorFlow wherever its build runs: nowhere but the CPU for
`tensorflow-cpu`); every call then ends with the output on the host (HF:
`.cpu()`), and the wall-time columns are the ones that count. Use
`--threads 0` there: one pinned core also slows the host side of a GPU.

Warm-up calls (tracing, compilation) are not timed. Each timed round makes
calls for at least `--round-seconds` seconds; throughput is sequences per
second per round (median and spread over `--repeats` rounds), latency is the
wall time of a single call (median and 90th percentile over all calls).

Run: `python benchmarks/backbone_inference.py [--repeats 3] [--cases small/8x128,base/8x128]`
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SMALL = harness.ELECTRA_SMALL
CONFIGS = harness.ELECTRA_CONFIGS
DEFAULT_CASES = "small/1x32,small/8x128,small/32x128,base/8x128"
DEFAULT_VARIANTS = (
    "hf-torch,keras-tensorflow,keras-jax,keras-torch,keras-hub-tensorflow"
)
HOW_CALLED = {
    "hf-torch": "`model(**inputs)`, eval, `torch.no_grad()`",
    "predict": "`predict_on_batch(numpy)`",
    "xla": "`predict_on_batch`, `compile(jit_compile=True)`",
    "compile": "`predict_on_batch`, `compile(jit_compile=True)`",
    "graph": "`predict_on_batch`, `compile(jit_compile=False)`",
    "call": "`backbone(inputs)` on backend tensors, output to numpy",
    "nochecks": "`predict_on_batch`, input checks disabled",
    "loop": "`predict(numpy, batch_size=B)`",
    "hub": "keras-hub `ElectraBackbone`, `predict_on_batch(numpy)`",
    "hub-bf16": "keras-hub `ElectraBackbone`, `predict_on_batch`, "
    "`dtype=\"bfloat16\"`",
    "bf16": "`predict_on_batch(numpy)`, `dtype=\"bfloat16\"`",
    "hf-torch-bf16": "`model(**inputs)`, eval, `no_grad`, `.to(bfloat16)`",
}


def parse_variant(name):
    """`keras-torch-call` -> ("keras", "torch", "call")."""
    if name in ("hf-torch", "hf-torch-bf16"):
        return "hf", "torch", name
    if name.startswith("keras-hub-"):
        backend, _, dtype = name[len("keras-hub-"):].partition("-")
        if backend not in ("tensorflow", "jax", "torch"):
            raise ValueError(f"unknown backend in variant {name!r}")
        if dtype not in ("", "bf16"):
            raise ValueError(f"unknown dtype in variant {name!r}")
        return "keras", backend, "hub-bf16" if dtype else "hub"
    parts = name.split("-")
    if parts[0] != "keras" or len(parts) not in (2, 3):
        raise ValueError(f"unknown variant {name!r}")
    backend = parts[1]
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(f"unknown backend in variant {name!r}")
    mode = parts[2] if len(parts) == 3 else "predict"
    if mode not in HOW_CALLED:
        raise ValueError(f"unknown mode in variant {name!r}")
    return "keras", backend, mode


def parse_cases(text):
    """`"small/8x128,base/8x128"` -> `[("small", 8, 128), ("base", 8, 128)]`."""
    cases = []
    for item in text.split(","):
        item = item.strip().lower()
        config, _, shape = item.rpartition("/")
        config = config or "small"
        if config not in CONFIGS:
            raise ValueError(f"unknown config {config!r} in case {item!r}")
        batch, length = shape.split("x")
        cases.append((config, int(batch), int(length)))
    return cases


def case_name(case):
    return f"{case[0]}/{case[1]}x{case[2]}"


def forward_flops(config, batch, length):
    """FLOPs of one forward (see the module docstring for the formula)."""
    tokens = batch * length
    e, h = config["embedding_size"], config["hidden_size"]
    i, n = config["intermediate_size"], config["num_hidden_layers"]
    flops = 2 * tokens * e * h if e != h else 0
    per_layer = 8 * tokens * h * h + 4 * tokens * h * i
    per_layer += 4 * batch * length * length * h
    return flops + n * per_layer


def matmul_peak(size, seconds, dtype="float32", device="cpu"):
    """GFLOP/s of a square matmul in this child's framework and dtype.

    `device` is the torch device; jax and TensorFlow use their default one.
    """
    backend = os.environ.get("KERAS_BACKEND", "torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    if backend == "tensorflow":
        import tensorflow as tf

        x, y = tf.cast(a, dtype), tf.cast(b, dtype)
        fn = tf.function(tf.matmul)

        def call():
            fn(x, y).numpy()

    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        x, y = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
        fn = jax.jit(jnp.matmul)
        if dtype == "bfloat16":
            # XLA's CPU backend multiplies bfloat16 with the CPU's bfloat16
            # instructions only for a float32 result (see jax_fast_path).
            fn = jax.jit(lambda x, y: jnp.matmul(
                x, y, preferred_element_type=jnp.float32
            ).astype(dtype))

        def call():
            fn(x, y).block_until_ready()

    else:
        import torch

        x = torch.from_numpy(a).to(device, getattr(torch, dtype))
        y = torch.from_numpy(b).to(device, getattr(torch, dtype))

        def call():
            torch.mm(x, y)
            if device == "cuda":
                torch.cuda.synchronize()

    call()
    result = harness.timed_calls(call, seconds)
    flops = 2 * size**3 * len(result["times"])
    return {
        "size": size,
        "dtype": dtype,
        "gflops_wall": flops / sum(result["times"]) / 1e9,
        "gflops_cpu": flops / result["cpu"] / 1e9 if result["cpu"] else None,
    }


# --------------------------------------------------------------------------
# Workers.
# --------------------------------------------------------------------------


def file_name(case):
    return case.replace("/", "-")


def load_inputs(spec):
    data = np.load(spec["inputs_path"])
    inputs = {}
    for case in spec["cases"]:
        name = case_name(case)
        inputs[name] = {
            key: data[f"{name}/{key}"]
            for key in ("token_ids", "segment_ids", "padding_mask")
        }
    return inputs


def setup_hf(spec):
    import torch
    import transformers

    harness.apply_threads(spec["threads"])
    device = harness.torch_device(spec)
    models = {}
    for key, hf_config in spec["hf_configs"].items():
        config = transformers.ElectraConfig(**hf_config)
        model = transformers.ElectraModel(config).eval()
        if spec["mode"] == "hf-torch-bf16":
            model = model.to(torch.bfloat16)
        state = {
            k: torch.from_numpy(v)
            for k, v in np.load(spec["weights_paths"][key]).items()
        }
        model.load_state_dict(state)
        models[key] = model.to(device)
    inputs = {}
    for name, case in load_inputs(spec).items():
        inputs[name] = {
            key: torch.from_numpy(case[ours]).long().to(device)
            for key, ours in harness.HF_INPUTS.items()
        }

    def forward(name):
        with torch.no_grad():
            out = models[name.split("/")[0]](**inputs[name]).last_hidden_state
        # On a GPU, the copy to the host waits for the forward, as
        # `predict_on_batch`'s numpy result does.
        return out.cpu()

    info = {
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "threads": torch.get_num_threads(),
    }
    return info, forward, lambda out: out.float().numpy()


def load_keras_hub_backbone(hf_config, tensors, dtype=None):
    """keras-hub's `ElectraBackbone` holding HF `ElectraModel` tensors.

    The inverse of `keras_electra.convert.keras_hub_preset.
    hf_tensors_of_keras_hub_backbone`: HF `(out, in)` weights are
    transposed and reshaped into keras-hub's (Einsum)Dense kernels.
    """
    import keras_hub

    backbone = keras_hub.models.ElectraBackbone(
        vocab_size=hf_config["vocab_size"],
        num_layers=hf_config["num_hidden_layers"],
        num_heads=hf_config["num_attention_heads"],
        hidden_dim=hf_config["hidden_size"],
        embedding_dim=hf_config["embedding_size"],
        intermediate_dim=hf_config["intermediate_size"],
        max_sequence_length=hf_config["max_position_embeddings"],
        num_segments=hf_config["type_vocab_size"],
        dtype=dtype,
    )
    used = set()

    def take(name):
        used.add(name)
        return tensors[name]

    def linear(layer, name):
        layer.kernel.assign(take(f"{name}.weight").T.reshape(layer.kernel.shape))
        layer.bias.assign(take(f"{name}.bias").reshape(layer.bias.shape))

    def norm(layer, name):
        layer.gamma.assign(take(f"{name}.weight"))
        layer.beta.assign(take(f"{name}.bias"))

    backbone.token_embedding.embeddings.assign(
        take("embeddings.word_embeddings.weight")
    )
    backbone.position_embedding.position_embeddings.assign(
        take("embeddings.position_embeddings.weight")
    )
    backbone.segment_embedding.embeddings.assign(
        take("embeddings.token_type_embeddings.weight")
    )
    norm(backbone.embeddings_layer_norm, "embeddings.LayerNorm")
    if backbone.hidden_dim != backbone.embedding_dim:
        linear(backbone.embeddings_projection, "embeddings_project")
    for i, layer in enumerate(backbone.transformer_layers):
        hf = f"encoder.layer.{i}."
        attention = layer._self_attention_layer
        linear(attention._query_dense, hf + "attention.self.query")
        linear(attention._key_dense, hf + "attention.self.key")
        linear(attention._value_dense, hf + "attention.self.value")
        linear(attention._output_dense, hf + "attention.output.dense")
        norm(layer._self_attention_layer_norm, hf + "attention.output.LayerNorm")
        linear(layer._feedforward_intermediate_dense, hf + "intermediate.dense")
        linear(layer._feedforward_output_dense, hf + "output.dense")
        norm(layer._feedforward_layer_norm, hf + "output.LayerNorm")
    unused = sorted(
        k for k in tensors if k not in used and not k.endswith("position_ids")
    )
    if unused:
        raise RuntimeError(f"HF tensors not mapped to keras-hub: {unused}")
    return backbone


def setup_keras(spec):
    import keras

    from keras_electra.convert.hf_config import backbone_kwargs_from_hf_config
    from keras_electra.convert.hf_heads import load_hf_tensors
    from keras_electra.models import electra_backbone

    harness.apply_threads(spec["threads"])
    mode = spec["mode"]
    if mode == "nochecks":
        # Measures what the eager input checks cost.
        electra_backbone.check_backbone_inputs = lambda backbone, inputs: None
    inputs = load_inputs(spec)
    backbones = {}
    exact_gelu_outputs = {}
    for key, hf_config in spec["hf_configs"].items():
        tensors = dict(np.load(spec["weights_paths"][key]))
        if mode.startswith("hub"):
            backbone = load_keras_hub_backbone(
                hf_config, tensors, "bfloat16" if mode == "hub-bf16" else None
            )
            exact_gelu_outputs.update(
                keras_hub_exact_gelu_outputs(backbone, inputs, key)
            )
        else:
            backbone = electra_backbone.ElectraBackbone(
                **backbone_kwargs_from_hf_config(hf_config),
                dtype="bfloat16" if mode == "bf16" else None,
            )
            load_hf_tensors(backbone, tensors)
        del tensors
        if mode in ("xla", "compile"):
            backbone.compile(jit_compile=True)
        elif mode == "graph":
            backbone.compile(jit_compile=False)
        backbones[key] = backbone
    for name, out in exact_gelu_outputs.items():
        np.save(
            os.path.join(
                spec["out_dir"], f"{spec['name']}-exact_{file_name(name)}.npy"
            ),
            out,
        )
    backend = keras.backend.backend()

    def model(name):
        return backbones[name.split("/")[0]]

    if mode == "call":
        tensors = {
            name: {k: keras.ops.convert_to_tensor(v) for k, v in case.items()}
            for name, case in inputs.items()
        }
        if backend == "torch":
            import torch

            def forward(name):
                with torch.no_grad():
                    out = model(name)(tensors[name], training=False)
                return keras.ops.convert_to_numpy(out)

        else:

            def forward(name):
                # To the host, which waits for jax's asynchronous dispatch.
                return keras.ops.convert_to_numpy(
                    model(name)(tensors[name], training=False)
                )

    elif mode == "loop":

        def forward(name):
            batch = len(inputs[name]["token_ids"])
            return model(name).predict(
                inputs[name], batch_size=batch, verbose=0
            )

    else:

        def forward(name):
            return model(name).predict_on_batch(inputs[name])

    def to_numpy(out):
        if isinstance(out, dict):  # keras-hub
            out = out["sequence_output"]
        return np.asarray(out).astype("float32")

    info = {"backend": backend}
    if backend == "tensorflow":
        import tensorflow as tf

        info["threads"] = tf.config.threading.get_intra_op_parallelism_threads()
    elif backend == "torch":
        import torch

        info["threads"] = torch.get_num_threads()
    info["jit_compile"] = bool(getattr(backbone, "jit_compile", False))
    return info, forward, to_numpy


def keras_hub_exact_gelu_outputs(backbone, inputs, key):
    """Outputs of a keras-hub backbone with exact GELU (checks the mapping).

    Swaps the feed-forward activation for exact GELU, calls the backbone
    directly on every case of config `key`, and restores keras-hub's
    tanh approximation before anything is traced for timing.
    """
    import keras

    denses = [
        layer._feedforward_intermediate_dense
        for layer in backbone.transformer_layers
    ]
    saved = [dense.activation for dense in denses]
    for dense in denses:
        dense.activation = keras.activations.gelu  # approximate=False
    try:
        return {
            name: keras.ops.convert_to_numpy(
                backbone(case, training=False)["sequence_output"]
            ).astype("float32")
            for name, case in inputs.items()
            if name.split("/")[0] == key
        }
    finally:
        for dense, activation in zip(denses, saved):
            dense.activation = activation


def worker_setup(spec):
    import time

    start = time.perf_counter()
    if spec["framework"] == "hf":
        info, forward, to_numpy = setup_hf(spec)
    else:
        info, forward, to_numpy = setup_keras(spec)
    names = [case_name(c) for c in spec["cases"]]
    warmup = {}
    for name in names:
        t0 = time.perf_counter()
        out = forward(name)
        first = time.perf_counter() - t0
        for _ in range(spec["warmup"] - 1):
            forward(name)
        warmup[name] = first
        np.save(
            os.path.join(spec["out_dir"], f"{spec['name']}_{file_name(name)}.npy"),
            to_numpy(out),
        )
    info.update(
        setup_seconds=time.perf_counter() - start, first_call_seconds=warmup
    )

    def handler(command):
        if command["cmd"] == "peak":
            dtype = "bfloat16" if spec["mode"].endswith("bf16") else "float32"
            return matmul_peak(
                command["size"],
                command["seconds"],
                dtype,
                harness.torch_device(spec),
            )
        if command["cmd"] != "run":
            return {}
        return harness.timed_calls(
            lambda: forward(command["case"]), command["seconds"]
        )

    return info, handler


# --------------------------------------------------------------------------
# Parent.
# --------------------------------------------------------------------------


def write_fixtures(args, cases, out_dir):
    """HF configs, random HF weights and the inputs, shared by all workers."""
    import torch
    import transformers

    hf_configs, weights_paths = {}, {}
    for key in dict.fromkeys(case[0] for case in cases):
        hf_config = dict(CONFIGS[key])
        if args.layers:
            hf_config["num_hidden_layers"] = args.layers
        torch.manual_seed(args.seed)
        model = transformers.ElectraModel(transformers.ElectraConfig(**hf_config))
        weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        weights_paths[key] = os.path.join(out_dir, f"weights_{key}.npz")
        np.savez(weights_paths[key], **weights)
        hf_configs[key] = hf_config
        del model, weights
    arrays = {}
    for case in cases:
        case_inputs = harness.integer_batch(
            hf_configs[case[0]]["vocab_size"], *case[1:], seed=args.seed
        )
        for key, value in case_inputs.items():
            arrays[f"{case_name(case)}/{key}"] = value
    inputs_path = os.path.join(out_dir, "inputs.npz")
    np.savez(inputs_path, **arrays)
    return hf_configs, weights_paths, inputs_path


def max_abs_diff(out_dir, name, reference, case, inputs_path):
    path = os.path.join(out_dir, f"{name}_{file_name(case)}.npy")
    if not os.path.exists(path):
        return None
    ours = np.load(path)
    theirs = np.load(os.path.join(out_dir, f"{reference}_{file_name(case)}.npy"))
    mask = np.load(inputs_path)[f"{case}/padding_mask"].astype(bool)
    return float(np.max(np.abs(ours[mask] - theirs[mask])))


TABLE_HEADER = [
    "variant",
    "call",
    "seq/s median (min-max)",
    "spread",
    "latency p50 ms",
    "latency p90 ms",
    "vs HF",
    "CPU ms / call",
    "CPU s / wall s",
    "GFLOP / CPU-s",
    "GFLOP / wall-s (p50)",
    "% of peak (CPU)",
    "max abs diff vs HF",
    "exact-GELU diff",
    "first call s",
]


def case_report(case, rounds_by_variant, peaks, run):
    """One case's markdown section and its per-variant results.

    `run` holds what every case shares: the variants' `ready` replies, the
    HF configs, the fixtures' folder and the inputs' path.
    """
    name = case_name(case)
    batch = case[1]
    flops = forward_flops(run["hf_configs"][case[0]], case[1], case[2])
    reference = "hf-torch" if "hf-torch" in rounds_by_variant else None
    stats = {}
    for variant, rounds in rounds_by_variant.items():
        throughput = [batch * len(r["times"]) / sum(r["times"]) for r in rounds]
        latencies = [t for r in rounds for t in r["times"]]
        cores = sum(r["cpu"] for r in rounds) / sum(latencies)
        cpu_per_call = sum(r["cpu"] for r in rounds) / len(latencies)
        stats[variant] = (
            harness.summary(throughput), latencies, cores, cpu_per_call
        )
    hf_median = stats[reference][0]["median"] if reference else None
    rows, entries = [], {}
    for variant, (tput, latencies, cores, cpu_per_call) in stats.items():
        framework, _, mode = parse_variant(
            variant.removesuffix(harness.BASELINE)
        )
        how = HOW_CALLED[mode] if framework == "keras" else HOW_CALLED["hf-torch"]
        diff = exact = None
        if reference and variant != reference:
            diff = max_abs_diff(
                run["out_dir"], variant, reference, name, run["inputs_path"]
            )
            exact = max_abs_diff(
                run["out_dir"], f"{variant}-exact", reference, name,
                run["inputs_path"],
            )
        gflops_cpu = flops / cpu_per_call / 1e9 if cpu_per_call else None
        gflops_wall = flops / harness.percentile(latencies, 0.5) / 1e9
        peak = peaks.get(variant, {}).get("gflops_cpu")
        rows.append(
            [
                variant,
                how,
                f"{harness.fmt(tput['median'])} "
                f"({harness.fmt(tput['min'])}-{harness.fmt(tput['max'])})",
                f"{100 * tput['spread']:.0f} %",
                harness.fmt(1000 * harness.percentile(latencies, 0.5), 2),
                harness.fmt(1000 * harness.percentile(latencies, 0.9), 2),
                f"{tput['median'] / hf_median:.2f}x" if hf_median else "n/a",
                harness.fmt(1000 * cpu_per_call),
                f"{cores:.2f}",
                harness.fmt(gflops_cpu),
                harness.fmt(gflops_wall),
                f"{100 * gflops_cpu / peak:.0f} %" if peak and gflops_cpu else "n/a",
                "reference" if variant == reference
                else (f"{diff:.1e}" if diff is not None else "n/a"),
                f"{exact:.1e}" if exact is not None else "",
                f"{run['ready'][variant]['first_call_seconds'][name]:.2f}",
            ]
        )
        entries[variant] = {
            "throughput": tput,
            "latencies": latencies,
            "cpu_per_wall": cores,
            "cpu_seconds_per_call": cpu_per_call,
            "flops_per_call": flops,
            "gflops_per_cpu_second": gflops_cpu,
            "gflops_per_wall_second": gflops_wall,
            "max_abs_diff_vs_hf": diff,
            "exact_gelu_max_abs_diff_vs_hf": exact,
        }
    title = (
        f"### {case[0]}: batch {case[1]} x length {case[2]} "
        f"({flops / 1e9:.2f} GFLOP per forward)"
    )
    table = harness.markdown_table(TABLE_HEADER, rows)
    return f"\n{title}\n\n{table}", entries


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Forward throughput/latency of keras_electra.ElectraBackbone "
            "(tensorflow, jax, torch backends) and keras-hub's ElectraBackbone "
            "vs transformers.ElectraModel, with FLOP rates against a matmul peak."
        )
    )
    harness.add_common_arguments(parser, repeats=3)
    harness.add_baseline_argument(parser)
    parser.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help=(
            "comma-separated CONFIG/BATCHxLENGTH, CONFIG in "
            f"{sorted(CONFIGS)} (default {DEFAULT_CASES})"
        ),
    )
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=(
            f"comma-separated (default {DEFAULT_VARIANTS}); extras: "
            "keras-hub-jax, keras-hub-torch, keras-tensorflow-xla, "
            "keras-torch-compile, keras-<backend>-call, keras-<backend>-nochecks, "
            "keras-<backend>-loop"
        ),
    )
    parser.add_argument(
        "--round-seconds",
        type=float,
        default=1.0,
        help="minimum length of one timed round per variant and case (default 1.0)",
    )
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed calls per case (default 3)"
    )
    parser.add_argument(
        "--layers",
        type=int,
        default=None,
        help="override the number of transformer layers of every config",
    )
    parser.add_argument(
        "--peak-size",
        type=int,
        default=1024,
        help="side of the square matmul timed for the peak (default 1024; 0: skip)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.worker:
        return harness.serve(json.loads(args.worker), worker_setup)

    cases = parse_cases(args.cases)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    baseline = {v: harness.split_baseline(v, args) for v in variants}
    parsed = {v: parse_variant(baseline[v][0]) for v in variants}
    gpu = harness.check_device(args.device)
    info = harness.machine_info()
    load_before = harness.loadavg()
    out_dir = tempfile.mkdtemp(prefix="electra_backbone_bench_")
    hf_configs, weights_paths, inputs_path = write_fixtures(args, cases, out_dir)
    specs = []
    for name in variants:
        framework, backend, mode = parsed[name]
        spec = dict(
            name=name,
            framework=framework,
            mode=mode,
            hf_configs=hf_configs,
            weights_paths=weights_paths,
            inputs_path=inputs_path,
            cases=cases,
            warmup=args.warmup,
            out_dir=out_dir,
            threads=args.threads,
            device=args.device,
        )
        env = harness.child_env(backend, args)
        env.update(baseline[name][1])
        specs.append((name, spec, env))
    print(f"starting {len(specs)} workers (logs in {out_dir})", file=sys.stderr)
    failed = {}
    workers = harness.start_workers(
        __file__, specs, log_dir=out_dir, failed=failed
    )
    variants = [w.name for w in workers]
    ready = {w.name: w.ready for w in workers}
    run = dict(
        ready=ready,
        hf_configs=hf_configs,
        out_dir=out_dir,
        inputs_path=inputs_path,
    )
    results = {}
    peaks = {}
    try:
        for case in cases:
            print(f"case {case_name(case)}", file=sys.stderr)
            results[case_name(case)] = harness.run_rounds(
                workers,
                args.repeats,
                {"cmd": "run", "case": case_name(case), "seconds": args.round_seconds},
            )
            # Kept if the run is cut short; the final table adds the peaks.
            text, _ = case_report(case, results[case_name(case)], {}, run)
            print(text, file=sys.stderr, flush=True)
        if args.peak_size:
            print("matmul peak", file=sys.stderr)
            for worker in workers:
                peaks[worker.name] = worker.request(
                    cmd="peak", size=args.peak_size, seconds=args.round_seconds
                )
    finally:
        finals = harness.close_workers(workers)
    load_after = harness.loadavg()

    reference = "hf-torch" if "hf-torch" in variants else None
    print(
        harness.report_header(
            "Backbone inference: ElectraBackbone vs transformers.ElectraModel",
            ["benchmarks/backbone_inference.py"] + sys.argv[1:],
            info,
            load_before,
            load_after,
        )
    )
    threads = args.threads or "framework default"
    print(f"- threads per framework: {threads}")
    harness.report_failed(failed)
    if gpu:
        print(
            f"- device: {gpu} (HF, jax, torch; outputs copied to the host "
            "in every call); read the wall-time columns"
        )
    for key, hf_config in hf_configs.items():
        print(
            f"- {key}: vocabulary {hf_config['vocab_size']}, "
            f"E={hf_config['embedding_size']}, H={hf_config['hidden_size']}, "
            f"{hf_config['num_hidden_layers']} layers, "
            f"{hf_config['num_attention_heads']} heads, "
            f"I={hf_config['intermediate_size']}"
        )
    print(
        f"- {args.repeats} rounds of >= {args.round_seconds:g} s per variant "
        f"and case, {args.warmup} warm-up calls excluded; FLOPs per forward "
        "counted analytically (see the script's docstring)"
    )
    if reference:
        print(
            f"- HF attention implementation: "
            f"{ready[reference].get('attn_implementation')}, torch threads "
            f"{ready[reference].get('threads')}"
        )
    payload = {"script": "backbone_inference", "machine": info,
               "load_before": load_before, "load_after": load_after,
               "args": vars(args), "ready": ready, "finals": finals,
               "peaks": peaks, "results": {}, "failed": failed}
    if peaks:
        print()
        print(
            f"### matmul peak ({args.peak_size} x {args.peak_size}; "
            "bfloat16 for the -bf16 variants, float32 otherwise)"
        )
        print()
        print(
            harness.markdown_table(
                ["variant", "GFLOP / CPU-s", "GFLOP / wall-s"],
                [
                    [v, harness.fmt(peaks[v]["gflops_cpu"]),
                     harness.fmt(peaks[v]["gflops_wall"])]
                    for v in variants
                ],
            )
        )
    for case in cases:
        text, entries = case_report(case, results[case_name(case)], peaks, run)
        print(text)
        payload["results"][case_name(case)] = entries
    harness.write_json(args.json, payload)
    if failed:  # Their logs stay in out_dir.
        return 1
    harness.cleanup(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
