"""PyTorch eager fp32 baseline for `npm run bench`: ms per optimizer step of the same BERT shapes.

Issue 9's goal compares tfjs (webgpu, wasm) with PyTorch eager on the same machine. This script times that
baseline: a plain post-LayerNorm BERT classifier of each model preset (src/core/config.ts MODEL_PRESETS), random
token ids as src/core/bench/run.ts draws them (vocab 8,000, 2 labels), AdamW, and per method:
  standard: one forward, cross-entropy, backward, AdamW step;
  alum (K=1): the ALUM step as mt-dnn computes it (SmartPerturbation.forward,
    https://github.com/namisan/mt-dnn/blob/676b48b120e04c25ad138f5affb0d6842ba366af/mt_dnn/perturbation.py#L104-L152):
    clean forward, noise 1e-5 N(0, 1) on the embedding output, a forward at embed + noise, the gradient of
    KL(adv || clean.detach()) with respect to the noise, delta = noise + eta g scaled to unit L-inf norm per
    token (its _norm_grad, lines 64-73), a forward at embed + delta, symmetric KL weighted by alpha added to the
    task loss, one backward, AdamW.
Dropout 0.1 everywhere, as the tfjs bench run. Timing: 3 warm-up steps, then --steps steps between two
device synchronisations; the mean is reported.

  python3 scripts/bench_torch.py [--models nano,tiny,mini,small] [--batch-size 32] [--max-length 64]
                                 [--steps 20] [--device cuda|cpu] [--json FILE]
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

PRESETS = {  # src/core/config.ts MODEL_PRESETS
    'nano': dict(hidden=32, layers=1, heads=2, inter=64),
    'tiny': dict(hidden=128, layers=2, heads=2, inter=512),
    'mini': dict(hidden=256, layers=4, heads=4, inter=1024),
    'small': dict(hidden=512, layers=4, heads=8, inter=2048),
}
VOCAB = 8000  # src/core/bench/run.ts BENCH_VOCAB
MAX_POS = 512
DROPOUT = 0.1


class Layer(nn.Module):
    """One post-LayerNorm BERT encoder layer (x: [B, T, H], mask: [B, 1, 1, T] additive)."""

    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(h, 3 * h)
        self.out = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h, eps=1e-12)
        self.up = nn.Linear(h, inter)
        self.down = nn.Linear(inter, h)
        self.ln2 = nn.LayerNorm(h, eps=1e-12)

    def forward(self, x, mask):
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + mask  # [B, heads, T, T]
        att = F.dropout(scores.softmax(-1), DROPOUT, self.training) @ v  # [B, heads, T, H/heads]
        att = att.transpose(1, 2).reshape(b, t, h)
        x = self.ln1(x + F.dropout(self.out(att), DROPOUT, self.training))
        y = self.down(F.gelu(self.up(x)))
        return self.ln2(x + F.dropout(y, DROPOUT, self.training))


class Bert(nn.Module):
    def __init__(self, p, labels=2):
        super().__init__()
        h = p['hidden']
        self.word = nn.Embedding(VOCAB, h)
        self.pos = nn.Embedding(MAX_POS, h)
        self.seg = nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(Layer(h, p['heads'], p['inter']) for _ in range(p['layers']))
        self.pool = nn.Linear(h, h)
        self.cls = nn.Linear(h, labels)

    def embed(self, ids):  # ids: [B, T] -> [B, T, H]
        pos = torch.arange(ids.shape[1], device=ids.device)
        e = self.word(ids) + self.pos(pos)[None] + self.seg(torch.zeros_like(ids))
        return F.dropout(self.ln(e), DROPOUT, self.training)

    def encode(self, e, mask):  # e: [B, T, H] -> logits [B, labels]
        for layer in self.layers:
            e = layer(e, mask)
        pooled = torch.tanh(self.pool(e[:, 0]))
        return self.cls(F.dropout(pooled, DROPOUT, self.training))


def kl(p_logits, q_logits):
    """KL(softmax p || softmax q), batch mean (mt-dnn's KL with reduction batchmean)."""
    return F.kl_div(q_logits.log_softmax(-1), p_logits.log_softmax(-1), reduction='batchmean', log_target=True)


def alum_loss(model, e, mask, labels, alpha=1.0, eta=1e-3):
    logits = model.encode(e, mask)
    loss = F.cross_entropy(logits, labels)
    noise = (torch.randn_like(e) * 1e-5).requires_grad_()
    adv = model.encode(e + noise, mask)
    (g,) = torch.autograd.grad(kl(adv, logits.detach()), noise, retain_graph=False)
    step = noise + eta * g  # [B, T, H]
    delta = (step / (step.abs().amax(-1, keepdim=True) + 1e-6)).detach()  # per-token L-inf norm
    adv = model.encode(e + delta, mask)
    return loss + alpha * (kl(adv, logits.detach()) + kl(logits.detach(), adv))


def step_fn(model, opt, method, ids, mask, labels):
    def step():
        opt.zero_grad(set_to_none=True)
        e = model.embed(ids)
        if method == 'standard':
            loss = F.cross_entropy(model.encode(e, mask), labels)
        else:
            loss = alum_loss(model, e, mask, labels)
        loss.backward()
        opt.step()

    return step


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def measure(name, method, args, device):
    torch.manual_seed(1)
    model = Bert(PRESETS[name]).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    ids = torch.randint(5, VOCAB, (args.batch_size, args.max_length), device=device)
    mask = torch.zeros(args.batch_size, 1, 1, args.max_length, device=device)
    labels = torch.randint(0, 2, (args.batch_size,), device=device)
    step = step_fn(model, opt, method, ids, mask, labels)
    for _ in range(3):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    ms = (time.perf_counter() - t0) * 1000 / args.steps
    return {
        'backend': f'torch-{device.type}',
        'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'model': name,
        'method': method,
        'k': 0 if method == 'standard' else 1,
        'batchSize': args.batch_size,
        'maxLength': args.max_length,
        'steps': args.steps,
        'msPerStep': round(ms, 2),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='nano,tiny,mini,small')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--max-length', type=int, default=64)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--json', default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    rows = []
    for name in args.models.split(','):
        for method in ('standard', 'alum'):
            row = measure(name, method, args, device)
            rows.append(row)
            print(f"{row['backend']} {name} {method} B={args.batch_size} T={args.max_length}: {row['msPerStep']} ms/step",
                  flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': rows}, f, indent=1)


if __name__ == '__main__':
    main()
