"""Fill-mask with the generator, "which tokens were replaced" with the
discriminator: the two halves of ELECTRA's pre-training, used directly.

The bundled preset `electra_tiny_uncased_en` ships both trained models:
`ElectraMaskedLM.from_preset` loads the generator (from the preset's
`generator/` folder) and `ElectraDiscriminator.from_preset` the
discriminator, each with its head (no "newly initialized" warning).

1. `fill_mask()` returns, for each `[MASK]`, the most probable tokens with
   HF's fill-mask pipeline fields (`score`, `token`, `token_str`,
   `sequence`).
2. The generator's top guess replaces a masked word, as in pre-training;
   `replaced_token_probabilities()` then says, per token, how likely the
   discriminator thinks it was replaced. A blatant replacement ("python" in
   an Austen sentence) stands out.

A full run saves a bar chart of the discriminator's probabilities to
`guides/images/replaced_token_probabilities.png`.

    python guides/fill_mask_guide.py            # about a minute
    python guides/fill_mask_guide.py --quick    # as the test runs it
"""

import argparse
import os

from keras_electra import ElectraDiscriminator
from keras_electra import ElectraMaskedLM

PRESET = "electra_tiny_uncased_en"
IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
SENTENCES = [
    "she was the [MASK] of a very respectable family .",
    "the coffee tastes [MASK] and i will buy it again .",
    "mr . darcy walked into the [MASK] .",
]
ORIGINAL = "she had a very good opinion of her sister ."
REPLACED = "she had a very python opinion of her sister ."


def plot(tokens, original, replaced, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.2))
    x = range(len(tokens))
    axis.bar([i - 0.2 for i in x], original, 0.4, label=ORIGINAL)
    axis.bar([i + 0.2 for i in x], replaced, 0.4, label=REPLACED)
    axis.set_xticks(list(x), tokens, rotation=30)
    axis.set_ylabel("P(replaced)")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8, loc="upper left")
    axis.set_title(f"{PRESET}: the discriminator's replaced-token "
                   "probabilities")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=100)
    print("saved", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=bool(os.environ.get("GUIDE_QUICK")),
                        help="one sentence (env GUIDE_QUICK=1)")
    parser.add_argument("--images", default=IMAGES,
                        help="where the chart goes (default: %(default)s)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    sentences = SENTENCES[:1] if args.quick else SENTENCES

    # 1. Fill-mask with the generator.
    generator = ElectraMaskedLM.from_preset(PRESET)
    for sentence, answers in zip(sentences,
                                 generator.fill_mask(sentences, top_k=3)):
        print(sentence)
        for answer in answers:
            print(f"  {answer['score']:.3f}  {answer['token_str']!r:12} "
                  f"{answer['sequence']}")

    # 2. Replace a token as pre-training does, then ask the discriminator.
    masked = SENTENCES[0]
    guess = generator.fill_mask(masked, top_k=1)[0]["sequence"]
    discriminator = ElectraDiscriminator.from_preset(PRESET)
    for text in (guess, ORIGINAL, REPLACED):
        scores = discriminator.replaced_token_probabilities(text)
        print("replaced?", " ".join(f"{t}:{p:.2f}" for t, p in scores))
    original = discriminator.replaced_token_probabilities(ORIGINAL)
    replaced = discriminator.replaced_token_probabilities(REPLACED)
    python = dict(replaced)["python"]
    others = max(p for t, p in replaced if t != "python")
    print(f"P(replaced) of 'python': {python:.2f}; highest of the other "
          f"tokens: {others:.2f}")
    if not args.no_plot:
        tokens = [f"{a}/{b}" if a != b else a
                  for (a, _), (b, _) in zip(original, replaced)]
        plot(tokens, [p for _, p in original], [p for _, p in replaced],
             os.path.join(args.images, "replaced_token_probabilities.png"))


if __name__ == "__main__":
    main()
