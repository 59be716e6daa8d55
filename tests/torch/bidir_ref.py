"""Reference values from PyTorch for tests/lua/bidirectional_spec.lua.

Reads a file written by the spec: lines "case NAME CELL RETURN_SEQUENCES"
(CELL lstm or gru; a gru is reset_after, PyTorch's GRU) and tensors
"NAME.T d1,d2,...: v v v" in Keras's layouts: x; the forward layer's wf, uf,
bf and the backward layer's wb, ub, bb; initial states h0f, c0f, h0b, c0b
(may be absent); the output gradients gy, ghf, gcf, ghb, gcb. Runs
nn.LSTM / nn.GRU with bidirectional=True (float64; the backward direction's
weights are its *_reverse parameters) and prints Keras's results of
Bidirectional(layer, merge_mode="concat", return_state=True): "NAME.y" (every
step's [forward, backward] features with return_sequences, else the forward
direction's last step beside the backward direction's, which PyTorch puts at
step 0), the final states "NAME.hf", "NAME.cf", "NAME.hb", "NAME.cb", and the
gradients of sum(y gy) + sum(hf ghf) + ... with respect to x, the weights
and the initial states ("NAME.dx", "NAME.dwf", ...), in Keras's layouts."""
import sys

import torch

from rnn_ref import gru_order, keras_order
from tensor_text import emit, read_cases

DIRECTIONS = (("f", ""), ("b", "_reverse"))


def read(path):
    lines, tensors = read_cases(path)
    cases = [(name, cell, seq == "true") for _, name, cell, seq in lines]
    for key, t in tensors.items():
        t.requires_grad_(not key.split(".")[1].startswith("g"))
    return cases, tensors


def load(module, cell, suffix, w, u, b, units):
    """Copies one direction's Keras weights into the module's parameters of that direction."""
    w, u, b = w.detach().t(), u.detach().t(), b.detach()
    if cell == "gru":
        w, u, b_ih, b_hh = gru_order(w, units), gru_order(u, units), gru_order(b[0], units), gru_order(b[1], units)
    else:
        b_ih, b_hh = b, torch.zeros_like(b)
    with torch.no_grad():
        getattr(module, "weight_ih_l0" + suffix).copy_(w)
        getattr(module, "weight_hh_l0" + suffix).copy_(u)
        getattr(module, "bias_ih_l0" + suffix).copy_(b_ih)
        getattr(module, "bias_hh_l0" + suffix).copy_(b_hh)


def keras_grads(module, cell, suffix, units):
    """One direction's parameter gradients in Keras's layouts: kernel, recurrent kernel, bias."""
    dw, du = getattr(module, "weight_ih_l0" + suffix).grad, getattr(module, "weight_hh_l0" + suffix).grad
    db_ih, db_hh = getattr(module, "bias_ih_l0" + suffix).grad, getattr(module, "bias_hh_l0" + suffix).grad
    if cell == "gru":
        return (keras_order(dw, units).t(), keras_order(du, units).t(),
                torch.stack([keras_order(db_ih, units), keras_order(db_hh, units)]))
    return dw.t(), du.t(), db_ih  # both biases add to the same pre-activations


def run_case(name, cell, return_sequences, t):
    x = t[name + ".x"]
    features, units = x.shape[2], t[name + ".uf"].shape[0]
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        features, units, batch_first=True, bidirectional=True).double()
    for d, suffix in DIRECTIONS:
        load(module, cell, suffix, t[name + ".w" + d], t[name + ".u" + d], t[name + ".b" + d], units)
    state = None
    if name + ".h0f" in t:
        h0 = torch.stack([t[name + ".h0f"], t[name + ".h0b"]])
        state = (h0, torch.stack([t[name + ".c0f"], t[name + ".c0b"]])) if cell == "lstm" else h0
    out, final = module(x, state)
    h, c = (final[0], final[1]) if cell == "lstm" else (final, None)
    y = out if return_sequences else torch.cat([out[:, -1, :units], out[:, 0, units:]], 1)
    loss = (y * t[name + ".gy"]).sum() + (h[0] * t[name + ".ghf"]).sum() + (h[1] * t[name + ".ghb"]).sum()
    if c is not None:
        loss = loss + (c[0] * t[name + ".gcf"]).sum() + (c[1] * t[name + ".gcb"]).sum()
    loss.backward()
    emit(name + ".y", y)
    for i, (d, _) in enumerate(DIRECTIONS):
        emit(name + ".h" + d, h[i])
        if c is not None:
            emit(name + ".c" + d, c[i])
    emit(name + ".dx", x.grad)
    for d, suffix in DIRECTIONS:
        for key, g in zip(("w", "u", "b"), keras_grads(module, cell, suffix, units)):
            emit(name + ".d" + key + d, g)
    for key in ["h0f", "c0f", "h0b", "c0b"]:
        v = t.get(name + "." + key)
        if v is not None:
            emit(name + ".d" + key, v.grad)


def main():
    cases, tensors = read(sys.argv[1])
    for name, cell, seq in cases:
        run_case(name, cell, seq, tensors)


if __name__ == "__main__":
    main()
