#!/usr/bin/python3
"""Golden cases for src/core/tokenizer/wordpiece.ts: an independent reference for BERT WordPiece.

A transcription of what Hugging Face transformers 5 `BertTokenizer(vocab, do_lower_case=True)` runs: since
transformers 5 that is the Rust `tokenizers` pipeline, so this follows huggingface/tokenizers
`normalizers/bert.rs` (`BertNormalizer`), `pre_tokenizers/bert.rs` (`BertPreTokenizer`), the WordPiece model,
the added-tokens split of the raw text at special tokens, the BERT post-processor and `truncate_encodings`
('longest_first'). It used to transcribe the transformers 4 Python `BasicTokenizer`, which differs: that one
drops unassigned code points (every C* char), NFC-normalizes, lowercases whole words (final sigma),
and splits an odd truncation budget differently. Standard library only (transformers is not installed
here), so anyone can rerun it:

    /usr/bin/python3 scripts/golden/tokenizer_golden.py     # writes test/golden/tokenizer.json

Limits: the Rust code takes Cc/Cf/Co, Mn and P* from Unicode 8.0 tables (crate unicode_categories 0.1.1),
this script from Python's `unicodedata`; they differ only on characters assigned after Unicode 8.0, which
no case here uses. The ids transformers 5.17 itself gives are in test/golden/bert-tokenizer/.

The vocabulary is small and hand-made; it deliberately puts the special tokens at odd ids.
"""

import json
import os
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

VOCAB = [
    "[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    # punctuation (ASCII and Unicode P*)
    "!", "$", "'", ",", "-", ".", "?", "@", "_", "[", "]", ":", "(", ")", "。", "，", "¿", "«", "»",
    # words
    "hello", "world", "how", "are", "you", "don", "t", "stop", "e", "mail", "x", "com", "mr", "o", "neil", "s",
    "foo", "bar", "example", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tab", "and",
    "newline", "end", "ok", "mask", "soft", "hyphen", "spam", "i", "a", "b", "c", "abc", "ab", "##ab",
    "5", "00", "123", "##45", "##67", "tokyo", "naive", "cafe", "resume", "uber", "istanbul", "οδος",
    "senor", "manana", "ca", "##ff", "##e", "zero", "##width", "line", "sep", "#", "##hyphen",
    # accent-stripped forms and scripts with marks
    "مرحبا", "हिनदी", "है",
    # wordpieces
    "un", "##aff", "##able", "play", "##ing", "##ed", "##s", "##b", "##c", "##bc", "##x", "##",
    # CJK (each is its own token), including one outside the BMP
    "我", "爱", "北", "京", "東", "好", "𠀀",
    # appended later (ids above unchanged): lowercased Greek with a word-final σ, as transformers 5 gives it
    "οδοσ", "σοσ",
]

CASES = [
    ("ascii", "Hello world!"),
    ("accents", "Héllo Wörld"),
    ("accents-2", "naïve café résumé über"),
    ("accents-combining", "cafe\u0301 cafe\u0300\u0327"),
    ("lone-combining-mark", "hello \u0301 world"),
    ("spanish", "¿Señor, mañana?"),
    ("apostrophe", "don't stop!!"),
    ("money", "$5.00"),
    ("email", "e-mail@x.com"),
    ("names", "Mr. O'Neil's e-mail: foo_bar@Example.COM"),
    ("cjk", "我爱北京 tokyo東京"),
    ("cjk-astral", "𠀀好x"),
    ("cjk-astral-inside-word", "tokyo𠀀tokyo"),
    ("fullwidth-punct", "hello。world，ok"),
    ("wordpiece", "unaffable playing played plays"),
    ("unknown", "xyzzy hello qwerty"),
    ("partly-known", "abx abz"),
    ("digits", "1234567 123"),
    ("long-word-100", "ab" * 50),
    ("long-word-101", "ab" * 50 + "a"),
    ("long-word-then-short", "x" * 120 + " hello"),
    ("whitespace", "tab\tand\nnewline\r\nend  "),
    ("control-chars", "a\x00b\x07c\ufffd d\x1bok\x7f"),
    ("format-chars", "zero\u200bwidth soft\u00adhyphen \ufeffhello"),
    ("nbsp-and-separators", "hello\u00a0world\u3000ok line\u2028sep"),
    ("unassigned", "he\u0378llo"),
    ("empty", ""),
    ("only-spaces", "  \t\n "),
    ("greek-final-sigma", "ΟΔΟΣ οδοσ"),
    ("turkish-dotted-i", "İstanbul"),
    ("ligature-and-fullwidth", "ﬁne ｆｕｌｌ"),
    ("arabic-marks", "مَرْحَبًا"),
    ("devanagari", "हिन्दी है"),
    ("emoji", "I ❤ spam 😀!"),
    ("specials-in-text", "hello [MASK] world[SEP]x [mask] [CLS"),
    ("guillemets", "«ok» (abc)"),
    ("double-hash", "## #"),
    ("private-use-dropped", "a\ue000b \U000f0000c\U0010fffd"),
    ("noncharacters-kept", "ab\ufdd0 \uffff c"),
    ("unassigned-between-words", "hello \u0378 \U00050000 world"),
    ("cjk-ext-e-boundary", "x\U0002b81fx x\U0002b820x x\U0002b920x"),
    ("vertical-tab-and-nel-dropped", "ab\x0bc \x85ok"),
    ("sigma-uppercase-word", "ΣΟΣ"),
]

PAIR_CASES = [
    ("pair", "Hello world", "How are you?", None),
    ("pair-empty-second", "hello", "", None),
    ("pair-empty-both", "", "", None),
    ("single-truncated", "the quick brown fox jumps over the lazy dog", None, 6),
    ("single-exact-fit", "hello world", None, 4),
    ("pair-truncated-longest-first", "the quick brown fox jumps over the lazy dog", "hello world", 9),
    ("pair-truncated-tie", "a b c d e", "a b c d e", 9),
    ("pair-truncated-second-longer", "hello", "the quick brown fox jumps over the lazy dog", 8),
    ("pair-truncated-to-nothing", "a b", "c d", 3),
    ("pair-wordpieces-truncated", "unaffable playing", "plays played unaffable", 7),
    ("pair-no-truncation-needed", "hello", "world", 32),
    ("pair-truncated-odd-budget-longer-second", "a b c e", "a b c e a b c e", 8),
    ("pair-truncated-odd-budget-longer-first", "a b c e a b c e", "a b c e", 8),
    ("pair-truncated-odd-budget-both-over", "a b c e a b c e", "a b c e a b c e a", 8),
    ("single-truncated-to-specials", "hello world", None, 2),
]


# --- huggingface/tokenizers normalizers/bert.rs + pre_tokenizers/bert.rs, transcribed ----------------

# Rust `char::is_whitespace` (the White_Space property).
RUST_WHITESPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def _is_whitespace(char):
    return char in "\t\n\r" or char in RUST_WHITESPACE


def _is_control(char):
    # unicode_categories `is_other`: Cc, Cf and Co only (not Cn: unassigned chars are kept, nor Cs).
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Co")


def _is_punctuation(char):
    # `is_bert_punc`: ASCII punctuation or a P* char.
    cp = ord(char)
    if (cp >= 33 and cp <= 47) or (cp >= 58 and cp <= 64) or (cp >= 91 and cp <= 96) or (cp >= 123 and cp <= 126):
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
    # Rust `is_chinese_char`: note 0x2B920, where Python's `_is_chinese_char` has 0x2B820.
    return (
        (cp >= 0x4E00 and cp <= 0x9FFF)
        or (cp >= 0x3400 and cp <= 0x4DBF)
        or (cp >= 0x20000 and cp <= 0x2A6DF)
        or (cp >= 0x2A700 and cp <= 0x2B73F)
        or (cp >= 0x2B740 and cp <= 0x2B81F)
        or (cp >= 0x2B920 and cp <= 0x2CEAF)
        or (cp >= 0xF900 and cp <= 0xFAFF)
        or (cp >= 0x2F800 and cp <= 0x2FA1F)
    )


def bert_normalize(text, lowercase=True):
    """`BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=...)`."""
    # clean_text: drop NUL, U+FFFD and controls, then map whitespace to ' '.
    text = "".join(
        " " if _is_whitespace(c) else c
        for c in text
        if not (ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c))
    )
    # handle_chinese_chars
    text = "".join(" " + c + " " if _is_chinese_char(ord(c)) else c for c in text)
    if lowercase:
        # strip_accents (defaults to lowercase): NFD, drop Mn; no NFC anywhere.
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        # NormalizedString::lowercase: char by char (so a word-final Σ becomes σ, not ς).
        text = "".join(c.lower() for c in text)
    return text


def bert_pre_tokenize(text):
    """`BertPreTokenizer`: split on whitespace (removed), then isolate every punctuation char."""
    words = []
    for chunk in text.split(" "):
        current = ""
        for char in chunk:
            if _is_punctuation(char):
                if current:
                    words.append(current)
                words.append(char)
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


class BasicTokenizer:
    def tokenize(self, text):
        return bert_pre_tokenize(bert_normalize(text))


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token, max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, word):
        # models/wordpiece: one pre-tokenized word (chars = code points).
        output_tokens = []
        for token in [word]:
            chars = list(token)
            if len(chars) > self.max_input_chars_per_word:
                output_tokens.append(self.unk_token)
                continue
            is_bad = False
            start = 0
            sub_tokens = []
            while start < len(chars):
                end = len(chars)
                cur_substr = None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur_substr = substr
                        break
                    end -= 1
                if cur_substr is None:
                    is_bad = True
                    break
                sub_tokens.append(cur_substr)
                start = end
            if is_bad:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(sub_tokens)
        return output_tokens


class BertTokenizer:
    def __init__(self, vocab_list):
        self.vocab = {}
        for index, token in enumerate(vocab_list):
            self.vocab[token] = index
        self.basic_tokenizer = BasicTokenizer()
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, "[UNK]")

    def _split_special_tokens(self, text):
        # AddedVocabulary: the raw text is cut at every special token (normalized=False) before normalization
        # (leftmost match; none of the five is a prefix of another, so longest == only match).
        pieces = []
        i = 0
        start = 0
        while i < len(text):
            hit = next((s for s in SPECIALS if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            pieces.append(text[start:i])
            pieces.append(hit)
            i += len(hit)
            start = i
        pieces.append(text[start:])
        return [p for p in pieces if p]

    def tokenize(self, text):
        out = []
        for piece in self._split_special_tokens(text):
            if piece in SPECIALS:
                out.append(piece)
                continue
            for token in self.basic_tokenizer.tokenize(piece):
                out.extend(self.wordpiece_tokenizer.tokenize(token))
        return out

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.get(t, self.vocab["[UNK]"]) for t in tokens]

    def encode_plus(self, text, text_pair=None, max_length=None):
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        pair_ids = self.convert_tokens_to_ids(self.tokenize(text_pair)) if text_pair is not None else None
        num_special = 3 if pair_ids is not None else 2
        total_len = len(ids) + (len(pair_ids) if pair_ids is not None else 0) + num_special
        if max_length is not None and total_len > max_length:
            # truncate_encodings, TruncationStrategy::LongestFirst, direction Right, on max_length - specials.
            budget = max_length - num_special
            if pair_ids is None:
                ids = ids[:budget]
            else:
                n1, n2 = len(ids), len(pair_ids)
                swap = n1 > n2
                if swap:
                    n1, n2 = n2, n1
                n2 = n1 if n1 > budget else max(n1, budget - n1)
                if n1 + n2 > budget:
                    n1 = budget // 2
                    n2 = n1 + budget % 2
                if swap:
                    n1, n2 = n2, n1
                # transformers 5.17 gives a the odd token when both sides exceed the whole budget (reference
                # case 500 in test/golden/bert-tokenizer/), where the Rust source above gives it to b.
                if min(len(ids), len(pair_ids)) > budget and budget % 2 == 1:
                    n1, n2 = budget // 2 + 1, budget // 2
                ids = ids[:n1]
                pair_ids = pair_ids[:n2]
        cls, sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        input_ids = [cls] + ids + [sep]
        token_type_ids = [0] * len(input_ids)
        if pair_ids is not None:
            input_ids += pair_ids + [sep]
            token_type_ids += [1] * (len(pair_ids) + 1)
        return {"inputIds": input_ids, "tokenTypeIds": token_type_ids}


def main():
    tok = BertTokenizer(VOCAB)
    cases = []
    for name, text in CASES:
        enc = tok.encode_plus(text)
        cases.append({"name": name, "text": text, "tokens": tok.tokenize(text), **enc})
    for name, text, pair, max_length in PAIR_CASES:
        enc = tok.encode_plus(text, pair, max_length)
        case = {"name": name, "text": text, "tokens": tok.tokenize(text)}
        if pair is not None:
            case["pair"] = pair
        if max_length is not None:
            case["maxLength"] = max_length
        cases.append({**case, **enc})
    out = {
        "producedBy": "scripts/golden/tokenizer_golden.py (transcription of HF transformers 5 BertTokenizer, do_lower_case=True)",
        "python": sys.version.split()[0],
        "unicodedata": unicodedata.unidata_version,
        "vocab": VOCAB,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "golden", "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: {len(cases)} cases, vocab {len(VOCAB)}")


if __name__ == "__main__":
    main()
