#!/usr/bin/env python3
"""Independent PyTorch float64 reference for the masked-LM head (Hugging Face `BertForMaskedLM`).

Writes (paths relative to the repository root):
  test/fixtures/nano-bert-mlm/{config.json,vocab.txt,model.safetensors}   the nano encoder + an MLM head
  test/golden/nano-mlm.json   masked batch, hidden states, MLM logits, masked-LM loss, every parameter gradient
  test/golden/alum-mlm-cases.json   ALUM steps on the MLM head (docs/alum-step.md, "Masked-LM pre-training"): per
                              case delta after every inner step, the inner gradients, losses, metrics and every
                              parameter gradient (tied word embedding included)

Run:  /usr/bin/python3 scripts/golden/make_mlm_golden.py   (needs python3-torch and python3-numpy, as make_golden.py)

Reuses the hand-written BERT of make_golden.py (embed, encoder layers, LayerNorm, erf GELU, linear, safetensors
writer): the encoder weights are exactly those of test/fixtures/nano-bert (`init_params_f32`, seed 0), without
`bert.pooler` and `classifier` (HF `BertForMaskedLM` has no pooler). The head is written by hand here with the
semantics of `transformers` `BertOnlyMLMHead` (modeling_bert.py):
  transform:  x -> LayerNorm(gelu_erf(x W_t^T + b_t))         cls.predictions.transform.{dense,LayerNorm}
  decoder:    y -> y E^T + b                                  E = bert.embeddings.word_embeddings.weight (TIED),
                                                              b = cls.predictions.bias
HF computes the scores at every position and ignores label -100 in the cross-entropy; the reference gathers the
masked positions (flat indices b*T + t) first, which gives the same mean over the masked tokens. Both forms are
computed and must agree (self-check). Dropout is off. Weights are drawn and stored in float32; every golden value is
computed in float64 from those float32 values. Deterministic (seeded generators, one thread).

Self-checks (assertions):
  - the safetensors file reads back unchanged;
  - gathered-position logits/loss/gradients equal HF's full-sequence form (torch.nn.functional ops,
    cross_entropy with ignore_index=-100);
  - the tied word-embedding gradient is the sum of an input-lookup part and a decoder part, both nonzero on a row
    that is an input token;
  - parameter gradients match central finite differences (a word-embedding entry of a row that is both an input
    token and a decoder row, the [MASK] row, cls.predictions.bias, the transform dense weight and LayerNorm weight).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in scripts/golden
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (sets one thread; its main() does not run on import)

ROOT = mg.ROOT
FIX_DIR = ROOT / "test" / "fixtures" / "nano-bert-mlm"
GOLD_PATH = ROOT / "test" / "golden" / "nano-mlm.json"
ALUM_PATH = ROOT / "test" / "golden" / "alum-mlm-cases.json"
F64 = torch.float64
H, V = mg.H, mg.CFG["vocab_size"]
WORD = "bert.embeddings.word_embeddings.weight"
HEAD_SEED = 6

# Hand-picked masked positions of mg.make_batch() (B=3, T=8) with the replacement put in the input: [MASK] (the 80%
# case), a random token (10%) or the token itself (10%). Labels are the original ids.
MASKS = [
    # (row, position, replacement word or None for "unchanged")
    (0, 2, "[MASK]"),  # cat
    (0, 5, "[MASK]"),  # the (row 0 keeps "the" as an input token at position 1)
    (0, 6, None),  # mat, kept
    (1, 3, "dog"),  # money -> random token
    (2, 1, "[MASK]"),  # free
    (2, 5, "[MASK]"),  # me (second segment)
]


def masked_batch_json(batch):
    """The masked batch as the goldens write it (test/helpers/nano.ts MlmBatchGolden), in this key order."""
    keys = ("masked_input_ids", "attention_mask", "token_type_ids", "positions", "labels")
    return {k: mg.tl(batch[k]) for k in keys}


def head_shapes():
    return {
        "cls.predictions.transform.dense.weight": [H, H],
        "cls.predictions.transform.dense.bias": [H],
        "cls.predictions.transform.LayerNorm.weight": [H],
        "cls.predictions.transform.LayerNorm.bias": [H],
        "cls.predictions.bias": [V],
    }


def init_head_f32():
    """Seed-6 random head, float32, distributed like the fixture (make_golden.draw_like_fixture)."""
    return mg.draw_like_fixture(head_shapes(), HEAD_SEED)


def mlm_params_f32():
    """The fixture's tensors: nano-bert's encoder (no pooler, no classifier) plus the MLM head."""
    enc = {k: v for k, v in mg.init_params_f32().items() if not k.startswith(("bert.pooler.", "classifier."))}
    return {**enc, **init_head_f32()}


def hf_config_json():
    c = mg.hf_config_json()
    for k in ("id2label", "label2id", "problem_type", "classifier_dropout"):
        c.pop(k)
    c["architectures"] = ["BertForMaskedLM"]
    return c


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------
def encode(P, input_ids, token_type_ids, attention_mask):
    """Last hidden states [B,T,H] (before any pooler): embeddings then the encoder layers of make_golden.py."""
    h = mg.embed(P, input_ids, token_type_ids)
    for i in range(mg.L_LAYERS):
        h = mg.encoder_layer(P, i, h, attention_mask)
    return h


def mlm_head(P, x, word):
    """x [..., H] -> scores [..., V]; `word` is the (tied) decoder matrix [V, H]."""
    y = mg.gelu_erf(mg.linear(x, P, "cls.predictions.transform.dense"))
    y = mg.layer_norm(y, P["cls.predictions.transform.LayerNorm.weight"], P["cls.predictions.transform.LayerNorm.bias"])
    return y @ word.t() + P["cls.predictions.bias"]


def mlm_logits(P, hidden, positions, word=None):
    """Gather the masked positions (flat b*T + t) of hidden [B,T,H], then the head: [M, V]."""
    x = hidden.reshape(-1, H)[positions]
    return mlm_head(P, x, P[WORD] if word is None else word)


def mlm_loss(P, batch, word_in=None, word_dec=None):
    """Mean cross-entropy over the masked tokens. word_in/word_dec: untied copies of E for the split check."""
    Q = dict(P)
    if word_in is not None:
        Q[WORD] = word_in
    hidden = encode(Q, batch["masked_input_ids"], batch["token_type_ids"], batch["attention_mask"])
    logits = mlm_logits(P, hidden, batch["positions"], word=word_dec)
    return F.cross_entropy(logits, batch["labels"]), hidden, logits


def hf_full_sequence_loss(P, batch):
    """HF BertForMaskedLM's form with torch.nn.functional ops: scores at every position, labels -100 elsewhere."""
    hidden = encode(P, batch["masked_input_ids"], batch["token_type_ids"], batch["attention_mask"])
    y = F.gelu(F.linear(hidden, P["cls.predictions.transform.dense.weight"], P["cls.predictions.transform.dense.bias"]))
    y = F.layer_norm(y, (H,), P["cls.predictions.transform.LayerNorm.weight"],
                     P["cls.predictions.transform.LayerNorm.bias"], eps=mg.EPS_LN)  # fmt: skip
    scores = F.linear(y, P[WORD], P["cls.predictions.bias"])  # [B,T,V]
    full_labels = torch.full_like(batch["masked_input_ids"], -100)
    full_labels.view(-1)[batch["positions"]] = batch["labels"]
    loss = F.cross_entropy(scores.reshape(-1, V), full_labels.reshape(-1), ignore_index=-100)
    return loss, scores.reshape(-1, V)[batch["positions"]]


# ----------------------------------------------------------------------------------------------------------------------
# Fixture, batch, golden
# ----------------------------------------------------------------------------------------------------------------------
def make_fixture():
    return mg.write_fixture(FIX_DIR, hf_config_json(), mlm_params_f32())


def make_masked_batch():
    input_ids, attention_mask, token_type_ids, _ = mg.make_batch()
    B, T = input_ids.shape
    masked = input_ids.clone()
    positions, labels = [], []
    for b, t, repl in sorted(MASKS):
        assert attention_mask[b, t] == 1 and mg.VOCAB[input_ids[b, t]] not in ("[CLS]", "[SEP]", "[PAD]")
        positions.append(b * T + t)
        labels.append(input_ids[b, t].item())
        if repl is not None:
            masked[b, t] = mg.TOK[repl]
    return dict(input_ids=input_ids, masked_input_ids=masked, attention_mask=attention_mask,
                token_type_ids=token_type_ids, positions=torch.tensor(positions),
                labels=torch.tensor(labels))  # fmt: skip


def check_fd(P, batch, names, grads):
    """Central finite differences of the loss for a few parameter entries."""
    the, mask = mg.TOK["the"], mg.TOK["[MASK]"]
    assert (batch["masked_input_ids"] == the).any() and (batch["masked_input_ids"] == mask).any()
    entries = [
        (WORD, (the, 3)),  # an input token of row 0 and a decoder row (a label, too)
        (WORD, (mask, 17)),  # the [MASK] row: input at 4 positions, decoder row
        ("cls.predictions.bias", (mg.TOK["cat"],)),
        ("cls.predictions.transform.dense.weight", (5, 7)),
        ("cls.predictions.transform.LayerNorm.weight", (11,)),
    ]
    for pname, idx in entries:
        with torch.no_grad():
            def loss_at(v):
                R = dict(P)
                R[pname] = P[pname].clone()
                R[pname][idx] = v
                return mlm_loss(R, batch)[0].item()

            base = P[pname][idx].item()
            fd = (loss_at(base + mg.h_fd) - loss_at(base - mg.h_fd)) / (2 * mg.h_fd)
        g = grads[names.index(pname)][idx].item()
        mg.check_close(g, fd, rtol=1e-5, atol=1e-10, what=f"MLM loss grad FD {pname}{idx}")
        print(f"  check: FD {pname}{list(idx)}: autograd {g:.9e} vs FD {fd:.9e}")


def check_tied_split(P, batch, g_word):
    """The tied gradient = input-lookup part + decoder part; both parts are nonzero on the 'the' row."""
    w_in = P[WORD].clone().requires_grad_(True)
    w_dec = P[WORD].clone().requires_grad_(True)
    loss = mlm_loss(P, batch, word_in=w_in, word_dec=w_dec)[0]
    g_in, g_dec = torch.autograd.grad(loss, [w_in, w_dec])
    err = (g_in + g_dec - g_word).abs().max().item()
    assert err < 1e-14, f"tied gradient is not the sum of its parts: {err}"
    row = mg.TOK["the"]
    assert g_in[row].abs().max() > 1e-4 and g_dec[row].abs().max() > 1e-4
    unused = [i for i in range(V) if not (batch["masked_input_ids"] == i).any()]
    assert torch.all(g_in[unused] == 0), "the input-lookup part reaches rows that are not in the input"
    print(f"  check: tied word-embedding gradient = input part + decoder part (max|diff| {err:.1e}); "
          f"row 'the': |input| {g_in[row].abs().max():.3e}, |decoder| {g_dec[row].abs().max():.3e}")  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# ALUM on the MLM head: alum-mlm-cases.json
# ----------------------------------------------------------------------------------------------------------------------
MLM_ALPHA = 10.0  # the pre-training setting: namisan/mt-dnn@efe63ad alum/alum_train.sh line 27, --adv_alpha 10
# (variant, K, inner_loss, inner_reduction, detach_embedding, norm, eta, epsilon)
MLM_CASES = [
    ("paper", 1, "kl", "sum", False, "inf", 0.05, 0.02),
    ("paper", 2, "stable-kl", "batchmean", True, "l2", 0.05, 0.02),
    ("mtdnn-2020", 1, "stable-kl", "elementmean", False, "inf", 0.02, 0.01),
    ("mtdnn-2020", 2, "kl", "batchmean", True, "inf", 0.02, 0.01),
]


def encode_from_embedding(P, e, attention_mask):
    """The encoder layers on an embedding output (possibly perturbed): [B,T,H] -> [B,T,H]."""
    h = e
    for i in range(mg.L_LAYERS):
        h = mg.encoder_layer(P, i, h, attention_mask)
    return h


def mlm_context(P32, batch):
    """make_golden.make_context for the MLM head: the masked ids as input, the masked positions' original ids as
    labels, the head `f` = encoder + MLM logits at the positions [M, V]; "B" (the rows the sym-KL and the surrogate
    check average over) is M. make_golden's module functions are swapped only while the context is built and a
    step is computed (`with_mlm_head`)."""
    positions = batch["positions"]

    def f_mlm(P, e, attention_mask):
        return mlm_logits(P, encode_from_embedding(P, e, attention_mask), positions)

    def batch_fn():
        return batch["masked_input_ids"], batch["attention_mask"], batch["token_type_ids"], batch["labels"]

    with with_mlm_head(f_mlm, batch_fn):
        ctx = mg.make_context(P32)
    names = list(P32)
    ctx["names"] = names
    ctx["param_leaves"] = lambda: {k: ctx["P"][k].clone().requires_grad_(True) for k in names}
    ctx["B"] = len(positions)  # rows of the head's output: the masked tokens
    ctx["f_mlm"] = f_mlm
    return ctx


class with_mlm_head:
    """Temporarily points make_golden's f_enc (the head after the embedding) and make_batch at the MLM ones."""

    def __init__(self, f, batch_fn=None):
        self.f, self.batch_fn = f, batch_fn

    def __enter__(self):
        self.saved = (mg.f_enc, mg.make_batch)
        mg.f_enc = self.f
        if self.batch_fn is not None:
            mg.make_batch = self.batch_fn

    def __exit__(self, *exc):
        mg.f_enc, mg.make_batch = self.saved


def make_alum_mlm_golden(P32, batch):
    ctx = mlm_context(P32, batch)
    M, T = ctx["B"], ctx["T"]
    assert ctx["z_c"].shape == (M, V)
    out = []
    for row in MLM_CASES:
        case = mg.case_dict(row)
        case["alpha"] = MLM_ALPHA
        name = f"mlm-{mg.case_name(case)}-{case['inner_loss']}-{case['inner_reduction']}"
        with with_mlm_head(ctx["f_mlm"]):
            r = mg.alum_step_reference(ctx, case)

            def inner_loss_k(x, case=case):
                z = ctx["f_mlm"](ctx["P"], ctx["e0"] + x, ctx["attention_mask"])
                return mg.inner_loss_value(z, ctx["z_c"], case["inner_loss"], case["inner_reduction"])

            if case["inner_loss"] == "kl":  # stable-kl is a surrogate: its gradient is not that of its value
                mg.check_inner_grad_fd(inner_loss_k, r["_points"][-1], r["delta_grad"][-1], name)
            else:
                mg.check_stable_kl_closed_form(ctx, case, r)
        assert r["loss_adv"] > 0 and len(r["delta"]) == case["K"]
        # the adversarial term is over the masked positions only: the same step with the sym-KL taken over all
        # B*T positions would differ (checked on the loss: the positions' rows are a strict subset)
        assert r["logits_adv"].shape == (M, V)
        # the tied decoder: the word-embedding gradient is nonzero on a row that is only a label (decoder part)
        g_word = r["grads"][WORD]
        assert g_word.abs().sum() > 0
        mg.print_step(name, r)
        out.append(mg.case_record(name, case, r, with_clean_logits=True))
    print(f"  check: ALUM-MLM inner gradients match central finite differences (kl) or the stable-kl closed form "
          f"({len(out)} cases, M = {M}, T = {T})")
    return {
        "meta": {
            "generator": "scripts/golden/make_mlm_golden.py (make_alum_mlm_golden)",
            "torch_version": torch.__version__,
            "fixture": "test/fixtures/nano-bert-mlm",
            "batch": "the masked batch of nano-mlm.json (masked_input_ids as input, positions, labels)",
            "delta_init": "make_golden.make_context: N(0, 0.01^2) [B, T, H] from torch seed 1234, zero on padding",
            "head": "logits at the M masked positions [M, V]; task loss = mean CE over them; inner loss over the "
                    "M rows (sum, batchmean = / M, elementmean = / (M V)); outer sym-KL = mean over the M rows",
            "dropout": "off",
            "rounding": "every float rounded to 10 significant digits",
            "param_names": ctx["names"],
        },
        **masked_batch_json(batch),
        "delta_init": mg.tl(ctx["delta_init"]),
        "logits_clean": mg.tl(ctx["z_c"]),
        "cases": out,
    }


def main():
    torch.use_deterministic_algorithms(True)
    print("nano-bert-mlm fixture")
    P32 = make_fixture()
    names = list(P32)
    P = {k: v.to(F64) for k, v in P32.items()}
    batch = make_masked_batch()

    print("nano-mlm golden")
    Q = {k: P[k].clone().requires_grad_(True) for k in names}
    loss, hidden, logits = mlm_loss(Q, batch)
    grads = torch.autograd.grad(loss, [Q[k] for k in names])
    for k, g in zip(names, grads):
        assert g.shape == P[k].shape and torch.isfinite(g).all(), k

    # HF's full-sequence form (ignore_index = -100) gives the same loss, logits and gradients
    Q2 = {k: P[k].clone().requires_grad_(True) for k in names}
    loss_hf, logits_hf = hf_full_sequence_loss(Q2, batch)
    grads_hf = torch.autograd.grad(loss_hf, [Q2[k] for k in names])
    assert abs(loss.item() - loss_hf.item()) < 1e-13, (loss.item(), loss_hf.item())
    assert (logits - logits_hf).abs().max().item() < 1e-12
    worst = max((a - b).abs().max().item() for a, b in zip(grads, grads_hf))
    assert worst < 1e-12, f"gradients differ from HF's full-sequence form by {worst}"
    print(f"  check: gathered positions == HF full-sequence scores with ignore_index -100 (grad max|diff| {worst:.1e})")

    check_tied_split(P, batch, grads[names.index(WORD)])
    check_fd(P, batch, names, grads)
    print(f"  loss {loss.item():.12f} over M = {len(batch['positions'])} masked tokens (ln V = {np.log(V):.4f})")

    out = {
        "meta": {
            "generator": "scripts/golden/make_mlm_golden.py",
            "torch_version": torch.__version__,
            "fixture": "test/fixtures/nano-bert-mlm",
            "model": "HF BertForMaskedLM: encoder (no pooler) + cls.predictions (transform dense -> gelu erf -> "
                     "LayerNorm eps 1e-12, decoder tied to bert.embeddings.word_embeddings.weight + "
                     "cls.predictions.bias)",
            "compute_dtype": "float64 from the fixture's float32 weights",
            "dropout": "off",
            "positions": "flat indices b*T + t into [B, T], sorted; labels are the original ids there",
            "loss": "mean cross-entropy over the M masked tokens (HF ignore_index=-100 semantics)",
            "rounding": "every float rounded to 10 significant digits",
            "param_names": names,
        },
        "input_ids": mg.tl(batch["input_ids"]),
        **masked_batch_json(batch),
        "hidden": mg.tl(hidden),
        "logits": mg.tl(logits),
        "loss": loss.item(),
        "grads": {k: mg.tl(g) for k, g in zip(names, grads)},
    }
    # the loss is compared at 1e-6 relative: keep it at full precision; everything else 10 significant digits
    rounded = mg.round_sig(out)
    rounded["loss"] = loss.item()
    GOLD_PATH.parent.mkdir(parents=True, exist_ok=True)
    s = json.dumps(rounded, separators=(",", ":"), allow_nan=False)
    GOLD_PATH.write_text(s + "\n")
    print(f"wrote {GOLD_PATH.relative_to(ROOT)} ({len(s)} bytes)")

    print("alum-mlm-cases golden")
    alum = mg.round_sig(make_alum_mlm_golden(P32, batch))
    s = json.dumps(alum, separators=(",", ":"), allow_nan=False)
    ALUM_PATH.write_text(s + "\n")
    print(f"wrote {ALUM_PATH.relative_to(ROOT)} ({len(s)} bytes)")
    print("done")


if __name__ == "__main__":
    main()
