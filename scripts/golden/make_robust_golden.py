#!/usr/bin/env python3
"""Independent PyTorch float64 reference for the robustness lab's HotFlip scores (src/core/robust/hotflip.ts).

Writes test/golden/robust-hotflip.json from the nano-bert fixture (test/fixtures/nano-bert, written by
make_golden.py, whose hand-written BERT this script reuses). For each input, padded to T = 10:
  loss      CE(f(x), y), dropout off
  probs     softmax(f(x))
  grad      d loss / d E_{x_t}: the gradient w.r.t. the word vectors looked up at each position t  [T, H]
  scores    s[t, w] = (E_w - E_{x_t}) . grad_t  (Ebrahimi et al. 2018, first-order HotFlip score)  [T, V]
The gradient is checked against central finite differences in float64 before it is written.

Run:  /usr/bin/python3 scripts/golden/make_robust_golden.py
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_golden import FIX_DIR, GOLD_DIR, TOK, dump, f_enc, layer_norm, read_safetensors, tl  # noqa: E402

T = 10
ROWS = [
    # (words, label): a spam sentence and a ham sentence of the fixture's vocabulary
    (["[CLS]", "win", "free", "money", "now", "[SEP]"], 1),
    (["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"], 0),
]
WORD = "bert.embeddings.word_embeddings.weight"


def loss_from_word_vectors(P, words, ids, mask, label):
    """CE of the classifier on word vectors `words` [1,T,H] (position and type 0 embeddings added, LayerNorm)."""
    x = words + P["bert.embeddings.position_embeddings.weight"][:T][None] + P["bert.embeddings.token_type_embeddings.weight"][0]
    e = layer_norm(x, P["bert.embeddings.LayerNorm.weight"], P["bert.embeddings.LayerNorm.bias"])
    z = f_enc(P, e, mask)
    return F.cross_entropy(z, torch.tensor([label])), z


def case(P, tokens, label):
    ids = torch.tensor([[TOK[w] for w in tokens] + [TOK["[PAD]"]] * (T - len(tokens))])
    mask = (ids != TOK["[PAD]"]).long()
    E = P[WORD]
    words = E[ids].clone().requires_grad_(True)  # [1,T,H]
    loss, z = loss_from_word_vectors(P, words, ids, mask, label)
    (g,) = torch.autograd.grad(loss, words)
    g = g[0]  # [T,H]
    for t, j in ((1, 0), (2, 5), (3, 17)):  # finite-difference check of a few coordinates
        h = 1e-6
        up, down = words.detach().clone(), words.detach().clone()
        up[0, t, j] += h
        down[0, t, j] -= h
        fd = (loss_from_word_vectors(P, up, ids, mask, label)[0] - loss_from_word_vectors(P, down, ids, mask, label)[0]) / (2 * h)
        assert abs(fd.item() - g[t, j].item()) < 1e-7 * max(1.0, abs(fd.item())), (t, j, fd.item(), g[t, j].item())
    scores = g @ E.t() - (E[ids[0]] * g).sum(-1, keepdim=True)  # [T,V]
    return {
        "input_ids": tl(ids[0]),
        "label": label,
        "loss": loss.item(),
        "probs": tl(torch.softmax(z, -1)[0]),
        "grad": tl(g),
        "scores": tl(scores),
    }


def main():
    torch.set_default_dtype(torch.float64)
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in read_safetensors(FIX_DIR / "model.safetensors").items()}
    dump(GOLD_DIR / "robust-hotflip.json", {"max_length": T, "cases": [case(P, w, y) for w, y in ROWS]})


if __name__ == "__main__":
    main()
