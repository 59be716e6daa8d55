"""Reference values from PyTorch for tests/lua/sequence_layers_spec.lua.

Reads a file written by the spec: lines "conv NAME STRIDE DILATION PADDING" and "embedding NAME", and tensors
"NAME.T d1,d2,...: v v v" (T one of x, w, b, g for a conv, b may be absent; ids, w, g for an embedding). Each conv
runs as torch.nn.functional.conv1d (float64) on Keras's layouts: input (N, T, C), kernel (k, C, F); "same" pads as
TensorFlow (the extra step at the end), "causal" pads (k - 1) * dilation zeros at the start. The embedding runs as
torch.nn.functional.embedding with ids counted from 1: id 0 is padding, a zero row with no gradient. Prints
"NAME.y", "NAME.dx", "NAME.dw", "NAME.db" for the loss sum(y * g)."""
import sys

import torch
import torch.nn.functional as F

from tensor_text import emit, read_cases


def read(path):
    lines, tensors = read_cases(path, ("conv", "embedding"))
    runs = [("conv", w[1], int(w[2]), int(w[3]), w[4]) if w[0] == "conv" else ("embedding", w[1]) for w in lines]
    return runs, tensors


def pads(n, k, stride, dilation, padding):
    """(before, after) zeros for Keras's padding of a length-n input."""
    span = (k - 1) * dilation + 1
    if padding == "causal":
        return span - 1, 0
    if padding == "same":
        out = -(-n // stride)
        total = max((out - 1) * stride + span - n, 0)
        return total // 2, total - total // 2
    return 0, 0


def conv(t, name, stride, dilation, padding):
    x = t[name + ".x"].clone().requires_grad_(True)
    w = t[name + ".w"].clone().requires_grad_(True)
    b = t[name + ".b"].clone().requires_grad_(True) if name + ".b" in t else None
    xt = x.permute(0, 2, 1)  # (N, C, T)
    xt = F.pad(xt, pads(x.shape[1], w.shape[0], stride, dilation, padding))
    y = F.conv1d(xt, w.permute(2, 1, 0), b, stride=stride, dilation=dilation).permute(0, 2, 1)
    (y * t[name + ".g"]).sum().backward()
    emit(name + ".y", y)
    emit(name + ".dx", x.grad)
    emit(name + ".dw", w.grad)
    if b is not None:
        emit(name + ".db", b.grad)


def embedding(t, name):
    w = t[name + ".w"].clone().requires_grad_(True)
    ids = t[name + ".ids"].long()
    table = torch.cat([torch.zeros(1, w.shape[1], dtype=w.dtype), w])  # row 0: padding
    y = F.embedding(ids, table, padding_idx=0)
    (y * t[name + ".g"]).sum().backward()
    emit(name + ".y", y)
    emit(name + ".dw", w.grad)


runs, tensors = read(sys.argv[1])
for run in runs:
    if run[0] == "conv":
        conv(tensors, *run[1:])
    else:
        embedding(tensors, run[1])
