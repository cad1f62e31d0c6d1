"""Hugging Face checkpoints of a random-weight nano BERT, as PyTorch writes them, for the model loader's tests.

Run: /usr/bin/python3 scripts/golden/make_hf_checkpoint.py   (Debian's python3-torch; no transformers, no safetensors)

Writes test/fixtures/hf-bin/:
  f32/      config.json (3 labels), vocab.txt, model.safetensors (F32, hand-written) and pytorch_model.bin
            (torch.save of the state dict, zip format), both BertForSequenceClassification names, plus the
            `bert.embeddings.position_ids` int64 buffer older transformers saved (an unexpected tensor).
  f16/      the same weights rounded to float16: config.json (torch_dtype float16), tokenizer.json (a cased
            WordPiece: its BertNormalizer says lowercase false), model.safetensors (F16), pytorch_model.bin (float16).
  legacy/   a BertModel-style .bin of the f32 encoder: unprefixed names, `LayerNorm.gamma/beta`, no pooler or
            classifier, with MLM heads (`cls.predictions.*`); vocab.txt and tokenizer_config.json (do_lower_case).
  dtypes.safetensors, dtypes.bin, dtypes.json: f16, bf16, f32 and int64 tensors, and in the .bin a transposed
            view and an offset slice of shared storages; dtypes.json has torch's float32/int values of each.
  hostile/  .bin files that must be refused: a REDUCE of os.system, one of builtins.eval, a pickled nn.Linear
            (a global outside the tensor rebuilders), a truncated zip, a storage shorter than its tensor, a
            zero-stride view whose shape is 2^40 elements, a broadcast view larger than its storage, and the
            legacy (pre-1.6, non-zip) torch.save format.
  expected.json  encoded inputs and the logits of an independent PyTorch BERT forward (make_golden.py's) for
            the f32 and the f16 weights, in float64.
"""

import collections
import json
import os
import sys
import zipfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as G  # noqa: E402  the hand-written HF-semantics BERT forward (embed, f_enc) and nano config

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "hf-bin"
LABELS = ["negative", "neutral", "positive"]
PWNED = "/tmp/alum-hostile-pickle-ran"  # the hostile pickles would create this file if anything executed them

ST_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def shapes():
    s = dict(G.param_shapes())
    s["classifier.weight"] = [len(LABELS), G.H]
    s["classifier.bias"] = [len(LABELS)]
    return s


def config_json(torch_dtype):
    c = G.hf_config_json()
    c["id2label"] = {str(i): name for i, name in enumerate(LABELS)}
    c["label2id"] = {name: i for i, name in enumerate(LABELS)}
    c["torch_dtype"] = torch_dtype
    return c


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16: the same 2 bytes as int16
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes(order="C")


def write_safetensors(path, tensors):
    """make_golden's writer, with each tensor in its own dtype (F32, F16, BF16 or I64)."""
    G.write_safetensors(path, tensors, lambda t: (ST_DTYPE[t.dtype], list(t.shape), tensor_bytes(t)))


def write_json(path, obj):
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def tokenizer_json(lowercase):
    """The parts of a `tokenizers` tokenizer.json a BERT loader reads: BertNormalizer and the WordPiece vocab."""
    return {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(G.VOCAB[:5])],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": lowercase},  # fmt: skip
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(G.VOCAB)}},  # fmt: skip
    }


# Inputs: texts made of vocabulary words, so the expected ids follow from a plain lookup.
TEXTS = [("the cat sat on the mat .", None), ("free money ! click now", None), ("call me", "meeting at noon"),
         ("The cat", None)]  # fmt: skip


def word_ids(text, lowercase):
    return [G.TOK.get(w.lower() if lowercase else w, G.TOK["[UNK]"]) for w in text.split()]


def encode(a, b, lowercase):
    ids = [G.TOK["[CLS]"]] + word_ids(a, lowercase) + [G.TOK["[SEP]"]]
    types = [0] * len(ids)
    if b is not None:
        extra = word_ids(b, lowercase) + [G.TOK["[SEP]"]]
        ids += extra
        types += [1] * len(extra)
    return ids, types


def batch(lowercase):
    rows = [encode(a, b, lowercase) for a, b in TEXTS]
    T = max(len(r[0]) for r in rows)
    ids = [r[0] + [0] * (T - len(r[0])) for r in rows]
    types = [r[1] + [0] * (T - len(r[1])) for r in rows]
    mask = [[1] * len(r[0]) + [0] * (T - len(r[0])) for r in rows]
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def logits(P, b):
    P64 = {k: v.to(torch.float64) for k, v in P.items()}
    ids = torch.tensor(b["input_ids"])
    with torch.no_grad():
        e = G.embed(P64, ids, torch.tensor(b["token_type_ids"]))
        return G.f_enc(P64, e, torch.tensor(b["attention_mask"])).tolist()


class Reduce:
    """Pickles as GLOBAL fn + REDUCE args: what a hostile checkpoint would run on torch.load."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def save_bin(path, obj, **kw):
    torch.save(obj, path, **kw)


def state_dict(tensors):
    """An OrderedDict with `_metadata`, as `nn.Module.state_dict()` returns (pickled with a BUILD of its state)."""
    sd = collections.OrderedDict(tensors)
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd


def rewrite_zip(src, dst, entry_suffix, new_bytes):
    """Copies a torch zip, replacing the entry ending in `entry_suffix`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            # `info` keeps the entry's timestamp, so the copy is byte-identical from run to run
            zout.writestr(info, new_bytes if info.filename.endswith(entry_suffix) else data)


def make_hostile(d):
    d.mkdir(parents=True, exist_ok=True)
    save_bin(d / "os_system.bin", {"w": torch.zeros(2), "x": Reduce(os.system, (f"touch {PWNED}",))})
    save_bin(d / "eval.bin", {"x": Reduce(eval, (f"__import__('os').system('touch {PWNED}')",))})
    save_bin(d / "module.bin", torch.nn.Linear(2, 2))
    small = d / "_small.bin"
    save_bin(small, {"w": torch.arange(16, dtype=torch.float32).reshape(4, 4)})
    raw = small.read_bytes()
    (d / "truncated.bin").write_bytes(raw[: len(raw) // 2])
    rewrite_zip(small, d / "short_storage.bin", "/data/0", b"\0" * 8)
    small.unlink()
    save_bin(d / "huge_shape.bin", {"w": torch.zeros(4).as_strided((1 << 20, 1 << 20), (0, 0))})
    save_bin(d / "broadcast.bin", {"w": torch.zeros(4).as_strided((8, 4), (0, 1))})  # 32 elements from 4
    # The legacy format names each storage by its memory address, so this one file differs between runs.
    save_bin(d / "legacy.bin", {"w": torch.zeros(2)}, _use_new_zipfile_serialization=False)


def make_dtypes():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(3, 5, generator=g) * 3
    t = {
        "f32": base.clone(),
        "f16": torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1e-5, 5.96e-8, 3.14159, -1e-3]).to(torch.float16),
        "bf16": torch.tensor([0.0, -0.0, 1.0, -2.5, 3.0e38, 1.0e-38, 9.2e-41, 3.14159, -1e-3]).to(torch.bfloat16),
        "i64": torch.tensor([0, 1, -1, 2**40, -(2**31)], dtype=torch.int64),
        "f16_inf": torch.tensor([float("inf"), float("-inf")]).to(torch.float16),
    }
    write_safetensors(OUT / "dtypes.safetensors", t)
    storage = torch.arange(24, dtype=torch.float32) / 4
    views = dict(t)
    views["transposed"] = storage[:12].reshape(3, 4).t()  # stride (1, 4): a non-contiguous view
    views["sliced"] = storage.reshape(4, 6)[1:3, 2:5]  # storage offset 8, stride (6, 1)
    views["bf16_view"] = t["bf16"][2:7:2]  # offset 2, stride 2 in a bfloat16 storage
    save_bin(OUT / "dtypes.bin", views)
    expected = {k: {"shape": list(v.shape), "values": (v.tolist() if v.dtype == torch.int64 else
                                                       v.float().flatten().tolist())}  # fmt: skip
                for k, v in views.items()}  # fmt: skip
    for v in expected.values():
        if isinstance(v["values"][0], list):
            v["values"] = [x for row in v["values"] for x in row]
    # JSON has no infinities: write them as strings.
    for v in expected.values():
        v["values"] = [x if abs(x) != float("inf") else ("Infinity" if x > 0 else "-Infinity") for x in v["values"]]
    write_json(OUT / "dtypes.json", expected)


def main():
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    P = G.draw_like_fixture(shapes(), 11)
    position_ids = torch.arange(G.CFG["max_position_embeddings"], dtype=torch.int64)[None, :]

    f32 = OUT / "f32"
    f32.mkdir(exist_ok=True)
    write_json(f32 / "config.json", config_json("float32"))
    (f32 / "vocab.txt").write_text("\n".join(G.VOCAB) + "\n")
    write_safetensors(f32 / "model.safetensors", {**P, "bert.embeddings.position_ids": position_ids})
    save_bin(f32 / "pytorch_model.bin", state_dict({**P, "bert.embeddings.position_ids": position_ids}))

    P16 = {k: v.to(torch.float16) for k, v in P.items()}
    f16 = OUT / "f16"
    f16.mkdir(exist_ok=True)
    write_json(f16 / "config.json", config_json("float16"))
    write_json(f16 / "tokenizer.json", tokenizer_json(False))
    write_safetensors(f16 / "model.safetensors", P16)
    save_bin(f16 / "pytorch_model.bin", P16)

    legacy = OUT / "legacy"
    legacy.mkdir(exist_ok=True)
    enc = {}
    for k, v in P.items():
        if k.startswith("bert.pooler.") or k.startswith("classifier."):
            continue
        enc[k[len("bert."):].replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")] = v
    enc["cls.predictions.bias"] = torch.zeros(len(G.VOCAB))
    enc["cls.predictions.decoder.weight"] = P["bert.embeddings.word_embeddings.weight"]  # tied: a shared storage
    cfg = config_json("float32")
    del cfg["id2label"], cfg["label2id"]
    cfg["architectures"] = ["BertForPreTraining"]
    cfg["num_labels"] = 3
    write_json(legacy / "config.json", cfg)
    (legacy / "vocab.txt").write_text("\n".join(G.VOCAB) + "\n")
    write_json(legacy / "tokenizer_config.json", {"do_lower_case": True})
    save_bin(legacy / "pytorch_model.bin", state_dict(enc))

    make_dtypes()
    make_hostile(OUT / "hostile")

    P16_32 = {k: v.to(torch.float32) for k, v in P16.items()}
    write_json(OUT / "expected.json", {
        "texts": [[a, b] for a, b in TEXTS],
        "uncased": batch(True),
        "cased": batch(False),
        "logits_f32": logits(P, batch(True)),
        "logits_f16": logits(P16_32, batch(False)),
        "pwned_marker": PWNED,
    })  # fmt: skip

    # Self-checks: torch reads back what we wrote, and refuses nothing of ours.
    back = torch.load(f32 / "pytorch_model.bin")
    assert all(torch.equal(back[k], P[k]) for k in P)
    assert not Path(PWNED).exists()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
