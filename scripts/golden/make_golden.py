#!/usr/bin/env python3
"""Independent PyTorch reference for ALUM Playground.

Writes (paths relative to the repository root):
  test/fixtures/nano-bert/{config.json,vocab.txt,model.safetensors}   tiny random BERT checkpoint
  test/golden/nano-bert.json   forward pass, ALUM inner loop (3 variants), losses and parameter gradients
  test/golden/symkl.json       symmetric-KL values and gradients on hand-picked logits
  test/golden/adamw.json       torch.optim.AdamW + clip_grad_norm_ reference trajectory

Run:  apt-get install -y python3-torch python3-numpy && /usr/bin/python3 scripts/golden/make_golden.py

No `transformers` and no `safetensors` package: BERT is written by hand with exactly the semantics of Hugging Face
`BertForSequenceClassification` (post-LN encoder, GELU erf form, additive mask (1-m)*-10000, tanh pooler on [CLS]),
with dropout OFF everywhere. Weights are drawn and stored in float32; every golden value is computed in float64 from
those exact float32 weights. Deterministic: all randomness comes from explicitly seeded torch.Generator objects.

ALUM step specification (this is what the TypeScript implementation must match)
-------------------------------------------------------------------------------
Notation: e0 = embedding_output [B,T,H] (word + position + token_type embeddings, LayerNorm eps 1e-12);
f_enc(h) = encoder + pooler + classifier (logits [B,C]); m[b,t] = attention_mask; KL(p||q) = sum_i p_i (log p_i - log q_i).

  * clean logits z_c = f_enc(e0) computed once; p_c = softmax(z_c) is a CONSTANT inside the inner loop.
  * inner loss L_in(d) = SUM over the batch (not mean) of KL(p_c,b || p_adv,b), p_adv = softmax(f_enc(e0 + d)).
  * delta_0 = delta_init (fixed, stored in the JSON; N(0, 1e-2) * m, i.e. exactly zero at pad positions).
  * for k = 1..K:  g_k = dL_in/d delta at the current delta  [B,T,H];  tokmax(x)[b,t] = max_j |x[b,t,j]|
        paper      : delta <- clip(delta + eta * g / (tokmax(g) + 1e-12), -epsilon, +epsilon)
        mtdnn-2020 : delta <- eta * g / (tokmax(g) + 1e-6)
        mtdnn-head : r = delta + eta * g;  delta <- r / (tokmax(r) + 1e-6)
        then        delta <- delta * m[b,t]   (pads stay exactly zero)
  * eff_perturb (last inner step) = mean over real tokens (m=1) and all hidden units of |eta * g / den|, with
        den = tokmax(g) + eps_num (paper: 1e-12, mtdnn-2020: 1e-6) or tokmax(r) + 1e-6 (mtdnn-head).
  * outer (delta_final constant, embedding NOT detached, gradients reach the embedding tables through both passes):
        e = embed(ids, token_type_ids);  z_c = f_enc(e);  z_adv = f_enc(e + delta_final)
        loss_task = mean_b CE(z_c, y)
        loss_adv  = (1/B) sum_b [ KL(sg p_adv,b || p_c,b) + KL(sg p_c,b || p_adv,b) ]    (sg = stop-gradient of the
                    TARGET distribution, i.e. the first argument only)
        loss_total = loss_task + alpha * loss_adv
    `grads` are d loss_total / d theta for every HF-named parameter.
  * `standard`: gradients of loss_task alone (what alpha = 0 must reproduce).
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
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, shape in param_shapes().items():
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


def tokmax(x):
    return x.abs().amax(-1, keepdim=True)


# ----------------------------------------------------------------------------------------------------------------------
# safetensors (numpy only)
# ----------------------------------------------------------------------------------------------------------------------
def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    chunks, off = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        b = arr.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
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
def make_fixture():
    P32 = init_params_f32()
    FIX_DIR.mkdir(parents=True, exist_ok=True)
    (FIX_DIR / "config.json").write_text(json.dumps(hf_config_json(), indent=2) + "\n")
    (FIX_DIR / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    write_safetensors(FIX_DIR / "model.safetensors", P32)
    back = read_safetensors(FIX_DIR / "model.safetensors")
    assert set(back) == set(P32)
    for k, v in P32.items():
        assert list(back[k].shape) == list(v.shape) and np.array_equal(back[k], v.numpy()), k
    print(f"wrote {FIX_DIR.relative_to(ROOT)}/ (config.json, vocab.txt, model.safetensors: {len(P32)} tensors, "
          f"{sum(v.numel() for v in P32.values())} params; read-back OK)")  # fmt: skip
    return P32


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


K_STEPS = 2
ETA = 1e-1
EPSILON = 5e-2
ALPHA = 1.5
SIGMA = 1e-2
EPS_NUM = {"paper": 1e-12, "mtdnn-2020": 1e-6, "mtdnn-head": 1e-6}
VARIANTS = ["paper", "mtdnn-2020", "mtdnn-head"]


def make_nano_bert_golden(P32):
    names = list(param_shapes())
    P = {k: v.to(F64) for k, v in P32.items()}  # exact float32 values, computed in float64
    input_ids, attention_mask, token_type_ids, labels = make_batch()
    B, T = input_ids.shape
    m3 = attention_mask.to(F64)[:, :, None]  # [B,T,1]
    n_real = attention_mask.sum().item()

    with torch.no_grad():
        e0 = embed(P, input_ids, token_type_ids)
        z_c = f_enc(P, e0, attention_mask)
        p_c_logits = z_c.clone()  # constant target for the inner loop
        loss_task = F.cross_entropy(z_c, labels)
    crosscheck_with_torch_layer(P, e0, attention_mask)

    def real_mean(x):  # mean over real tokens and all hidden units; x [B,T,H]
        return ((x.abs() * m3).sum() / (n_real * H)).item()

    def real_token_mean(x):  # mean over real tokens; x [B,T,1] or [B,T]
        x = x.reshape(B, T)
        return ((x * attention_mask.to(F64)).sum() / n_real).item()

    embed_abs_mean = real_mean(e0)

    g_delta = torch.Generator().manual_seed(1234)
    delta_init = torch.randn(B, T, H, generator=g_delta, dtype=F64) * SIGMA * m3

    def inner_loss(d):
        return kl_rows(p_c_logits, f_enc(P, e0 + d, attention_mask)).sum()  # SUM over the batch

    def inner_grad(d):
        d = d.detach().clone().requires_grad_(True)
        L = inner_loss(d)
        (g,) = torch.autograd.grad(L, d)
        return L.detach(), g

    # --- finite-difference check of the inner gradient (float64, central differences) -----------------------------
    _, g0 = inner_grad(delta_init)
    assert torch.all(g0 * (1 - m3) == 0), "inner gradient must be exactly zero at pad positions"
    h_fd = 1e-6
    for (b, t, j) in [(0, 0, 0), (0, 3, 5), (1, 4, 17), (2, 5, 31)]:
        with torch.no_grad():
            dp = delta_init.clone(); dp[b, t, j] += h_fd  # noqa: E702
            dm = delta_init.clone(); dm[b, t, j] -= h_fd  # noqa: E702
            fd = (inner_loss(dp) - inner_loss(dm)).item() / (2 * h_fd)
        check_close(g0[b, t, j].item(), fd, rtol=1e-5, atol=1e-11, what=f"inner grad FD at {(b, t, j)}")
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
    def param_leaves():
        return {k: P[k].clone().requires_grad_(True) for k in names}

    Q = param_leaves()
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
    for var in VARIANTS:
        eps_num = EPS_NUM[var]
        delta = delta_init.clone()
        delta_grads, deltas, inner_losses = [], [], []
        eff_perturb = inner_norm = None
        for _k in range(K_STEPS):
            L, g = inner_grad(delta)
            inner_losses.append(L.item())
            with torch.no_grad():
                if var == "paper":
                    den = tokmax(g) + eps_num
                    new = torch.clamp(delta + ETA * g / den, -EPSILON, EPSILON)
                elif var == "mtdnn-2020":
                    den = tokmax(g) + eps_num
                    new = ETA * g / den
                else:  # mtdnn-head
                    r = delta + ETA * g
                    den = tokmax(r) + eps_num
                    new = r / den
                new = new * m3
                eff_perturb = real_mean(ETA * g / den)
                inner_norm = g.norm().item()
            delta_grads.append(tl(g))
            deltas.append(tl(new))
            delta = new
            assert torch.all(delta * (1 - m3) == 0)
        delta_final = delta
        with torch.no_grad():
            inner_loss_final = inner_loss(delta_final).item()

        Q = param_leaves()
        e = embed(Q, input_ids, token_type_ids)  # NOT detached: adversarial term reaches the embedding tables
        zc = f_enc(Q, e, attention_mask)
        za = f_enc(Q, e + delta_final, attention_mask)
        l_task = F.cross_entropy(zc, labels)
        l_adv = sym_kl_batchmean(zc, za)
        l_total = l_task + ALPHA * l_adv
        gs = torch.autograd.grad(l_total, [Q[k] for k in names])

        # Independent construction of the same gradient via the stop-gradient identity:
        # d loss_adv / d z_c = (p_c - p_adv)/B, d loss_adv / d z_adv = (p_adv - p_c)/B.
        Q2 = param_leaves()
        e2 = embed(Q2, input_ids, token_type_ids)
        zc2 = f_enc(Q2, e2, attention_mask)
        za2 = f_enc(Q2, e2 + delta_final, attention_mask)
        with torch.no_grad():
            pc, pa = torch.softmax(zc2, -1), torch.softmax(za2, -1)
        sur = F.cross_entropy(zc2, labels) + ALPHA * ((zc2 * (pc - pa)).sum() + (za2 * (pa - pc)).sum()) / B
        gs2 = torch.autograd.grad(sur, [Q2[k] for k in names])
        worst = max((a - b).abs().max().item() for a, b in zip(gs, gs2))
        assert worst < 1e-12, f"{var}: grads differ from surrogate construction by {worst}"
        assert abs(l_task.item() - loss_task.item()) < 1e-14

        with torch.no_grad():
            d_linf = real_token_mean(tokmax(delta_final))
            d_l2 = real_token_mean(delta_final.norm(dim=-1))
        variants[var] = {
            "eps_num": eps_num,
            "delta_grad": delta_grads,
            "delta": deltas,
            "delta_final": tl(delta_final),
            "inner_loss": inner_losses,
            "inner_loss_final": inner_loss_final,
            "logits_adv": tl(za),
            "loss_task": l_task.item(),
            "loss_adv": l_adv.item(),
            "loss_total": l_total.item(),
            "eff_perturb": eff_perturb,
            "inner_grad_norm": inner_norm,
            "delta_linf_mean": d_linf,
            "delta_l2_mean": d_l2,
            "embed_abs_mean": embed_abs_mean,
            "grads": {k: tl(g) for k, g in zip(names, gs)},
        }
        print(f"  {var:11s} loss_adv={l_adv.item():.6e} loss_total={l_total.item():.6f} eff_perturb={eff_perturb:.4e} "
              f"|g|={inner_norm:.3e} delta_linf={d_linf:.4e} delta_l2={d_l2:.4e} "
              f"L_in: {inner_losses[0]:.3e} -> {inner_loss_final:.3e}")  # fmt: skip
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
            "spec": "see the module docstring of scripts/golden/make_golden.py",
        },
        "config": {k: CFG[k] for k in CFG},
        "hyper": {
            "K": K_STEPS,
            "eta": ETA,
            "epsilon": EPSILON,
            "alpha": ALPHA,
            "sigma": SIGMA,
            "eps_num": EPS_NUM,
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
    print("nano-bert golden")
    make_nano_bert_golden(P32)
    print("symkl golden")
    make_symkl_golden()
    print("adamw golden")
    make_adamw_golden()
    print("done")


if __name__ == "__main__":
    main()
