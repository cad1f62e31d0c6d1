#!/usr/bin/env python3
"""ALUM fine-tuning of a BERT sequence classifier (or regressor): the ALUM Playground's training run as one PyTorch script.

Exported by `alum export-torch` or the page's "Export PyTorch script" button, next to `config.json` (the run's
settings under the playground's config names) and README.md (the commands). The ALUM step is the playground's
(docs/alum-step.md of the ALUM Playground repository), option for option:

  e = embed(ids) (word + position + token type, LayerNorm, dropout); clean logits z_c = f(e)
  delta_0 = sigma * N(0, 1), zero on padding
  K inner steps: g = d innerLoss(f(e + x), sg z_c) / d x at the variant's point x, then the variant's update
  loss = CE(z_c, y) + alpha * mean_b [KL(sg p_a || p_c) + KL(sg p_c || p_a)],  p_a = softmax(f(e' + sg delta_K)),
         e' = sg(e) when detachEmbedding
  regression (one output): loss = MSE(z_c, y) + alpha * mean_b (z_c - z_a)^2 (no stop-gradient), inner loss
         sum_b (z_x - sg z_c)^2
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
seeded: the same rows as the page's and `alum train`'s split (their RNG, ported below). Regression (one output,
MSE) for a `score` column or fractional labels. Tokenizer: transformers' BertTokenizer on the model's vocab.txt when
installed, else the built-in BERT WordPiece below (transformers 5's ids); casing from the model folder.
Writes RUN_DIR/metrics.jsonl (the page's metric names, one line per step, rank 0), RUN_DIR/run.json and
RUN_DIR/model/ (config.json, model.safetensors with HF parameter names, vocab.txt).
"""

import argparse
import bisect
import csv
import importlib.util
import io
import json
import math
import os
import re
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
    "method": ["standard", "alum", "r3f", "fgm", "pgd", "freelb", "smart"],
    "noiseType": ["uniform", "normal"],
    "variant": ["paper", "paper-raw", "mtdnn-2020", "mtdnn-head"],
    "innerLoss": ["kl", "stable-kl"],
    "innerReduction": ["sum", "batchmean", "elementmean"],
    "norm": ["inf", "l2"],
    "advDropout": ["same", "fresh", "off"],
    "model": ["nano", "tiny", "mini", "small"],
    "task": ["classify", "mlm"],
    "init": ["pretrained", "random", "loaded"],
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
    "steps": (1, 100_000, True),
    "dropout": (0, 0.9, False),
    "weightDecay": (0, 1, False),
    "evalEvery": (0, 100_000, True),
    "maskRate": (0.01, 1, False),
    "smartMu": (0, 1000, False),
    "smartBeta": (0, 1, False),
}
BOOLEANS = ("detachEmbedding", "wholeWordMask")
CONFIG_KEYS = [
    "method", "noiseType", "smartMu", "smartBeta", "alpha", "k", "eta", "epsilon", "sigma", "variant", "innerLoss",
    "innerReduction", "detachEmbedding", "norm", "advDropout", "lr", "batchSize", "maxLength", "model", "seed",
    "steps", "dropout", "weightDecay", "evalEvery", "task", "maskRate", "wholeWordMask", "init",
]  # fmt: skip
# Config fields with no flag of their own: `--init DIR` is the model folder to start from (the config's `init`
# records where the playground's run started: pretrained, random or loaded).
NOT_FLAGS = ("init",)
# The methods this script implements; the relatives (r3f, fgm, pgd, freelb, smart) run in the playground only.
EXPORTED_METHODS = ("standard", "alum")
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
    "effPerturb", "klInit", "klAdv", "dropoutKl", "skipped", "ms", "trainMs", "evalMs", "lr", "trainAccuracy",
    "taskGradNorm", "advGradNorm",
]  # fmt: skip
DEV_KEYS = ["devAccuracy", "devPearson", "devSpearman", "devMse"]
# A test hook, not a user option: "RANK:STEP" makes that process's delta_0 NaN at that step (1-based), so the
# tests can check that a non-finite ascent on one shard drops the adversarial term on every shard.
TEST_HOOK_POISON_ENV = "ALUM_TEST_HOOK_POISON_DELTA0"


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
        v = None if k in NOT_FLAGS else getattr(flags, "cfg_" + k)
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


def hf_config(c_model, labels, dropout, problem="classification"):
    """The BertConfig JSON the playground writes (src/core/model/hf.ts toHfConfig); regression: one output."""
    out = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "problem_type": "regression" if problem == "regression" else "single_label_classification",
        **{k: v for k, v in c_model.items() if k not in ("id2label", "label2id")},
    }
    out["hidden_dropout_prob"] = dropout
    out["attention_probs_dropout_prob"] = dropout
    out["id2label"] = {str(i): name for i, name in enumerate(labels)}
    out["label2id"] = {name: i for i, name in enumerate(labels)}
    return out


def build_model(cfg, init_dir, vocab_size, labels, use_transformers, problem="classification"):
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
    c = hf_config({k: c[k] for k in keep if k in c}, labels, cfg["dropout"], problem)
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
        load_weights(model, Path(init_dir), labels)
    return model, c


def head_plan(model_labels, labels):
    """How a checkpoint's classifier meets the data's labels (src/core/model/hf-load.ts withLabels, the page's and
    `alum train --init`'s one policy): the same names in another order permute its rows (-> the row order), as
    many other names keep them by position (-> None), another count gets a fresh head (-> "fresh")."""
    model_labels = model_labels or ["LABEL_0", "LABEL_1"]  # HF's default head: 2 labels
    if len(model_labels) != len(labels):
        return "fresh"
    order = [model_labels.index(n) if n in model_labels else -1 for n in labels]
    if all(i >= 0 for i in order) and order != list(range(len(labels))):
        return order
    return None


def load_weights(model, folder, labels):
    st, binf = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.exists():
        tensors, _ = read_safetensors(st)
        origin = st
    elif binf.exists():
        tensors, origin = torch.load(binf, map_location="cpu"), binf
    else:
        raise InputError(f"{folder}: no model.safetensors (or pytorch_model.bin)")
    params = dict(model.named_parameters())
    plan = head_plan(init_labels_of(folder), labels)
    for name, p in params.items():
        t = tensors.get(name, tensors.get(name[len("bert."):] if name.startswith("bert.") else None))
        if name.startswith("classifier.") and plan == "fresh":
            continue  # another number of labels: a fresh head (transformers' ignore_mismatched_sizes)
        if name.startswith("classifier.") and t is not None and isinstance(plan, list):
            t = t[plan]  # row i scores the data's label i
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


def task_loss_sum(z, y, problem):
    """Sum over the rows of the task loss: cross-entropy, or (z - y)^2 of the one regression output. -> scalar"""
    if problem == "regression":
        return (z[:, 0] - y).square().sum()
    return F.cross_entropy(z, y, reduction="sum")


def inner_loss(cfg, problem, z_adv, z_clean, global_batch):
    """The inner loss (z_clean constant): the configured KL and reduction, or MSE 'sum' for regression."""
    if problem == "regression":
        return (z_adv - z_clean).square().sum()
    rows = inner_loss_rows(cfg["innerLoss"], z_adv, z_clean)
    return reduce_rows(rows, cfg["innerReduction"], global_batch, z_adv.shape[-1])


def outer_loss_sum(z_clean, z_adv, problem):
    """Sum over the rows of the outer term: the symmetric KL with stop-gradient targets, or for regression
    (z_clean - z_adv)^2 with no stop-gradient on either side (docs/alum-step.md, "Regression"). -> scalar"""
    if problem == "regression":
        return (z_clean - z_adv).square().sum()
    return (kl_rows(z_adv.detach(), z_clean) + kl_rows(z_clean.detach(), z_adv)).sum()


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


def alum_step(model, tap, batch, delta0, cfg, step, world, global_batch, problem="classification", split=False):
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
    task = task_loss_sum(z_c, batch["labels"], problem) / global_batch
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
            L = inner_loss(cfg, problem, z, z_cc, global_batch)
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
        adv = outer_loss_sum(z_c, z_a, problem) / global_batch * ok
        total = task + cfg["alpha"] * adv
        with torch.no_grad():
            kl_adv = inner_loss(cfg, problem, z_a, z_cc, global_batch) * ok
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
                dropout_kl = outer_loss_sum(z_cc, z0, problem) / global_batch
    # On evaluated steps, the task term's own parameter gradient (the same clean pass), for taskGradNorm and
    # advGradNorm (src/core/train/run.ts gradientSplit): the adversarial term's is the total's minus it.
    params = [p for p in model.parameters() if p.requires_grad]
    task_grads = None
    if split:
        got = torch.autograd.grad(task, params, retain_graph=True, allow_unused=True)
        task_grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, got)]
    total.backward()
    with torch.no_grad():
        tokens = mask.sum().to(torch.float32)
        eabs = (e.detach().abs().sum(-1) * mask).sum()
        hits = zero if problem == "regression" else (z_c.argmax(-1) == batch["labels"]).sum().to(torch.float32)
        sums = torch.stack([task.detach(), adv.detach(), total.detach(), gsq, linf_sum, l2_sum, eabs, eff_sum,
                            kl_init, kl_adv, dropout_kl, tokens, hits])  # fmt: skip
        world.sum(sums)
    H = e.shape[-1]
    v = sums.tolist()
    tok = v[11]
    out = {} if problem == "regression" else {"trainAccuracy": v[12] / global_batch}  # the clean pass, dropout on
    if task_grads is not None:
        out["_taskGrads"] = task_grads
    return {
        **out,
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


def grad_split(model, task_grads, world):
    """{taskGradNorm, advGradNorm}: the L2 norms over all parameters of the task term's gradient and of the rest
    of the total gradient (alpha times the adversarial term's), summed across processes, before clipping."""
    flat = world.sum(torch.cat([g.reshape(-1) for g in task_grads]))
    total = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                       for p in model.parameters() if p.requires_grad])  # fmt: skip
    return {"taskGradNorm": flat.norm().item(), "advGradNorm": (total - flat).norm().item()}


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
# Tokenizer: src/core/tokenizer/basic.ts and wordpiece.ts (transformers 5's BertTokenizer, id for id)
# ----------------------------------------------------------------------------------------------------------------------
# Code point ranges (hex, inclusive) of the Rust crate unicode_categories 0.1.1 (Unicode 8.0), which transformers 5's
# tokenizers use for Cc/Cf/Co, Mn and P*. Python's unicodedata knows a later Unicode, so it is not used for these:
# a character assigned or recategorised after 8.0 is an ordinary char here, as in transformers.
OTHER_8 = (
    "0-1f 7f-9f ad 600-605 61c 6dd 70f 180e 200b-200f 202a-202e 2060-2064 2066-206f e000-f8ff feff "
    "fff9-fffb 110bd 1bca0-1bca3 1d173-1d17a e0001 e0020-e007f f0000-ffffd 100000-10fffd"
)
MN_8 = (
    "300-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc 6df-6e4 6e7-6e8 6ea-6ed "
    "711 730-74a 7a6-7b0 7eb-7f3 816-819 81b-823 825-827 829-82d 859-85b 8e3-902 93a 93c 941-948 94d "
    "951-957 962-963 981 9bc 9c1-9c4 9cd 9e2-9e3 a01-a02 a3c a41-a42 a47-a48 a4b-a4d a51 a70-a71 a75 "
    "a81-a82 abc ac1-ac5 ac7-ac8 acd ae2-ae3 b01 b3c b3f b41-b44 b4d b56 b62-b63 b82 bc0 bcd c00 c3e-c40 "
    "c46-c48 c4a-c4d c55-c56 c62-c63 c81 cbc cbf cc6 ccc-ccd ce2-ce3 d01 d41-d44 d4d d62-d63 dca dd2-dd4 "
    "dd6 e31 e34-e3a e47-e4e eb1 eb4-eb9 ebb-ebc ec8-ecd f18-f19 f35 f37 f39 f71-f7e f80-f84 f86-f87 "
    "f8d-f97 f99-fbc fc6 102d-1030 1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 "
    "1085-1086 108d 109d 135d-135f 1712-1714 1732-1734 1752-1753 1772-1773 17b4-17b5 17b7-17bd 17c6 "
    "17c9-17d3 17dd 180b-180d 18a9 1920-1922 1927-1928 1932 1939-193b 1a17-1a18 1a1b 1a56 1a58-1a5e 1a60 "
    "1a62 1a65-1a6c 1a73-1a7c 1a7f 1ab0-1abd 1b00-1b03 1b34 1b36-1b3a 1b3c 1b42 1b6b-1b73 1b80-1b81 "
    "1ba2-1ba5 1ba8-1ba9 1bab-1bad 1be6 1be8-1be9 1bed 1bef-1bf1 1c2c-1c33 1c36-1c37 1cd0-1cd2 1cd4-1ce0 "
    "1ce2-1ce8 1ced 1cf4 1cf8-1cf9 1dc0-1df5 1dfc-1dff 20d0-20dc 20e1 20e5-20f0 2cef-2cf1 2d7f 2de0-2dff "
    "302a-302d 3099-309a a66f a674-a67d a69e-a69f a6f0-a6f1 a802 a806 a80b a825-a826 a8c4 a8e0-a8f1 "
    "a926-a92d a947-a951 a980-a982 a9b3 a9b6-a9b9 a9bc a9e5 aa29-aa2e aa31-aa32 aa35-aa36 aa43 aa4c aa7c "
    "aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaec-aaed aaf6 abe5 abe8 abed fb1e fe00-fe0f fe20-fe2f 101fd "
    "102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f 10a38-10a3a 10a3f 10ae5-10ae6 11001 "
    "11038-11046 1107f-11081 110b3-110b6 110b9-110ba 11100-11102 11127-1112b 1112d-11134 11173 "
    "11180-11181 111b6-111be 111ca-111cc 1122f-11231 11234 11236-11237 112df 112e3-112ea 11300-11301 "
    "1133c 11340 11366-1136c 11370-11374 114b3-114b8 114ba 114bf-114c0 114c2-114c3 115b2-115b5 "
    "115bc-115bd 115bf-115c0 115dc-115dd 11633-1163a 1163d 1163f-11640 116ab 116ad 116b0-116b5 116b7 "
    "1171d-1171f 11722-11725 11727-1172b 16af0-16af4 16b30-16b36 16f8f-16f92 1bc9d-1bc9e 1d167-1d169 "
    "1d17b-1d182 1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c 1da75 1da84 1da9b-1da9f "
    "1daa1-1daaf 1e8d0-1e8d6 e0100-e01ef"
)
PUNCT_8 = (
    "21-23 25-2a 2c-2f 3a-3b 3f-40 5b-5d 5f 7b 7d a1 a7 ab b6-b7 bb bf 37e 387 55a-55f 589-58a 5be 5c0 "
    "5c3 5c6 5f3-5f4 609-60a 60c-60d 61b 61e-61f 66a-66d 6d4 700-70d 7f7-7f9 830-83e 85e 964-965 970 af0 "
    "df4 e4f e5a-e5b f04-f12 f14 f3a-f3d f85 fd0-fd4 fd9-fda 104a-104f 10fb 1360-1368 1400 166d-166e "
    "169b-169c 16eb-16ed 1735-1736 17d4-17d6 17d8-17da 1800-180a 1944-1945 1a1e-1a1f 1aa0-1aa6 1aa8-1aad "
    "1b5a-1b60 1bfc-1bff 1c3b-1c3f 1c7e-1c7f 1cc0-1cc7 1cd3 2010-2027 2030-2043 2045-2051 2053-205e "
    "207d-207e 208d-208e 2308-230b 2329-232a 2768-2775 27c5-27c6 27e6-27ef 2983-2998 29d8-29db 29fc-29fd "
    "2cf9-2cfc 2cfe-2cff 2d70 2e00-2e2e 2e30-2e42 3001-3003 3008-3011 3014-301f 3030 303d 30a0 30fb "
    "a4fe-a4ff a60d-a60f a673 a67e a6f2-a6f7 a874-a877 a8ce-a8cf a8f8-a8fa a8fc a92e-a92f a95f a9c1-a9cd "
    "a9de-a9df aa5c-aa5f aade-aadf aaf0-aaf1 abeb fd3e-fd3f fe10-fe19 fe30-fe52 fe54-fe61 fe63 fe68 "
    "fe6a-fe6b ff01-ff03 ff05-ff0a ff0c-ff0f ff1a-ff1b ff1f-ff20 ff3b-ff3d ff3f ff5b ff5d ff5f-ff65 "
    "10100-10102 1039f 103d0 1056f 10857 1091f 1093f 10a50-10a58 10a7f 10af0-10af6 10b39-10b3f "
    "10b99-10b9c 11047-1104d 110bb-110bc 110be-110c1 11140-11143 11174-11175 111c5-111c9 111cd 111db "
    "111dd-111df 11238-1123d 112a9 114c6 115c1-115d7 11641-11643 1173c-1173e 12470-12474 16a6e-16a6f "
    "16af5 16b37-16b3b 16b44 1bc9f 1da87-1da8b"
)
CJK_8 = "4e00-9fff 3400-4dbf 20000-2a6df 2a700-2b73f 2b740-2b81f 2b920-2ceaf f900-faff 2f800-2fa1f"  # Rust is_chinese_char
WHITESPACE = set("\t\n\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
SPECIAL_SPLIT = re.compile(r"(\[(?:PAD|UNK|CLS|SEP|MASK)\])")
SIMPLE_ASCII = re.compile(r"^[\x20-\x7e\t\n\r]*$")
MAX_CHARS_PER_WORD = 100


class CodeRanges:
    """Membership in a list of code point ranges (binary search)."""

    def __init__(self, spec):
        pairs = [r.partition("-") for r in spec.split()]
        pairs = sorted((int(lo, 16), int(hi or lo, 16)) for lo, _, hi in pairs)
        self.starts, self.ends = [p[0] for p in pairs], [p[1] for p in pairs]

    def __contains__(self, cp):
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]


OTHER, NONSPACING_MARK, PUNCT, CJK = (CodeRanges(s) for s in (OTHER_8, MN_8, PUNCT_8, CJK_8))


def is_punct(ch):
    """`is_bert_punc`: ASCII punctuation or Unicode 8.0 P*."""
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or cp in PUNCT


def basic_tokenize(text, lowercase=True):
    """Words and punctuation marks of `text` as BertNormalizer + BertPreTokenizer give them (basic.ts): clean
    (drop NUL, U+FFFD, Cc/Cf/Co but \\t \\n \\r; whitespace to ' '), space around CJK ideographs, and when
    lowercasing NFD, drop Mn, lowercase char by char (no final-sigma rule); then split on spaces and punctuation."""
    if SIMPLE_ASCII.match(text):
        norm = text.lower() if lowercase else text
    else:
        out = []
        for ch in text:
            cp = ord(ch)
            if (cp in OTHER and ch not in "\t\n\r") or cp == 0xFFFD or 0xD800 <= cp <= 0xDFFF:
                continue
            out.append(" " if ch in WHITESPACE else f" {ch} " if cp in CJK else ch)
        norm = "".join(out)
        if lowercase:
            norm = unicodedata.normalize("NFD", norm)
            norm = "".join(c.lower() for c in norm if ord(c) not in NONSPACING_MARK)
    words, cur = [], []
    for ch in norm:
        if ch in " \t\n\r" or is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            if ch not in " \t\n\r":
                words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def longest_first(len_a, len_b, budget):
    """Tokens kept of a and b under truncation='longest_first' as transformers 5.17 does it (wordpiece.ts)."""
    if len_a + len_b <= budget:
        return len_a, len_b
    shorter = min(len_a, len_b)
    if shorter <= budget - shorter:
        return (len_a, budget - len_a) if len_a <= len_b else (budget - len_b, len_b)
    half = budget // 2
    odd = budget - 2 * half
    odd_to_a = shorter > budget or len_a > len_b
    return (half + odd, half) if odd_to_a else (half, half + odd)


class WordPiece:
    """transformers 5 `BertTokenizer(vocab, do_lower_case=lowercase)` without transformers (wordpiece.ts): special
    tokens in the text kept whole, basic_tokenize, greedy longest-match WordPiece with ## continuations."""

    def __init__(self, vocab, lowercase=True):
        self.vocab = vocab
        self.lowercase = lowercase
        self.ids = {t: i for i, t in enumerate(vocab)}  # a duplicated token maps to its last line, as HF
        for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if t not in self.ids:
                raise InputError(f"vocab.txt: missing special token {t}")
        self.pad, self.unk, self.cls, self.sep = (self.ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
        self.cache = {}

    def word_ids(self, w):
        ids = self.cache.get(w)
        if ids is None:
            ids = self._split_word(w)
            if len(self.cache) >= 200_000:
                self.cache.clear()
            self.cache[w] = ids
        return ids

    def _split_word(self, w):
        """Greedy longest-match-first pieces of one word (code points); [UNK] when it cannot be split fully."""
        if len(w) > MAX_CHARS_PER_WORD:
            return [self.unk]
        ids, start = [], 0
        while start < len(w):
            end, found = len(w), None
            while start < end:
                found = self.ids.get(w[start:end] if start == 0 else "##" + w[start:end])
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def piece_ids(self, text):
        out = []
        for i, part in enumerate(SPECIAL_SPLIT.split(text)):
            if i % 2 == 1 and part in self.ids:
                out.append(self.ids[part])
            elif part:
                for w in basic_tokenize(part, self.lowercase):
                    out.extend(self.word_ids(w))
        return out

    def encode(self, text, pair, max_length=None):
        """-> (input ids, token type ids): [CLS] a [SEP] (b [SEP]), unpadded, truncated longest_first."""
        a = self.piece_ids(text)
        b = self.piece_ids(pair) if pair is not None else None
        if max_length is not None:
            budget = max_length - (2 if b is None else 3)
            if b is None:
                a = a[:budget]
            else:
                keep_a, keep_b = longest_first(len(a), len(b), budget)
                a, b = a[:keep_a], b[:keep_b]
        ids, types = [self.cls] + a + [self.sep], [0] * (len(a) + 2)
        if b is not None:
            ids += b + [self.sep]
            types += [1] * (len(b) + 1)
        return ids, types


class HfTokenizer:
    def __init__(self, vocab_file, lowercase=True):
        from transformers import BertTokenizer

        self.tok = BertTokenizer(vocab_file=str(vocab_file), do_lower_case=lowercase)
        self.pad = self.tok.pad_token_id

    def encode(self, text, pair, max_length):
        enc = self.tok(text, pair, truncation="longest_first", max_length=max_length)
        return enc["input_ids"], enc["token_type_ids"]


def model_lowercase(init_dir):
    """The model folder's casing, as src/core/model/hf-load.ts reads it: tokenizer.json's normalizer.lowercase,
    else tokenizer_config.json's do_lower_case, else uncased (BertTokenizer's default)."""
    if init_dir is None:
        return True
    tj, tc = init_dir / "tokenizer.json", init_dir / "tokenizer_config.json"
    for f, get in ((tj, lambda o: (o.get("normalizer") or {}).get("lowercase", True)),
                   (tc, lambda o: o.get("do_lower_case", True))):  # fmt: skip
        if f.exists():
            try:
                v = get(json.loads(f.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, AttributeError):
                raise InputError(f"{f}: not valid JSON (an object)")
            if not isinstance(v, bool):
                raise InputError(f"{f}: the lowercase setting must be true or false, got {json.dumps(v)}")
            return v
    return True


# ----------------------------------------------------------------------------------------------------------------------
# Data (src/core/data/parse.ts, dataset.ts) and the seeded RNG (src/core/rng.ts)
# ----------------------------------------------------------------------------------------------------------------------
DEV_FRACTION = 0.1  # src/core/train/session.ts
# Header layouts (parse.ts): text columns tried in order (a pair first), then the label column.
TEXT_COLUMNS = [("sentence1", "sentence2"), ("question", "sentence"), ("question1", "question2"),
                ("#1 string", "#2 string"), ("sentence", None), ("text", "text_pair"), ("text", None)]  # fmt: skip
LABEL_COLUMNS = ["label", "gold_label", "score", "quality", "is_duplicate"]
INTEGER = re.compile(r"^-?\d+$")


class Rng:
    """src/core/rng.ts: mulberry32 (uniform in [0, 1)), `int(n)` and the Fisher-Yates `shuffled`, bit for bit."""

    M = 0xFFFFFFFF

    def __init__(self, seed):
        self.a = seed & self.M

    def uniform(self):
        m = self.M
        self.a = (self.a + 0x6D2B79F5) & m
        t = self.a
        t = ((t ^ (t >> 15)) * (t | 1)) & m
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & m)) & m
        return ((t ^ (t >> 14)) & m) / 4294967296

    def int(self, n):
        return math.floor(self.uniform() * n)

    def shuffled(self, items):
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.int(i + 1)
            out[i], out[j] = out[j], out[i]
        return out


def js_round(x):
    """JavaScript's Math.round (halves up; Python's round takes halves to even)."""
    return math.floor(x + 0.5)


def n_dev_of(n):
    return max(1, js_round(n * DEV_FRACTION)) if n > 1 else 0


def stratified_split(examples, seed):
    """src/core/data/dataset.ts stratifiedSplit: per label (ascending), a seeded shuffle puts round(n / 10) (at
    least 1) in dev; both sides are then shuffled once more by the same generator. -> (train, dev)"""
    rng, groups = Rng(seed), {}
    for ex in examples:
        groups.setdefault(ex[2], []).append(ex)
    train, dev = [], []
    for label in sorted(groups):
        group = rng.shuffled(groups[label])
        k = n_dev_of(len(group))
        dev += group[:k]
        train += group[k:]
    return rng.shuffled(train), rng.shuffled(dev)


def random_split(examples, seed):
    """dataset.ts randomSplit (regression): one seeded shuffle, the first round(n / 10) (at least 1) to dev."""
    rows = Rng(seed).shuffled(examples)
    k = n_dev_of(len(rows))
    return rows[k:], rows[:k]


def js_number_text(x):
    """JavaScript's String(number) for a JSON label (3.0 -> "3"), as parse.ts reads a numeric JSONL label."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    return str(x) if isinstance(x, int) else repr(x)


def is_numeric(s):
    try:
        return s.strip() != "" and math.isfinite(float(s))
    except ValueError:
        return False


def layout_of(names, where):
    """(text column, pair column or None, label column, label name) of a header row (parse.ts layoutFromHeader)."""
    for a, b in TEXT_COLUMNS:
        if a in names and (b is None or b in names):
            break
    else:
        raise InputError(f"{where}: header must name a text column (sentence, or sentence1 and sentence2) and a "
                         f"label column, got {json.dumps(','.join(names))}")  # fmt: skip
    label = next((n for n in LABEL_COLUMNS if n in names), None)
    if label is None:
        raise InputError(f"{where}: no label column ({', '.join(LABEL_COLUMNS)}): a GLUE test file has no labels")
    return names.index(a), names.index(b) if b else None, names.index(label), label


def read_delimited(p, body, tab):
    """-> ([(line, text, pair, label text)], label column name). CSV (RFC 4180 quotes) or TSV (no quoting), a
    header row, or CoLA's headerless 4 fields."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter="\t" if tab else ",",
                        quoting=csv.QUOTE_NONE if tab else csv.QUOTE_MINIMAL, strict=not tab)  # fmt: skip
    rows, layout, width, line = [], None, 0, 1
    try:
        for r in reader:
            start, line = line, reader.line_num + 1
            if r == [] or (len(r) == 1 and r[0].strip() == ""):
                continue
            if layout is None:
                cola = tab and len(r) == 4 and re.match(r"^\d+$", r[1].strip()) and r[2].strip() in ("", "*")
                if not cola:
                    names = [f.strip().lower() for f in r]
                    layout, width = layout_of(names, f"{p.name}:{start}"), len(names)
                    continue
                layout, width = (3, None, 1, "label"), 4
            if len(r) != width:
                raise InputError(f"{p.name}:{start}: expected {width} fields, got {len(r)}")
            ti, pi, li, _ = layout
            if r[ti].strip() == "":
                raise InputError(f"{p.name}:{start}: empty text")
            if r[li].strip() == "":
                raise InputError(f"{p.name}:{start}: empty label")
            rows.append((start, r[ti], r[pi] if pi is not None else None, r[li].strip()))
    except csv.Error as e:
        raise InputError(f"{p.name}:{line}: {e}")
    if layout is None:
        raise InputError(f"{p.name}:1: empty file")
    return rows, layout[3]


def read_jsonl(p, body):
    rows, first_pair = [], None
    for i, line in enumerate(body.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{p.name}:{i}: invalid JSON")
        if not isinstance(o, dict):
            raise InputError(f'{p.name}:{i}: expected a JSON object {{"text", "text_pair"?, "label"}}')
        if "text" not in o:
            raise InputError(f"{p.name}:{i}: missing field 'text'")
        if not isinstance(o["text"], str):
            raise InputError(f"{p.name}:{i}: field 'text' must be a string")
        if o["text"].strip() == "":
            raise InputError(f"{p.name}:{i}: empty field 'text'")
        pair = o.get("text_pair")
        if pair is not None and not isinstance(pair, str):
            raise InputError(f"{p.name}:{i}: field 'text_pair' must be a string")
        if "label" not in o:
            raise InputError(f"{p.name}:{i}: missing field 'label'")
        lab = o["label"]
        if isinstance(lab, str) and lab.strip() != "":
            text = lab.strip()
        elif isinstance(lab, (int, float)) and not isinstance(lab, bool) and math.isfinite(lab):
            text = js_number_text(lab)
        else:
            raise InputError(f"{p.name}:{i}: field 'label' must be a non-empty string or a finite number")
        if first_pair is None:
            first_pair = pair is not None
        elif (pair is not None) != first_pair:
            raise InputError(f"{p.name}:{i}: " + ("unexpected field 'text_pair' (earlier rows have none)"
                                                  if pair is not None else "missing field 'text_pair'"))  # fmt: skip
        rows.append((i, o["text"], pair, text))
    return rows, "label"


def detect_problem(label_name, rows, forced=None):
    """parse.ts detectProblemType: forced; STS-B's `score` column; or every label a number, one not an integer."""
    if forced:
        return forced
    if label_name == "score":
        return "regression"
    if all(is_numeric(r[3]) for r in rows) and any(not INTEGER.match(r[3]) for r in rows):
        return "regression"
    return "classification"


def read_rows(path):
    """-> (Path, [(line, text, pair or None, label text)], label column name) of a CSV/TSV/JSONL file."""
    p = Path(path)
    try:
        body = p.read_text(encoding="utf-8").lstrip("\ufeff")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file")
    except UnicodeDecodeError:
        raise InputError(f"{path}:1: not UTF-8 text")
    ext = p.suffix.lower()
    if ext not in (".csv", ".tsv", ".jsonl"):
        raise InputError(f"{p.name}:1: unsupported file type (expected .csv, .tsv, .jsonl or a task .json)")
    rows, label_name = read_jsonl(p, body) if ext == ".jsonl" else read_delimited(p, body, ext == ".tsv")
    if not rows:
        raise InputError(f"{p.name}:1: no data rows")
    return p, rows, label_name


def regression_targets(p, rows):
    for line, _, _, lab in rows:
        if not is_numeric(lab):
            raise InputError(f"{p.name}:{line}: regression label {json.dumps(lab)} is not a number")
    return [(t, pr, float(lab)) for _, t, pr, lab in rows]


def read_examples(path, forced_problem=None, dev_path=None):
    """-> (labels, [(text, pair or None, label id or float target)], problem, dev examples or None) of a
    CSV/TSV/JSONL file, in file order (parse.ts tablesToData; docs/data-formats.md), and of a dev file read with
    the training file's labels; one-line errors `FILE:LINE: problem`."""
    p, rows, label_name = read_rows(path)
    dev = read_rows(dev_path) if dev_path else None
    problem = detect_problem(label_name, rows, forced_problem)
    if problem == "regression":
        return ["LABEL_0"], regression_targets(p, rows), problem, dev and regression_targets(dev[0], dev[1])
    names = list(dict.fromkeys(r[3] for r in rows))
    if set(names) == {str(i) for i in range(len(names))}:
        names = [str(i) for i in range(len(names))]
    if len(names) < 2:
        raise InputError(f"{p.name}:{rows[0][0]}: only one label class ({json.dumps(names[0])}); need at least 2")
    index = {n: i for i, n in enumerate(names)}
    dev_examples = None
    if dev:
        for line, _, _, lab in dev[1]:
            if lab not in index:
                raise InputError(f"{dev[0].name}:{line}: label {json.dumps(lab)} does not occur in the training "
                                 f"file {p.name}")  # fmt: skip
        dev_examples = [(t, pr, index[lab]) for _, t, pr, lab in dev[1]]
    return names, [(t, pr, index[lab]) for _, t, pr, lab in rows], problem, dev_examples


def load_task(path, seed, forced_problem=None, dev_path=None):
    """-> (labels, train, dev, problem), lists of (text, pair, label): a task JSON's own split, else the page's
    and `alum train`'s seeded 90/10 split (stratified for classes, random for regression), row for row."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        try:
            o = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file")
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
        problem = o.get("problemType") or "classification"

        def split(name):
            if not isinstance(o.get(name), list):
                raise InputError(f"{path}: field '{name}' must be an array")
            cast = float if problem == "regression" else int
            return [(x["text"], x.get("textPair"), cast(x["label"])) for x in o[name]]

        return list(o["labels"]), split("train"), split("dev"), problem
    labels, examples, problem, user_dev = read_examples(path, forced_problem, dev_path)
    if user_dev is not None:  # the user's dev file instead of the split (session.ts taskFromTables)
        return labels, examples, user_dev, problem
    train, dev = (random_split if problem == "regression" else stratified_split)(examples, seed)
    return labels, train, dev, problem


def encode_split(tok, rows, max_length, problem="classification"):
    n = len(rows)
    ids = torch.full((n, max_length), tok.pad, dtype=torch.long)
    types = torch.zeros((n, max_length), dtype=torch.long)
    mask = torch.zeros((n, max_length), dtype=torch.long)
    labels = torch.zeros(n, dtype=torch.float32 if problem == "regression" else torch.long)
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


def pearson(x, y):
    """regression-metrics.ts: None (JSON null, as the page writes NaN) when either side is constant or n < 2."""
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def ranks(x):
    """1-based ranks, ties sharing their mean rank (scipy's rankdata 'average')."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    r, i = [0.0] * len(x), 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def evaluate(model, split, world, problem, batch_size=64):
    """Dev metrics, dropout off (run.ts evaluateDev): {devAccuracy} for classes, {devPearson, devSpearman, devMse}
    of the first output for regression. Each process scores its share of the rows."""
    n = split["labels"].shape[0]
    if n == 0:
        return {}
    model.eval()
    out = torch.zeros(n, dtype=torch.float64, device=world.device)  # per row: 1 if correct, or the prediction
    with torch.no_grad():
        mine = list(range(world.rank, n, world.size))
        for start in range(0, len(mine), batch_size):
            idx = torch.tensor(mine[start : start + batch_size])
            b = take(split, idx, world.device)
            z = logits_of(model, b)
            row = z[:, 0] if problem == "regression" else (z.argmax(-1) == b["labels"]).to(z.dtype)
            out[idx.to(world.device)] = row.double()
    model.train()
    v = world.sum(out).tolist()
    if problem != "regression":
        return {"devAccuracy": sum(v) / n}
    y = [float(t) for t in split["labels"].tolist()]
    y32 = [float(t) for t in torch.tensor(v, dtype=torch.float32).tolist()]  # the page reads float32 outputs
    mse = sum((a - b) ** 2 for a, b in zip(y32, y)) / n
    return {"devPearson": pearson(y32, y), "devSpearman": pearson(ranks(y32), ranks(y)), "devMse": mse}


# ----------------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description="ALUM fine-tuning of a BERT classifier (the ALUM Playground's step).")
    ap.add_argument("--config", default=str(HERE / "config.json"), help="settings (default: config.json here)")
    ap.add_argument("--init", default=None, help="HF model folder (default: ./model here, if present)")
    ap.add_argument("--data", default=None, help="CSV/TSV/JSONL/task JSON (default: the data file here)")
    ap.add_argument("--dev", default=None, help="a dev file instead of the 90/10 split (default: the dev file here)")
    ap.add_argument("--vocab", default=None, help="vocab.txt (default: the model's, else vocab.txt here)")
    ap.add_argument("--out", default="runs/torch", help="run folder: metrics.jsonl, run.json, model/")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--builtin-bert", action="store_true", help="use the built-in BERT even with transformers")
    ap.add_argument("--trace", default=None, help="train on an `alum trace` file's batch; step 1 uses its delta_init")
    ap.add_argument("--dump-step", default=None, help="write step 1's losses and parameter gradients here")
    ap.add_argument("--problem", choices=["classification", "regression"], default=None,
                    help="force the problem type (default: from the data, docs/data-formats.md)")  # fmt: skip
    for k in CONFIG_KEYS:
        if k not in NOT_FLAGS:
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
    if cfg["task"] != "classify":
        raise InputError(f"--task {cfg['task']}: this script fine-tunes a classifier or regressor (task classify); "
                         "masked-LM pre-training is not exported")  # fmt: skip
    if cfg["method"] not in EXPORTED_METHODS:
        raise InputError(f"--method {cfg['method']}: this script implements standard and alum; "
                         "the relatives (r3f, fgm, pgd, freelb, smart) run in the playground only")  # fmt: skip
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
    lowercase = model_lowercase(init_dir)
    tok = HfTokenizer(vocab_file, lowercase) if use_tf else WordPiece(vocab, lowercase)
    return cfg, world, use_tf, init_dir, vocab, tok


def load_data(args, cfg, tok, init_labels, init_problem):
    """-> (labels, train split, dev split, fixed trace batch or None, trace delta_init or None, problem)."""
    if args.trace:
        t, _ = read_safetensors(args.trace)
        need = ("input_ids", "attention_mask", "token_type_ids", "labels")
        for n in need:
            if n not in t:
                raise InputError(f"{args.trace}: no tensor '{n}' (not an `alum trace` file)")
        problem = args.problem or init_problem
        fixed = {n: t[n].to(torch.long) for n in need}
        if problem == "regression":
            fixed["labels"] = t["labels"].to(torch.float32)
        cfg["batchSize"], cfg["maxLength"] = fixed["input_ids"].shape
        labels = init_labels or [str(i) for i in range(int(fixed["labels"].max()) + 1)]
        empty = {k: v[:0] for k, v in fixed.items()}
        return labels, fixed, empty, fixed, t.get("delta_init"), problem
    data = args.data or default_file("data.csv", "data.tsv", "data.jsonl", "data.json")
    if data is None:
        raise InputError("no data: give --data FILE (CSV, TSV, JSONL or task JSON)")
    dev_file = args.dev or default_file("dev.csv", "dev.tsv", "dev.jsonl")
    labels, train, dev, problem = load_task(data, cfg["seed"], args.problem, dev_file)
    if not train:
        raise InputError(f"{data}: no training examples")
    ml = cfg["maxLength"]
    return labels, encode_split(tok, train, ml, problem), encode_split(tok, dev, ml, problem), None, None, problem


def init_problem_of(init_dir):
    """The model folder's problem_type ("regression" or "classification")."""
    if init_dir is None or not (init_dir / "config.json").exists():
        return "classification"
    try:
        c = json.loads((init_dir / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return "classification"
    return "regression" if isinstance(c, dict) and c.get("problem_type") == "regression" else "classification"


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
    cfg, world, use_tf, init_dir, vocab, tok = setup(args)
    dev = world.device
    init_problem = init_problem_of(init_dir)
    labels, train_split, dev_split, fixed, trace_delta, problem = load_data(
        args, cfg, tok, init_labels_of(init_dir), init_problem)
    if init_dir is not None and problem != init_problem:
        raise InputError(f"{init_dir}/config.json: problem_type is {init_problem}, but the data is {problem} "
                         "(--problem forces one)")  # fmt: skip
    if cfg["batchSize"] % world.size != 0:
        raise InputError(f"--batch-size {cfg['batchSize']} is not divisible by the {world.size} processes")
    if init_dir is not None and fixed is None:
        plan = head_plan(init_labels_of(init_dir), labels)
        if plan is not None and world.rank == 0:
            what = "a fresh classifier (another number of labels)" if plan == "fresh" else "classifier rows reordered"
            print(f"model: {what} for the data's labels ({', '.join(labels)})", file=sys.stderr)
    model, hf = build_model(cfg, init_dir, len(vocab), labels, use_tf, problem)
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
            if delta0 is not None:
                delta0 = test_hook_poison(delta0, world.rank, step + 1)
            every = cfg["evalEvery"]
            due = (every > 0 and (step + 1) % every == 0) or step + 1 == cfg["steps"]
            m = alum_step(model, tap, batch, delta0, cfg, step + 1, world, cfg["batchSize"], problem, due)
            all_reduce_grads(model, world)
            task_grads = m.pop("_taskGrads", None)
            if task_grads is not None:
                m.update(grad_split(model, task_grads, world))
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
            train_ms = (time.perf_counter() - started) * 1000
            row = {"step": step, **m, "skipped": skipped, "ms": train_ms, "trainMs": train_ms, "lr": lr}
            if due:
                eval_started = time.perf_counter()
                row.update(evaluate(model, dev_split, world, problem))
                row["evalMs"] = (time.perf_counter() - eval_started) * 1000
                row["ms"] = train_ms + row["evalMs"]
            if world.rank == 0:
                with open(metrics_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps({k: row[k] for k in METRIC_KEYS + DEV_KEYS if k in row}) + "\n")
                if step % 10 == 0 or step == cfg["steps"] or any(k in row for k in DEV_KEYS):
                    acc = f" dev-acc {row['devAccuracy'] * 100:.2f}%" if "devAccuracy" in row else ""
                    if row.get("devPearson") is not None:
                        acc = f" dev-pearson {row['devPearson']:.4f}"
                    print(f"step {step}/{cfg['steps']} task {row['taskLoss']:.4f} adv {row['advLoss']:.2e}{acc}",
                          file=sys.stderr)  # fmt: skip
    finally:
        if world.rank == 0:
            save(out, model, hf, vocab, cfg, step, world.size)
        world.close()


def test_hook_poison(delta0, rank, step):
    """Test hook only (TEST_HOOK_POISON_ENV): NaN delta_0 on the named process at the named step."""
    spec = os.environ.get(TEST_HOOK_POISON_ENV)
    if spec and spec == f"{rank}:{step}":
        return delta0 * float("nan")
    return delta0


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
