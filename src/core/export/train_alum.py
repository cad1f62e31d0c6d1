#!/usr/bin/env python3
"""ALUM fine-tuning of a BERT sequence classifier: the ALUM Playground's training run as one PyTorch script.

Exported by `alum export-torch` or the page's "Export PyTorch script" button, next to `config.json` (the run's
settings under the playground's config names) and README.md (the commands). The ALUM step is the playground's
(docs/alum-step.md of the ALUM Playground repository), option for option:

  e = embed(ids) (word + position + token type, LayerNorm, dropout); clean logits z_c = f(e)
  delta_0 = sigma * N(0, 1), zero on padding
  K inner steps: g = d innerLoss(f(e + x), sg z_c) / d x at the variant's point x, then the variant's update
  loss = CE(z_c, y) + alpha * mean_b [KL(sg p_a || p_c) + KL(sg p_c || p_a)],  p_a = softmax(f(e' + sg delta_K)),
         e' = sg(e) when detachEmbedding
  AdamW (eps 1e-6, decoupled weight decay on matrices but LayerNorm), global-norm clipping at 1.0,
  linear warm-up over 10% of the steps then linear decay.
A non-finite inner ascent drops the adversarial term for the batch (counted in `skipped`); a non-finite loss or
gradient norm stops the run before the update, after saving the model.

Model: `transformers.BertForSequenceClassification` when transformers is installed, else the built-in BERT below
(the same module and parameter names, post-LN, erf GELU), so PyTorch alone runs it. `--builtin-bert` forces it.

Distributed: under `torchrun` or `accelerate launch` (the environment variables WORLD_SIZE, RANK, LOCAL_RANK),
each process takes its slice of the global batch (`--batch-size` is the global batch: each of the N processes
takes batch-size / N rows), gradients are summed across processes after the backward pass (each process's loss
is its rows' sum divided by the global batch, so the sum is the global batch mean: what DistributedDataParallel's
averaging gives with equal shards; done by hand because an ALUM step runs K + 2 forward passes per backward pass,
which DDP's hooks do not expect), the NaN skip is agreed across processes, and only rank 0 writes files.
NCCL on GPUs, gloo on CPU.

Random draws (documented, so that runs can be compared):
  - batch order: epochs of `torch.randperm(n)` from a generator seeded with seed + 1, wrapping so every batch is
    full; process r of N takes rows [r b, (r + 1) b) of each global batch (b = batch-size / N).
  - delta_0 of step s (1-based): `torch.randn([batch-size, max-length, hidden])` from a CPU generator seeded
    with seed * 1000003 + s, times sigma; each process takes its rows. The same for any number of processes.
  - dropout masks: the torch RNG is seeded before each forward pass with a seed derived from (seed, step, pass,
    rank); advDropout `same` replays the clean pass's seed, so the masks are the clean pass's. Masks differ with
    the number of processes, so multi-process runs equal single-process ones exactly only at dropout 0.
  - `--trace FILE` (an `alum trace` safetensors file): every step trains on the trace's batch, and step 1 uses the
    trace's delta_init: with --dropout 0, step 1 is the step the playground traced. `--dump-step FILE` writes
    that step's losses and every parameter gradient (before clipping) as safetensors.

Data: CSV or TSV with a header (`sentence,label` or `sentence1,sentence2,label`), JSONL with
`text`/`text_pair`/`label`, or a task JSON (name, labels, train, dev); user files are split 90/10, stratified and
seeded (the split is this script's own draw, not the page's). Tokenizer: transformers' BertTokenizer on the
model's vocab.txt when installed, else the built-in BERT WordPiece tokenizer below (uncased).
Writes RUN_DIR/metrics.jsonl (the page's metric names, one line per step, rank 0), RUN_DIR/run.json and
RUN_DIR/model/ (config.json, model.safetensors with HF parameter names, vocab.txt).
"""

import argparse
import csv
import importlib.util
import io
import json
import math
import os
import struct
import sys
import time
import unicodedata
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------------------------------------------------
# Config: the playground's names and rules (src/core/config.ts)
# ----------------------------------------------------------------------------------------------------------------------
CHOICES = {
    "method": ["standard", "alum"],
    "variant": ["paper", "paper-raw", "mtdnn-2020", "mtdnn-head"],
    "innerLoss": ["kl", "stable-kl"],
    "innerReduction": ["sum", "batchmean", "elementmean"],
    "norm": ["inf", "l2"],
    "advDropout": ["same", "fresh", "off"],
    "model": ["nano", "tiny", "mini", "small"],
}
# name: (min, max, integer)
NUMBERS = {
    "alpha": (0, 1000, False),
    "k": (0, 20, True),
    "eta": (0, 100, False),
    "epsilon": (0, 100, False),
    "sigma": (0, 10, False),
    "lr": (0, 1, False),
    "batchSize": (1, 1024, True),
    "maxLength": (4, 512, True),
    "seed": (0, 2**31 - 1, True),
    "steps": (1, 10_000_000, True),
    "dropout": (0, 0.9, False),
    "weightDecay": (0, 1, False),
    "evalEvery": (0, 10_000_000, True),
}
BOOLEANS = ("detachEmbedding",)
CONFIG_KEYS = [
    "method", "alpha", "k", "eta", "epsilon", "sigma", "variant", "innerLoss", "innerReduction", "detachEmbedding",
    "norm", "advDropout", "lr", "batchSize", "maxLength", "model", "seed", "steps", "dropout", "weightDecay",
    "evalEvery",
]  # fmt: skip
MODEL_PRESETS = {  # hidden, layers, heads, intermediate (BERT-tiny/mini/small shapes; nano for tests)
    "nano": (32, 1, 2, 64),
    "tiny": (128, 2, 2, 512),
    "mini": (256, 4, 4, 1024),
    "small": (512, 4, 8, 2048),
}
# The guard added to the per-token norm before dividing (docs/alum-step.md, "Inner ascent").
NORM_EPS = {"paper": 1e-12, "paper-raw": 0.0, "mtdnn-2020": 1e-6, "mtdnn-head": 1e-6}
STABLE_KL_EPS = 1e-6
KL_SMALL_D = 1e-2
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-6
MAX_GRAD_NORM = 1.0
WARMUP_FRACTION = 0.1
METRIC_KEYS = [
    "step", "taskLoss", "advLoss", "totalLoss", "innerGradNorm", "deltaLinf", "deltaL2", "embedAbsMean",
    "effPerturb", "klInit", "klAdv", "dropoutKl", "skipped", "ms", "lr",
]  # fmt: skip


class InputError(Exception):
    """A problem with the user's files or flags: one line, exit code 2."""


def flag_name(key):
    return "".join("-" + c.lower() if c.isupper() else c for c in key)


def parse_field(key, value, origin):
    """One config value (from config.json or a flag) checked like src/core/config.ts; one-line errors."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise InputError(f"{origin}: must be one of {'|'.join(CHOICES[key])}, got {json.dumps(value)}")
        return value
    if key in BOOLEANS:
        if value in (True, "true"):
            return True
        if value in (False, "false"):
            return False
        raise InputError(f"{origin}: must be true or false, got {json.dumps(value)}")
    lo, hi, integer = NUMBERS[key]
    try:
        n = float(value) if isinstance(value, str) else value
    except ValueError:
        n = None
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n):
        raise InputError(f"{origin}: must be a finite number, got {json.dumps(value)}")
    if integer and n != int(n):
        raise InputError(f"{origin}: must be an integer, got {value}")
    if n < lo or n > hi:
        raise InputError(f"{origin}: must be in [{lo}, {hi}], got {value}")
    return int(n) if integer else float(n)


def load_config(path, flags):
    """config.json (every field, the playground's names), then the kebab-case flags that were given."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (the exported folder has config.json next to this script)")
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object")
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown config field '{unknown[0]}' (known: {', '.join(CONFIG_KEYS)})")
    missing = [k for k in CONFIG_KEYS if k not in raw]
    if missing:
        raise InputError(f"{path}: missing config field '{missing[0]}'")
    cfg = {k: parse_field(k, raw[k], f"{path}: field '{k}'") for k in CONFIG_KEYS}
    for k in CONFIG_KEYS:
        v = getattr(flags, "cfg_" + k)
        if v is not None:
            cfg[k] = parse_field(k, v, f"--{flag_name(k)}")
    return cfg


# ----------------------------------------------------------------------------------------------------------------------
# safetensors (no package needed)
# ----------------------------------------------------------------------------------------------------------------------
DTYPES = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64, "F64": torch.float64, "F16": torch.float16,
          "BF16": torch.bfloat16}  # fmt: skip
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    """-> ({name: tensor}, metadata). One-line errors naming the file."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file")
    if len(raw) < 8:
        raise InputError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path}: not a safetensors file (bad header)")
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n :]
    out = {}
    for name, h in header.items():
        if h.get("dtype") not in DTYPES:
            raise InputError(f"{path}: tensor '{name}' has unsupported dtype {h.get('dtype')}")
        b, e = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=DTYPES[h["dtype"]]) if e > b else torch.zeros(0)
        out[name] = t.to(DTYPES[h["dtype"]]).reshape(h["shape"])
    return out, meta


def write_atomic(path, data):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    os.replace(tmp, path)


def tensor_bytes(t):
    """Little-endian bytes of a contiguous CPU tensor (through numpy when it is there; torch 2 does not need it)."""
    try:
        return t.numpy().tobytes()
    except (RuntimeError, TypeError, ImportError):
        return bytes(t.reshape(-1).view(torch.uint8).tolist())


def safetensors_bytes(tensors, metadata=None):
    header = {"__metadata__": metadata} if metadata else {}
    chunks, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-(len(hb) + 8)) % 8)
    return struct.pack("<Q", len(hb)) + hb + b"".join(chunks)


# ----------------------------------------------------------------------------------------------------------------------
# Built-in BERT (Hugging Face module and parameter names; used when transformers is not installed)
# ----------------------------------------------------------------------------------------------------------------------
class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, input_ids, token_type_ids):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))  # [B, T, H]


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, bias):
        b, t, h = x.shape
        dh = h // self.heads

        def split(y):  # [B, T, H] -> [B, A, T, dh]
            return y.view(b, t, self.heads, dh).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = self.dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1))
        return (probs @ v).permute(0, 2, 1, 3).reshape(b, t, h)


class DenseNorm(nn.Module):
    """dense -> dropout -> LayerNorm(. + residual): BertSelfOutput and BertOutput."""

    def __init__(self, c, inp):
        super().__init__()
        self.dense = nn.Linear(inp, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c["hidden_size"])

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # erf GELU


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c["intermediate_size"])

    def forward(self, x, bias):
        h = self.attention(x, bias)
        return self.output(self.intermediate(h), h)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        e = self.embeddings(input_ids, token_type_ids)
        bias = (1.0 - attention_mask.to(e.dtype))[:, None, None, :] * -10000.0  # [B, 1, 1, T]
        return self.pooler(self.encoder(e, bias))


class BuiltinBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.dropout(self.bert(input_ids, attention_mask, token_type_ids)))


def init_bert_weights(model, std=0.02):
    """BERT init: N(0, 0.02) weights, zero biases, LayerNorm 1/0, zero pad row."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if "LayerNorm" in name:
                p.fill_(1.0 if name.endswith(".weight") else 0.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                p.normal_(0.0, std)
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight[0].zero_()


def hf_config(c_model, labels, dropout):
    """The BertConfig JSON the playground writes (src/core/model/hf.ts toHfConfig)."""
    out = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "problem_type": "single_label_classification",
        **{k: v for k, v in c_model.items() if k not in ("id2label", "label2id")},
    }
    out["hidden_dropout_prob"] = dropout
    out["attention_probs_dropout_prob"] = dropout
    out["id2label"] = {str(i): name for i, name in enumerate(labels)}
    out["label2id"] = {name: i for i, name in enumerate(labels)}
    return out


def build_model(cfg, init_dir, vocab_size, labels, use_transformers):
    """(model, hf config dict) from an HF folder (config.json + model.safetensors or pytorch_model.bin), or a
    random BERT of the config's `model` size. A checkpoint without a classifier head gets a fresh one."""
    if init_dir is not None:
        cpath = Path(init_dir) / "config.json"
        try:
            c = json.loads(cpath.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{cpath}: no such file")
        except json.JSONDecodeError as e:
            raise InputError(f"{cpath}:{e.lineno}: not valid JSON ({e.msg})")
        if c.get("model_type", "bert") != "bert":
            raise InputError(f"{cpath}: field 'model_type' must be \"bert\", got {json.dumps(c.get('model_type'))}")
        for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            if not isinstance(c.get(field), int) or c[field] <= 0:
                raise InputError(f"{cpath}: field '{field}' must be a positive integer, got {json.dumps(c.get(field))}")
        if c.get("problem_type") == "regression":
            raise InputError(f"{cpath}: problem_type 'regression' is not supported by this script (classification only)")
        c.setdefault("max_position_embeddings", 512)
        c.setdefault("type_vocab_size", 2)
        c.setdefault("layer_norm_eps", 1e-12)
    else:
        h, layers, heads, inter = MODEL_PRESETS[cfg["model"]]
        c = {"vocab_size": vocab_size, "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": heads,
             "intermediate_size": inter, "max_position_embeddings": 512, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12}  # fmt: skip
    keep = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id")  # fmt: skip
    c = hf_config({k: c[k] for k in keep if k in c}, labels, cfg["dropout"])
    if cfg["maxLength"] > c["max_position_embeddings"]:
        raise InputError(f"--max-length {cfg['maxLength']} exceeds max_position_embeddings {c['max_position_embeddings']}")
    torch.manual_seed(cfg["seed"])
    if use_transformers:
        from transformers import BertConfig, BertForSequenceClassification

        model = BertForSequenceClassification(BertConfig(**c))
    else:
        model = BuiltinBertForSequenceClassification(c)
    init_bert_weights(model)
    if init_dir is not None:
        load_weights(model, Path(init_dir))
    return model, c


def load_weights(model, folder):
    st, binf = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.exists():
        tensors, _ = read_safetensors(st)
        origin = st
    elif binf.exists():
        tensors, origin = torch.load(binf, map_location="cpu"), binf
    else:
        raise InputError(f"{folder}: no model.safetensors (or pytorch_model.bin)")
    params = dict(model.named_parameters())
    for name, p in params.items():
        t = tensors.get(name, tensors.get(name[len("bert."):] if name.startswith("bert.") else None))
        if t is None:
            if name.startswith(("classifier.", "bert.pooler.")):
                continue  # a checkpoint without a classification head: keep the fresh one
            raise InputError(f"{origin}: missing parameter '{name}'")
        if list(t.shape) != list(p.shape):
            raise InputError(f"{origin}: parameter '{name}' has shape {list(t.shape)}, config says {list(p.shape)}")
        with torch.no_grad():
            p.copy_(t.to(p.dtype))


class EmbeddingTap:
    """A forward hook on `bert.embeddings`: records the clean pass's embedding output, or replaces the output by
    a given tensor (the perturbed embedding of the inner and adversarial passes). Works for both models."""

    def __init__(self, model):
        self.override = None
        self.captured = None
        model.bert.embeddings.register_forward_hook(self._hook)

    def _hook(self, _module, _inputs, output):
        if self.override is not None:
            return self.override
        self.captured = output
        return output


def logits_of(model, batch):
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"])  # fmt: skip
    return out.logits if hasattr(out, "logits") else out


# ----------------------------------------------------------------------------------------------------------------------
# Losses (src/core/train/losses.ts)
# ----------------------------------------------------------------------------------------------------------------------
def _expm1_series(x):
    return x * (1 + x / 2 * (1 + x / 3 * (1 + x / 4 * (1 + x / 5))))


def _log1p_series(s):
    return s * (1 - s * (0.5 - s * (1 / 3 - s * (0.25 - s / 5))))


def _kl_pieces(zp, zq):
    """log p - log q and q - p per entry [B, C], in a form that keeps its digits when p and q nearly agree (rows
    whose logit differences stay within 1e-2 use series for expm1 and log1p), else the plain forms."""
    logp = torch.log_softmax(zp, -1)
    p = logp.exp()
    d = zp - zq
    small = (d.abs().amax(-1, keepdim=True) <= KL_SMALL_D)  # [B, 1]
    ds = d.clamp(-KL_SMALL_D, KL_SMALL_D)
    em1 = _expm1_series(-ds)
    s = (p * em1).sum(-1, keepdim=True)  # [B, 1]
    log_ratio = torch.where(small, ds + _log1p_series(s), logp - torch.log_softmax(zq, -1))
    q_minus_p = torch.where(small, p * (em1 - s) / (s + 1), torch.softmax(zq, -1) - p)
    return p, log_ratio, q_minus_p


class KlRows(torch.autograd.Function):
    """KL(p || q) per row from logits [B, C] -> [B]; d/dz_p = p (log p - log q - KL), d/dz_q = q - p."""

    @staticmethod
    def forward(ctx, zp, zq):
        ctx.save_for_backward(zp, zq)
        p, log_ratio, _ = _kl_pieces(zp, zq)
        return (p * log_ratio).sum(-1)

    @staticmethod
    def backward(ctx, dy):
        zp, zq = ctx.saved_tensors
        p, log_ratio, q_minus_p = _kl_pieces(zp, zq)
        kl = (p * log_ratio).sum(-1, keepdim=True)
        return p * (log_ratio - kl) * dy[:, None], q_minus_p * dy[:, None]


def kl_rows(zp, zq):
    """In float64 (a [B, C] computation): a KL of nearly equal distributions is a difference of logits."""
    return KlRows.apply(zp.double(), zq.double()).to(zp.dtype)


def inner_loss_rows(kind, z_adv, z_clean):
    """Per-row inner loss [B]: `kl` = KL(p_clean || p_adv); `stable-kl` = mt-dnn's 2 p_a (sg r(p_a) - sg r(p_c))."""
    if kind == "kl":
        return kl_rows(z_clean, z_adv)
    pa, pc = torch.softmax(z_adv.double(), -1), torch.softmax(z_clean.double(), -1)

    def r(u):
        return -torch.log(1.0 / (u + STABLE_KL_EPS) - (1 - STABLE_KL_EPS))

    return (pa * (r(pa).detach() - r(pc).detach()) * 2).sum(-1).to(z_adv.dtype)


def reduce_rows(rows, reduction, global_batch, num_classes):
    """Sum of per-row values divided as the reduction says, over the GLOBAL batch (so shards add up)."""
    total = rows.sum()
    if reduction == "sum":
        return total
    return total / (global_batch if reduction == "batchmean" else global_batch * num_classes)


def token_norm(x, norm):
    return x.abs().amax(-1, keepdim=True) if norm == "inf" else x.square().sum(-1, keepdim=True).sqrt()


def project(x, epsilon, norm):
    if norm == "inf":
        return x.clamp(-epsilon, epsilon)
    return x * (epsilon / torch.clamp(token_norm(x, "l2"), min=epsilon))


def update_delta(cur, g, m3, cfg):
    """One inner-step update (docs/alum-step.md). -> (next [B, T, H], |eta g / den| masked)."""
    v, step = cfg["variant"], g * cfg["eta"]
    if v == "paper":
        den = token_norm(g, cfg["norm"]) + NORM_EPS[v]
        nxt = project(cur + step / den, cfg["epsilon"], cfg["norm"])
    elif v == "paper-raw":
        den = 1.0
        nxt = project(cur + step, cfg["epsilon"], cfg["norm"])
    elif v == "mtdnn-2020":
        den = token_norm(g, cfg["norm"]) + NORM_EPS[v]
        nxt = cur + step / den
    else:  # mtdnn-head: rescale (delta + eta g) onto the unit sphere of the norm
        raw = cur + step
        den = token_norm(raw, cfg["norm"]) + NORM_EPS[v]
        nxt = raw / den
    return nxt * m3, (step / den).abs() * m3


# ----------------------------------------------------------------------------------------------------------------------
# Distributed helpers
# ----------------------------------------------------------------------------------------------------------------------
class World:
    def __init__(self, device):
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")

    def sum(self, t):
        if self.size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def min(self, t):
        if self.size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return t

    def broadcast_params(self, model):
        if self.size > 1:
            for p in model.parameters():
                dist.broadcast(p.data, src=0)

    def close(self):
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


class PassRng:
    """Seeds the torch RNG for one forward pass (and restores it after), so a pass's dropout masks can be replayed."""

    def __init__(self, device, seed):
        self.devices = [device.index or 0] if device.type == "cuda" else []
        self.seed = seed

    def __enter__(self):
        self.fork = torch.random.fork_rng(devices=self.devices)
        self.fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        return self.fork.__exit__(*exc)


def pass_seed(seed, step, pass_index, rank):
    return (seed * 1_000_003 + step * 10_007 + pass_index * 101 + rank * 7_919_777) % (2**63 - 1)


# ----------------------------------------------------------------------------------------------------------------------
# The ALUM step
# ----------------------------------------------------------------------------------------------------------------------
def run_pass(model, tap, batch, override, seed, train_mode, device):
    """One forward pass under its own dropout seed; `override` replaces the embedding output. -> logits [b, C]"""
    model.train(train_mode)
    tap.override = override
    try:
        with PassRng(device, seed):
            return logits_of(model, batch)
    finally:
        tap.override = None
        model.train(True)


def alum_step(model, tap, batch, delta0, cfg, step, world, global_batch):
    """Gradients of one ALUM (or standard) step into `.grad` (this process's share), and the global metric sums.
    batch: this process's rows [b, T]; delta0 [b, T, H] or None. Returns a dict of global scalars."""
    dev = world.device
    mask = batch["attention_mask"]
    m3 = mask.to(torch.float32)[..., None]  # [b, T, 1]
    K, variant, dropout = cfg["k"], cfg["variant"], cfg["dropout"]
    seeds = {"clean": pass_seed(cfg["seed"], step, 0, world.rank)}
    mode = cfg["advDropout"]

    def other(i):  # (seed, dropout on?) of inner pass i (0..K-1) or the adversarial pass (K)
        if mode == "same":
            return seeds["clean"], True
        if mode == "off":
            return 0, False
        return pass_seed(cfg["seed"], step, 1 + i, world.rank), True

    z_c = run_pass(model, tap, batch, None, seeds["clean"], True, dev)  # [b, C]
    e = tap.captured  # [b, T, H], after the embedding dropout
    task = F.cross_entropy(z_c, batch["labels"], reduction="sum") / global_batch
    C = z_c.shape[-1]
    zero = torch.zeros((), device=dev)
    adv = kl_init = kl_adv = dropout_kl = gsq = eff_sum = linf_sum = l2_sum = zero
    skipped = zero
    total = task
    if cfg["method"] == "alum":
        e_c, z_cc = e.detach(), z_c.detach()
        d0 = delta0 * m3
        cur = torch.zeros_like(d0) if variant == "mtdnn-2020" else d0.clone()
        gabs, last_g, eff, kl_first = zero, None, torch.zeros_like(d0), None
        for k in range(K):
            x = (cur + d0 if variant == "mtdnn-2020" else cur).detach().requires_grad_(True)
            s, on = other(k)
            z = run_pass(model, tap, batch, e_c + x, s, on, dev)
            L = reduce_rows(inner_loss_rows(cfg["innerLoss"], z, z_cc), cfg["innerReduction"], global_batch, C)
            (g,) = torch.autograd.grad(L, x)
            with torch.no_grad():
                cur, eff = update_delta(cur, g, m3, cfg)
                gabs = gabs + g.abs().sum()
            last_g = g
            if k == 0:
                kl_first = L.detach()
        checksum = gabs + cur.abs().sum()
        # The NaN skip, agreed across processes: every shard's ascent must be finite.
        ok = world.min(torch.isfinite(checksum).to(torch.float32).reshape(1))[0]
        with torch.no_grad():
            used = torch.where(torch.isfinite(cur), cur, torch.zeros_like(cur)) * ok
        s, on = other(K)
        z_a = run_pass(model, tap, batch, (e_c if cfg["detachEmbedding"] else e) + used, s, on, dev)
        adv = (kl_rows(z_a.detach(), z_c) + kl_rows(z_cc, z_a)).sum() / global_batch * ok
        total = task + cfg["alpha"] * adv
        with torch.no_grad():
            kl_adv = reduce_rows(inner_loss_rows(cfg["innerLoss"], z_a, z_cc), cfg["innerReduction"], global_batch,
                                 C) * ok  # fmt: skip
            kl_init = kl_adv if K == 0 else torch.where(torch.isfinite(kl_first), kl_first, zero) * ok
            if last_g is not None:
                gsq = torch.where(torch.isfinite(last_g), last_g, zero).square().sum() * ok
            eff_sum = torch.where(torch.isfinite(eff), eff, zero).sum() * ok
            linf_sum = (token_norm(used, "inf")[..., 0] * mask).sum()
            l2_sum = (token_norm(used, "l2")[..., 0] * mask).sum()
            skipped = 1 - ok
            same_masks = mode == "same" or dropout == 0
            if not same_masks:  # what the dropout masks alone give: the adversarial pass's masks at delta = 0
                s, on = other(K)
                z0 = run_pass(model, tap, batch, e_c, s, on, dev)
                dropout_kl = (kl_rows(z0, z_cc) + kl_rows(z_cc, z0)).sum() / global_batch
    total.backward()
    with torch.no_grad():
        tokens = mask.sum().to(torch.float32)
        eabs = (e.detach().abs().sum(-1) * mask).sum()
        sums = torch.stack([task.detach(), adv.detach(), total.detach(), gsq, linf_sum, l2_sum, eabs, eff_sum,
                            kl_init, kl_adv, dropout_kl, tokens])  # fmt: skip
        world.sum(sums)
    H = e.shape[-1]
    v = sums.tolist()
    tok = v[11]
    return {
        "taskLoss": v[0], "advLoss": v[1], "totalLoss": v[2], "innerGradNorm": math.sqrt(v[3]),
        "deltaLinf": v[4] / tok, "deltaL2": v[5] / tok, "embedAbsMean": v[6] / (tok * H), "effPerturb": v[7] / (tok * H),
        "klInit": v[8], "klAdv": v[9], "dropoutKl": v[10], "skippedNow": float(skipped),
    }  # fmt: skip


def lr_at(step, total, peak, warmup_fraction=WARMUP_FRACTION):
    """src/core/train/schedule.ts: linear warm-up (first update peak / warmup), then linear decay to 0."""
    warmup = max(1, round(total * warmup_fraction))
    if step < warmup:
        return peak * (step + 1) / warmup
    return max(0.0, peak * (total - step) / max(1, total - warmup))


def make_optimizer(model, cfg):
    """torch.optim.AdamW; decoupled weight decay on tensors of 2 or more dims except LayerNorm."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "LayerNorm" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=ADAM_BETAS, eps=ADAM_EPS)


def all_reduce_grads(model, world):
    """Sum every gradient across processes (each process's loss is its rows' sum / the global batch)."""
    if world.size == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = world.sum(torch.cat([g.reshape(-1) for g in grads]))
    off = 0
    for g in grads:
        g.copy_(flat[off : off + g.numel()].view_as(g))
        off += g.numel()


# ----------------------------------------------------------------------------------------------------------------------
# Data and tokenizer
# ----------------------------------------------------------------------------------------------------------------------
def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return any(lo <= cp <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                             (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF),
                                             (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))  # fmt: skip


class WordPiece:
    """BERT's uncased tokenizer (clean text, CJK split, lowercase + strip accents, punctuation split, greedy
    longest-match WordPiece): the built-in stand-in for transformers' BertTokenizer."""

    def __init__(self, vocab):
        self.ids = {t: i for i, t in enumerate(vocab)}
        for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if t not in self.ids:
                raise InputError(f"vocab.txt: missing special token {t}")
        self.pad, self.unk, self.cls, self.sep = (self.ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))

    def words(self, text):
        out, cur = [], []
        for ch in text:
            cp = ord(ch)
            cat = unicodedata.category(ch)
            if cp == 0 or cp == 0xFFFD or (cat in ("Cc", "Cf", "Co") and ch not in "\t\n\r"):
                continue
            if ch.isspace():
                ch = " "
            if ch == " " or _is_cjk(cp) or _is_punct(ch):
                if cur:
                    out.append("".join(cur))
                    cur = []
                if ch != " ":
                    out.append(ch)
            else:
                cur.append(ch)
        if cur:
            out.append("".join(cur))
        norm = []
        for w in out:
            w = "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn").lower()
            norm.extend(x for x in self._resplit(w) if x)
        return norm

    @staticmethod
    def _resplit(w):  # lowercasing can create punctuation or spaces; split again
        out, cur = [], ""
        for ch in w:
            if ch.isspace() or _is_punct(ch):
                out.append(cur)
                cur = ""
                if not ch.isspace():
                    out.append(ch)
            else:
                cur += ch
        out.append(cur)
        return out

    def piece_ids(self, text):
        ids = []
        for w in self.words(text):
            if len(w) > 100:
                ids.append(self.unk)
                continue
            start, pieces = 0, []
            while start < len(w):
                end = len(w)
                found = None
                while start < end:
                    sub = w[start:end] if start == 0 else "##" + w[start:end]
                    if sub in self.ids:
                        found = self.ids[sub]
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk]
                    break
                pieces.append(found)
                start = end
            ids.extend(pieces)
        return ids

    def encode(self, text, pair, max_length):
        a = self.piece_ids(text)
        b = self.piece_ids(pair) if pair is not None else None
        if b is None:
            a = a[: max_length - 2]
            return [self.cls] + a + [self.sep], [0] * (len(a) + 2)
        while len(a) + len(b) > max_length - 3:
            if len(a) > len(b):
                a.pop()
            else:
                b.pop()
        return [self.cls] + a + [self.sep] + b + [self.sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)


class HfTokenizer:
    def __init__(self, vocab_file):
        from transformers import BertTokenizer

        self.tok = BertTokenizer(vocab_file=str(vocab_file), do_lower_case=True)
        self.pad = self.tok.pad_token_id

    def encode(self, text, pair, max_length):
        enc = self.tok(text, pair, truncation="longest_first", max_length=max_length)
        return enc["input_ids"], enc["token_type_ids"]


def read_examples(path):
    """-> (labels, [(text, pair or None, label id)]) for CSV/TSV/JSONL; one-line errors `FILE:LINE: problem`."""
    p = Path(path)
    try:
        body = p.read_text(encoding="utf-8").lstrip("\ufeff")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file")
    except UnicodeDecodeError:
        raise InputError(f"{path}:1: not UTF-8 text")
    if not body.strip():
        raise InputError(f"{p.name}:1: empty file")
    ext = p.suffix.lower()
    rows = []
    if ext in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(body), delimiter="," if ext == ".csv" else "\t",
                            quoting=csv.QUOTE_MINIMAL if ext == ".csv" else csv.QUOTE_NONE)  # fmt: skip
        try:
            records = [(reader.line_num, r) for r in reader]
        except csv.Error as e:
            raise InputError(f"{p.name}:{reader.line_num}: {e}")
        header = [h.strip() for h in records[0][1]]
        if header not in (["sentence", "label"], ["sentence1", "sentence2", "label"]):
            raise InputError(f"{p.name}:1: header must be sentence,label or sentence1,sentence2,label")
        for line, r in records[1:]:
            if r == [] or r == [""]:
                continue
            if len(r) != len(header):
                raise InputError(f"{p.name}:{line}: expected {len(header)} fields, got {len(r)}")
            rows.append((line, r[0], r[1] if len(r) == 3 else None, r[-1].strip()))
    elif ext == ".jsonl":
        for i, line in enumerate(body.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{p.name}:{i}: not valid JSON ({e.msg})")
            if not isinstance(o, dict) or not isinstance(o.get("text"), str):
                raise InputError(f"{p.name}:{i}: expected an object with a string 'text'")
            if "label" not in o or isinstance(o["label"], bool) or not isinstance(o["label"], (str, int)):
                raise InputError(f"{p.name}:{i}: 'label' must be a string or an integer")
            pair = o.get("text_pair")
            if pair is not None and not isinstance(pair, str):
                raise InputError(f"{p.name}:{i}: 'text_pair' must be a string")
            rows.append((i, o["text"], pair, str(o["label"])))
    else:
        raise InputError(f"{p.name}:1: unsupported file type (expected .csv, .tsv, .jsonl or .json)")
    if not rows:
        raise InputError(f"{p.name}:1: no examples")
    names = list(dict.fromkeys(r[3] for r in rows))
    if sorted(names) == [str(i) for i in range(len(names))]:
        names = [str(i) for i in range(len(names))]
    if len(names) < 2:
        raise InputError(f"{p.name}:{rows[0][0]}: at least 2 labels are needed, found {len(names)}")
    index = {n: i for i, n in enumerate(names)}
    return names, [(t, pr, index[lab]) for _, t, pr, lab in rows]


def load_task(path, seed):
    """-> (labels, train, dev) lists of (text, pair, label)."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        try:
            o = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file")
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})")

        def split(name):
            if not isinstance(o.get(name), list):
                raise InputError(f"{path}: field '{name}' must be an array")
            return [(x["text"], x.get("textPair"), int(x["label"])) for x in o[name]]

        return list(o["labels"]), split("train"), split("dev")
    labels, examples = read_examples(path)
    g = torch.Generator().manual_seed(seed)
    train, dev = [], []
    for lab in range(len(labels)):
        rows = [x for x in examples if x[2] == lab]
        order = torch.randperm(len(rows), generator=g).tolist()
        n_dev = round(len(rows) * 0.1)
        dev += [rows[i] for i in order[:n_dev]]
        train += [rows[i] for i in order[n_dev:]]
    return labels, train, dev


def encode_split(tok, rows, max_length):
    n = len(rows)
    ids = torch.full((n, max_length), tok.pad, dtype=torch.long)
    types = torch.zeros((n, max_length), dtype=torch.long)
    mask = torch.zeros((n, max_length), dtype=torch.long)
    labels = torch.zeros(n, dtype=torch.long)
    for i, (text, pair, label) in enumerate(rows):
        a, t = tok.encode(text, pair, max_length)
        ids[i, : len(a)] = torch.tensor(a)
        types[i, : len(t)] = torch.tensor(t)
        mask[i, : len(a)] = 1
        labels[i] = label
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": labels}


def take(split, rows, device):
    return {k: v[rows].to(device) for k, v in split.items()}


class BatchOrder:
    """Epochs of a seeded permutation (torch.randperm, generator seed + 1), wrapping so every batch is full."""

    def __init__(self, n, seed):
        self.n, self.order, self.cursor = n, [], 0
        self.g = torch.Generator().manual_seed(seed + 1)

    def next(self, size):
        out = []
        while len(out) < size:
            if self.cursor >= len(self.order):
                self.order, self.cursor = torch.randperm(self.n, generator=self.g).tolist(), 0
            out.append(self.order[self.cursor])
            self.cursor += 1
        return out


def evaluate(model, split, world, batch_size=64):
    """Dev accuracy, dropout off; each process scores its share of the rows."""
    n = split["labels"].shape[0]
    if n == 0:
        return float("nan")
    model.eval()
    correct = torch.zeros((), device=world.device)
    with torch.no_grad():
        mine = list(range(world.rank, n, world.size))
        for start in range(0, len(mine), batch_size):
            b = take(split, torch.tensor(mine[start : start + batch_size]), world.device)
            correct += (logits_of(model, b).argmax(-1) == b["labels"]).sum()
    model.train()
    return world.sum(correct).item() / n


# ----------------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description="ALUM fine-tuning of a BERT classifier (the ALUM Playground's step).")
    ap.add_argument("--config", default=str(HERE / "config.json"), help="settings (default: config.json here)")
    ap.add_argument("--init", default=None, help="HF model folder (default: ./model here, if present)")
    ap.add_argument("--data", default=None, help="CSV/TSV/JSONL/task JSON (default: the data file here)")
    ap.add_argument("--vocab", default=None, help="vocab.txt (default: the model's, else vocab.txt here)")
    ap.add_argument("--out", default="runs/torch", help="run folder: metrics.jsonl, run.json, model/")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--builtin-bert", action="store_true", help="use the built-in BERT even with transformers")
    ap.add_argument("--trace", default=None, help="train on an `alum trace` file's batch; step 1 uses its delta_init")
    ap.add_argument("--dump-step", default=None, help="write step 1's losses and parameter gradients here")
    for k in CONFIG_KEYS:
        ap.add_argument("--" + flag_name(k), dest="cfg_" + k, default=None, metavar="VALUE",
                        help=f"config field {k}")  # fmt: skip
    return ap.parse_args(argv)


def default_file(*names):
    for n in names:
        if (HERE / n).exists():
            return HERE / n
    return None


def setup(args):
    cfg = load_config(args.config, args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    world = World(device)
    use_tf = importlib.util.find_spec("transformers") is not None and not args.builtin_bert
    init_dir = Path(args.init) if args.init else default_file("model")
    vocab_file = Path(args.vocab) if args.vocab else None
    if vocab_file is None:
        vocab_file = init_dir / "vocab.txt" if init_dir and (init_dir / "vocab.txt").exists() else default_file("vocab.txt")
    if vocab_file is None or not vocab_file.exists():
        raise InputError(f"{vocab_file or 'vocab.txt'}: no such file (give --vocab or --init DIR with a vocab.txt)")
    vocab = vocab_file.read_text(encoding="utf-8").lstrip("\ufeff").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    vocab = [v.rstrip("\r") for v in vocab]
    return cfg, world, use_tf, init_dir, vocab_file, vocab


def load_data(args, cfg, tok, init_labels):
    """-> (labels, train split, dev split, fixed trace batch or None, trace delta_init or None)."""
    if args.trace:
        t, _ = read_safetensors(args.trace)
        need = ("input_ids", "attention_mask", "token_type_ids", "labels")
        for n in need:
            if n not in t:
                raise InputError(f"{args.trace}: no tensor '{n}' (not an `alum trace` file)")
        fixed = {n: t[n].to(torch.long) for n in need}
        cfg["batchSize"], cfg["maxLength"] = fixed["input_ids"].shape
        labels = init_labels or [str(i) for i in range(int(fixed["labels"].max()) + 1)]
        empty = {k: v[:0] for k, v in fixed.items()}
        return labels, fixed, empty, fixed, t.get("delta_init")
    data = args.data or default_file("data.csv", "data.tsv", "data.jsonl", "data.json")
    if data is None:
        raise InputError("no data: give --data FILE (CSV, TSV, JSONL or task JSON)")
    labels, train, dev = load_task(data, cfg["seed"])
    if not train:
        raise InputError(f"{data}: no training examples")
    ml = cfg["maxLength"]
    return labels, encode_split(tok, train, ml), encode_split(tok, dev, ml), None, None


def init_labels_of(init_dir):
    if init_dir is None or not (init_dir / "config.json").exists():
        return None
    try:
        c = json.loads((init_dir / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    id2 = c.get("id2label")
    return [id2[str(i)] for i in range(len(id2))] if isinstance(id2, dict) else None


def train(args):
    cfg, world, use_tf, init_dir, vocab_file, vocab = setup(args)
    dev = world.device
    tok = HfTokenizer(vocab_file) if use_tf else WordPiece(vocab)
    labels, train_split, dev_split, fixed, trace_delta = load_data(args, cfg, tok, init_labels_of(init_dir))
    if cfg["batchSize"] % world.size != 0:
        raise InputError(f"--batch-size {cfg['batchSize']} is not divisible by the {world.size} processes")
    if init_dir is not None:
        n_model = len(init_labels_of(init_dir) or labels)
        if n_model != len(labels):
            raise InputError(f"{args.data or args.trace}: {len(labels)} labels, but {init_dir}/config.json has {n_model}")
    model, hf = build_model(cfg, init_dir, len(vocab), labels, use_tf)
    model.to(dev).train()
    world.broadcast_params(model)
    tap = EmbeddingTap(model)
    opt = make_optimizer(model, cfg)
    out = Path(args.out)
    metrics_file = out / "metrics.jsonl"
    if world.rank == 0:
        (out / "model").mkdir(parents=True, exist_ok=True)
        metrics_file.write_text("")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"run: {'transformers' if use_tf else 'built-in'} BERT, {n_params:,} parameters, {world.size} "
              f"process(es) on {dev.type}, global batch {cfg['batchSize']} ({cfg['batchSize'] // world.size} per "
              f"process), {cfg['steps']} steps -> {out}", file=sys.stderr)  # fmt: skip
    b_local = cfg["batchSize"] // world.size
    rows = slice(world.rank * b_local, (world.rank + 1) * b_local)
    order = BatchOrder(train_split["labels"].shape[0], cfg["seed"])
    hidden = hf["hidden_size"]
    skipped, step = 0, 0
    try:
        while step < cfg["steps"]:
            started = time.perf_counter()
            idx = None if fixed is not None else order.next(cfg["batchSize"])
            batch = ({k: v[rows].to(dev) for k, v in fixed.items()} if fixed is not None
                     else take(train_split, torch.tensor(idx[rows]), dev))  # fmt: skip
            delta0 = None
            if cfg["method"] == "alum":
                if step == 0 and trace_delta is not None:
                    full = trace_delta.to(torch.float32)
                else:
                    g = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + step + 1)
                    full = torch.randn([cfg["batchSize"], cfg["maxLength"], hidden], generator=g) * cfg["sigma"]
                delta0 = full[rows].to(dev)
            opt.zero_grad(set_to_none=True)
            m = alum_step(model, tap, batch, delta0, cfg, step + 1, world, cfg["batchSize"])
            all_reduce_grads(model, world)
            if step == 0 and args.dump_step and world.rank == 0:
                dump_step(args.dump_step, model, m)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            if not math.isfinite(m["totalLoss"]):
                raise RuntimeError(f"step {step + 1}: loss is not finite (task {m['taskLoss']}, adv {m['advLoss']}); "
                                   "update skipped")  # fmt: skip
            if not math.isfinite(norm.item()):
                raise RuntimeError(f"step {step + 1}: parameter gradient norm is not finite ({norm.item()}); "
                                   "update skipped")  # fmt: skip
            lr = lr_at(step, cfg["steps"], cfg["lr"])
            for grp in opt.param_groups:
                grp["lr"] = lr
            opt.step()
            step += 1
            skipped += int(m.pop("skippedNow") > 0)
            row = {"step": step, **m, "skipped": skipped, "ms": (time.perf_counter() - started) * 1000, "lr": lr}
            every = cfg["evalEvery"]
            if (every > 0 and step % every == 0) or step == cfg["steps"]:
                acc = evaluate(model, dev_split, world)
                if math.isfinite(acc):
                    row["devAccuracy"] = acc
            if world.rank == 0:
                with open(metrics_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps({k: row[k] for k in METRIC_KEYS + ["devAccuracy"] if k in row}) + "\n")
                if step % 10 == 0 or step == cfg["steps"] or "devAccuracy" in row:
                    acc = f" dev-acc {row['devAccuracy'] * 100:.2f}%" if "devAccuracy" in row else ""
                    print(f"step {step}/{cfg['steps']} task {row['taskLoss']:.4f} adv {row['advLoss']:.2e}{acc}",
                          file=sys.stderr)  # fmt: skip
    finally:
        if world.rank == 0:
            save(out, model, hf, vocab, cfg, step, world.size)
        world.close()


def dump_step(path, model, m):
    """Step 1's losses and every parameter gradient (after the cross-process sum, before clipping)."""
    t = {f"grad.{n}": p.grad.detach().float() for n, p in model.named_parameters() if p.grad is not None}
    for key, name in (("taskLoss", "loss_task"), ("advLoss", "loss_adv"), ("totalLoss", "loss_total"),
                      ("klInit", "kl_init"), ("klAdv", "kl_adv")):  # fmt: skip
        t[name] = torch.tensor(m[key], dtype=torch.float32)
    write_atomic(path, safetensors_bytes(t, {"generator": "train_alum.py --dump-step"}))


def save(out, model, hf, vocab, cfg, steps, world_size):
    """RUN_DIR/model/ in the HF layout (parameters only, F32, HF names) and RUN_DIR/run.json."""
    folder = out / "model"
    folder.mkdir(parents=True, exist_ok=True)
    params = {n: p.detach().float() for n, p in model.named_parameters()}
    meta = {"format": "pt", "alum_config": json.dumps(cfg, separators=(",", ":")), "steps_trained": str(steps)}
    write_atomic(folder / "model.safetensors", safetensors_bytes(params, meta))
    write_atomic(folder / "config.json", json.dumps(hf, indent=2) + "\n")
    write_atomic(folder / "vocab.txt", "\n".join(vocab) + "\n")
    run = {"config": cfg, "steps": steps, "processes": world_size, "torch": torch.__version__}
    write_atomic(out / "run.json", json.dumps(run, indent=2) + "\n")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        train(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped: the model trained so far is saved", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
