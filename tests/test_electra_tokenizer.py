"""`ElectraTokenizer` against Hugging Face's fast BERT tokenizer.

Every expected value comes from HF: `transformers.BertTokenizerFast` built on
the bundled vocabulary with `vocab=` (transformers 5 silently ignores
`vocab_file=` and maps everything to [UNK]; `hf_tokenizer` asserts a known
tokenization before any test trusts it), called with
`add_special_tokens=False` and `return_offsets_mapping=True`. Never from our
own output.

How HF treats special tokens written in the text (documented by
`test_literal_special_tokens_follow_hf`): `[PAD] [UNK] [CLS] [SEP] [MASK]`
are "added tokens" with `normalized=False`. They are matched exactly
(case-sensitively) in the raw text *before* normalisation and become one id
each, even glued to other characters ("a[MASK]b" -> a, [MASK], b); the text
on either side is tokenized separately. A lower-case "[mask]" is ordinary
text ("[", "mask", "]"). HF's `split_special_tokens=True` turns the matching
off; ours is `special_tokens_in_strings=False`.

Offsets: no string needs excluding. Ours reproduce HF's alignment rules,
including its quirks: a character that normalises to several characters
("İ" -> "i̇", Hangul syllables -> jamo) gives every token it produces the
span of the whole original character, and NFD's reordering of combining
marks moves HF's alignments with the characters (see `bert_text_normalizer`).
"""

import csv
import functools
import json
import os
import random
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_electra.text import bert_text_normalizer
from keras_electra.models.electra_tokenizer import DEFAULT_VOCABULARY_PATH
from keras_electra.models.electra_tokenizer import ElectraTokenizer

transformers = pytest.importorskip("transformers")

DATA_DIR = os.path.join(
    os.path.dirname(DEFAULT_VOCABULARY_PATH), "fine_foods"
)

# (lowercase, strip_accents): uncased (all Google ELECTRA checkpoints),
# cased, and the two explicit strip_accents variants.
CONFIGS = [(True, None), (False, None), (True, False), (False, True)]

CASES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "HELLO World, THIS is MiXeD CaSe!",
    "café naïve Ångström résumé coöperate",
    "Crème Brûlée à la mode, Ça va?",
    "Straße Fußball ß ẞ STRASSE",
    "İstanbul ıi İI Iı",  # Turkish dotted / dotless i
    "ΟΔΟΣ οδος Σίσυφος ΣΊΣΥΦΟΣ",  # Greek final sigma
    "Ελληνικά ά έ ή ί ό ύ ώ ΐ ΰ",
    "中文字符 and 漢字混じりの文",
    "日本語のテキスト カタカナ ひらがな ﾊﾝｶｸｶﾀｶﾅ",
    "한국어 텍스트 안녕하세요 각",
    "العربية مرحبا بالعالم ٣٤٥",
    "हिन्दी नमस्ते दुनिया",
    "ภาษาไทย Tiếng Việt có dấu",
    "Русский текст Ёё",
    "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🥲 🫠",
    "control\x00chars\x01\x07\x1b[0m\x7f\x85here",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj\u00adshy",
    "non\u00a0breaking\u202fnarrow\u2007figure\u3000ideographic",
    "ＡＢＣ！ｆｕｌｌ－ｗｉｄｔｈ　１２３？「括弧」。、",
    "∑ ∫ √ ≤ ≥ ≠ ∞ ± × ÷ ∂ ∇ α+β=γ ½ x²",
    "$100 €50 £20 ¥1000 ₹500 ₿0.01 ¢ ₩",
    "a" * 100,
    "a" * 101,
    "b" * 99 + "é",  # 100 characters, 101 bytes
    "é" * 100,
    "é" * 101,
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "",
    "   ",
    "\t\n\r \u2028\u2029\x0b\x0c",
    "[MASK]",
    "[SEP]",
    "[CLS]",
    "[UNK]",
    "[PAD]",
    "The [MASK] sat on the mat. [SEP] Next sentence [CLS]",
    "a[MASK]b[SEP]c[MASK][MASK]",
    "[mask] [Mask] [ MASK ] [MASK [[MASK]]",
    "https://www.example.com/path?query=1&b=2#frag user@example.org",
    "3.14159 1,000,000 -42 +7 1e-10 50% 2nd 3rd",
    "tabs\tand\nnewlines\r\nmixed",
    "don't won't it's 'quoted' \"double\" «guillemets» „low“",
    "‘smart’ “quotes” — em–en dash … ellipsis · middot",
    "Ǆemo ǅemo ǆemo ﬁnance ﬂow",  # title-case digraphs, ligatures
    "x\u0301\u0302\u0303 combining marks alone \u0301",
    "\U0001d11e music \u0301\U0001d165 \U0001d16d\U0001d165 reorder",
    "private \ue000 use \U000f0000 and unassigned \u0378",
    "\ufffd replacement char",
    "𠀀𠀁 𪜀 CJK extension B",
    "\U0002b820\U0002b91f outside HF's CJK ranges",
    "ǰ ẖ ẗ ẘ ẙ ẚ Å Ω K",
]


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def hf_tokenizer(lowercase=True, strip_accents=None, split_special=False):
    tokenizer = transformers.BertTokenizerFast(
        vocab=DEFAULT_VOCABULARY_PATH,
        do_lower_case=lowercase,
        strip_accents=strip_accents,
        split_special_tokens=split_special,
    )
    # Guard against a vocabulary that silently did not load.
    got = tokenizer("hello world", add_special_tokens=False).input_ids
    assert got == [7592, 2088], got
    assert len(tokenizer.get_vocab()) == 30522
    return tokenizer


def hf_encode(texts, **options):
    encoded = hf_tokenizer(**options)(
        list(texts), add_special_tokens=False, return_offsets_mapping=True
    )
    offsets = [[list(o) for o in row] for row in encoded.offset_mapping]
    return encoded.input_ids, offsets


@functools.lru_cache(maxsize=None)
def our_tokenizer(lowercase=True, strip_accents=None):
    return ElectraTokenizer(lowercase=lowercase, strip_accents=strip_accents)


def to_list(x):
    if isinstance(x, list):
        return x
    if isinstance(x, tf.RaggedTensor):
        return x.to_list()
    return np.asarray(keras.ops.convert_to_numpy(x)).tolist()


def our_encode(tokenizer, texts):
    ids, starts, ends = tokenizer.tokenize_with_offsets(list(texts))
    ids, starts, ends = to_list(ids), to_list(starts), to_list(ends)
    offsets = [[list(p) for p in zip(s, e)] for s, e in zip(starts, ends)]
    return ids, offsets


def assert_same(texts, ours, theirs, what):
    bad = [i for i in range(len(texts)) if ours[i] != theirs[i]]
    details = "\n".join(
        f"  {texts[i]!r:.80}\n    ours {ours[i]!s:.200}\n    HF   "
        f"{theirs[i]!s:.200}"
        for i in bad[:5]
    )
    assert not bad, f"{len(bad)}/{len(texts)} {what} differ:\n{details}"


def random_texts(count, seed):
    """Random strings over scripts, marks, controls, emoji, special tokens."""
    pools = [(0x20, 0x7E)] * 6 + [
        (0x00, 0x1F), (0x7F, 0xFF), (0x100, 0x24F), (0x300, 0x36F),
        (0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x6FF), (0x900, 0x97F),
        (0x1100, 0x11FF), (0x1B00, 0x1BFF), (0x2000, 0x206F),
        (0x3000, 0x30FF), (0x4E00, 0x4EFF), (0xAC00, 0xD7A3),
        (0xE000, 0xE0FF), (0xFE00, 0xFFFF), (0x1D160, 0x1D17F),
        (0x1F300, 0x1FAFF), (0x2B800, 0x2B9FF), (0x10000, 0x10FFFF),
    ]  # fmt: skip
    specials = ["[MASK]", "[SEP]", "[CLS]", "[UNK]", "[PAD]", "[mask]"]
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.choice([0, 1, 2, 3, 5, 10, 30, 120])):
            x = rng.random()
            if x < 0.03:
                chars.append(rng.choice(specials))
            elif x < 0.1:
                chars.append(" ")
            else:
                while True:
                    cp = rng.randint(*rng.choice(pools))
                    if not 0xD800 <= cp <= 0xDFFF:
                        break
                chars.append(chr(cp))
        texts.append("".join(chars))
    return texts


def fine_food_reviews():
    texts = []
    for split in ("train", "test"):
        path = os.path.join(DATA_DIR, f"{split}.csv")
        with open(path, encoding="utf-8", newline="") as f:
            texts += [row["review"] for row in csv.DictReader(f)]
    return texts


# --------------------------------------------------------------------------
# Parity.
# --------------------------------------------------------------------------


def test_hf_reference_loads_the_vocabulary():
    hf = hf_tokenizer()
    assert hf("hello world", add_special_tokens=False).input_ids == [
        7592,
        2088,
    ]
    # And the ignored-vocabulary trap really exists in this transformers.
    assert hf.convert_tokens_to_ids("[MASK]") == 103


@pytest.mark.backend_sensitive
@pytest.mark.parametrize("lowercase,strip_accents", CONFIGS)
def test_cases_match_hf(lowercase, strip_accents):
    options = dict(lowercase=lowercase, strip_accents=strip_accents)
    hf_ids, hf_offsets = hf_encode(CASES, **options)
    ids, offsets = our_encode(our_tokenizer(**options), CASES)
    assert_same(CASES, ids, hf_ids, "token ids")
    assert_same(CASES, offsets, hf_offsets, "offsets")


def test_all_fine_food_reviews_match_hf():
    texts = fine_food_reviews()
    assert len(texts) == 5000
    hf_ids, hf_offsets = hf_encode(texts)
    ids, offsets = our_encode(our_tokenizer(), texts)
    assert_same(texts, ids, hf_ids, "reviews' token ids")
    assert_same(texts, offsets, hf_offsets, "reviews' offsets")
    # Plain `__call__` gives the same ids.
    assert to_list(our_tokenizer()(texts[:500])) == hf_ids[:500]


@pytest.mark.parametrize("lowercase,strip_accents", CONFIGS)
def test_random_unicode_matches_hf(lowercase, strip_accents):
    options = dict(lowercase=lowercase, strip_accents=strip_accents)
    texts = random_texts(1000, seed=2020)
    hf_ids, hf_offsets = hf_encode(texts, **options)
    ids, offsets = our_encode(our_tokenizer(**options), texts)
    assert_same(texts, ids, hf_ids, "token ids")
    assert_same(texts, offsets, hf_offsets, "offsets")


def test_unicode_tables_match_installed_tokenizers():
    """The embedded tables equal what `tokenizers` does, code point by code
    point (all 1,112,064 of them); fails if `tokenizers` changes Unicode."""
    derived = bert_text_normalizer.derive_tables_from_tokenizers()
    embedded = bert_text_normalizer.embedded_tables()
    for name in derived:
        assert derived[name] == embedded[name], name


def test_literal_special_tokens_follow_hf():
    texts = ["a[MASK]b", "[mask]", "x [SEP] y[CLS][UNK][PAD]"]
    hf_ids, hf_offsets = hf_encode(texts)
    # What HF does (see the module docstring).
    assert hf_ids[0] == [1037, 103, 1038]
    assert hf_ids[1] == [1031, 7308, 1033]
    ids, offsets = our_encode(our_tokenizer(), texts)
    assert ids == hf_ids and offsets == hf_offsets
    # special_tokens_in_strings=False == HF split_special_tokens=True.
    split_ids, split_offsets = hf_encode(texts, split_special=True)
    assert split_ids[0] == [1037, 1031, 7308, 1033, 1038]
    tokenizer = ElectraTokenizer(special_tokens_in_strings=False)
    assert our_encode(tokenizer, texts) == (split_ids, split_offsets)


def test_special_token_ids_match_hf():
    hf = hf_tokenizer()
    tokenizer = our_tokenizer()
    for name in ("pad", "unk", "cls", "sep", "mask"):
        assert getattr(tokenizer, f"{name}_token_id") == getattr(
            hf, f"{name}_token_id"
        )
        assert getattr(tokenizer, f"{name}_token") == getattr(
            hf, f"{name}_token"
        )
    assert tokenizer.vocabulary_size() == hf.vocab_size


def test_invalid_utf8_is_replaced_like_python():
    raw = [b"a\xffb c", b"x\xe2\x82y", b"\xc0\xafz", b"\xed\xa0\x80w", b"ok"]
    decoded = [b.decode("utf-8", errors="replace") for b in raw]
    hf_ids, hf_offsets = hf_encode(decoded)
    ids, starts, ends = our_tokenizer().tokenize_with_offsets(raw)
    assert to_list(ids) == hf_ids
    offsets = [[list(p) for p in zip(s, e)] for s, e in zip(starts, ends)]
    assert offsets == hf_offsets


def test_detokenize_joins_hf_tokens():
    # keras-hub's detokenize: tokens joined by spaces, "##" pieces glued on
    # (HF's decoder also removes spaces before punctuation; that is not
    # reproduced).
    texts = ["The quick brown fox.", "unaffable café", "don't stop"]
    hf = hf_tokenizer()
    hf_ids, _ = hf_encode(texts)
    tokenizer = our_tokenizer()
    for row in hf_ids:
        tokens = hf.convert_ids_to_tokens(row)
        expected = " ".join(tokens).replace(" ##", "")
        assert to_list(tokenizer.detokenize(row)) == expected
    assert to_list(tokenizer.detokenize(hf_ids)) == [
        " ".join(hf.convert_ids_to_tokens(r)).replace(" ##", "")
        for r in hf_ids
    ]


# --------------------------------------------------------------------------
# Shapes, dtypes, errors.
# --------------------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_shapes_and_sequence_length():
    texts = ["Hello, Café [MASK]!", "", "中文"]
    hf_ids, hf_offsets = hf_encode(texts)
    tokenizer = our_tokenizer()
    # Scalar -> one dense row; batch -> ragged rows.
    assert to_list(tokenizer(texts[0])) == hf_ids[0]
    assert to_list(tokenizer(texts)) == hf_ids
    assert to_list(tokenizer([])) == []
    # Rank 2 and ragged batches keep their outer structure.
    assert to_list(tokenizer([[texts[0]], [texts[2]]])) == [
        [hf_ids[0]],
        [hf_ids[2]],
    ]
    # Padded and truncated to `sequence_length` with [PAD] = 0.
    padded = ElectraTokenizer(sequence_length=4)
    out = np.asarray(keras.ops.convert_to_numpy(padded(texts)))
    expected = [(row + [0] * 4)[:4] for row in hf_ids]
    assert out.tolist() == expected
    ids, starts, ends = padded.tokenize_with_offsets(texts[0])
    assert to_list(ids) == expected[0]
    assert to_list(starts) == [o[0] for o in hf_offsets[0]][:4]
    # String output.
    strings = ElectraTokenizer(dtype="string")(texts[0])
    hf = hf_tokenizer()
    assert [
        s.decode() if isinstance(s, bytes) else s for s in to_list(strings)
    ] == hf.convert_ids_to_tokens(hf_ids[0])


@pytest.mark.backend_sensitive
@pytest.mark.parametrize(
    "bad",
    [[1, 2, 3], 1.5, None, np.array([1.0, 2.0]), ["ok", 3]],
    ids=["int_list", "float", "none", "float_array", "mixed_list"],
)
def test_non_string_input_raises(bad):
    with pytest.raises(ValueError, match="expects strings"):
        our_tokenizer()(bad)
    with pytest.raises(ValueError, match="expects strings"):
        our_tokenizer().tokenize_with_offsets(bad)


def test_float_tensor_raises():
    with pytest.raises(ValueError, match="expects strings"):
        our_tokenizer()(tf.constant([1.0, 2.0]))


# --------------------------------------------------------------------------
# Graphs, serialisation, backends.
# --------------------------------------------------------------------------


@pytest.mark.backend_sensitive
def test_inside_tf_data():
    texts = CASES[:12]
    hf_ids, hf_offsets = hf_encode(texts)
    tokenizer = our_tokenizer()
    ds = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)
    assert [x.numpy().tolist() for x in ds] == hf_ids
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(5)
    ds = ds.map(tokenizer.tokenize_with_offsets)
    ids, offsets = [], []
    for batch_ids, starts, ends in ds:
        ids += batch_ids.to_list()
        offsets += [
            [list(p) for p in zip(s, e)]
            for s, e in zip(starts.to_list(), ends.to_list())
        ]
    assert ids == hf_ids and offsets == hf_offsets


def test_saved_model_round_trip():
    texts = ["Héllo wörld [SEP] 中文", "", "ＡＢＣ！ naïve"]
    hf_ids, hf_offsets = hf_encode(texts)

    class Module(tf.Module):
        def __init__(self, tokenizer):
            super().__init__()
            self.tokenizer = tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, text):
            ids, starts, ends = self.tokenizer.tokenize_with_offsets(text)
            return {
                "ids": ids.to_tensor(-1),
                "starts": starts.to_tensor(-1),
                "ends": ends.to_tensor(-1),
            }

    module = Module(our_tokenizer())
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures=module.serve)
        loaded = tf.saved_model.load(tmp)
        out = loaded.signatures["serving_default"](tf.constant(texts))
    for i in range(len(texts)):
        ids = [x for x in out["ids"][i].numpy().tolist() if x != -1]
        starts = out["starts"][i].numpy().tolist()[: len(ids)]
        ends = out["ends"][i].numpy().tolist()[: len(ids)]
        assert ids == hf_ids[i]
        assert [list(p) for p in zip(starts, ends)] == hf_offsets[i]


@pytest.mark.filterwarnings("ignore:You are saving a model that has not")
def test_config_round_trip_and_keras_file():
    tokenizer = ElectraTokenizer(lowercase=False, sequence_length=16)
    config = tokenizer.get_config()
    for key in (
        "lowercase",
        "strip_accents",
        "split_on_cjk",
        "special_tokens_in_strings",
        "max_input_chars_per_word",
        "sequence_length",
    ):
        assert key in config
    restored = ElectraTokenizer.from_config(config)
    assert restored.get_config() == config

    text = "Hello Wörld, Ünïcode [MASK]"
    hf_ids, _ = hf_encode([text], lowercase=False)
    expected = (hf_ids[0] + [0] * 16)[:16]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokenizer.keras")
        keras.Sequential([tokenizer]).save(path)
        loaded = keras.saving.load_model(path).layers[0]
    assert isinstance(loaded, ElectraTokenizer)
    assert loaded.get_config() == config
    assert to_list(loaded(text)) == expected
    assert to_list(restored(text)) == expected


_BACKEND_SCRIPT = """
import json, sys
import keras
from keras_electra.models.electra_tokenizer import ElectraTokenizer
import tensorflow as tf
texts = json.loads(sys.argv[1])
tokenizer = ElectraTokenizer()
def to_list(x):
    return x if isinstance(x, list) else keras.ops.convert_to_numpy(x).tolist()
ids, starts, ends = tokenizer.tokenize_with_offsets(texts)
scalar = to_list(tokenizer(texts[0]))
mapped = [x.numpy().tolist() for x in
          tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)]
print(json.dumps({"backend": keras.backend.backend(), "ids": ids,
                  "starts": starts, "ends": ends, "scalar": scalar,
                  "mapped": mapped}))
"""


# The backend_sensitive tests above also run in-process under jax and torch in
# CI (`KERAS_BACKEND=jax pytest -m backend_sensitive`); this is the same check
# from any backend, in a subprocess per backend (slow: two interpreter starts).
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_keras_backends(backend):
    pytest.importorskip(backend)
    if keras.backend.backend() == backend:
        pytest.skip("already running on this backend")
    texts = ["Hello, Café [MASK]!", "中文 ＡＢＣ！ Straße", "", "🥲 naïve"]
    hf_ids, hf_offsets = hf_encode(texts)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _BACKEND_SCRIPT, json.dumps(texts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend
    assert out["ids"] == hf_ids
    assert out["mapped"] == hf_ids
    assert out["scalar"] == hf_ids[0]
    offsets = [
        [list(p) for p in zip(s, e)] for s, e in zip(out["starts"], out["ends"])
    ]
    assert offsets == hf_offsets
