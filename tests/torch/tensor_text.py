"""The text format the PyTorch reference scripts share with the Lua specs:
input lines "name d1,d2,...: v v v", output lines "name v v v"."""
import torch


def read_tensors(path):
    tensors = {}
    with open(path) as f:
        for line in f:
            head, values = line.split(":")
            name, shape = head.split()
            dims = [int(d) for d in shape.split(",")]
            tensors[name] = torch.tensor([float(v) for v in values.split()], dtype=torch.float64).reshape(dims)
    return tensors


def emit(name, t):
    print(name, " ".join("%.10g" % v for v in t.detach().reshape(-1).tolist()))
