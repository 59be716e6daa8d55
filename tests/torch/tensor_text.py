"""The text format the PyTorch reference scripts share with the Lua specs:
input lines "name d1,d2,...: v v v", output lines "name v v v"."""
import torch


def parse_tensor(line):
    """One input line "name d1,d2,...: v v v" as (name, a float64 tensor)."""
    head, values = line.split(":")
    name, shape = head.split()
    dims = [int(d) for d in shape.split(",")]
    return name, torch.tensor([float(v) for v in values.split()], dtype=torch.float64).reshape(dims)


def read_tensors(path):
    return read_cases(path)[1]


def read_cases(path, keywords=("case",)):
    """A file of tensor lines and of lines that start with one of keywords ("case name ..."): the latter split into
    words, in order, and the tensors by name."""
    cases, tensors = [], {}
    with open(path) as f:
        for line in f:
            if line.split(" ", 1)[0] in keywords:
                cases.append(line.split())
                continue
            name, t = parse_tensor(line)
            tensors[name] = t
    return cases, tensors


def emit(name, t):
    print(name, " ".join("%.10g" % v for v in t.detach().reshape(-1).tolist()))
