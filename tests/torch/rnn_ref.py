"""Reference values from PyTorch for tests/lua/recurrent_spec.lua.

Reads a file written by the spec: lines "case NAME CELL RETURN_SEQUENCES
GO_BACKWARDS" (CELL simple, lstm or gru; a gru is reset_after, PyTorch's GRU)
and tensors "NAME.T d1,d2,...: v v v" in Keras's layouts (T one of x, w, u, b,
h0, c0, gy, gh, gc; h0 and c0 may be absent). Runs nn.RNN / nn.LSTM / nn.GRU
(float64) with weights converted from Keras's (kernel (F, kU) -> weight_ih
(kU, F); GRU gates z, r, h -> r, z, n; GRU bias (2, 3U) -> bias_ih, bias_hh),
reading the sequence reversed for go_backwards as Keras does, and prints
"NAME.y", "NAME.h", "NAME.c" and the gradients of sum(y gy) + sum(h gh) +
sum(c gc) with respect to x, w, u, b, h0, c0 ("NAME.dx", ...), in Keras's
layouts."""
import sys

import torch

from tensor_text import emit, read_cases


def read(path):
    lines, tensors = read_cases(path)
    cases = [(name, cell, seq == "true", back == "true") for _, name, cell, seq, back in lines]
    for key, t in tensors.items():
        t.requires_grad_(not key.endswith((".gy", ".gh", ".gc")))
    return cases, tensors


def gru_order(m, units):
    """Keras's z, r, h blocks (along dim 0 of a PyTorch weight) -> PyTorch's r, z, n."""
    z, r, h = m[:units], m[units:2 * units], m[2 * units:]
    return torch.cat([r, z, h])


def keras_order(m, units):
    """PyTorch's r, z, n blocks (dim 0) -> Keras's z, r, h."""
    r, z, n = m[:units], m[units:2 * units], m[2 * units:]
    return torch.cat([z, r, n])


def load(module, cell, w, u, b, units):
    """Copies the Keras weights into the module's parameters."""
    w, u = w.detach().t(), u.detach().t()
    if cell == "gru":
        w, u, b_ih, b_hh = gru_order(w, units), gru_order(u, units), gru_order(b[0], units), gru_order(b[1], units)
    else:
        b_ih, b_hh = b, torch.zeros_like(b)
    with torch.no_grad():
        module.weight_ih_l0.copy_(w)
        module.weight_hh_l0.copy_(u)
        module.bias_ih_l0.copy_(b_ih)
        module.bias_hh_l0.copy_(b_hh)


def keras_grads(module, cell, units):
    """The parameters' gradients in Keras's layouts: kernel, recurrent kernel, bias."""
    dw, du = module.weight_ih_l0.grad, module.weight_hh_l0.grad
    db_ih, db_hh = module.bias_ih_l0.grad, module.bias_hh_l0.grad
    if cell == "gru":
        return (keras_order(dw, units).t(), keras_order(du, units).t(),
                torch.stack([keras_order(db_ih, units), keras_order(db_hh, units)]))
    return dw.t(), du.t(), db_ih  # both biases add to the same pre-activations


def run_case(name, cell, return_sequences, go_backwards, t):
    x, w, u, b = t[name + ".x"], t[name + ".w"], t[name + ".u"], t[name + ".b"]
    features, units = x.shape[2], u.shape[0]
    module = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True).double()
    load(module, cell, w, u, b.detach(), units)
    h0, c0 = t.get(name + ".h0"), t.get(name + ".c0")
    state = None
    if h0 is not None:
        hs = h0.unsqueeze(0)
        state = (hs, (c0 if c0 is not None else torch.zeros_like(h0)).unsqueeze(0)) if cell == "lstm" else hs
    xin = x.flip(1) if go_backwards else x
    out, final = module(xin, state)
    h, c = (final[0][0], final[1][0]) if cell == "lstm" else (final[0], None)
    y = out if return_sequences else out[:, -1]
    loss = (y * t[name + ".gy"]).sum() + (h * t[name + ".gh"]).sum()
    if c is not None:
        loss = loss + (c * t[name + ".gc"]).sum()
    loss.backward()
    emit(name + ".y", y)
    emit(name + ".h", h)
    if c is not None:
        emit(name + ".c", c)
    dw, du, db = keras_grads(module, cell, units)
    for key, g in [("x", x.grad), ("w", dw), ("u", du), ("b", db)]:
        emit(name + ".d" + key, g)
    for key in ["h0", "c0"]:
        v = t.get(name + "." + key)
        if v is not None:
            emit(name + ".d" + key, v.grad)


def main():
    cases, tensors = read(sys.argv[1])
    for name, cell, seq, back in cases:
        run_case(name, cell, seq, back, tensors)


if __name__ == "__main__":
    main()
