#!/usr/bin/python3
"""Golden cases for src/core/tokenizer/wordpiece.ts: an independent reference for BERT WordPiece.

A faithful transcription of Hugging Face transformers `models/bert/tokenization_bert.py`
(`BasicTokenizer`, `WordpieceTokenizer`, `BertTokenizer.build_inputs_with_special_tokens` /
`create_token_type_ids_from_sequences`), of the special-token split done by the slow
`PreTrainedTokenizer.tokenize` (the added-tokens trie), and of the 'longest_first' branch of
`PreTrainedTokenizerBase.truncate_sequences`, for `BertTokenizer(vocab, do_lower_case=True)`.
Standard library only (transformers is not installed here), so anyone can rerun it:

    /usr/bin/python3 scripts/golden/tokenizer_golden.py     # writes test/golden/tokenizer.json

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
]


# --- transformers/models/bert/tokenization_bert.py, transcribed ---------------------------------


def whitespace_tokenize(text):
    text = text.strip()
    if not text:
        return []
    return text.split()


def _is_whitespace(char):
    if char == " " or char == "\t" or char == "\n" or char == "\r":
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    if char == "\t" or char == "\n" or char == "\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char):
    cp = ord(char)
    if (cp >= 33 and cp <= 47) or (cp >= 58 and cp <= 64) or (cp >= 91 and cp <= 96) or (cp >= 123 and cp <= 126):
        return True
    return unicodedata.category(char).startswith("P")


class BasicTokenizer:
    def __init__(self, never_split):
        self.never_split = set(never_split)

    def tokenize(self, text):
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        unicode_normalized_text = unicodedata.normalize("NFC", text)
        orig_tokens = whitespace_tokenize(unicode_normalized_text)
        split_tokens = []
        for token in orig_tokens:
            if token not in self.never_split:
                token = token.lower()
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def _run_strip_accents(self, text):
        text = unicodedata.normalize("NFD", text)
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    def _run_split_on_punc(self, text):
        if text in self.never_split:
            return [text]
        output = []
        start_new_word = True
        for char in text:
            if _is_punctuation(char):
                output.append([char])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(char)
        return ["".join(x) for x in output]

    def _tokenize_chinese_chars(self, text):
        output = []
        for char in text:
            if self._is_chinese_char(ord(char)):
                output.extend([" ", char, " "])
            else:
                output.append(char)
        return "".join(output)

    def _is_chinese_char(self, cp):
        return (
            (cp >= 0x4E00 and cp <= 0x9FFF)
            or (cp >= 0x3400 and cp <= 0x4DBF)
            or (cp >= 0x20000 and cp <= 0x2A6DF)
            or (cp >= 0x2A700 and cp <= 0x2B73F)
            or (cp >= 0x2B740 and cp <= 0x2B81F)
            or (cp >= 0x2B820 and cp <= 0x2CEAF)
            or (cp >= 0xF900 and cp <= 0xFAFF)
            or (cp >= 0x2F800 and cp <= 0x2FA1F)
        )

    def _clean_text(self, text):
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            output.append(" " if _is_whitespace(char) else char)
        return "".join(output)


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token, max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        output_tokens = []
        for token in whitespace_tokenize(text):
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
        self.basic_tokenizer = BasicTokenizer(never_split=SPECIALS)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, "[UNK]")

    def _split_special_tokens(self, text):
        # PreTrainedTokenizer.tokenize: the added-tokens trie cuts the raw text at every special token
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
                if token in self.basic_tokenizer.never_split:
                    out.append(token)
                else:
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
            num_tokens_to_remove = total_len - max_length
            # truncate_sequences, TruncationStrategy.LONGEST_FIRST, truncation_side 'right'
            if pair_ids is None:
                assert len(ids) > num_tokens_to_remove, "HF refuses to truncate here"
                ids = ids[:-num_tokens_to_remove]
            else:
                for _ in range(num_tokens_to_remove):
                    if len(ids) > len(pair_ids):
                        ids = ids[:-1]
                    else:
                        pair_ids = pair_ids[:-1]
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
        "producedBy": "scripts/golden/tokenizer_golden.py (transcription of HF BertTokenizer, do_lower_case=True)",
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
