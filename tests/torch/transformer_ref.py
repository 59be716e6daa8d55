"""Reference values from PyTorch for tests/lua/transformer_spec.lua.

Reads a file written by the spec: lines "case NAME HEADS NORM_FIRST LR" and tensors
"NAME.T d1,d2,...: v v v": the input x (B, T, d), an optional padding mask
(B, T) (1 = a real step), gy (the loss is sum(y * gy)), and the block's
weights in dnnlua's (KerasNLP's) layouts: wq, bq, wk, bk, wv, bv (kernels
(d, H, d/H), biases (H, d/H)), wo (H, d/H, d), bo, the two LayerNorms' g1, b1
(self-attention) and g2, b2 (feed-forward), then w1 (d, ff), c1, w2 (ff, d),
c2 (the feed-forward Denses).

Runs torch.nn.TransformerEncoderLayer(d, H, ff, dropout=0, relu,
layer_norm_eps=1e-5, batch_first=True, norm_first=NORM_FIRST) in float64 with
the weights copied (its in_proj_weight is the transposed (d, d) views of the
three kernels stacked, out_proj and the Linears are the transposed kernels,
norm1 and norm2 the self-attention's and the feed-forward's LayerNorms) and
the padding mask as src_key_padding_mask (True = padded). Prints "NAME.y",
"NAME.dx" and the gradient of every weight in dnnlua's layouts ("NAME.dwq",
...); then takes one Adam step (lr LR, betas 0.9, 0.999, Keras's epsilon
1e-7 added to sqrt(v) before the bias correction, so PyTorch's epsilon is
1e-7 / sqrt(1 - 0.999)) and prints the updated weights ("NAME.new_wq", ...)."""
import math
import sys

import torch

from tensor_text import emit, read_cases

WEIGHTS = ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "g1", "b1", "g2", "b2", "w1", "c1", "w2", "c2"]


def read(path):
    lines, tensors = read_cases(path)
    return [(name, int(heads), norm_first == "1", float(lr)) for _, name, heads, norm_first, lr in lines], tensors


def flat(kernel):
    """A (d, H, k) kernel as the (d, H * k) matrix of its projection."""
    return kernel.reshape(kernel.shape[0], -1)


def load_block(block, w):
    """Copies the weights (dnnlua's layouts) into the PyTorch block."""
    d = w["wq"].shape[0]
    with torch.no_grad():
        block.self_attn.in_proj_weight.copy_(torch.cat([flat(w[k]).t() for k in ["wq", "wk", "wv"]]))
        block.self_attn.in_proj_bias.copy_(torch.cat([w[k].reshape(-1) for k in ["bq", "bk", "bv"]]))
        block.self_attn.out_proj.weight.copy_(w["wo"].reshape(-1, d).t())
        block.self_attn.out_proj.bias.copy_(w["bo"])
        block.norm1.weight.copy_(w["g1"])
        block.norm1.bias.copy_(w["b1"])
        block.norm2.weight.copy_(w["g2"])
        block.norm2.bias.copy_(w["b2"])
        block.linear1.weight.copy_(w["w1"].t())
        block.linear1.bias.copy_(w["c1"])
        block.linear2.weight.copy_(w["w2"].t())
        block.linear2.bias.copy_(w["c2"])


def in_dnnlua_layouts(block, w, values):
    """The block's tensors (its weights, or their gradients: values(p)) in dnnlua's layouts."""
    d = w["wq"].shape[0]
    q, k, v = values(block.self_attn.in_proj_weight).split(d)
    bq, bk, bv = values(block.self_attn.in_proj_bias).split(d)
    return {
        "wq": q.t().reshape(w["wq"].shape), "bq": bq.reshape(w["bq"].shape),
        "wk": k.t().reshape(w["wk"].shape), "bk": bk.reshape(w["bk"].shape),
        "wv": v.t().reshape(w["wv"].shape), "bv": bv.reshape(w["bv"].shape),
        "wo": values(block.self_attn.out_proj.weight).t().reshape(w["wo"].shape),
        "bo": values(block.self_attn.out_proj.bias),
        "g1": values(block.norm1.weight), "b1": values(block.norm1.bias),
        "g2": values(block.norm2.weight), "b2": values(block.norm2.bias),
        "w1": values(block.linear1.weight).t(), "c1": values(block.linear1.bias),
        "w2": values(block.linear2.weight).t(), "c2": values(block.linear2.bias),
    }


def run(name, heads, norm_first, lr, t):
    w = {k: t[name + "." + k] for k in WEIGHTS}
    x = t[name + ".x"].clone().requires_grad_(True)
    d, ff = w["wq"].shape[0], w["w1"].shape[1]
    block = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="relu", layer_norm_eps=1e-5,
                                             batch_first=True, norm_first=norm_first).double()
    load_block(block, w)
    block.train()
    mask = t.get(name + ".mask")
    padding = None if mask is None else mask == 0
    y = block(x, src_key_padding_mask=padding)
    (y * t[name + ".gy"]).sum().backward()
    emit(name + ".y", y)
    emit(name + ".dx", x.grad)
    for k, g in in_dnnlua_layouts(block, w, lambda p: p.grad).items():
        emit(name + ".d" + k, g)
    opt = torch.optim.Adam(block.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-7 / math.sqrt(1 - 0.999))
    opt.step()
    for k, v in in_dnnlua_layouts(block, w, lambda p: p.detach()).items():
        emit(name + ".new_" + k, v)


def main():
    cases, tensors = read(sys.argv[1])
    for name, heads, norm_first, lr in cases:
        run(name, heads, norm_first, lr, tensors)


if __name__ == "__main__":
    main()
