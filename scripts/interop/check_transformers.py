#!/usr/bin/env python3
"""The transformers side of the interop check (scripts/interop/ours.ts writes our side).

For each folder in OURS.json: load it with transformers' `from_pretrained` (BertForSequenceClassification or
BertForMaskedLM, float32, eval mode), report the loading info (missing / unexpected / mismatched keys), check that
`BertTokenizer` on the folder's vocabulary gives our token ids, and compare the logits with ours. Prints one JSON
line per folder and exits 1 if any logit differs by more than 1e-4 or any id differs.
Needs torch and transformers:  python3 scripts/interop/check_transformers.py OURS.json
"""

import json
import sys

import torch
import transformers
from transformers import BertForMaskedLM, BertForSequenceClassification, BertTokenizer

TOL = 1e-4


def listed(keys):
    """Loading-info keys as a sorted list (transformers 5 gives sets, of names or of (name, shapes) tuples)."""
    return sorted(str(k) for k in keys) if keys is not None else None


def check(entry, texts, max_length):
    cls = BertForMaskedLM if entry["kind"] == "mlm" else BertForSequenceClassification
    model, info = cls.from_pretrained(entry["dir"], output_loading_info=True, torch_dtype=torch.float32)
    model.eval()
    tok = BertTokenizer.from_pretrained(entry["dir"])
    ids_ok = True
    for i, (a, b) in enumerate(texts):
        enc = tok(a, b, truncation="longest_first", max_length=max_length)
        n = sum(entry["attentionMask"][i])
        ids_ok &= enc["input_ids"] == entry["inputIds"][i][:n]
        ids_ok &= enc["token_type_ids"] == entry["tokenTypeIds"][i][:n]
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(entry["inputIds"]),
            token_type_ids=torch.tensor(entry["tokenTypeIds"]),
            attention_mask=torch.tensor(entry["attentionMask"]),
        ).logits
    if entry["kind"] == "mlm":
        mask = torch.tensor(entry["attentionMask"]).bool()
        out = out[mask]  # [N, V]: every real token, in row-major order, as ours.ts
    diff = (out - torch.tensor(entry["logits"])).abs().max().item()
    tied = None
    if entry["kind"] == "mlm":
        tied = model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    return {
        "dir": entry["dir"],
        "kind": entry["kind"],
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "missing_keys": listed(info.get("missing_keys")),
        "unexpected_keys": listed(info.get("unexpected_keys")),
        "mismatched_keys": listed(info.get("mismatched_keys")),
        "decoder_tied_to_embeddings": tied,
        "ids_equal": bool(ids_ok),
        "max_abs_logit_diff": diff,
        "ok": bool(ids_ok) and diff <= TOL,
    }


def main():
    ours = json.load(open(sys.argv[1]))
    results = [check(e, ours["texts"], ours["maxLength"]) for e in ours["results"]]
    for r in results:
        print(json.dumps(r))
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
