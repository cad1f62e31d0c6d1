#!/usr/bin/env python3
"""Independent PyTorch float64 reference for ALUM's relatives as training methods (docs/alum-step.md, "Relatives").

Writes test/golden/methods-cases.json, read by src/core/train/methods-cases.test.ts. Same nano BERT, batch and
float64-from-float32 weights as make_golden.py (its model code is imported, not copied); dropout off everywhere.

Each method is written out here from its definition, with autograd for every gradient, and checked against a second
construction where one exists:
  r3f     loss = CE(z_c) + alpha * (1/B) sum_b [KL(p_c || p_n) + KL(p_n || p_c)], z_n = f((sg e if detach else e) + z),
          NO stop-gradient in the sym-KL (fairseq examples/rxf/rxf_src/sentence_prediction_r3f.py `_get_symm_kl`).
          Check: the gradient differs from the stop-gradient version (ALUM's), and equals the closed form
          d/dz_c = (p_c - p_n + p_c (log p_c - log p_n - KL(p_c||p_n)) - ...)/B via a surrogate.
  fgm     g = d CE(f(e + x)) / d x at x = 0; r = epsilon * g / ||g||_2 per example in the form of Miyato's _scale_l2;
          loss = CE(z_c) + alpha * CE(f(e' + r)). Check: r against the plain formula epsilon g / ||g||.
  pgd     delta_0 given (uniform in the ball); K steps delta <- Pi_eps(delta + eta g / (n(g) + 1e-12)) on CE(y);
          loss = CE(z_c) + alpha * CE(f(e' + delta_K)).
  freelb  delta_0 given (FreeLB's init); for t = 0..K-1: CE_t / K at e + delta_t (e recomputed, not detached), its
          parameter gradient accumulated and g_t = d (CE_t / K) / d delta_t; delta_{t+1} = delta_t + eta g_t /
          max(||g_t||, 1e-8) per example, rescaled to ||delta|| <= epsilon (l2) or clipped (inf). Check: the
          accumulated gradient equals the gradient of (1/K) sum_t CE(f(e + sg delta_t)) taken at once.
  smart   ALUM's step (make_golden.alum_step_reference) + mu * (1/B) sum_b [KL(p_c || p_ema) + KL(p_ema || p_c)], the
          EMA logits a constant, the EMA weights theta_ema = 0.8 theta + 0.02 (a non-trivial copy). Check: total
          gradient = ALUM's gradient + the proximal term's gradient, taken apart.

Run:  /usr/bin/python3 scripts/golden/make_methods_golden.py
"""

import sys
from pathlib import Path

import torch

sys.dont_write_bytecode = True  # no __pycache__ in scripts/golden
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as mg  # noqa: E402  (sets one thread; its main() does not run on import)

F64 = torch.float64
OUT = mg.GOLD_DIR / "methods-cases.json"
ALPHA = 1.5
EMA_SCALE, EMA_SHIFT = 0.8, 0.02  # theta_ema = EMA_SCALE * theta + EMA_SHIFT, elementwise
FREELB_MIN_NORM = 1e-8


def load_fixture():
    """The committed nano fixture's float32 weights (make_golden.py wrote them)."""
    arrays = mg.read_safetensors(mg.FIX_DIR / "model.safetensors")
    return {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


def ce(z, labels):
    return mg.task_loss(z, labels)


def sym_kl_both(a, b):
    """(1/B) sum_b [KL(p_a || p_b) + KL(p_b || p_a)], both sides differentiated (no stop-gradient)."""
    return (mg.kl_rows(a, b) + mg.kl_rows(b, a)).mean()


def example_norm(x, norm):
    """Per-example norm over tokens and hidden units: [B, T, H] -> [B, 1, 1]."""
    flat = x.reshape(x.shape[0], -1)
    n = flat.abs().amax(1) if norm == "inf" else flat.norm(dim=1)
    return n.view(-1, 1, 1)


def scale_l2(g, norm_length):
    """Miyato et al.'s _scale_l2 (tensorflow/models research/adversarial_text/adversarial_losses.py)."""
    alpha = g.abs().amax((1, 2), keepdim=True) + 1e-12
    l2 = alpha * torch.sqrt(((g / alpha) ** 2).sum((1, 2), keepdim=True) + 1e-6)
    return norm_length * g / l2


def outer_grads(ctx, delta, detach, adv_loss_fn, alpha):
    """CE(z_c) + alpha * adv_loss_fn(z_c, z_a), z_a = f(e' + delta) with delta a constant; grads for every param."""
    Q = ctx["param_leaves"]()
    e = mg.embed(Q, ctx["input_ids"], ctx["token_type_ids"])
    zc = mg.f_enc(Q, e, ctx["attention_mask"])
    za = mg.f_enc(Q, (e.detach() if detach else e) + delta, ctx["attention_mask"])
    l_task = ce(zc, ctx["labels"])
    l_adv = adv_loss_fn(zc, za)
    total = l_task + alpha * l_adv
    gs = torch.autograd.grad(total, [Q[k] for k in ctx["names"]])
    return dict(zc=zc.detach(), za=za.detach(), l_task=l_task.item(), l_adv=l_adv.item(), total=total.item(),
                grads=dict(zip(ctx["names"], gs)))  # fmt: skip


def metrics(ctx, delta_final):
    with torch.no_grad():
        return dict(delta_linf_mean=ctx["real_token_mean"](mg.per_token_norm(delta_final, "inf")),
                    delta_l2_mean=ctx["real_token_mean"](mg.per_token_norm(delta_final, "l2")))  # fmt: skip


def ce_grad_at(ctx, x):
    """(CE(f(e + x)), d CE / d x) with the parameters and e constants."""
    x = x.detach().clone().requires_grad_(True)
    L = ce(mg.f_enc(ctx["P"], ctx["e0"] + x, ctx["attention_mask"]), ctx["labels"])
    (g,) = torch.autograd.grad(L, x)
    return L.item(), g


def record(name, method, config, init, r):
    return {"name": name, "method": method, "config": config, "init": mg.tl(init), **r}


def base_config(**kw):
    c = dict(alpha=ALPHA, k=1, eta=0.0, epsilon=0.0, variant="paper", innerLoss="kl", innerReduction="sum",
             detachEmbedding=False, norm="inf", smartMu=0.0)  # fmt: skip
    c.update(kw)
    return c


# ---------------------------------------------------------------------------------------------------------------------
def r3f_regression_case(ctx, name, scale):
    """Regression: the outer term is MSE (no stop-gradient either way), so R3F is ALUM at K = 0 from the noise."""
    g = torch.Generator().manual_seed(33)
    noise = (torch.rand(ctx["e0"].shape, generator=g, dtype=F64) * 2 - 1) * scale * ctx["m3"]
    o = outer_grads(ctx, noise, False, mg.mse_outer, ALPHA)
    case = dict(variant="paper", K=0, eta=0.0, epsilon=1.0, alpha=ALPHA, inner_loss="kl", inner_reduction="sum",
                detach_embedding=False, norm="inf")  # fmt: skip
    ref = mg.alum_step_reference(dict(ctx, delta_init=noise), case)
    worst = max((o["grads"][k] - ref["grads"][k]).abs().max().item() for k in ctx["names"])
    assert worst < 1e-12 and abs(ref["loss_adv"] - o["l_adv"]) < 1e-15, f"{name}: vs ALUM K = 0 ({worst})"
    with torch.no_grad():
        inner = mg.mse_inner(o["za"], o["zc"]).item()
    r = dict(delta_grad=[], delta=[], delta_final=mg.tl(noise), logits_adv=mg.tl(o["za"]), loss_task=o["l_task"],
             loss_adv=o["l_adv"], loss_total=o["total"], kl_init=inner, kl_adv=inner, eff_perturb=0.0,
             inner_grad_norm=0.0, **metrics(ctx, noise), grads={k: mg.tl(v) for k, v in o["grads"].items()})  # fmt: skip
    print(f"  {name:18s} adv={o['l_adv']:.6e} total={o['total']:.6f} (= ALUM K = 0 from the noise)")
    return record(name, "r3f", base_config(k=0, sigma=scale, noiseType="uniform"), noise, r)


def r3f_case(ctx, name, noise_type, scale, detach):
    g = torch.Generator().manual_seed(31 if noise_type == "uniform" else 32)
    shape = ctx["e0"].shape
    if noise_type == "uniform":
        noise = (torch.rand(shape, generator=g, dtype=F64) * 2 - 1) * scale
    else:
        noise = torch.randn(shape, generator=g, dtype=F64) * scale
    noise = noise * ctx["m3"]  # our step zeroes padding (fairseq leaves noise there)
    o = outer_grads(ctx, noise, detach, sym_kl_both, ALPHA)
    # It is not ALUM's stop-gradient sym-KL: the gradients differ.
    sg = outer_grads(ctx, noise, detach, mg.sym_kl_batchmean, ALPHA)
    diff = max((o["grads"][k] - sg["grads"][k]).abs().max().item() for k in ctx["names"])
    assert diff > 1e-6 and abs(o["l_adv"] - sg["l_adv"]) < 1e-15, f"{name}: no-stop-gradient check ({diff})"
    # Surrogate: d symKL / d z_c = (1/B)[p_c (log p_c - log p_n) - p_c KL(c||n) + p_c - p_n] and the mirror for z_n.
    Q = ctx["param_leaves"]()
    e = mg.embed(Q, ctx["input_ids"], ctx["token_type_ids"])
    zc = mg.f_enc(Q, e, ctx["attention_mask"])
    zn = mg.f_enc(Q, (e.detach() if detach else e) + noise, ctx["attention_mask"])
    with torch.no_grad():
        B = zc.shape[0]
        lc, ln = torch.log_softmax(zc, -1), torch.log_softmax(zn, -1)
        pc, pn = lc.exp(), ln.exp()
        kc, kn = (pc * (lc - ln)).sum(-1, keepdim=True), (pn * (ln - lc)).sum(-1, keepdim=True)
        dzc = (pc * (lc - ln - kc) + pc - pn) / B
        dzn = (pn * (ln - lc - kn) + pn - pc) / B
    sur = ce(zc, ctx["labels"]) + ALPHA * ((zc * dzc).sum() + (zn * dzn).sum())
    gs2 = torch.autograd.grad(sur, [Q[k] for k in ctx["names"]])
    worst = max((o["grads"][k] - g2).abs().max().item() for k, g2 in zip(ctx["names"], gs2))
    assert worst < 1e-12, f"{name}: surrogate {worst}"
    with torch.no_grad():
        kl = mg.inner_loss_value(o["za"], o["zc"], "kl", "sum").item()
    r = dict(delta_grad=[], delta=[], delta_final=mg.tl(noise), logits_adv=mg.tl(o["za"]), loss_task=o["l_task"],
             loss_adv=o["l_adv"], loss_total=o["total"], kl_init=kl, kl_adv=kl, eff_perturb=0.0, inner_grad_norm=0.0,
             **metrics(ctx, noise), grads={k: mg.tl(v) for k, v in o["grads"].items()})  # fmt: skip
    print(f"  {name:18s} adv={o['l_adv']:.6e} total={o['total']:.6f} sg-vs-no-sg grad diff {diff:.2e}")
    cfg = base_config(k=0, sigma=scale, noiseType=noise_type, detachEmbedding=detach)
    return record(name, "r3f", cfg, noise, r)


def fgm_case(ctx, name, epsilon, detach):
    zero = torch.zeros_like(ctx["e0"])
    L0, g = ce_grad_at(ctx, zero)
    r = scale_l2(g, epsilon) * ctx["m3"]
    plain = epsilon * g / example_norm(g, "l2")
    assert (r - plain).abs().max().item() < 1e-6 * epsilon, f"{name}: _scale_l2 vs eps g/||g||"
    assert torch.all(g * (1 - ctx["m3"]) == 0)
    o = outer_grads(ctx, r, detach, lambda zc, za: ce(za, ctx["labels"]), ALPHA)
    assert abs(L0 - o["l_task"]) < 1e-14
    res = dict(delta_grad=[mg.tl(g)], delta=[mg.tl(r)], delta_final=mg.tl(r), logits_adv=mg.tl(o["za"]),
               loss_task=o["l_task"], loss_adv=o["l_adv"], loss_total=o["total"], kl_init=L0, kl_adv=o["l_adv"],
               eff_perturb=ctx["real_mean"](r), inner_grad_norm=g.norm().item(), **metrics(ctx, r),
               grads={k: mg.tl(v) for k, v in o["grads"].items()})  # fmt: skip
    assert o["l_adv"] > o["l_task"], f"{name}: the FGM step did not raise the task loss"
    print(f"  {name:18s} CE {o['l_task']:.6f} -> {o['l_adv']:.6f} |r|_2 per example = epsilon")
    return record(name, "fgm", base_config(k=1, epsilon=epsilon, detachEmbedding=detach), zero, res)


def pgd_case(ctx, name, K, eta, epsilon, norm, detach):
    g0 = torch.Generator().manual_seed(41)
    init = mg.project((torch.rand(ctx["e0"].shape, generator=g0, dtype=F64) * 2 - 1) * epsilon, epsilon, norm)
    init = init * ctx["m3"]
    cur, grads_k, deltas, losses = init.clone(), [], [], []
    eff = 0.0
    for _ in range(K):
        L, g = ce_grad_at(ctx, cur)
        with torch.no_grad():
            den = mg.per_token_norm(g, norm) + 1e-12
            cur = mg.project(cur + eta * g / den, epsilon, norm) * ctx["m3"]
            eff = ctx["real_mean"](eta * g / den)
        losses.append(L)
        grads_k.append(g)
        deltas.append(cur)
    o = outer_grads(ctx, cur, detach, lambda zc, za: ce(za, ctx["labels"]), ALPHA)
    assert o["l_adv"] > losses[0], f"{name}: PGD did not raise the task loss"
    res = dict(delta_grad=[mg.tl(g) for g in grads_k], delta=[mg.tl(d) for d in deltas], delta_final=mg.tl(cur),
               logits_adv=mg.tl(o["za"]), loss_task=o["l_task"], loss_adv=o["l_adv"], loss_total=o["total"],
               kl_init=losses[0], kl_adv=o["l_adv"], eff_perturb=eff, inner_grad_norm=grads_k[-1].norm().item(),
               **metrics(ctx, cur), grads={k: mg.tl(v) for k, v in o["grads"].items()})  # fmt: skip
    print(f"  {name:18s} CE at delta_0 {losses[0]:.6f} -> delta_K {o['l_adv']:.6f}")
    cfg = base_config(k=K, eta=eta, epsilon=epsilon, norm=norm, detachEmbedding=detach)
    return record(name, "pgd", cfg, init, res)


def freelb_init(ctx, mag, norm, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(ctx["e0"].shape, generator=g, dtype=F64) * 2 - 1
    if norm == "inf":
        return u * mag * ctx["m3"]
    dims = ctx["attention_mask"].sum(1).to(F64) * mg.H
    return u * ctx["m3"] * (mag / torch.sqrt(dims)).view(-1, 1, 1)


def freelb_update(delta, g, eta, max_norm, norm):
    """run_glue_freelb.py (zhuchen03/FreeLB 2100e74), "(3) update and clip", as written there."""
    denorm = torch.clamp(example_norm(g, norm), min=FREELB_MIN_NORM)
    step = eta * g / denorm
    delta = delta + step
    if max_norm > 0 and norm == "l2":
        delta_norm = example_norm(delta, "l2").view(-1)
        exceed = (delta_norm > max_norm).to(delta)
        reweights = (max_norm / delta_norm * exceed + (1 - exceed)).view(-1, 1, 1)
        delta = delta * reweights
    elif max_norm > 0:
        delta = torch.clamp(delta, -max_norm, max_norm)
    return delta, step


def freelb_case(ctx, name, K, eta, mag, max_norm, norm):
    init = freelb_init(ctx, mag, norm, 51)
    Q = ctx["param_leaves"]()
    acc = {k: torch.zeros_like(Q[k]) for k in ctx["names"]}
    delta, used, grads_k, deltas, ces, eff = init.clone(), [], [], [], [], 0.0
    za = None
    for t in range(K):
        x = delta.detach().clone().requires_grad_(True)
        e = mg.embed(Q, ctx["input_ids"], ctx["token_type_ids"])
        z = mg.f_enc(Q, e + x, ctx["attention_mask"])
        loss = ce(z, ctx["labels"]) / K
        gs = torch.autograd.grad(loss, [Q[k] for k in ctx["names"]] + [x])
        for k, gk in zip(ctx["names"], gs[:-1]):
            acc[k] = acc[k] + gk
        g = gs[-1]
        ces.append(loss.item() * K)
        used.append(delta.detach())
        grads_k.append(g)
        za = z.detach()
        if t == K - 1:
            break
        with torch.no_grad():
            delta, step = freelb_update(delta, g, eta, max_norm, norm)
            delta = delta * ctx["m3"]
            eff = ctx["real_mean"](step)
        deltas.append(delta)
    # Second construction: the gradient of the mean of the K losses at the deltas used, taken at once.
    Q2 = ctx["param_leaves"]()
    e2 = mg.embed(Q2, ctx["input_ids"], ctx["token_type_ids"])
    mean = sum(ce(mg.f_enc(Q2, e2 + d, ctx["attention_mask"]), ctx["labels"]) for d in used) / K
    gs2 = torch.autograd.grad(mean, [Q2[k] for k in ctx["names"]])
    worst = max((acc[k] - g2).abs().max().item() for k, g2 in zip(ctx["names"], gs2))
    assert worst < 1e-12, f"{name}: accumulated gradient vs one-shot {worst}"
    if max_norm > 0 and K > 1:
        assert example_norm(used[-1], norm).max().item() <= max_norm * (1 + 1e-12)
    with torch.no_grad():
        zc = mg.f_enc(ctx["P"], ctx["e0"], ctx["attention_mask"])
        l_task = ce(zc, ctx["labels"]).item()
    total = sum(ces) / K
    assert abs(total - mean.item()) < 1e-14
    res = dict(delta_grad=[mg.tl(g) for g in grads_k], delta=[mg.tl(d) for d in deltas],
               delta_final=mg.tl(used[-1]), logits_adv=mg.tl(za), pass_ce=ces, loss_task=l_task, loss_adv=total,
               loss_total=total, kl_init=ces[0], kl_adv=ces[-1], eff_perturb=eff,
               inner_grad_norm=grads_k[-1].norm().item(), **metrics(ctx, used[-1]),
               grads={k: mg.tl(v) for k, v in acc.items()})  # fmt: skip
    print(f"  {name:18s} CE per pass {', '.join(f'{c:.6f}' for c in ces)}; accumulation check {worst:.1e}")
    cfg = base_config(k=K, eta=eta, epsilon=max_norm, sigma=mag, norm=norm, alpha=0.0)
    return record(name, "freelb", cfg, init, res)


def smart_case(ctx, name, K, eta, epsilon, mu):
    case = dict(variant="paper", K=K, eta=eta, epsilon=epsilon, alpha=ALPHA, inner_loss="kl",
                inner_reduction="sum", detach_embedding=False, norm="inf")  # fmt: skip
    r = mg.alum_step_reference(ctx, case)
    P_ema = {k: EMA_SCALE * v + EMA_SHIFT for k, v in ctx["P"].items()}
    with torch.no_grad():
        z_ema = mg.f_enc(P_ema, mg.embed(P_ema, ctx["input_ids"], ctx["token_type_ids"]), ctx["attention_mask"])
    Q = ctx["param_leaves"]()
    zc = mg.f_enc(Q, mg.embed(Q, ctx["input_ids"], ctx["token_type_ids"]), ctx["attention_mask"])
    prox = sym_kl_both(zc, z_ema)
    gp = torch.autograd.grad(mu * prox, [Q[k] for k in ctx["names"]])
    grads = {k: r["grads"][k] + g for k, g in zip(ctx["names"], gp)}
    # Second construction: the whole SMART loss differentiated at once.
    Q2 = ctx["param_leaves"]()
    e2 = mg.embed(Q2, ctx["input_ids"], ctx["token_type_ids"])
    zc2 = mg.f_enc(Q2, e2, ctx["attention_mask"])
    za2 = mg.f_enc(Q2, e2 + r["delta_final"], ctx["attention_mask"])
    whole = ce(zc2, ctx["labels"]) + ALPHA * mg.sym_kl_batchmean(zc2, za2) + mu * sym_kl_both(zc2, z_ema)
    gs2 = torch.autograd.grad(whole, [Q2[k] for k in ctx["names"]])
    worst = max((grads[k] - g2).abs().max().item() for k, g2 in zip(ctx["names"], gs2))
    assert worst < 1e-12, f"{name}: SMART gradient, summed vs whole {worst}"
    assert prox.item() > 1e-3, f"{name}: the EMA copy is too close to show"
    rec = mg.case_record(name, case, r)
    rec.update(loss_total=r["loss_total"] + mu * prox.item(), prox=prox.item(), logits_ema=mg.tl(z_ema),
               grads={k: mg.tl(v) for k, v in grads.items()})  # fmt: skip
    rec.pop("name")
    rec.pop("config")
    print(f"  {name:18s} alum total {r['loss_total']:.6f} + mu * prox {prox.item():.6e}")
    cfg = base_config(k=K, eta=eta, epsilon=epsilon, smartMu=mu)
    return record(name, "smart", cfg, ctx["delta_init"], rec)


def ema_update_case(ctx):
    """theta_ema <- beta theta_ema + (1 - beta) theta on classifier.weight, from the EMA copy above."""
    beta = 0.9
    w = ctx["P"]["classifier.weight"]
    ema = EMA_SCALE * w + EMA_SHIFT
    return {"beta": beta, "param": "classifier.weight", "after": mg.tl(beta * ema + (1 - beta) * w)}


def regression_cases(P32):
    """make_golden.py's regression head (the classifier's first row, its targets): MSE everywhere CE/KL was."""
    R32 = dict(P32)
    R32["classifier.weight"] = P32["classifier.weight"][:1].clone()
    R32["classifier.bias"] = P32["classifier.bias"][:1].clone()
    ctx = mg.make_context(R32, torch.tensor(mg.REGRESSION_TARGETS, dtype=F64))
    return [
        r3f_regression_case(ctx, "r3f-regression", 0.05),
        fgm_case(ctx, "fgm-regression", 0.5, False),
        pgd_case(ctx, "pgd-regression-k2", 2, 0.02, 0.03, "inf", False),
        freelb_case(ctx, "freelb-regression-k2", 2, 0.1, 0.5, 0.0, "l2"),
    ]


def main():
    torch.use_deterministic_algorithms(True)
    P32 = load_fixture()
    ctx = mg.make_context(P32)
    print("methods golden")
    cases = [
        r3f_case(ctx, "r3f-uniform", "uniform", 0.05, False),
        r3f_case(ctx, "r3f-normal-detach", "normal", 0.03, True),
        fgm_case(ctx, "fgm", 0.5, False),
        fgm_case(ctx, "fgm-detach", 0.2, True),
        pgd_case(ctx, "pgd-k2-inf", 2, 0.02, 0.03, "inf", False),
        pgd_case(ctx, "pgd-k3-l2", 3, 0.05, 0.08, "l2", True),
        freelb_case(ctx, "freelb-k1-l2", 1, 0.1, 0.5, 0.0, "l2"),
        freelb_case(ctx, "freelb-k3-l2", 3, 0.3, 0.5, 0.4, "l2"),
        freelb_case(ctx, "freelb-k2-inf", 2, 0.02, 0.01, 0.015, "inf"),
        smart_case(ctx, "smart-k1", 1, 0.05, 0.02, 0.7),
    ]
    assert len({c["name"] for c in cases}) == len(cases)
    print("regression (one output, MSE)")
    regression = regression_cases(P32)
    mg.dump(OUT, mg.round_sig({
        "meta": {
            "generator": "scripts/golden/make_methods_golden.py",
            "torch_version": torch.__version__,
            "spec": "docs/alum-step.md, section Relatives",
            "fixture": "test/fixtures/nano-bert",
            "batch": "same as test/golden/nano-bert.json",
            "init": "each case's initial perturbation (noise, zeros, or the random init), zero on padding",
            "ema": f"smart: theta_ema = {EMA_SCALE} * theta + {EMA_SHIFT} elementwise, from the fixture's weights",
            "compute_dtype": "float64 from the fixture's float32 weights",
            "dropout": "off everywhere",
            "rounding": "every float rounded to 10 significant digits",
        },
        "cases": cases,
        "regression": {"targets": mg.REGRESSION_TARGETS, "cases": regression},
        "ema_update": ema_update_case(ctx),
    }))  # fmt: skip
    print("done")


if __name__ == "__main__":
    main()
