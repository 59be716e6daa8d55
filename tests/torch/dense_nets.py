"""Reference values from PyTorch for tests/lua/torch_crosscheck_spec.lua.

Reads tensors written by the spec ("name d1,d2,...: v v v" per line), runs the
same small networks in PyTorch (float64, so the reference is exact), and
prints "name v v v" lines: losses, outputs and gradients."""
import sys

import torch

from tensor_text import emit, read_tensors


t = read_tensors(sys.argv[1])
params = {k: t[k].clone().requires_grad_(True) for k in ("w1", "b1", "w2", "b2")}
x = t["x"].clone().requires_grad_(True)

# Dense(relu) -> Dense(softmax) with sparse categorical cross-entropy (labels 1-based in the file)
hidden = torch.relu(x @ params["w1"] + params["b1"])
logits = hidden @ params["w2"] + params["b2"]
probs = torch.softmax(logits, dim=-1)
loss = torch.nn.functional.cross_entropy(logits, t["y"].long() - 1)
loss.backward()
emit("probs", probs)
emit("loss", loss)
for k in ("w1", "b1", "w2", "b2"):
    emit("grad_" + k, params[k].grad)
emit("grad_x", x.grad)

# Dense(tanh) -> Dense(1, sigmoid) with binary cross-entropy
w3 = t["w3"].clone().requires_grad_(True)
hidden = torch.tanh(t["x"] @ params["w1"].detach())
p = torch.sigmoid(hidden @ w3)
bce = torch.nn.functional.binary_cross_entropy(p, t["t"])
bce.backward()
emit("bce", bce)
emit("grad_w3", w3.grad)

# mean squared error of a linear layer
w4 = t["w3"].clone().requires_grad_(True)
mse = torch.mean((t["x"] @ params["w1"].detach() @ w4 - t["t"]) ** 2)
mse.backward()
emit("mse", mse)
emit("grad_w4", w4.grad)
