"""Fill the [MASK] tokens of texts with a generator (masked LM); JSON lines out.

Each text must contain the literal [MASK]. For every text one JSON object
goes to stdout: {"text": ..., "predictions": [{"token_str", "score",
"sequence", "token"}, ...]} best first, as HF's fill-mask pipeline (for
several masks, one list per mask). The preset must hold a generator:
electra_tiny_uncased_en (its generator/), electra_*_generator_uncased_en,
an HF ElectraForMaskedLM folder or hf:// handle.
"""

import json
import sys

from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import positive_int

EXAMPLES = """examples:
  keras-electra fill-mask "This coffee tastes [MASK]."
  keras-electra fill-mask --preset hf://google/electra-small-generator \\
      "The capital of France is [MASK]." --top-k 3
  cat texts.txt | keras-electra fill-mask -
"""


def add_parser(commands, parents):
    parser = add_command(commands, "fill-mask", __doc__, parents,
                         epilog=EXAMPLES)
    parser.add_argument("texts", nargs="+",
                        help="texts with [MASK]; - reads one per line from "
                        "stdin")
    parser.add_argument("--preset", default="electra_tiny_uncased_en",
                        help="generator preset name, folder or hf:// handle")
    parser.add_argument("--top-k", type=positive_int, default=5,
                        help="candidates per mask")
    parser.set_defaults(run=run)
    return parser


def run(args):
    texts = []
    for text in args.texts:
        if text == "-":
            texts.extend(line for line in sys.stdin.read().splitlines()
                         if line.strip())
        else:
            texts.append(text)
    heavy_imports(args)
    from keras_electra import ElectraMaskedLM
    from keras_electra_cli._progress import Steps

    with Steps(total=2) as steps:
        model = steps.run(f"loading {args.preset}",
                          ElectraMaskedLM.from_preset, args.preset)
        answers = steps.run(f"filling {len(texts)} texts", model.fill_mask,
                            texts, top_k=args.top_k)
    for text, answer in zip(texts, answers):
        print(json.dumps({"text": text, "predictions": _plain(answer)},
                         ensure_ascii=False))
    return 0


def _plain(value):
    """JSON-ready copies of numpy scalars in nested lists and dicts."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value
