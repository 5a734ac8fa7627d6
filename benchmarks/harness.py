"""Plumbing shared by the benchmark scripts: worker processes, rounds, tables.

Every (framework, backend) runs in its own child process, so each gets a
clean backend (one Keras backend per process, no shared thread pools). The
children stay alive for the whole run and only work when told to: the parent
asks them in turn for one timed round each, round-robin with the order
reversed every other round (A B C, C B A, A B C, ...), so slow drifts in the
machine's load hit every variant alike. Only one child computes at a time.

Protocol: the parent starts `python <script> --worker '<json spec>'`; the
child sets up, then answers one JSON line on stdout per JSON line it reads on
stdin. Library output is sent to the child's stderr (a log file), so it
cannot corrupt the protocol.
"""

import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = (
    "keras",
    "keras-hub",
    "tensorflow",
    "tensorflow-text",
    "jax",
    "jaxlib",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
)
CHILD_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "true",
    "PYTHONUNBUFFERED": "1",
}


# --------------------------------------------------------------------------
# Machine and load.
# --------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    """The 1, 5 and 15 minute load averages, as a string."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


# HF's input names -> ours, for the HF baselines.
HF_INPUTS = {
    "input_ids": "token_ids",
    "token_type_ids": "segment_ids",
    "attention_mask": "padding_mask",
}

# Distributions that install the same module under another name.
ALIASES = {"tensorflow": ("tensorflow-cpu",)}


def package_versions():
    versions = {}
    for name in PACKAGES:
        versions[name] = "not installed"
        for dist in (name, *ALIASES.get(name, ())):
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            versions[name] = version if dist == name else f"{version} ({dist})"
            break
    return versions


def machine_info():
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **package_versions(),
    }


# --------------------------------------------------------------------------
# Memory.
# --------------------------------------------------------------------------


def peak_rss_mb():
    """This process's resident-set high-water mark (Linux: KiB -> MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


# --------------------------------------------------------------------------
# Parent side.
# --------------------------------------------------------------------------


class WorkerError(RuntimeError):
    pass


class Worker:
    """One child process running `script --worker spec`."""

    def __init__(self, name, script, spec, env=None, log_dir=None):
        self.name = name
        log_dir = log_dir or tempfile.mkdtemp(prefix="electra_bench_")
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self._log = open(self.log_path, "w")
        env = env or {}
        child_env = dict(os.environ)
        child_env.update(CHILD_ENV)
        child_env.update(env)
        # A variant's own path (`--baseline`) goes ahead of this checkout.
        child_env["PYTHONPATH"] = os.pathsep.join(
            p
            for p in (
                env.get("PYTHONPATH"),
                REPO_ROOT,
                os.environ.get("PYTHONPATH"),
            )
            if p
        )
        self.process = subprocess.Popen(
            [sys.executable, script, "--worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=child_env,
            cwd=REPO_ROOT,
        )
        self.ready = None

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self._log.flush()
            with open(self.log_path) as f:
                tail = f.read()[-4000:]
            raise WorkerError(
                f"worker '{self.name}' exited with code "
                f"{self.process.returncode}; log {self.log_path}:\n{tail}"
            )
        message = json.loads(line)
        if "error" in message:
            raise WorkerError(f"worker '{self.name}': {message['error']}")
        return message

    def wait_ready(self):
        if self.ready is None:
            self.ready = self._read()
        return self.ready

    def request(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self):
        """Ask the child to finish; returns its final report (peak RSS...)."""
        try:
            final = self.request(cmd="finish")
        finally:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            self.process.wait(timeout=60)
            self._log.close()
        return final

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_workers(script, specs, log_dir=None, failed=None):
    """Start one worker per `(name, spec, env)` and wait until all are set up.

    The children set up concurrently (imports, model building, compilation
    and warm-up are not timed), then sit idle until asked for a round.
    With a dict `failed`, a child whose setup fails is left out (its error
    stored in `failed` under its name) and the others go on; without, the
    first failure stops the run.
    """
    workers = [
        Worker(name, script, spec, env=env, log_dir=log_dir)
        for name, spec, env in specs
    ]
    ready = []
    try:
        for worker in workers:
            try:
                worker.wait_ready()
                ready.append(worker)
            except WorkerError as e:
                if failed is None:
                    raise
                worker.kill()
                failed[worker.name] = str(e)
                print(e, file=sys.stderr)
    except BaseException:
        for worker in workers:
            worker.kill()
        raise
    return ready


def report_failed(failed):
    """Table lines for the variants whose setup failed (see start_workers)."""
    for name, error in failed.items():
        first = error.strip().splitlines()[0]
        print(f"- **{name} failed to set up**: {first}")


ROUND_LOADS = []


def run_rounds(workers, repeats, command, progress=True):
    """`repeats` rounds of `command` over all workers, in alternating order.

    Returns `{worker name: [reply of round 0, reply of round 1, ...]}`. The
    1-minute load average after every round is appended to `ROUND_LOADS`.
    """
    results = {w.name: [] for w in workers}
    for r in range(repeats):
        order = workers if r % 2 == 0 else workers[::-1]
        for worker in order:
            results[worker.name].append(worker.request(**command))
        ROUND_LOADS.append(loadavg().split()[0])
        if progress:
            print(
                f"  round {r + 1}/{repeats} done (load {loadavg()})",
                file=sys.stderr,
                flush=True,
            )
    return results


def close_workers(workers):
    finals = {}
    for worker in workers:
        try:
            finals[worker.name] = worker.close()
        except WorkerError as e:
            print(e, file=sys.stderr)
            finals[worker.name] = {}
        finally:
            worker.kill()
    return finals


# --------------------------------------------------------------------------
# Child side.
# --------------------------------------------------------------------------


def serve(spec, setup):
    """Run a worker: `setup(spec)` -> (ready info, handler); then the loop.

    `handler(command)` answers each command dict with a dict. `finish`
    is answered here with the process's peak RSS plus what
    `handler({"cmd": "finish"})` adds.
    """
    # Keep a private handle on the real stdout for the protocol and send
    # everything that libraries print to stderr.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(message):
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        info, handler = setup(spec)
    except Exception as e:  # Report, so the parent shows why.
        import traceback

        traceback.print_exc()
        reply({"error": f"setup failed: {type(e).__name__}: {e}"})
        return
    info = dict(info)
    info.setdefault("rss_after_setup_mb", current_rss_mb())
    reply(info)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = handler(command) or {}
        except Exception as e:
            import traceback

            traceback.print_exc()
            reply({"error": f"{type(e).__name__}: {e}"})
            return
        if command.get("cmd") == "finish":
            answer = dict(answer)
            answer["peak_rss_mb"] = peak_rss_mb()
            answer["rss_at_finish_mb"] = current_rss_mb()
            reply(answer)
            return
        reply(answer)


def cpu_seconds():
    """User + system CPU time of this process (all its threads).

    `time.process_time` (CLOCK_PROCESS_CPUTIME_ID: nanoseconds) rather than
    `os.times` (clock ticks: 10 ms), so that short calls are measured too.
    """
    return time.process_time()


def timed_calls(fn, min_seconds, min_calls=2, max_calls=10_000):
    """Call `fn()` until `min_seconds` passed (and `min_calls` made).

    Returns `{"times": wall time of every call, "cpu": CPU seconds used}`;
    CPU seconds / wall seconds tells how many cores the round really got.
    """
    times = []
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    while len(times) < max_calls:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_calls and time.perf_counter() - start >= min_seconds:
            break
    return {"times": times, "cpu": cpu_seconds() - cpu_start}


# --------------------------------------------------------------------------
# Threads.
# --------------------------------------------------------------------------


def thread_env(threads):
    """Environment that limits every framework to `threads` threads.

    `threads=0` keeps each framework's default (all cores). The env vars
    are read at import time; `apply_threads` repeats the setting through
    the APIs once the frameworks are imported.
    """
    if not threads:
        return {}
    n = str(threads)
    env = {
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "TF_NUM_INTRAOP_THREADS": n,
        "TF_NUM_INTEROP_THREADS": n,
        "RAYON_NUM_THREADS": n,
    }
    if threads == 1:
        env["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    return env


def apply_threads(threads):
    """Set the thread count through the APIs of the imported frameworks."""
    if not threads:
        return
    if threads == 1:
        # jax 0.10's CPU runtime parallelises within an op whatever
        # XLA_FLAGS say (1.5-1.8 CPU-s per wall-s were measured): one core
        # for every child keeps them alike. The same core for all of them
        # (rounds run one child at a time): children spread over cores by
        # pid measured the same torch matmul at 82 and 60 GFLOP/s.
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # Already fixed once work ran; env var did it.
            pass
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # Context already initialised; env vars did it.
            pass


# --------------------------------------------------------------------------
# Inputs.
# --------------------------------------------------------------------------

# ELECTRA-Small (google/electra-small-discriminator), as an HF config dict.
ELECTRA_SMALL = dict(
    vocab_size=30522,
    embedding_size=128,
    hidden_size=256,
    num_hidden_layers=12,
    num_attention_heads=4,
    intermediate_size=1024,
    max_position_embeddings=512,
    type_vocab_size=2,
)
ELECTRA_CONFIGS = {
    "small": ELECTRA_SMALL,
    # ELECTRA-Base (google/electra-base-discriminator).
    "base": dict(
        ELECTRA_SMALL,
        embedding_size=768,
        hidden_size=768,
        num_attention_heads=12,
        intermediate_size=3072,
    ),
    # For smoke tests of the scripts only.
    "tiny": dict(
        vocab_size=1000,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
    ),
}


def integer_batch(vocab_size, batch, length, seed=0):
    """`[CLS] a [SEP] b [SEP]`-like rows, padded to several lengths.

    Token ids are random (>= 1000, past the special tokens, or in the
    upper half of a small vocabulary); lengths run
    from `length` down to `length // 2` over the batch; the second half of
    each row is segment 1.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    token_ids = rng.integers(min(1000, vocab_size // 2), vocab_size, size=(batch, length))
    lengths = np.linspace(length, max(4, length // 2), batch).astype(int)
    positions = np.arange(length)[None, :]
    padding_mask = (positions < lengths[:, None]).astype("int32")
    segment_ids = (positions >= lengths[:, None] // 2).astype("int32")
    token_ids[:, 0] = 101
    token_ids[np.arange(batch), lengths - 1] = 102
    return {
        "token_ids": (token_ids * padding_mask).astype("int32"),
        "segment_ids": (segment_ids * padding_mask).astype("int32"),
        "padding_mask": padding_mask,
    }


# --------------------------------------------------------------------------
# Statistics and reporting.
# --------------------------------------------------------------------------


def summary(values):
    """Median, min, max and the relative spread `(max - min) / median`."""
    values = [float(v) for v in values]
    median = statistics.median(values)
    low, high = min(values), max(values)
    return {
        "median": median,
        "min": low,
        "max": high,
        "spread": (high - low) / median if median else float("nan"),
        "n": len(values),
    }


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    index = (len(values) - 1) * q
    low = int(index)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (index - low)


def markdown_table(header, rows):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines)


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if isinstance(x, float) and x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def load_lines(load_before, load_after):
    """Markdown bullet lines on the machine's load during the run."""
    loads = [float(x) for x in ROUND_LOADS if x != "n/a"]
    lines = [
        f"- load average (1/5/15 min) before: {load_before}; after: {load_after}"
    ]
    if loads:
        lines.append(
            f"- 1-min load average after each round: {min(loads):.2f} to "
            f"{max(loads):.2f} (median {statistics.median(loads):.2f})"
        )
    return "\n".join(lines)


def report_header(title, argv, info, load_before, load_after):
    now = datetime.datetime.now(datetime.timezone.utc)
    versions = ", ".join(
        f"{name} {info[name]}" for name in PACKAGES if name in info
    )
    return "\n".join(
        [
            f"## {title}",
            "",
            f"- command: `python {' '.join(argv)}`",
            f"- date: {now:%Y-%m-%d %H:%M} UTC",
            f"- machine: {info['cpu']}, {info['cores']} cores "
            f"({info['usable_cores']} usable), Python {info['python']}",
            f"- versions: {versions}",
            load_lines(load_before, load_after),
        ]
    )


def cleanup(out_dir):
    """Remove a run's fixtures and worker logs (kept when a run fails)."""
    import shutil

    shutil.rmtree(out_dir, ignore_errors=True)


def write_json(path, payload):
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"raw results written to {path}", file=sys.stderr)


def add_common_arguments(parser, repeats):
    parser.add_argument(
        "--repeats",
        type=int,
        default=repeats,
        help=f"timed rounds per variant (default {repeats})",
    )
    parser.add_argument(
        "--json", default=None, help="also write raw results to this file"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help=(
            "threads per framework (default 1: comparable and far less noisy "
            "on a shared machine; 0 = each framework's default)"
        ),
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help=(
            "cpu (default): every child sees no GPU; gpu: HF and the jax and "
            "torch backends run on the first CUDA GPU (TensorFlow wherever "
            "its build runs) and the wall-time columns are the ones to read"
        ),
    )
    parser.add_argument("--worker", default=None, help=argparse_hidden())


BASELINE = "@baseline"


def add_baseline_argument(parser):
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help=(
            "another checkout (e.g. `git worktree add /tmp/base HEAD~1`): a "
            "variant named `<variant>@baseline` runs its keras_electra, for "
            "before/after figures from one run"
        ),
    )


def split_baseline(name, args):
    """`keras-jax@baseline` -> ("keras-jax", {"PYTHONPATH": args.baseline})."""
    if not name.endswith(BASELINE):
        return name, {}
    if not args.baseline:
        sys.exit(f"{name}: give the baseline checkout with --baseline DIR")
    if not os.path.isdir(os.path.join(args.baseline, "keras_electra")):
        sys.exit(f"--baseline {args.baseline}: no keras_electra package there")
    return name[: -len(BASELINE)], {"PYTHONPATH": args.baseline}


def check_device(device):
    """Stop with a clear message if `--device gpu` finds no CUDA GPU."""
    if device != "gpu":
        return None
    import torch

    if not torch.cuda.is_available():
        sys.exit(
            "--device gpu: PyTorch sees no CUDA GPU on this machine; "
            "run with --device cpu (the default)."
        )
    return torch.cuda.get_device_name(0)


def device_env(device):
    """Environment for a child: which accelerator it may see and how.

    On `gpu`, JAX would take 75 % of the GPU's memory in every child and
    TensorFlow all of it, so both allocate as they go instead.
    """
    if device == "gpu":
        return {
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        }
    return {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}


def child_env(backend, args):
    """A child's environment: its Keras backend, threads and device."""
    return {
        "KERAS_BACKEND": backend,
        **thread_env(args.threads),
        **device_env(args.device),
    }


def torch_device(spec):
    return "cuda" if spec.get("device") == "gpu" else "cpu"


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
