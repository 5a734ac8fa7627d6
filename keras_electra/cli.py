"""`keras-electra`: convert ELECTRA checkpoints between formats.

    keras-electra convert SRC DEST [--to keras|huggingface] [--task NAME]
                                   [--part discriminator|generator]
                                   [--num-heads N] [--safetensors-only]
                                   [--overwrite] [--no-check]
    keras-electra presets

SRC is anything `from_preset` takes: a preset name, `hf://owner/name`, or a
local HF transformers, Google TF1, keras-hub or keras_electra checkpoint.
DEST is written as a keras_electra preset (default) or, with
`--to huggingface`, as an HF transformers folder. At the end the command
reloads DEST, runs it on a few token ids and prints the largest difference
to the source's own outputs when the source can be run here.
"""

import argparse
import os
import sys

USAGE_EXAMPLES = """examples:
  keras-electra convert ./hf-electra-sst2 ./electra-sst2-keras
  keras-electra convert electra_small_discriminator_uncased_en ./small
  keras-electra convert ./electra_small/model.ckpt-1000000 ./gen --part generator
  keras-electra convert ./electra-sst2-keras ./back-to-hf --to huggingface
"""
TASKS = ("ElectraBackbone", "ElectraClassifier", "ElectraTokenClassifier",
         "ElectraQuestionAnswerer", "ElectraMultipleChoice",
         "ElectraDiscriminator", "ElectraMaskedLM", "ElectraCausalLM")


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-electra",
        description="ELECTRA checkpoints for Keras: convert and list presets.",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser(
        "convert", help="convert a checkpoint",
        description="Convert an ELECTRA checkpoint into a keras_electra "
        "preset or a Hugging Face transformers folder.",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("src", help="preset name, hf://owner/name, or a "
                         "local checkpoint folder / TF1 prefix")
    convert.add_argument("dest", help="folder to write")
    convert.add_argument("--to", choices=("keras", "huggingface"),
                         default="keras", help="output format (default keras)")
    convert.add_argument("--task", choices=TASKS, default=None,
                         help="model to build; default: the checkpoint's own "
                         "head (HF `architectures`)")
    convert.add_argument("--part", choices=("discriminator", "generator"),
                         default="discriminator",
                         help="network of a TF1 pre-training checkpoint")
    convert.add_argument("--num-heads", type=int, default=None,
                         help="attention heads of a TF1 checkpoint (default "
                         "hidden_size // 64, Google's rule)")
    convert.add_argument("--safetensors-only", action="store_true",
                         help="refuse pytorch_model.bin (pickle) files")
    convert.add_argument("--overwrite", action="store_true",
                         help="replace DEST if it exists")
    convert.add_argument("--no-check", action="store_true",
                         help="skip reloading DEST and comparing outputs")
    commands.add_parser("presets", help="list the named presets")
    return parser


class _Steps:
    """A progress bar over the named steps of a conversion (rich)."""

    def __init__(self, total):
        from rich.console import Console
        from rich.progress import BarColumn
        from rich.progress import Progress
        from rich.progress import TextColumn
        from rich.progress import TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description:<34}"), BarColumn(),
            TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.total = total

    def __enter__(self):
        self.progress.start()
        self.task = self.progress.add_task("starting", total=self.total)
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def run(self, description, fn, *args, **kwargs):
        self.progress.update(self.task, description=description)
        result = fn(*args, **kwargs)
        self.progress.advance(self.task)
        return result


def _local_source(src):
    """A local path (or kaggle:// handle) for SRC, downloading hf:// ones."""
    from keras_electra.convert.preset_store import download_hf
    from keras_electra.presets.electra_presets import backbone_presets

    if src in backbone_presets:
        src = backbone_presets[src]["hf_handle"]
    if src.startswith("hf://"):
        return download_hf(src)
    return src


def _load_source(source, args):
    """`(model, checkpoint or None, tokenizer or None)` for a local source."""
    from keras_electra.convert.keras_model import build_model
    from keras_electra.convert.preset_loading import from_preset
    from keras_electra.convert.sources import KERAS_ELECTRA
    from keras_electra.convert.sources import read_checkpoint
    from keras_electra.convert.sources import source_kind

    if source_kind(source) == KERAS_ELECTRA:
        return from_preset(source), None, _preset_tokenizer(source)
    checkpoint = read_checkpoint(source, part=args.part,
                                 num_heads=args.num_heads,
                                 allow_pickle=not args.safetensors_only)
    model, tokenizer = build_model(checkpoint, task=args.task)
    return model, checkpoint, tokenizer


def _preset_tokenizer(path):
    from keras_hub.src.utils.preset_utils import check_file_exists
    from keras_hub.src.utils.preset_utils import get_preset_loader

    from keras_electra.models.electra_tokenizer import ElectraTokenizer

    if not check_file_exists(path, "tokenizer.json"):
        return None
    return get_preset_loader(path).load_tokenizer(ElectraTokenizer)


def _check(source, kind, model, checkpoint, dest, args):
    """`(difference, reference description)`; difference None if none."""
    from keras_electra.convert import verify
    from keras_electra.convert.keras_model import task_name_for
    from keras_electra.convert.preset_loading import from_preset
    from keras_electra.convert.sources import HF
    from keras_electra.convert.sources import KERAS_HUB

    if args.to == "huggingface":
        return verify.difference_to_hf(model, dest), "the exported HF model"
    reloaded = from_preset(dest)
    if kind == HF:
        if args.task and verify.task_name(reloaded) != task_name_for(
            checkpoint
        ):
            # A fresh head has no reference: compare the encoders.
            encoder = getattr(reloaded, "backbone", reloaded)
            return (verify.difference_to_hf(encoder, source),
                    "HF transformers (encoder only; new head)")
        return verify.difference_to_hf(reloaded, source), "HF transformers"
    if kind == KERAS_HUB:
        encoder = getattr(reloaded, "backbone", reloaded)
        return (verify.difference_to_keras_hub(encoder, source),
                "keras-hub (exact GELU)")
    if kind == "keras_electra":
        return verify.difference_between(reloaded, model), "the source preset"
    return None, None


def convert(args):
    from keras_electra.convert.hf_export import export_to_huggingface
    from keras_electra.convert.preset_store import write_keras_preset
    from keras_electra.convert.sources import source_kind

    if os.path.exists(args.dest) and not args.overwrite:
        raise FileExistsError(
            f"{os.path.abspath(args.dest)} already exists; pass --overwrite "
            "to replace it."
        )
    with _Steps(total=4 if not args.no_check else 3) as steps:
        source = steps.run("locating the source", _local_source, args.src)
        kind = source_kind(source)
        model, checkpoint, tokenizer = steps.run(
            f"reading {kind} checkpoint", _load_source, source, args
        )
        if args.to == "huggingface":
            steps.run("writing HF checkpoint", export_to_huggingface, model,
                      args.dest, tokenizer=tokenizer,
                      overwrite=args.overwrite)
        else:
            steps.run("writing keras preset", write_keras_preset, model,
                      tokenizer, args.dest, overwrite=args.overwrite)
        difference = reference = None
        if not args.no_check:
            difference, reference = steps.run(
                "reloading and comparing outputs", _check, source, kind,
                model, checkpoint, args.dest, args,
            )
    for note in (checkpoint.notes if checkpoint else []):
        print(f"note: {note}")
    print(f"wrote {type(model).__name__} to {os.path.abspath(args.dest)} "
          f"({args.to} format)")
    if difference is not None:
        print(f"max abs output difference vs {reference}: {difference:.3g}")
    elif not args.no_check:
        print(f"no runnable reference for a {kind} source; outputs not "
              "compared")
    return 0


def list_presets_command():
    from keras_electra.presets import list_presets

    for name, metadata in list_presets().items():
        print(f"{name:42} {metadata['params']:>12,} params  "
              f"{metadata['weights']}")
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "presets":
            return list_presets_command()
        return convert(args)
    except (ValueError, OSError, ImportError) as e:
        # CheckpointError, WeightMismatchError, PresetUnavailableError and
        # FileExistsError are all among these.
        print(f"keras-electra: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
