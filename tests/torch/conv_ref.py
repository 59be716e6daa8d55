"""Reference values from PyTorch for tests/lua/conv_spec.lua.

Reads a file written by the spec: lines "case NAME KIND SH SW DH DW PADDING ACT"
(KIND conv2d, conv2d_transpose or depthwise_conv2d) and tensors
"NAME.T d1,d2,...: v v v" (T one of x, w, b, g; b may be absent). For each case
it runs the op in PyTorch (float64) with Keras's layouts and TensorFlow's
"same" padding, and prints "NAME.y ...", "NAME.dx ...", "NAME.dw ...",
"NAME.db ..." for the loss sum(y * g)."""
import sys

import torch
import torch.nn.functional as F

from tensor_text import emit, read_cases


def read(path):
    lines, tensors = read_cases(path)
    cases = [(name, kind, (int(sh), int(sw)), (int(dh), int(dw)), padding, act)
             for _, name, kind, sh, sw, dh, dw, padding, act in lines]
    return cases, tensors


def same_pads(n, k, s, d):
    """TensorFlow's "same": (before, after), the extra pixel after."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def transpose_length(n, k, s, d, padding):
    dk = (k - 1) * d + 1
    return n * s if padding == "same" else n * s + max(dk - s, 0)


def activation(z, act):
    return {"linear": lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "softmax": lambda t: torch.softmax(t, dim=1)}[act](z)


def run(kind, x, w, b, strides, dilation, padding, act):
    """x NCHW; returns y NCHW."""
    kh, kw = w.shape[0], w.shape[1]
    if kind == "conv2d_transpose":
        wt = w.permute(3, 2, 0, 1)  # (kh, kw, F, C) -> (C, F, kh, kw)
        full = F.conv_transpose2d(x, wt, stride=strides, dilation=dilation)
        sizes = [transpose_length(x.shape[2 + i], (kh, kw)[i], strides[i], dilation[i], padding) for i in range(2)]
        pads = [same_pads(sizes[i], (kh, kw)[i], strides[i], dilation[i])[0] if padding == "same" else 0
                for i in range(2)]
        # y[p] = full[p + pad], zero past the end of full
        extra = [max(pads[i] + sizes[i] - full.shape[2 + i], 0) for i in range(2)]
        full = F.pad(full, (0, extra[1], 0, extra[0]))
        z = full[:, :, pads[0]:pads[0] + sizes[0], pads[1]:pads[1] + sizes[1]]
    else:
        if padding == "same":
            ph = same_pads(x.shape[2], kh, strides[0], dilation[0])
            pw = same_pads(x.shape[3], kw, strides[1], dilation[1])
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        if kind == "conv2d":
            z = F.conv2d(x, w.permute(3, 2, 0, 1), stride=strides, dilation=dilation)
        else:  # depthwise: (kh, kw, C, M) -> (C*M, 1, kh, kw), output channel c*M + m
            c, m = w.shape[2], w.shape[3]
            z = F.conv2d(x, w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw), stride=strides, dilation=dilation,
                         groups=c)
    if b is not None:
        z = z + b.reshape(1, -1, 1, 1)
    return activation(z, act)


cases, t = read(sys.argv[1])
for name, kind, strides, dilation, padding, act in cases:
    x = t[name + ".x"].clone().requires_grad_(True)
    w = t[name + ".w"].clone().requires_grad_(True)
    b = t[name + ".b"].clone().requires_grad_(True) if name + ".b" in t else None
    y = run(kind, x.permute(0, 3, 1, 2), w, b, strides, dilation, padding, act).permute(0, 2, 3, 1)
    (y * t[name + ".g"]).sum().backward()
    emit(name + ".y", y)
    emit(name + ".dx", x.grad)
    emit(name + ".dw", w.grad)
    if b is not None:
        emit(name + ".db", b.grad)
