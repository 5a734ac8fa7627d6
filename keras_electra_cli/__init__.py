"""`keras-electra`: fine-tune, predict, serve, pre-train and convert ELECTRA.

    keras-electra finetune DATA [--task ...] [--preset ...] [-o OUTPUT]
    keras-electra predict MODEL [INPUT]        JSON lines out
    keras-electra fill-mask TEXT... [--preset ...]
    keras-electra export MODEL DEST            TF Serving SavedModel
    keras-electra pretrain TEXT_FILES... -o OUTPUT
    keras-electra convert SRC DEST [--to keras|huggingface]
    keras-electra presets

Every subcommand has `--help` with its defaults. Exit codes: 0 success,
2 a usage error (argparse), 1 a failure, reported as one line that says
what to do (`--verbose` adds the traceback and TensorFlow's own logs).

This package is separate from `keras_electra` because importing that
imports Keras and TensorFlow (seconds, and native log lines); parsing
arguments and `--help` here import only the standard library.
"""

import argparse
import sys
import traceback

from keras_electra_cli import convert
from keras_electra_cli import export
from keras_electra_cli import fill_mask
from keras_electra_cli import finetune
from keras_electra_cli import predict
from keras_electra_cli import presets
from keras_electra_cli import pretrain
from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import backend_option
from keras_electra_cli._runtime import common_options

COMMANDS = (finetune, predict, fill_mask, export, pretrain, convert, presets)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-electra",
        description="ELECTRA for Keras 3: fine-tune, predict, serve, "
        "pre-train and convert, from the command line.",
        epilog="`keras-electra COMMAND --help` shows a command's options "
        "and their defaults.",
    )
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")
    parents = [common_options(), backend_option()]
    for module in COMMANDS:
        module.add_parser(commands, parents)
    return parser


def main(argv=None):
    """Run the command line; returns the exit code (usage errors exit 2)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv       # for records of what was run
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("keras-electra: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one line for every failure
        if args.verbose:
            traceback.print_exc()
        print(f"keras-electra {args.command}: error: {_one_line(e)}",
              file=sys.stderr)
        if not args.verbose and not isinstance(e, CommandError):
            print("(run again with --verbose for the traceback)",
                  file=sys.stderr)
        return 1


def _one_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, (CommandError, OSError, ValueError)):
        text = f"{type(error).__name__}: {text}"
    return text
