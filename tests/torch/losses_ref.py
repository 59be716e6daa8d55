"""Reference values from PyTorch for the losses part of
tests/lua/torch_crosscheck_spec.lua.

Reads tensors written by the spec ("name d1,d2,...: v v v" per line): targets
t, logits or regression predictions z, probabilities p, 1-based labels ids,
sample weights w, a 0/1 mask m and a projection v, all for predictions of
shape (3, 2, 4), so per-example losses of shape (3, 2). Computes every loss
in float64 as Keras defines it (the per-example loss from PyTorch's
functional losses where one matches, torch.clamp for Keras's clipping), then
Keras 3's reductions with weights and mask, and prints "name v v v" lines:
the value and the gradients with respect to y_true (_gt) and y_pred (_gp).
A "none" result is reduced to sum(out * v) before backward."""
import sys

import torch
import torch.nn.functional as F

from tensor_text import emit, read_tensors

EPS = 1e-7


t = read_tensors(sys.argv[1])
labels = t["ids"].long() - 1


def bce_probs(y, p):
    y = y * 0.9 + 0.05  # label smoothing 0.1
    p = torch.clamp(p, EPS, 1 - EPS)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean(-1)


def cce_probs(y, p):
    q = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1 - EPS)
    return -(y * torch.log(q)).sum(-1)


def kld(y, p):
    y, p = torch.clamp(y, EPS, 1), torch.clamp(p, EPS, 1)
    return (y * torch.log(y / p)).sum(-1)


# name -> (per-example loss of (y_true, y_pred), which prediction it takes, whether y_true is differentiable)
losses = {
    "mse": (lambda y, x: F.mse_loss(x, y, reduction="none").mean(-1), "z", True),
    "mae": (lambda y, x: F.l1_loss(x, y, reduction="none").mean(-1), "z", True),
    "huber": (lambda y, x: F.huber_loss(x, y, reduction="none", delta=0.7).mean(-1), "z", True),
    "bce": (bce_probs, "p", True),
    "bce_logits": (lambda y, x: F.binary_cross_entropy_with_logits(x, y * 0.9 + 0.05, reduction="none").mean(-1),
                   "z", True),
    "cce": (cce_probs, "p", True),
    "cce_logits": (lambda y, x: F.cross_entropy(x.permute(0, 2, 1), y.permute(0, 2, 1), reduction="none",
                                                label_smoothing=0.2), "z", True),
    "scce_logits": (lambda y, x: F.cross_entropy(x.permute(0, 2, 1), labels, reduction="none"), "z", False),
    "kld": (kld, "p", True),
}


def reduce(per, reduction, weighted):
    if not weighted:
        return per.mean()
    weighted_values = per * t["w"] * t["m"]
    if reduction == "sum_over_batch_size":
        return weighted_values.sum() / t["m"].sum()
    if reduction == "sum":
        return weighted_values.sum()
    return (weighted_values * t["v"]).sum()


cases = [("plain", "sum_over_batch_size", False), ("sobs", "sum_over_batch_size", True), ("sum", "sum", True),
         ("none", "none", True)]
for name, (fn, pred, target_grad) in losses.items():
    for case, reduction, weighted in cases:
        y = t["t"].clone().requires_grad_(target_grad)
        x = t[pred].clone().requires_grad_(True)
        value = reduce(fn(y, x), reduction, weighted)
        value.backward()
        prefix = "%s_%s" % (name, case)
        emit(prefix, value)
        emit(prefix + "_gp", x.grad)
        if target_grad:
            emit(prefix + "_gt", y.grad)
