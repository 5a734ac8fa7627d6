"""Pre-train an ELECTRA from scratch on text files (replaced-token detection).

TEXT_FILES are UTF-8 text (.gz too) with one sentence per line and a blank
line between documents (Google's build_pretraining_dataset.py format). A
WordPiece vocabulary is learned from them (or given with --vocabulary),
the files are packed into sequences, mixed in proportion to their size, and
an ElectraPretrainer (generator + discriminator sharing embeddings, MLM +
50 x RTD, Google's AdamW schedule) trains with fit. OUTPUT becomes a preset
folder: the discriminator with its head (fine-tune it with
`keras-electra finetune --preset OUTPUT`), generator/ with its head
(`keras-electra fill-mask --preset OUTPUT`) and training.json, the record
(arguments, corpus statistics, every epoch's losses and replaced-token
precision, recall and AUC). Kill and re-run the same command to resume
from --work. The defaults are the bundled tiny preset's recipe.
"""

import os
import time

from keras_electra_cli._runtime import CommandError
from keras_electra_cli._runtime import add_command
from keras_electra_cli._runtime import fraction
from keras_electra_cli._runtime import heavy_imports
from keras_electra_cli._runtime import positive_float
from keras_electra_cli._runtime import positive_int
from keras_electra_cli._runtime import training_options

EXAMPLES = """examples:
  keras-electra pretrain corpus/*.txt -o my_electra --steps 5000
  keras-electra pretrain wiki.txt.gz -o small --hidden-dim 256 \\
      --num-layers 12 --num-heads 4 --vocabulary vocab.txt
"""


def add_parser(commands, parents):
    parser = add_command(commands, "pretrain", __doc__,
                         parents + [training_options()],
                         epilog=EXAMPLES)
    parser.add_argument("files", nargs="+", metavar="TEXT_FILES",
                        help="corpus files")
    parser.add_argument("-o", "--output", required=True,
                        help="preset folder to write")
    parser.add_argument("--work", default=None,
                        help="backups, epoch log and learned vocabulary; "
                        "default OUTPUT.work")
    parser.add_argument("--vocabulary", default=None,
                        help="a BERT vocab.txt to use instead of learning "
                        "one")
    parser.add_argument("--objective", choices=["rtd", "mlm"], default="rtd",
                        help="rtd: ELECTRA; mlm: a BERT-style masked-LM "
                        "control of the discriminator's size")
    parser.add_argument("--steps", type=positive_int, default=5000,
                        help="training steps in all")
    parser.add_argument("--steps-per-epoch", type=positive_int, default=200,
                        help="steps between log lines and backups")
    parser.add_argument("--batch-size", type=positive_int, default=32,
                        help="examples per training step")
    parser.add_argument("--sequence-length", type=positive_int, default=128,
                        help="tokens per packed sequence")
    parser.add_argument("--vocabulary-size", type=positive_int, default=8000,
                        help="WordPiece pieces to learn")
    parser.add_argument("--hidden-dim", type=positive_int, default=128,
                        help="discriminator width (feed-forward: 4x)")
    parser.add_argument("--embedding-dim", type=positive_int, default=128,
                        help="shared embedding width")
    parser.add_argument("--num-layers", type=positive_int, default=3,
                        help="transformer blocks of each network")
    parser.add_argument("--num-heads", type=positive_int, default=2,
                        help="attention heads of the discriminator")
    parser.add_argument("--generator-fraction", type=positive_float,
                        default=0.25,
                        help="generator width / discriminator width")
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3,
                        help="peak rate after warm-up, then linear decay")
    parser.add_argument("--warmup-fraction", type=fraction, default=0.02,
                        help="share of --steps spent warming up")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed (split, initialisation, order)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT if it exists")
    parser.set_defaults(run=run)
    return parser


def run(args):
    started = time.time()
    if os.path.exists(args.output) and not args.overwrite:
        raise CommandError(f"{os.path.abspath(args.output)} already exists; "
                           "pass --overwrite to replace it")
    for path in args.files:
        if not os.path.isfile(path):
            raise CommandError(f"no such corpus file: {path!r}")
    if args.hidden_dim % args.num_heads:
        raise CommandError(f"--hidden-dim {args.hidden_dim} is not a "
                           f"multiple of --num-heads {args.num_heads}")
    work = args.work or args.output.rstrip("/") + ".work"
    heavy_imports(args)
    from keras_electra import ElectraTokenizer
    from keras_electra.pretraining import build_vocabulary
    from keras_electra.pretraining.recipe import PretrainingRecipe
    from keras_electra.pretraining.recipe import corpus_statistics
    from keras_electra.pretraining.recipe import pretrain
    from keras_electra.pretraining.recipe import save_preset
    from keras_electra_cli._progress import FitProgress
    from keras_electra_cli._progress import Steps

    os.makedirs(work, exist_ok=True)
    vocabulary = args.vocabulary
    with Steps(total=2) as steps:
        if vocabulary is None:
            vocabulary = os.path.join(work, "vocab.txt")
            if not os.path.exists(vocabulary):
                steps.run("learning the vocabulary", build_vocabulary,
                          args.files, args.vocabulary_size, vocabulary)
        tokenizer = ElectraTokenizer(vocabulary=vocabulary)
        stats = steps.run("reading the corpus", corpus_statistics,
                          args.files, tokenizer, args.sequence_length)
    recipe = PretrainingRecipe.from_arguments(args)
    model, record = pretrain(
        recipe, args.files, tokenizer, stats, work,
        callbacks=[FitProgress("pre-training")],
        verbose=2 if args.verbose else 0)
    record = {
        "command": "keras-electra " + " ".join(args.argv),
        "arguments": {k: v for k, v in vars(args).items()
                      if k not in ("run", "argv")},
        "corpus": {"files": [os.path.abspath(p) for p in args.files],
                   "vocabulary": os.path.abspath(vocabulary), **stats},
        **record,
    }
    save_preset(model, tokenizer, recipe, record, args.output,
                overwrite=args.overwrite)
    _summary(record, args, time.time() - started)
    return 0


def _summary(record, args, seconds):
    last = record["last_epoch"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                      if k not in ("epoch", "seconds", "tokens",
                                   "tokens_per_second"))
    print(f"pre-trained {record['parameters']:,} parameters "
          f"({record['objective']}) for {record['steps']} steps in "
          f"{seconds:.0f} s, {record['tokens_per_second']:,} tokens/s "
          f"({record['keras_backend']})")
    print(f"corpus: {record['corpus']['tokens_per_pass']:,} tokens per "
          f"pass; unigram entropy {record['corpus']['unigram_entropy_nats']}"
          " nats (compare generator_loss)")
    print(f"last epoch: {shown}")
    print(f"wrote {os.path.abspath(args.output)} (discriminator, "
          "generator/, training.json)")
    print(f"next: keras-electra finetune DATA --preset {args.output}")
