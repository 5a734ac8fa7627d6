"""Convert an ELECTRA checkpoint into a keras_electra preset or an HF folder.

SRC is anything `from_preset` takes: a preset name (`keras-electra
presets`), `hf://owner/name`, or a local HF transformers, Google TF1,
keras-hub or keras_electra checkpoint. DEST is written as a keras_electra
preset (default) or, with `--to huggingface`, as an HF transformers folder.
At the end the command reloads DEST, runs it on a few token ids and prints
the largest difference to the source's own outputs when the source can be
run here.
"""

import os

from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import positive_int
from keras_electra_cli._runtime import resolve_preset_path

EXAMPLES = """examples:
  keras-electra convert ./hf-electra-sst2 ./electra-sst2-keras
  keras-electra convert electra_small_discriminator_uncased_en ./small
  keras-electra convert electra_tiny_uncased_en ./tiny-hf --to huggingface
  keras-electra convert ./electra_small/model.ckpt-1000000 ./gen --part generator
  keras-electra convert ./electra-sst2-keras ./back-to-hf --to huggingface
"""
TASKS = ("ElectraBackbone", "ElectraClassifier", "ElectraTokenClassifier",
         "ElectraQuestionAnswerer", "ElectraMultipleChoice",
         "ElectraDiscriminator", "ElectraMaskedLM", "ElectraCausalLM")


def add_parser(commands, parents):
    parser = add_command(commands, "convert", __doc__, parents,
                         epilog=EXAMPLES)
    parser.add_argument("src", help="preset name, hf://owner/name, or a "
                        "local checkpoint folder / TF1 prefix")
    parser.add_argument("dest", help="folder to write")
    parser.add_argument("--to", choices=("keras", "huggingface"),
                        default="keras", help="output format")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="model to build; default: the checkpoint's own "
                        "head (HF `architectures`)")
    parser.add_argument("--part", choices=("discriminator", "generator"),
                        default="discriminator",
                        help="network of a TF1 pre-training checkpoint")
    parser.add_argument("--num-heads", type=positive_int, default=None,
                        help="attention heads of a TF1 checkpoint (default "
                        "hidden_size // 64, Google's rule)")
    parser.add_argument("--safetensors-only", action="store_true",
                        help="refuse pytorch_model.bin (pickle) files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace DEST if it exists")
    parser.add_argument("--no-check", action="store_true",
                        help="skip reloading DEST and comparing outputs")
    parser.set_defaults(run=run)
    return parser


def _local_source(src):
    """A local path (or kaggle:// handle) for SRC, downloading hf:// ones."""
    from keras_electra.convert.preset_store import download_hf
    from keras_electra.presets.electra_presets import backbone_presets

    src = resolve_preset_path(src)
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
    from keras_electra._keras_hub_private import check_file_exists
    from keras_electra._keras_hub_private import get_preset_loader

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


def run(args):
    if os.path.exists(args.dest) and not args.overwrite:
        raise CommandError(
            f"{os.path.abspath(args.dest)} already exists; pass --overwrite "
            "to replace it."
        )
    heavy_imports(args)
    from keras_electra.convert.hf_export import export_to_huggingface
    from keras_electra.convert.preset_store import write_keras_preset
    from keras_electra.convert.sources import source_kind
    from keras_electra_cli._progress import Steps

    with Steps(total=4 if not args.no_check else 3) as steps:
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
