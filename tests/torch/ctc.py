# The CTC reference for tests/lua/ctc_spec.lua: PyTorch's ctc_loss of
# log_softmax(logits) in float64, its reductions, and the gradients of the
# "mean" and "sum" losses with respect to the logits (batch-first, as
# dnnlua's). Arguments: files (one per case, their results prefixed with
# "<k>_", k from 1) of lines "name values..." (dims: N T C S blank
# zero_infinity; logits, labels, label_lengths, logit_lengths). NaN is
# written as -9e300 (Lua reads no "nan") and +inf as "1e999" (Lua: inf).
import sys

import torch


def show(name, x):
    out = []
    for v in x.reshape(-1).tolist():
        out.append("-9e300" if v != v else "1e999" if v == float("inf") else "-1e999" if v == -float("inf") else "%.17g" % v)
    print(name, " ".join(out))


def run(k, path):
    values = {}
    with open(path) as f:
        for line in f:
            name, *rest = line.split()
            values[name] = [float(v) for v in rest]
    n, t, c, s, blank, zero_inf = (int(v) for v in values["dims"])
    logits = torch.tensor(values["logits"], dtype=torch.float64).reshape(n, t, c)
    labels = (torch.tensor(values["labels"], dtype=torch.float64).reshape(n, s) - 1).clamp(min=0).long()
    label_lengths = torch.tensor(values["label_lengths"]).long()
    logit_lengths = torch.tensor(values["logit_lengths"]).long()

    def loss(reduction, z):
        lp = torch.log_softmax(z, dim=2).transpose(0, 1)
        return torch.nn.functional.ctc_loss(lp, labels, logit_lengths, label_lengths, blank=blank - 1,
                                            reduction=reduction, zero_infinity=bool(zero_inf))

    show("%d_none" % k, loss("none", logits))
    for reduction in ("mean", "sum"):
        z = logits.clone().requires_grad_(True)
        value = loss(reduction, z)
        value.backward()
        show("%d_%s" % (k, reduction), value)
        show("%d_grad_%s" % (k, reduction), z.grad)


for k, path in enumerate(sys.argv[1:], 1):
    run(k, path)
