#!/usr/bin/env python3
"""Independent PyTorch reference for ALUM Playground.

Writes (paths relative to the repository root):
  test/fixtures/nano-bert/{config.json,vocab.txt,model.safetensors}   tiny random BERT checkpoint
  test/golden/nano-bert.json   forward pass, ALUM step for 3 variants (one hyper-parameter set), losses, gradients
  test/golden/alum-cases.json  12 ALUM steps covering every option (variant, K, innerLoss, innerReduction,
                               detachEmbedding, norm) on the same batch, delta_init and fixture
  test/golden/symkl.json       symmetric-KL values and gradients on hand-picked logits
  test/golden/adamw.json       torch.optim.AdamW + clip_grad_norm_ reference trajectory

Run:  apt-get install -y python3-torch python3-numpy && /usr/bin/python3 scripts/golden/make_golden.py

No `transformers` and no `safetensors` package: BERT is written by hand with exactly the semantics of Hugging Face
`BertForSequenceClassification` (post-LN encoder, GELU erf form, additive mask (1-m)*-10000, tanh pooler on [CLS]),
with dropout OFF everywhere. Weights are drawn and stored in float32; every golden value is computed in float64 from
those exact float32 weights. Deterministic: all randomness comes from explicitly seeded torch.Generator objects.

ALUM step specification (this is what the TypeScript implementation must match)
-------------------------------------------------------------------------------
The specification is docs/alum-step.md; `alum_step_reference` below implements it for one case dict
{variant, K, eta, epsilon, alpha, inner_loss, inner_reduction, detach_embedding, norm}. Summary (dropout off, so
the passes C, I_k and A of the doc are the same deterministic function f):
Notation: e = embedding_output [B,T,H] (word + position + token_type embeddings, LayerNorm eps 1e-12);
f(h) = encoder + pooler + classifier (logits [B,C]); m = attention_mask as [B,T,1]; sg = stop-gradient.

  * per-token norm n(x) [B,T,1]: max_j |x_j| (norm 'inf') or sqrt(sum_j x_j^2) (norm 'l2');
    projection Pi_eps(x): clip(x, -eps, eps) ('inf') or x * eps / max(eps, n(x)) ('l2').
  * clean logits z_c = f(e); inside the inner loop z_c is a constant and so are e and the parameters.
  * inner loss = reduction of elementwise terms t[b,c] of z_a = f(e + x) against z_c:
        kl        : t = p_c (log p_c - log p_a)                       (KL(p_clean || p_adv))
        stable-kl : t = 2 p_a (sg r(p_a) - sg r(p_c)),  r(u) = -log(1/(u + 1e-6) - 1 + 1e-6)   (mt-dnn stable_kl)
    reduction: sum = sum_{b,c} t;  batchmean = sum / B;  elementmean = sum / (B C).
  * delta_0 = delta_init (fixed, stored in nano-bert.json: N(0, 1e-2^2) * m, exactly zero at pad positions).
  * for k = 1..K: g_k = d innerLoss / d x at the point x_k, then (every update is multiplied by m afterwards):
        paper      : x_k = delta_{k-1};          delta_k = Pi_eps(delta_{k-1} + eta g_k / (n(g_k) + 1e-12))
        paper-raw  : x_k = delta_{k-1};          delta_k = Pi_eps(delta_{k-1} + eta g_k)
        mtdnn-2020 : x_k = a_{k-1} + delta_0;    a_k = a_{k-1} + eta g_k / (n(g_k) + 1e-6),  a_0 = 0
        mtdnn-head : x_k = delta_{k-1};          r = delta_{k-1} + eta g_k;  delta_k = r / (n(r) + 1e-6)
    final perturbation: delta_K (a_K for mtdnn-2020: the noise is not in it). K = 0: delta_0 (a_0 = 0 for
    mtdnn-2020).
  * eff_perturb = mean over real tokens (m=1) and all hidden units of |eta g_K / den|, den = n(g_K) + guard
    (paper 1e-12, mtdnn-2020 1e-6), n(r) + 1e-6 (mtdnn-head), 1 (paper-raw).
  * outer (delta_final is a constant):
        e_adv = (detach_embedding ? sg(e) : e) + delta_final;  z_a = f(e_adv)
        loss_task  = mean_b CE(z_c, y)
        loss_adv   = (1/B) sum_b [ KL(sg p_a,b || p_c,b) + KL(sg p_c,b || p_a,b) ]   (sg on each KL's target only)
        loss_total = loss_task + alpha * loss_adv
    `grads` are d loss_total / d theta for every HF-named parameter. With detach_embedding the adversarial PASS
    does not reach the embedding tables, but loss_adv still reaches them through z_c (KL(sg p_a || p_c)).
  * kl_init = the inner loss at x_1 (= inner_loss[0]); kl_adv = innerLoss(z_a, z_c) with the configured loss and
    reduction.
  * `standard` (nano-bert.json): gradients of loss_task alone (what alpha = 0 must reproduce).
"""

import json
import math
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # deterministic reductions
ROOT = Path(__file__).resolve().parents[2]
FIX_DIR = ROOT / "test" / "fixtures" / "nano-bert"
GOLD_DIR = ROOT / "test" / "golden"

F64 = torch.float64

# ----------------------------------------------------------------------------------------------------------------------
# Nano BERT configuration and vocabulary
# ----------------------------------------------------------------------------------------------------------------------
VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "cat", "dog", "sat", "on", "mat", "free", "money", "win", "now", "click", "here", "you", "have",
    "won", "prize", "call", "me", "meeting", "at", "noon", "see", "lunch", "today", "cash", "offer", "is", "my", "and",
    "##s", "##ing", "##ed", "!", ".",
]  # fmt: skip
assert len(VOCAB) == len(set(VOCAB)) == 40
TOK = {w: i for i, w in enumerate(VOCAB)}

CFG = dict(
    vocab_size=len(VOCAB),
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=16,
    type_vocab_size=2,
    num_labels=2,
    layer_norm_eps=1e-12,
)
H = CFG["hidden_size"]
A = CFG["num_attention_heads"]
DH = H // A
L_LAYERS = CFG["num_hidden_layers"]
EPS_LN = CFG["layer_norm_eps"]


def hf_config_json():
    return {
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": CFG["hidden_size"],
        "id2label": {"0": "ham", "1": "spam"},
        "initializer_range": 0.02,
        "intermediate_size": CFG["intermediate_size"],
        "label2id": {"ham": 0, "spam": 1},
        "layer_norm_eps": CFG["layer_norm_eps"],
        "max_position_embeddings": CFG["max_position_embeddings"],
        "model_type": "bert",
        "num_attention_heads": CFG["num_attention_heads"],
        "num_hidden_layers": CFG["num_hidden_layers"],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "problem_type": "single_label_classification",
        "torch_dtype": "float32",
        "transformers_version": "4.40.0",
        "type_vocab_size": CFG["type_vocab_size"],
        "use_cache": True,
        "vocab_size": CFG["vocab_size"],
    }


def param_shapes():
    """HF parameter names in model-definition order (this order drives the random init)."""
    V, P, T2, I, C = (CFG[k] for k in ("vocab_size", "max_position_embeddings", "type_vocab_size",
                                        "intermediate_size", "num_labels"))  # fmt: skip
    s = {
        "bert.embeddings.word_embeddings.weight": [V, H],
        "bert.embeddings.position_embeddings.weight": [P, H],
        "bert.embeddings.token_type_embeddings.weight": [T2, H],
        "bert.embeddings.LayerNorm.weight": [H],
        "bert.embeddings.LayerNorm.bias": [H],
    }
    for i in range(L_LAYERS):
        p = f"bert.encoder.layer.{i}."
        for n in ("query", "key", "value"):
            s[p + f"attention.self.{n}.weight"] = [H, H]
            s[p + f"attention.self.{n}.bias"] = [H]
        s[p + "attention.output.dense.weight"] = [H, H]
        s[p + "attention.output.dense.bias"] = [H]
        s[p + "attention.output.LayerNorm.weight"] = [H]
        s[p + "attention.output.LayerNorm.bias"] = [H]
        s[p + "intermediate.dense.weight"] = [I, H]
        s[p + "intermediate.dense.bias"] = [I]
        s[p + "output.dense.weight"] = [H, I]
        s[p + "output.dense.bias"] = [H]
        s[p + "output.LayerNorm.weight"] = [H]
        s[p + "output.LayerNorm.bias"] = [H]
    s["bert.pooler.dense.weight"] = [H, H]
    s["bert.pooler.dense.bias"] = [H]
    s["classifier.weight"] = [C, H]
    s["classifier.bias"] = [C]
    return s


def init_params_f32():
    """Seed-0 random init, float32: weights N(0,0.2), biases N(0,0.05), LayerNorm weight 1+N(0,0.1), LN bias N(0,0.05)."""
    return draw_like_fixture(param_shapes(), 0)


def draw_like_fixture(shapes, seed):
    """Float32 draws in `shapes` order from one seeded generator: weights N(0,0.2), biases N(0,0.05), LayerNorm
    weight 1+N(0,0.1). (A real BERT init is N(0,0.02)/0/1/0; nonzero biases make every gradient term show.)"""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if ".LayerNorm.weight" in name:
            t = 1.0 + 0.1 * z
        elif name.endswith(".bias"):
            t = 0.05 * z
        else:
            t = 0.2 * z
        out[name] = t.contiguous()
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Hand-written BERT (HF semantics, dropout off)
# ----------------------------------------------------------------------------------------------------------------------
def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased variance, as torch/HF LayerNorm
    return (x - mu) / torch.sqrt(var + EPS_LN) * w + b


def linear(x, P, prefix):
    return x @ P[prefix + ".weight"].t() + P[prefix + ".bias"]


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def embed(P, input_ids, token_type_ids):
    B, T = input_ids.shape
    pos = torch.arange(T)
    x = (P["bert.embeddings.word_embeddings.weight"][input_ids]
         + P["bert.embeddings.position_embeddings.weight"][pos][None, :, :]
         + P["bert.embeddings.token_type_embeddings.weight"][token_type_ids])  # fmt: skip
    return layer_norm(x, P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"])


def encoder_layer(P, i, x, mask):
    p = f"bert.encoder.layer.{i}."
    B, T, _ = x.shape

    def heads(t):  # [B,T,H] -> [B,A,T,DH]
        return t.view(B, T, A, DH).permute(0, 2, 1, 3)

    q = heads(linear(x, P, p + "attention.self.query"))
    k = heads(linear(x, P, p + "attention.self.key"))
    v = heads(linear(x, P, p + "attention.self.value"))
    ext = (1.0 - mask.to(x.dtype))[:, None, None, :] * -10000.0  # [B,1,1,T]
    scores = q @ k.transpose(-1, -2) / math.sqrt(DH) + ext
    probs = torch.softmax(scores, dim=-1)
    ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, T, H)
    attn_out = linear(ctx, P, p + "attention.output.dense")
    h = layer_norm(x + attn_out, P[p + "attention.output.LayerNorm.weight"], P[p + "attention.output.LayerNorm.bias"])
    inter = gelu_erf(linear(h, P, p + "intermediate.dense"))
    out = linear(inter, P, p + "output.dense")
    return layer_norm(h + out, P[p + "output.LayerNorm.weight"], P[p + "output.LayerNorm.bias"])


def f_enc(P, h, mask):
    """encoder + pooler + classifier: embedding_output [B,T,H] -> logits [B,C]."""
    for i in range(L_LAYERS):
        h = encoder_layer(P, i, h, mask)
    pooled = torch.tanh(linear(h[:, 0], P, "bert.pooler.dense"))
    return linear(pooled, P, "classifier")


def kl_rows(p_logits, q_logits):
    """KL(p||q) per row, from logits. [B,C] -> [B]."""
    lp = torch.log_softmax(p_logits, -1)
    lq = torch.log_softmax(q_logits, -1)
    return (lp.exp() * (lp - lq)).sum(-1)


def sym_kl_batchmean(z_clean, z_adv):
    """(1/B) sum_b [KL(sg p_adv || p_clean) + KL(sg p_clean || p_adv)]  (mt-dnn SymKlCriterion, batchmean)."""
    B = z_clean.shape[0]
    return (kl_rows(z_adv.detach(), z_clean).sum() + kl_rows(z_clean.detach(), z_adv).sum()) / B


# ----------------------------------------------------------------------------------------------------------------------
# safetensors (numpy only)
# ----------------------------------------------------------------------------------------------------------------------
def f32_entry(t):
    """(dtype, shape, little-endian bytes) of a tensor stored as F32."""
    arr = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
    return "F32", list(arr.shape), arr.tobytes(order="C")


def write_safetensors(path, tensors, entry=f32_entry):
    """safetensors by hand: 8-byte LE header length, header JSON (padded to 8 bytes), then each tensor's bytes in
    name order; `entry(t)` gives (dtype, shape, bytes) of a tensor (default: F32)."""
    header = {"__metadata__": {"format": "pt"}}
    chunks, off = [], 0
    for name in sorted(tensors):
        dtype, shape, b = entry(tensors[name])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    meta = header.pop("__metadata__")
    assert meta == {"format": "pt"}
    out, spans = {}, []
    for name, h in header.items():
        assert h["dtype"] == "F32"
        b, e = h["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype="<f4").reshape(h["shape"])
        assert arr.size * 4 == e - b
        out[name] = arr
        spans.append((b, e))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)), "non-contiguous data"
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------
def tl(x):
    """Tensor -> nested lists of Python floats/ints (float64 repr, plain JSON numbers)."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return x.tolist() if x.dtype.is_floating_point else x.long().tolist()
    return x


def dump(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    s = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    path.write_text(s + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({len(s)} bytes)")


def check_close(a, b, rtol, atol, what):
    a, b = float(a), float(b)
    ok = abs(a - b) <= atol + rtol * abs(b)
    assert ok, f"{what}: {a!r} vs {b!r}"


def crosscheck_with_torch_layer(P, x, mask):
    """Independent cross-check of one encoder layer against torch.nn.TransformerEncoderLayer (post-LN, erf GELU)."""
    layer = torch.nn.TransformerEncoderLayer(H, A, CFG["intermediate_size"], dropout=0.0, activation="gelu",
                                             layer_norm_eps=EPS_LN, batch_first=True, norm_first=False,
                                             dtype=F64)  # fmt: skip
    layer.train()  # avoid the inference fast path (nested tensors zero the pads); dropout is 0 anyway
    p = "bert.encoder.layer.0."
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([P[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([P[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]))
        layer.self_attn.out_proj.weight.copy_(P[p + "attention.output.dense.weight"])
        layer.self_attn.out_proj.bias.copy_(P[p + "attention.output.dense.bias"])
        layer.norm1.weight.copy_(P[p + "attention.output.LayerNorm.weight"])
        layer.norm1.bias.copy_(P[p + "attention.output.LayerNorm.bias"])
        layer.linear1.weight.copy_(P[p + "intermediate.dense.weight"])
        layer.linear1.bias.copy_(P[p + "intermediate.dense.bias"])
        layer.linear2.weight.copy_(P[p + "output.dense.weight"])
        layer.linear2.bias.copy_(P[p + "output.dense.bias"])
        layer.norm2.weight.copy_(P[p + "output.LayerNorm.weight"])
        layer.norm2.bias.copy_(P[p + "output.LayerNorm.bias"])
        ref = layer(x, src_key_padding_mask=(mask == 0))
        mine = encoder_layer(P, 0, x, mask)
    err = (ref - mine).abs().max().item()
    assert err < 1e-12, f"encoder layer differs from torch.nn.TransformerEncoderLayer: {err}"
    print(f"  check: encoder layer vs torch.nn.TransformerEncoderLayer max|diff| = {err:.2e}")


# ----------------------------------------------------------------------------------------------------------------------
# Fixture
# ----------------------------------------------------------------------------------------------------------------------
def write_fixture(fix_dir, config_json, P32):
    """An HF model folder (config.json, vocab.txt, model.safetensors of the float32 `P32`), read back and checked."""
    fix_dir.mkdir(parents=True, exist_ok=True)
    (fix_dir / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
    (fix_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    write_safetensors(fix_dir / "model.safetensors", P32)
    back = read_safetensors(fix_dir / "model.safetensors")
    assert set(back) == set(P32)
    for k, v in P32.items():
        assert list(back[k].shape) == list(v.shape) and np.array_equal(back[k], v.numpy()), k
    print(f"wrote {fix_dir.relative_to(ROOT)}/ (config.json, vocab.txt, model.safetensors: {len(P32)} tensors, "
          f"{sum(v.numel() for v in P32.values())} params; read-back OK)")  # fmt: skip
    return P32


def make_fixture():
    return write_fixture(FIX_DIR, hf_config_json(), init_params_f32())


# ----------------------------------------------------------------------------------------------------------------------
# nano-bert.json
# ----------------------------------------------------------------------------------------------------------------------
def ids(words):
    return [TOK[w] for w in words]


def make_batch():
    rows = [
        # row 0: single segment, no padding, ham
        (["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"], [0] * 8, 0),
        # row 1: single segment, 2 pads at the end, spam
        (["[CLS]", "win", "free", "money", "now", "[SEP]", "[PAD]", "[PAD]"], [0] * 8, 1),
        # row 2: sentence pair (segment B has token_type 1), 1 pad at the end, spam
        (["[CLS]", "free", "cash", "[SEP]", "call", "me", "[SEP]", "[PAD]"], [0, 0, 0, 0, 1, 1, 1, 0], 1),
    ]
    input_ids = torch.tensor([ids(r[0]) for r in rows])
    attention_mask = (input_ids != TOK["[PAD]"]).long()
    token_type_ids = torch.tensor([r[1] for r in rows])
    labels = torch.tensor([r[2] for r in rows])
    return input_ids, attention_mask, token_type_ids, labels


SIGMA = 1e-2  # std of delta_init
# The hyper-parameters of nano-bert.json (its `hyper` section): one set, three variants.
NANO_HYPER = dict(K=2, eta=1e-1, epsilon=5e-2, alpha=1.5, inner_loss="kl", inner_reduction="sum",
                  detach_embedding=False, norm="inf")  # fmt: skip
NANO_VARIANTS = ["paper", "mtdnn-2020", "mtdnn-head"]
h_fd = 1e-6  # central finite-difference step (float64)


# ----------------------------------------------------------------------------------------------------------------------
# The ALUM step, exactly as docs/alum-step.md: one reference function for every option
# ----------------------------------------------------------------------------------------------------------------------
ALUM_VARIANTS = ("paper", "paper-raw", "mtdnn-2020", "mtdnn-head")
INNER_LOSSES = ("kl", "stable-kl")
INNER_REDUCTIONS = ("sum", "batchmean", "elementmean")
NORMS = ("inf", "l2")
# The guard added to the divisor of each variant's update (None: paper-raw does not normalise).
GUARD = {"paper": 1e-12, "paper-raw": None, "mtdnn-2020": 1e-6, "mtdnn-head": 1e-6}
STABLE_KL_EPS = 1e-6  # the `epsilon=1e-6` of mt-dnn's stable_kl


def per_token_norm(x, norm):
    """n(x): [B,T,H] -> [B,T,1]; max_j |x_j| for 'inf', sqrt(sum_j x_j^2) for 'l2' (the hidden axis)."""
    if norm == "inf":
        return x.abs().amax(-1, keepdim=True)
    if norm == "l2":
        return x.norm(dim=-1, keepdim=True)
    raise ValueError(f"norm {norm!r}")


def project(x, epsilon, norm):
    """Pi_eps, per token onto the ball of radius epsilon: clip for 'inf', x * eps / max(eps, n(x)) for 'l2'."""
    if norm == "inf":
        return torch.clamp(x, -epsilon, epsilon)
    if norm == "l2":
        return x * epsilon / torch.clamp(per_token_norm(x, "l2"), min=epsilon)
    raise ValueError(f"norm {norm!r}")


def stable_kl_logodds(u):
    """r(u) = -log(1/(u + 1e-6) - 1 + 1e-6): the `rp`/`ry` of mt-dnn's stable_kl (before its .detach())."""
    return -torch.log(1.0 / (u + STABLE_KL_EPS) - 1.0 + STABLE_KL_EPS)


def inner_terms(z_adv, z_clean, inner_loss):
    """Elementwise terms t[b, c] of the inner loss ([B, C]); z_clean is a constant (detached here)."""
    z_clean = z_clean.detach()
    if inner_loss == "kl":
        # KL(p_clean || p_adv) = p_c (log p_c - log p_a), the direction of VAT and of fairseq ALUM
        # (https://github.com/namisan/mt-dnn/blob/a1b63fb/alum/adv_masked_lm.py line 87).
        lc = torch.log_softmax(z_clean, -1)
        la = torch.log_softmax(z_adv, -1)
        return lc.exp() * (lc - la)
    if inner_loss == "stable-kl":
        # mt-dnn stable_kl(adv_logits, clean_logits): p = softmax(adv), y = softmax(clean),
        # rp = -(1/(p + eps) - 1 + eps).detach().log(), ry likewise, terms p * (rp - ry) * 2
        # (https://github.com/namisan/mt-dnn/blob/3228e7c/mt_dnn/loss.py lines 11-22). The log-odds are detached,
        # so the gradient flows only through the weights p_a.
        pa = torch.softmax(z_adv, -1)
        pc = torch.softmax(z_clean, -1)
        c = (stable_kl_logodds(pa) - stable_kl_logodds(pc)).detach()
        return 2.0 * pa * c
    raise ValueError(f"inner_loss {inner_loss!r}")


def reduction_factor(reduction, B, C):
    """sum: 1 (mt-dnn HEAD stable_kl(..., reduce=False)); batchmean: 1/B (fairseq ALUM F.kl_div 'batchmean');
    elementmean: 1/(B C) (mt-dnn f9a3804 stable_kl's .mean() over the [B, C] terms)."""
    if reduction == "sum":
        return 1.0
    if reduction == "batchmean":
        return 1.0 / B
    if reduction == "elementmean":
        return 1.0 / (B * C)
    raise ValueError(f"inner_reduction {reduction!r}")


def inner_loss_value(z_adv, z_clean, inner_loss, reduction):
    t = inner_terms(z_adv, z_clean, inner_loss)
    s = t.sum(-1).sum()  # row sums first, then the batch (the summation order of the original golden)
    B, C = t.shape
    if reduction == "sum":
        return s
    if reduction == "batchmean":
        return s / B
    if reduction == "elementmean":
        return s / (B * C)
    raise ValueError(f"inner_reduction {reduction!r}")


def is_regression(labels):
    return labels.is_floating_point()


def task_loss(z, labels):
    """Cross-entropy for class ids; for float targets HF BertForSequenceClassification's regression loss,
    MSELoss()(logits.squeeze(), labels) (z [B, 1])."""
    if is_regression(labels):
        return F.mse_loss(z.squeeze(-1), labels)
    return F.cross_entropy(z, labels)


def mse_inner(z_adv, z_clean):
    """Regression inner loss: mt-dnn F.mse_loss(adv_logits, logits.detach(), reduction="sum")
    (https://github.com/namisan/mt-dnn/blob/676b48b120e04c25ad138f5affb0d6842ba366af/mt_dnn/perturbation.py
    lines 118-119)."""
    return ((z_adv - z_clean.detach()) ** 2).sum()


def mse_outer(z_clean, z_adv):
    """Regression outer adversarial loss: mean over the batch of (z_c - z_a)^2, no stop-gradient on either side
    (mt-dnn perturbation.py lines 150-151 call MseCriterion(logits, adv_logits), loss.py lines 80-96 at the same commit;
    its mse_loss(input.squeeze(), target) broadcasts [B] against [B, 1] to [B, B]: we pair each row with itself,
    see docs/alum-step.md, "Regression")."""
    return ((z_clean - z_adv) ** 2).mean()


def make_context(P32, targets=None):
    """Everything a case shares: float64 parameters, the batch, e, z_c, delta_init (fixed seeds). With `targets`
    (float64 [B]) the labels are those regression targets and the task loss is MSE (the classifier then has one
    output row)."""
    names = list(param_shapes())
    P = {k: v.to(F64) for k, v in P32.items()}  # exact float32 values, computed in float64
    input_ids, attention_mask, token_type_ids, labels = make_batch()
    if targets is not None:
        labels = targets
    B, T = input_ids.shape
    m3 = attention_mask.to(F64)[:, :, None]  # [B,T,1]
    n_real = attention_mask.sum().item()
    with torch.no_grad():
        e0 = embed(P, input_ids, token_type_ids)
        z_c = f_enc(P, e0, attention_mask)
        loss_task = task_loss(z_c, labels)
    g_delta = torch.Generator().manual_seed(1234)
    delta_init = torch.randn(B, T, H, generator=g_delta, dtype=F64) * SIGMA * m3

    def real_mean(x):  # mean over real tokens and all hidden units of |x|; x [B,T,H]
        return ((x.abs() * m3).sum() / (n_real * H)).item()

    def real_token_mean(x):  # mean over real tokens; x [B,T,1] or [B,T]
        x = x.reshape(B, T)
        return ((x * attention_mask.to(F64)).sum() / n_real).item()

    def param_leaves():
        return {k: P[k].clone().requires_grad_(True) for k in names}

    return dict(names=names, P=P, input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                labels=labels, B=B, T=T, m3=m3, n_real=n_real, e0=e0, z_c=z_c, loss_task=loss_task,
                delta_init=delta_init, real_mean=real_mean, real_token_mean=real_token_mean,
                param_leaves=param_leaves)  # fmt: skip


def alum_step_reference(ctx, case):
    """One full ALUM step (docs/alum-step.md), dropout off, for a case dict with keys variant, K, eta, epsilon,
    alpha, inner_loss, inner_reduction, detach_embedding, norm. Returns tensors and floats; list entries are per
    inner step k = 1..K. Keys starting with '_' are internal (for the self-checks), not written."""
    variant, K, eta, epsilon, alpha = (case[k] for k in ("variant", "K", "eta", "epsilon", "alpha"))
    loss_kind, reduction, detach, norm = (case[k] for k in ("inner_loss", "inner_reduction", "detach_embedding",
                                                            "norm"))  # fmt: skip
    assert variant in ALUM_VARIANTS and loss_kind in INNER_LOSSES and reduction in INNER_REDUCTIONS
    assert norm in NORMS and isinstance(detach, bool) and K in (0, 1, 2, 3)
    P, names, m3, mask = ctx["P"], ctx["names"], ctx["m3"], ctx["attention_mask"]
    e0, z_c, delta0 = ctx["e0"], ctx["z_c"], ctx["delta_init"]
    guard = GUARD[variant]

    regression = is_regression(ctx["labels"])

    def loss_in(z_adv, z_clean):
        if regression:
            return mse_inner(z_adv, z_clean)
        return inner_loss_value(z_adv, z_clean, loss_kind, reduction)

    def inner_loss(x):
        """The inner loss at the point x: e, the parameters and z_c are constants."""
        return loss_in(f_enc(P, e0 + x, mask), z_c)

    def inner_grad(x):
        x = x.detach().clone().requires_grad_(True)
        L = inner_loss(x)
        (g,) = torch.autograd.grad(L, x)
        return L.detach(), g

    # mtdnn-2020 (https://github.com/namisan/mt-dnn/blob/f9a3804/mt_dnn/perturbation.py lines 80-104): the noise
    # delta_0 is drawn once and stays the leaf the gradient is taken for; the ascent accumulates into the
    # embedding (`embed = embed + delta_grad * self.step_size`), so the point of step k is e + a_{k-1} + delta_0,
    # a_k = a_{k-1} + eta * g_k / (n(g_k) + epsilon=1e-6) (its _norm_grad), and the final adversarial pass runs at
    # the accumulated embedding e + a_K, without the noise. a_0 = 0.
    # The other variants start from delta_0 and carry delta itself.
    cur = torch.zeros_like(delta0) if variant == "mtdnn-2020" else delta0.clone()
    points, delta_grads, deltas, inner_losses = [], [], [], []
    eff_perturb, inner_grad_norm = 0.0, 0.0  # K = 0: no step
    for _k in range(K):
        x = cur + delta0 if variant == "mtdnn-2020" else cur
        L, g = inner_grad(x)
        with torch.no_grad():
            if variant == "paper":
                # normalised ascent (SMART's rule in the paper's symbols), then the projection Pi_eps
                den = per_token_norm(g, norm) + guard
                new = project(cur + eta * g / den, epsilon, norm)
            elif variant == "paper-raw":
                # arXiv:2004.08994v2 Algorithm 1 line 6 as printed: no normalisation, then Pi_eps
                den = 1.0
                new = project(cur + eta * g, epsilon, norm)
            elif variant == "mtdnn-2020":
                den = per_token_norm(g, norm) + guard
                new = cur + eta * g / den
            else:
                # mtdnn-head (https://github.com/namisan/mt-dnn/blob/3228e7c/mt_dnn/perturbation.py forward lines
                # 76-152): `delta_grad = noise + delta_grad * self.step_size` then `noise = _norm_grad(delta_grad)`,
                # and _norm_grad (lines 52-74) divides by n(.) + self.epsilon (1e-6): a rescaling of r onto the
                # unit sphere of the norm, not a projection. eff_perturb is its `eff_delta_grad / (n(r) + eps)`.
                r = cur + eta * g
                den = per_token_norm(r, norm) + guard
                new = r / den
            new = new * m3  # every update is masked afterwards: padding stays exactly zero
            eff_perturb = ctx["real_mean"](eta * g / den)
            inner_grad_norm = g.norm().item()
        assert torch.all(g * (1 - m3) == 0) and torch.all(new * (1 - m3) == 0)
        points.append(x.detach())
        inner_losses.append(L.item())
        delta_grads.append(g)
        deltas.append(new)
        cur = new
    delta_final = cur.detach()  # delta_K, a_K for mtdnn-2020; K = 0: delta_0 (a_0 = 0 for mtdnn-2020)
    with torch.no_grad():
        # kl_init: the inner loss at x_1 (for K = 0: at the point x_1 would have been, delta_0 = a_0 + delta_0)
        kl_init = inner_losses[0] if K > 0 else inner_loss(delta0).item()
        inner_loss_final = inner_loss(delta_final).item()

    # Outer loss: the clean pass and the adversarial pass share e (unless detached); delta_final is a constant.
    Q = ctx["param_leaves"]()
    e = embed(Q, ctx["input_ids"], ctx["token_type_ids"])
    zc = f_enc(Q, e, mask)
    za = f_enc(Q, (e.detach() if detach else e) + delta_final, mask)
    l_task = task_loss(zc, ctx["labels"])
    if regression:
        l_adv = mse_outer(zc, za)
    else:
        l_adv = sym_kl_batchmean(zc, za)  # mt-dnn SymKlCriterion (3228e7c loss.py lines 133-155), batch mean
    l_total = l_task + alpha * l_adv
    gs = torch.autograd.grad(l_total, [Q[k] for k in names])
    with torch.no_grad():
        kl_adv = loss_in(za, zc).item()

    # Independent construction of the same gradient via the stop-gradient identity:
    # d loss_adv / d z_c = (p_c - p_adv)/B, d loss_adv / d z_adv = (p_adv - p_c)/B.
    Q2 = ctx["param_leaves"]()
    e2 = embed(Q2, ctx["input_ids"], ctx["token_type_ids"])
    zc2 = f_enc(Q2, e2, mask)
    za2 = f_enc(Q2, (e2.detach() if detach else e2) + delta_final, mask)
    B = ctx["B"]
    if regression:
        # d loss_adv / d z_c = 2 (z_c - z_a) / B = -d loss_adv / d z_a: both sides carry a gradient
        with torch.no_grad():
            d = 2 * (zc2 - za2) / B
        sur = task_loss(zc2, ctx["labels"]) + alpha * ((zc2 * d).sum() - (za2 * d).sum())
    else:
        with torch.no_grad():
            pc, pa = torch.softmax(zc2, -1), torch.softmax(za2, -1)
        sur = F.cross_entropy(zc2, ctx["labels"]) + alpha * ((zc2 * (pc - pa)).sum() + (za2 * (pa - pc)).sum()) / B
    gs2 = torch.autograd.grad(sur, [Q2[k] for k in names])
    worst = max((a - b).abs().max().item() for a, b in zip(gs, gs2))
    assert worst < 1e-12, f"{case}: grads differ from the surrogate construction by {worst}"
    assert abs(l_task.item() - ctx["loss_task"].item()) < 1e-14

    with torch.no_grad():
        d_linf = ctx["real_token_mean"](per_token_norm(delta_final, "inf"))
        d_l2 = ctx["real_token_mean"](per_token_norm(delta_final, "l2"))
    return {
        "inner_loss": inner_losses,
        "delta_grad": delta_grads,
        "delta": deltas,
        "delta_final": delta_final,
        "inner_loss_final": inner_loss_final,
        "logits_adv": za.detach(),
        "loss_task": l_task.item(),
        "loss_adv": l_adv.item(),
        "loss_total": l_total.item(),
        "kl_init": kl_init,
        "kl_adv": kl_adv,
        "eff_perturb": eff_perturb,
        "inner_grad_norm": inner_grad_norm,
        "delta_linf_mean": d_linf,
        "delta_l2_mean": d_l2,
        "grads": dict(zip(names, gs)),
        "_points": points,
        "_logits_clean": zc.detach(),
    }


def print_step(tag, r):
    print(f"  {tag:15s} loss_adv={r['loss_adv']:.6e} loss_total={r['loss_total']:.6f} "
          f"eff_perturb={r['eff_perturb']:.4e} |g|={r['inner_grad_norm']:.3e} delta_linf={r['delta_linf_mean']:.4e} "
          f"delta_l2={r['delta_l2_mean']:.4e} L_in: {r['kl_init']:.3e} -> {r['kl_adv']:.3e}")  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# nano-bert.json
# ----------------------------------------------------------------------------------------------------------------------
def make_nano_bert_golden(ctx):
    names, P = ctx["names"], ctx["P"]
    input_ids, attention_mask, token_type_ids, labels = (ctx[k] for k in ("input_ids", "attention_mask",
                                                                          "token_type_ids", "labels"))  # fmt: skip
    m3, e0, z_c, delta_init = ctx["m3"], ctx["e0"], ctx["z_c"], ctx["delta_init"]
    loss_task = ctx["loss_task"]
    crosscheck_with_torch_layer(P, e0, attention_mask)
    embed_abs_mean = ctx["real_mean"](e0)

    def inner_loss(d):  # kl, summed over the batch: the inner loss of NANO_HYPER
        return inner_loss_value(f_enc(P, e0 + d, attention_mask), z_c, "kl", "sum")

    def inner_grad(d):
        d = d.detach().clone().requires_grad_(True)
        L = inner_loss(d)
        (g,) = torch.autograd.grad(L, d)
        return L.detach(), g

    # --- finite-difference check of the inner gradient (float64, central differences) -----------------------------
    _, g0 = inner_grad(delta_init)
    assert torch.all(g0 * (1 - m3) == 0), "inner gradient must be exactly zero at pad positions"
    check_inner_grad_fd(inner_loss, delta_init, g0, "nano-bert kl/sum at delta_init")
    # and the whole-tensor check with torch.autograd.gradcheck on a small slice of delta
    sel = (1, slice(0, 3), slice(0, 4))

    def inner_on_slice(s):
        d = delta_init.clone()
        d[sel] = s
        return inner_loss(d)

    assert torch.autograd.gradcheck(inner_on_slice, (delta_init[sel].clone().requires_grad_(True),), eps=1e-6,
                                    atol=1e-8, rtol=1e-5)  # fmt: skip
    print("  check: inner delta-gradient matches central finite differences and gradcheck")

    # --- standard (alpha = 0) gradients ------------------------------------------------------------------------------
    Q = ctx["param_leaves"]()
    z = f_enc(Q, embed(Q, input_ids, token_type_ids), attention_mask)
    lt = F.cross_entropy(z, labels)
    gs = torch.autograd.grad(lt, [Q[k] for k in names])
    standard = {"loss_task": lt.item(), "grads": {k: tl(g) for k, g in zip(names, gs)}}
    # finite-difference check of one parameter gradient of loss_task
    for (pname, idx) in [("bert.embeddings.word_embeddings.weight", (TOK["free"], 3)),
                         ("bert.encoder.layer.0.attention.self.query.weight", (5, 7)),
                         ("bert.embeddings.token_type_embeddings.weight", (1, 2))]:  # fmt: skip
        with torch.no_grad():
            def lt_at(v):
                R = dict(P)
                R[pname] = P[pname].clone()
                R[pname][idx] = v
                return F.cross_entropy(f_enc(R, embed(R, input_ids, token_type_ids), attention_mask), labels).item()

            base = P[pname][idx].item()
            fd = (lt_at(base + h_fd) - lt_at(base - h_fd)) / (2 * h_fd)
        check_close(gs[names.index(pname)][idx].item(), fd, rtol=1e-5, atol=1e-10, what=f"task grad FD {pname}{idx}")
    print("  check: loss_task parameter gradients match central finite differences")

    variants = {}
    for var in NANO_VARIANTS:
        r = alum_step_reference(ctx, dict(NANO_HYPER, variant=var))
        variants[var] = {
            "eps_num": GUARD[var],
            "delta_grad": [tl(g) for g in r["delta_grad"]],
            "delta": [tl(d) for d in r["delta"]],
            "delta_final": tl(r["delta_final"]),
            "inner_loss": r["inner_loss"],
            "inner_loss_final": r["inner_loss_final"],
            "logits_adv": tl(r["logits_adv"]),
            "loss_task": r["loss_task"],
            "loss_adv": r["loss_adv"],
            "loss_total": r["loss_total"],
            "eff_perturb": r["eff_perturb"],
            "inner_grad_norm": r["inner_grad_norm"],
            "delta_linf_mean": r["delta_linf_mean"],
            "delta_l2_mean": r["delta_l2_mean"],
            "embed_abs_mean": embed_abs_mean,
            "grads": {k: tl(g) for k, g in r["grads"].items()},
            "kl_init": r["kl_init"],
            "kl_adv": r["kl_adv"],
        }
        assert r["kl_init"] == r["inner_loss"][0]
        assert abs(r["kl_adv"] - r["inner_loss_final"]) <= 1e-12 * abs(r["kl_adv"])  # dropout off: same pass
        print_step(var, r)
    print("  check: ALUM grads match the stop-gradient-identity construction")

    out = {
        "meta": {
            "generator": "scripts/golden/make_golden.py",
            "torch_version": torch.__version__,
            "fixture": "test/fixtures/nano-bert",
            "compute_dtype": "float64 from the fixture's float32 weights",
            "dropout": "off everywhere",
            "attention_mask_additive": -10000.0,
            "param_names": names,
            "spec": "docs/alum-step.md (summarised in the module docstring of scripts/golden/make_golden.py)",
        },
        "config": {k: CFG[k] for k in CFG},
        "hyper": {
            "K": NANO_HYPER["K"],
            "eta": NANO_HYPER["eta"],
            "epsilon": NANO_HYPER["epsilon"],
            "alpha": NANO_HYPER["alpha"],
            "sigma": SIGMA,
            "eps_num": {v: GUARD[v] for v in NANO_VARIANTS},
            "inner_reduction": "sum over batch of KL(p_clean || p_adv)",
            "outer_reduction": "batchmean sym KL with stop-gradient on the target (first) argument",
        },
        "input_ids": tl(input_ids),
        "attention_mask": tl(attention_mask),
        "token_type_ids": tl(token_type_ids),
        "labels": tl(labels),
        "embedding_output": tl(e0),
        "embed_abs_mean": embed_abs_mean,
        "logits_clean": tl(z_c),
        "loss_task": loss_task.item(),
        "delta_init": tl(delta_init),
        "variants": variants,
        "standard": standard,
    }
    dump(GOLD_DIR / "nano-bert.json", out)
    return standard


def check_inner_grad_fd(inner_loss, x, g, what, coords=((0, 0, 0), (0, 3, 5), (1, 4, 17), (2, 5, 31))):
    """Central finite differences of the inner loss at the point x against its autograd gradient g."""
    for (b, t, j) in coords:
        with torch.no_grad():
            dp = x.clone(); dp[b, t, j] += h_fd  # noqa: E702
            dm = x.clone(); dm[b, t, j] -= h_fd  # noqa: E702
            fd = (inner_loss(dp) - inner_loss(dm)).item() / (2 * h_fd)
        check_close(g[b, t, j].item(), fd, rtol=1e-5, atol=1e-11, what=f"{what}: inner grad FD at {(b, t, j)}")


# ----------------------------------------------------------------------------------------------------------------------
# alum-cases.json
# ----------------------------------------------------------------------------------------------------------------------
CASES_ALPHA = 1.5
FD_CASE = "paper-k3"  # kl with elementmean reduction, checked against finite differences at its third point x_3
# (variant, K, inner_loss, inner_reduction, detach_embedding, norm, eta, epsilon). eta and epsilon are chosen per case
# so that what the case tests is visible (asserted in check_case_behaviour):
#  - paper, paper-raw: the projection binds on some but not all entries (inf: 26-46% of real-token entries at
#    |x| = epsilon) or tokens (l2: 9-12 of the 21 real tokens on the sphere). paper-raw's eta is large because its
#    step eta * g is not normalised and g is small near delta_0 (kl ~1e-4, elementmean 6x smaller);
#  - mtdnn-2020: eta = 2 sigma, so the noise delta_0 in the point x_k = a_{k-1} + delta_0 matters and a_K (norm
#    ~ K eta) differs from an overwrite eta g_K / (n(g_K) + 1e-6) by ~50-67%;
#  - mtdnn-head: eta g is comparable to delta at the steps after the first (where n(delta) = 1). For K = 1 the
#    per-token norm n(r) / (n(r) + 1e-6) is within 1e-5 of 1 only where n(r) > 0.1, hence eta = 2e4 there
#    (n(eta g_1) >= 0.16 against n(delta_0) ~ 0.024);
#  - epsilon is unused by mtdnn-2020 and mtdnn-head; it is set below their delta norms so that a projection applied
#    by mistake would show.
ALUM_CASES = [
    ("paper", 1, "kl", "sum", False, "inf", 0.05, 0.02),
    ("paper", 2, "stable-kl", "batchmean", True, "l2", 0.02, 0.07),
    ("paper", 3, "kl", "elementmean", False, "l2", 0.02, 0.08),
    ("paper-raw", 1, "stable-kl", "sum", True, "inf", 100.0, 0.05),
    ("paper-raw", 2, "kl", "batchmean", False, "l2", 50.0, 0.1),
    ("paper-raw", 3, "stable-kl", "elementmean", True, "inf", 20.0, 0.03),
    ("mtdnn-2020", 1, "stable-kl", "elementmean", True, "inf", 0.02, 0.01),
    ("mtdnn-2020", 2, "kl", "sum", False, "l2", 0.02, 0.01),
    ("mtdnn-2020", 3, "stable-kl", "batchmean", True, "l2", 0.02, 0.01),
    ("mtdnn-head", 1, "kl", "elementmean", False, "inf", 2e4, 0.05),
    ("mtdnn-head", 2, "stable-kl", "sum", True, "l2", 3.0, 0.05),
    ("mtdnn-head", 3, "kl", "batchmean", False, "inf", 30.0, 0.05),
]


def case_dict(row):
    variant, K, loss_kind, reduction, detach, norm, eta, epsilon = row
    return dict(variant=variant, K=K, eta=eta, epsilon=epsilon, alpha=CASES_ALPHA, inner_loss=loss_kind,
                inner_reduction=reduction, detach_embedding=detach, norm=norm)  # fmt: skip


def case_name(case):
    return f"{case['variant']}-k{case['K']}"


def ts_config(case):
    """The case's options under the TypeScript TrainConfig names and values (src/core/config.ts)."""
    return {"variant": case["variant"], "k": case["K"], "eta": case["eta"], "epsilon": case["epsilon"],
            "alpha": case["alpha"], "innerLoss": case["inner_loss"], "innerReduction": case["inner_reduction"],
            "detachEmbedding": case["detach_embedding"], "norm": case["norm"]}  # fmt: skip


def case_stats(ctx, case, r):
    """What check_case_behaviour asserts, as numbers (also printed)."""
    real = ctx["attention_mask"].bool()
    eps, norm, final = case["epsilon"], case["norm"], r["delta_final"]
    n = per_token_norm(final, norm)[..., 0][real]  # [n_real]
    s = {"n_max": n.max().item(), "n_min": n.min().item()}
    if norm == "inf":
        s["frac_at_eps"] = (final.abs() == eps)[real].double().mean().item()  # entries of real tokens
    s["tokens_on_sphere"] = int(((n - eps).abs() <= 1e-12 * eps).sum().item())
    if case["variant"] == "mtdnn-2020" and case["K"] >= 2:
        g = r["delta_grad"][-1]
        overwrite = case["eta"] * g / (per_token_norm(g, norm) + GUARD["mtdnn-2020"]) * ctx["m3"]
        s["rel_diff_vs_overwrite"] = ((final - overwrite).norm() / final.norm()).item()
    return s


def check_case_behaviour(ctx, case, r):
    name, variant, eps, norm = case_name(case), case["variant"], case["epsilon"], case["norm"]
    real = ctx["attention_mask"].bool()
    s = case_stats(ctx, case, r)
    if variant in ("paper", "paper-raw"):
        for k, d in enumerate(r["delta"], start=1):  # every step stays in the ball
            assert per_token_norm(d, norm).max().item() <= eps * (1 + 1e-12), f"{name}: delta_{k} leaves the ball"
        if norm == "inf":
            assert 0.05 <= s["frac_at_eps"] <= 0.95, f"{name}: clip binds on {s['frac_at_eps']:.3f} of the entries"
        else:
            assert 1 <= s["tokens_on_sphere"] < ctx["n_real"], f"{name}: {s['tokens_on_sphere']} tokens on the sphere"
    else:
        # epsilon is not used: it lies below the delta norms, so that a projection applied by mistake would show
        assert s["n_max"] > eps, f"{name}: epsilon {eps} does not lie below the delta norms"
    if variant == "mtdnn-2020" and case["K"] >= 2:
        assert s["rel_diff_vs_overwrite"] > 0.1, f"{name}: a_K is close to an overwrite ({s})"
    if variant == "mtdnn-head":
        n = per_token_norm(r["delta_final"], norm)[..., 0][real]
        assert (n - 1).abs().max().item() <= 1e-5, f"{name}: per-token norm of delta_final is not 1 ({s})"
    return s


def check_stable_kl_closed_form(ctx, case, r):
    """d stable-kl / d z_a = factor * 2 p_j (c_j - sum_i p_i c_i), c = r(p_a) - r(p_c) with r detached."""
    za = r["logits_adv"].clone().requires_grad_(True)
    zc = r["_logits_clean"]
    L = inner_loss_value(za, zc, "stable-kl", case["inner_reduction"])
    (g,) = torch.autograd.grad(L, za)
    with torch.no_grad():
        pa, pc = torch.softmax(za, -1), torch.softmax(zc, -1)
        c = stable_kl_logodds(pa) - stable_kl_logodds(pc)
        closed = 2 * pa * (c - (pa * c).sum(-1, keepdim=True))
        closed = closed * reduction_factor(case["inner_reduction"], *za.shape)
    err = (g - closed).abs().max().item()
    assert err <= 1e-14 * max(1.0, closed.abs().max().item()), f"{case_name(case)}: stable-kl closed form off by {err}"
    return err


EMBEDDING_PARAMS = ("bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                    "bert.embeddings.token_type_embeddings.weight")  # fmt: skip


def check_detach(ctx, case, r, standard_grads):
    """detach_embedding = true: the adversarial PASS does not reach the embedding tables, i.e. their gradients equal
    those of the same loss with z_a held constant. They still differ from loss_task's alone: loss_adv reaches them
    through z_c (KL(sg p_a || p_c)), as in mt-dnn's SymKlCriterion and fairseq ALUM's `KL(logits, adv.detach())`.
    detach_embedding = false: the adversarial pass adds to them, so they differ from the z_a-constant gradients."""
    Q = ctx["param_leaves"]()
    zc = f_enc(Q, embed(Q, ctx["input_ids"], ctx["token_type_ids"]), ctx["attention_mask"])
    cut = F.cross_entropy(zc, ctx["labels"]) + case["alpha"] * sym_kl_batchmean(zc, r["logits_adv"])
    gs = torch.autograd.grad(cut, [Q[k] for k in EMBEDDING_PARAMS])
    name = case_name(case)
    diffs = []
    for pname, g_cut in zip(EMBEDDING_PARAMS, gs):
        g = r["grads"][pname]
        scale = g.abs().max().item()
        d_cut = (g - g_cut).abs().max().item() / scale
        d_task = (g - standard_grads[pname]).abs().max().item() / scale
        assert d_task > 1e-6, f"{name}: {pname} gradient equals loss_task's alone"
        if case["detach_embedding"]:
            assert d_cut <= 1e-12, f"{name}: detached, but the adversarial pass reaches {pname} ({d_cut})"
        else:
            assert d_cut > 1e-6, f"{name}: not detached, but the adversarial pass does not reach {pname}"
        diffs.append(d_cut)
    return max(diffs)


# Regression (STS-B style, docs/alum-step.md "Regression"): the nano fixture with only the first row of its
# classifier (one output, HF num_labels = 1, problem_type "regression"), float targets, MSE task loss, MSE 'sum'
# inner loss, MSE outer adversarial term without stop-gradients. Same batch and delta_init as the other cases.
REGRESSION_TARGETS = [0.5, -1.25, 2.0]
# (variant, K, inner_loss, inner_reduction, detach_embedding, norm, eta, epsilon); inner_loss and inner_reduction
# are not used by regression (its inner loss is always MSE 'sum').
REGRESSION_CASES = [
    ("paper", 1, "kl", "sum", False, "inf", 0.05, 0.02),
    ("mtdnn-2020", 2, "kl", "sum", True, "l2", 0.02, 0.01),
]


def make_regression_cases(P32):
    R32 = dict(P32)
    R32["classifier.weight"] = P32["classifier.weight"][:1].clone()  # [1, H]
    R32["classifier.bias"] = P32["classifier.bias"][:1].clone()  # [1]
    ctx = make_context(R32, torch.tensor(REGRESSION_TARGETS, dtype=F64))
    assert ctx["z_c"].shape == (ctx["B"], 1)
    out = []
    for row in REGRESSION_CASES:
        case = case_dict(row)
        name = f"regression-{case_name(case)}"
        r = alum_step_reference(ctx, case)
        assert r["kl_init"] == r["inner_loss"][0] and len(r["inner_loss"]) == case["K"]
        assert r["loss_adv"] > 0 and r["kl_adv"] > r["kl_init"], f"{name}: the ascent did not raise the inner loss"

        def inner_loss_k(x):
            return mse_inner(f_enc(ctx["P"], ctx["e0"] + x, ctx["attention_mask"]), ctx["z_c"])

        check_inner_grad_fd(inner_loss_k, r["_points"][-1], r["delta_grad"][-1], name)
        # detach_embedding: the adversarial pass reaches the embedding tables only when not detached
        Q = ctx["param_leaves"]()
        zc = f_enc(Q, embed(Q, ctx["input_ids"], ctx["token_type_ids"]), ctx["attention_mask"])
        cut = task_loss(zc, ctx["labels"]) + case["alpha"] * mse_outer(zc, r["logits_adv"])
        (g_cut,) = torch.autograd.grad(cut, [Q[EMBEDDING_PARAMS[0]]])
        d_cut = (r["grads"][EMBEDDING_PARAMS[0]] - g_cut).abs().max().item()
        assert (d_cut <= 1e-12) == case["detach_embedding"], f"{name}: detach check ({d_cut})"
        print_step(name, r)
        out.append(case_record(name, case, r, with_clean_logits=True))
    print("  check: regression inner gradients match central finite differences; detach cuts only the adv pass")
    return {
        "targets": REGRESSION_TARGETS,
        "model": "test/fixtures/nano-bert with classifier.weight[:1] and classifier.bias[:1] (num_labels 1)",
        "losses": "task MSE (HF regression), inner MSE sum (mt-dnn), outer mean (z_c - z_a)^2 without stop-gradient; "
                  "kl_init/kl_adv are the inner MSE at x_1 and at the adversarial pass",
        "cases": out,
    }


def case_record(name, case, r, with_clean_logits=False):
    """One golden case as written to alum-cases.json (the clean logits only where the test needs them)."""
    clean = {"logits_clean": tl(r["_logits_clean"])} if with_clean_logits else {}
    return {
        "name": name,
        "config": ts_config(case),
        "inner_loss": r["inner_loss"],
        "delta_grad": [tl(g) for g in r["delta_grad"]],
        "delta": [tl(d) for d in r["delta"]],
        "delta_final": tl(r["delta_final"]),
        **clean,
        "logits_adv": tl(r["logits_adv"]),
        "loss_task": r["loss_task"],
        "loss_adv": r["loss_adv"],
        "loss_total": r["loss_total"],
        "kl_init": r["kl_init"],
        "kl_adv": r["kl_adv"],
        "eff_perturb": r["eff_perturb"],
        "inner_grad_norm": r["inner_grad_norm"],
        "delta_linf_mean": r["delta_linf_mean"],
        "delta_l2_mean": r["delta_l2_mean"],
        "grads": {k: tl(g) for k, g in r["grads"].items()},
    }


def round_sig(x, digits=10):
    """Nested floats rounded to `digits` significant digits (the shortest repr of the rounded float is written)."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}")
    if isinstance(x, list):
        return [round_sig(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: round_sig(v, digits) for k, v in x.items()}
    return x


def make_alum_cases_golden(ctx, regression):
    names = ctx["names"]
    Q = ctx["param_leaves"]()
    lt = F.cross_entropy(f_enc(Q, embed(Q, ctx["input_ids"], ctx["token_type_ids"]), ctx["attention_mask"]),
                         ctx["labels"])  # fmt: skip
    standard_grads = dict(zip(names, torch.autograd.grad(lt, [Q[k] for k in names])))

    # K = 0: the final perturbation is delta_0 (a_0 = 0 for mtdnn-2020, whose adversarial term is then exactly 0)
    for variant in ALUM_VARIANTS:
        r0 = alum_step_reference(ctx, dict(case_dict(ALUM_CASES[0]), variant=variant, K=0))
        want = torch.zeros_like(ctx["delta_init"]) if variant == "mtdnn-2020" else ctx["delta_init"]
        assert torch.equal(r0["delta_final"], want) and r0["delta"] == [] and r0["inner_loss"] == []
        assert (r0["loss_adv"] == 0.0) == (variant == "mtdnn-2020")
    print("  check: K = 0 gives delta_0 (0 for mtdnn-2020)")

    out_cases, fd_done = [], False
    for row in ALUM_CASES:
        case = case_dict(row)
        name = case_name(case)
        r = alum_step_reference(ctx, case)
        assert r["kl_init"] == r["inner_loss"][0] and len(r["inner_loss"]) == case["K"]
        stats = check_case_behaviour(ctx, case, r)
        if case["inner_loss"] == "stable-kl":
            check_stable_kl_closed_form(ctx, case, r)
        elif name == FD_CASE:  # the kl inner gradient at the last point x_K, against central finite differences
            def inner_loss_k(x, c=case):
                return inner_loss_value(f_enc(ctx["P"], ctx["e0"] + x, ctx["attention_mask"]), ctx["z_c"],
                                        c["inner_loss"], c["inner_reduction"])  # fmt: skip

            check_inner_grad_fd(inner_loss_k, r["_points"][-1], r["delta_grad"][-1], name)
            fd_done = name
        d_cut = check_detach(ctx, case, r, standard_grads)
        print_step(name, r)
        print(f"  {'':15s} {', '.join(f'{k}={v:.4g}' for k, v in stats.items())}, embed-grad change by the adv pass "
              f"{d_cut:.1e}")  # fmt: skip
        out_cases.append(case_record(name, case, r))
    assert fd_done, "no kl case for the finite-difference check"
    print(f"  check: kl inner gradient of {fd_done} matches central finite differences")
    print("  check: stable-kl logit gradient matches 2 p (c - <p, c>) times the reduction factor")
    print("  check: detach_embedding cuts the adversarial pass (only) from the embedding tables")
    print("  check: paper/paper-raw deltas stay in the ball and the projection binds partly; mtdnn-head norms are 1; "
          "mtdnn-2020 accumulates")  # fmt: skip
    assert len({c["name"] for c in out_cases}) == len(out_cases) == 12
    dump(GOLD_DIR / "alum-cases.json", round_sig({
        "meta": {
            "generator": "scripts/golden/make_golden.py",
            "torch_version": torch.__version__,
            "spec": "docs/alum-step.md",
            "fixture": "test/fixtures/nano-bert",
            "batch": "same as test/golden/nano-bert.json (input_ids, attention_mask, token_type_ids, labels)",
            "delta_init": "same as test/golden/nano-bert.json (delta_init, sigma 1e-2, zero on padding)",
            "compute_dtype": "float64 from the fixture's float32 weights",
            "dropout": "off everywhere (inner and adversarial passes equal the clean pass)",
            "rounding": "every float rounded to 10 significant digits",
            "param_names": names,
            "per_step_lists": "inner_loss, delta_grad, delta have K entries (k = 1..K); delta is delta_k, or a_k "
                              "for mtdnn-2020",
            "epsilon_note": "epsilon is unused by mtdnn-2020 and mtdnn-head; it is set below their delta norms",
        },
        "cases": out_cases,
        "regression": regression,
    }))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# symkl.json
# ----------------------------------------------------------------------------------------------------------------------
def make_symkl_golden():
    cases = [
        ("equal", [[0.3, -1.2, 2.0], [1.0, 1.0, -0.5]], [[0.3, -1.2, 2.0], [1.0, 1.0, -0.5]]),
        ("confident_vs_uniform", [[8.0, -4.0, 0.0]], [[0.0, 0.0, 0.0]]),
        ("b2_c3", [[0.5, -0.25, 1.5], [-1.0, 2.0, 0.1]], [[0.2, 0.4, 1.0], [0.3, 1.7, -0.6]]),
        ("b1_c5", [[1.0, 0.0, -1.0, 2.0, 0.5]], [[-0.5, 0.7, 0.2, 1.1, -2.0]]),
        ("b2_c2_shifted", [[3.0, -3.0], [0.0, 0.1]], [[103.0, 97.0], [-2.0, 2.0]]),  # logit shift invariance
    ]
    out_cases = []
    for name, zc, za in cases:
        zc = torch.tensor(zc, dtype=F64, requires_grad=True)
        za = torch.tensor(za, dtype=F64, requires_grad=True)
        v = sym_kl_batchmean(zc, za)
        gc, ga = torch.autograd.grad(v, [zc, za])
        B = zc.shape[0]
        with torch.no_grad():
            pc, pa = torch.softmax(zc, -1), torch.softmax(za, -1)
            assert torch.allclose(gc, (pc - pa) / B, rtol=0, atol=1e-15), name
            assert torch.allclose(ga, (pa - pc) / B, rtol=0, atol=1e-15), name
            kl_ac = kl_rows(za, zc).mean().item()  # KL(p_adv || p_clean), batchmean
            kl_ca = kl_rows(zc, za).mean().item()  # KL(p_clean || p_adv), batchmean
            assert abs(v.item() - (kl_ac + kl_ca)) < 1e-14
        if name == "equal":
            assert v.item() == 0.0 and torch.all(gc == 0) and torch.all(ga == 0)
        out_cases.append({
            "name": name,
            "logits_clean": tl(zc),
            "logits_adv": tl(za),
            "value": v.item(),
            "kl_adv_clean": kl_ac,
            "kl_clean_adv": kl_ca,
            "grad_clean": tl(gc),
            "grad_adv": tl(ga),
        })  # fmt: skip
    print("  check: symKL gradient identity holds on all cases")
    dump(GOLD_DIR / "symkl.json", {
        "definition": "value = (1/B) * sum_b [KL(sg softmax(adv)_b || softmax(clean)_b) + KL(sg softmax(clean)_b || "
                      "softmax(adv)_b)], KL(p||q) = sum p (log p - log q); grad_clean = (p_clean - p_adv)/B, "
                      "grad_adv = (p_adv - p_clean)/B; kl_adv_clean / kl_clean_adv are the two batchmean halves",
        "cases": out_cases,
    })  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# adamw.json
# ----------------------------------------------------------------------------------------------------------------------
def make_adamw_golden():
    g = torch.Generator().manual_seed(7)
    W0 = torch.randn(3, 4, generator=g, dtype=F64) * 0.5
    b0 = torch.randn(4, generator=g, dtype=F64) * 0.1
    # step 1: global norm > 1 (clipping active); step 2: global norm < 1 (clipping inactive)
    gW1 = torch.randn(3, 4, generator=g, dtype=F64) * 1.0
    gb1 = torch.randn(4, generator=g, dtype=F64) * 1.0
    gW2 = torch.randn(3, 4, generator=g, dtype=F64) * 0.1
    gb2 = torch.randn(4, generator=g, dtype=F64) * 0.1
    lrs = [1e-2, 5e-3]
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = torch.optim.AdamW(
        [{"params": [W], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}],
        lr=lrs[0], betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01,
    )  # fmt: skip
    steps = []
    for (gW, gb), lr in zip([(gW1, gb1), (gW2, gb2)], lrs):
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.zero_grad()
        W.grad = gW.clone()
        b.grad = gb.clone()
        total_norm = torch.nn.utils.clip_grad_norm_([W, b], max_norm=1.0).item()
        clipped = {"matrix": tl(W.grad), "bias": tl(b.grad)}
        opt.step()
        steps.append({
            "lr": lr,
            "grads": {"matrix": tl(gW), "bias": tl(gb)},
            "grad_global_norm": total_norm,
            "clipped": total_norm > 1.0,
            "grads_after_clip": clipped,
            "params_after": {"matrix": tl(W), "bias": tl(b)},
        })  # fmt: skip
    assert steps[0]["clipped"] and not steps[1]["clipped"]

    # Hand re-implementation to assert the documented formulas reproduce torch exactly.
    def manual():
        P = {"matrix": W0.clone(), "bias": b0.clone()}
        wd = {"matrix": 0.01, "bias": 0.0}
        m = {k: torch.zeros_like(v) for k, v in P.items()}
        v = {k: torch.zeros_like(x) for k, x in P.items()}
        for t, ((gW, gb), lr) in enumerate(zip([(gW1, gb1), (gW2, gb2)], lrs), start=1):
            G = {"matrix": gW, "bias": gb}
            n = math.sqrt(sum((x**2).sum().item() for x in G.values()))
            c = min(1.0, 1.0 / (n + 1e-6))
            for k in P:
                gk = G[k] * c
                P[k] = P[k] * (1 - lr * wd[k])
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                bc1, bc2 = 1 - 0.9**t, 1 - 0.999**t
                P[k] = P[k] - (lr / bc1) * m[k] / (torch.sqrt(v[k]) / math.sqrt(bc2) + 1e-6)
        return P

    Pm = manual()
    assert torch.allclose(Pm["matrix"], W.detach(), rtol=0, atol=1e-14)
    assert torch.allclose(Pm["bias"], b.detach(), rtol=0, atol=1e-14)
    print("  check: AdamW hand formula matches torch.optim.AdamW")
    dump(GOLD_DIR / "adamw.json", {
        "definition": "torch.optim.AdamW, betas (0.9, 0.999), eps 1e-6 (added to sqrt(v_hat)), bias correction on; "
                      "decoupled weight decay p *= (1 - lr*wd) with wd 0.01 for 'matrix' and 0 for 'bias' (no-decay "
                      "group); before each step torch.nn.utils.clip_grad_norm_ over both params with max_norm 1.0 "
                      "(global L2 norm; coef = max_norm/(norm + 1e-6), applied only if < 1); lr set per step",
        "torch_version": torch.__version__,
        "betas": [0.9, 0.999],
        "eps": 1e-6,
        "weight_decay": {"matrix": 0.01, "bias": 0.0},
        "max_grad_norm": 1.0,
        "initial": {"matrix": tl(W0), "bias": tl(b0)},
        "steps": steps,
    })  # fmt: skip


def main():
    torch.use_deterministic_algorithms(True)
    print("nano-bert fixture")
    P32 = make_fixture()
    ctx = make_context(P32)
    print("nano-bert golden")
    make_nano_bert_golden(ctx)
    print("regression cases")
    regression = make_regression_cases(P32)
    print("alum-cases golden")
    make_alum_cases_golden(ctx, regression)
    print("symkl golden")
    make_symkl_golden()
    print("adamw golden")
    make_adamw_golden()
    print("done")


if __name__ == "__main__":
    main()
