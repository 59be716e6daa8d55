"""dnnlua <-> PyTorch weights, both ways (the snippet of docs/pytorch.md).

dnnlua writes safetensors files with Keras's names and layouts
("fc1/kernel" (in, out), "conv/kernel" (kh, kw, in, out)); PyTorch's
state_dict has Linear weights (out, in) and Conv2d weights (out, in, kh, kw).
examples/lib/torch_weights.py reads and writes safetensors by hand (no
package needed beyond torch and the standard library) and maps names and
layouts.

Used by tests/lua/torch_interchange_spec.lua:
    python3 interchange.py <mlp|cnn> <dir>
reads <dir>/dnnlua.safetensors (weights) and <dir>/x.safetensors (inputs),
writes <dir>/torch_pred.safetensors (the equal torch model's predictions with
those weights), <dir>/from_torch.safetensors (a fresh torch model's weights
in dnnlua's names) and <dir>/torch_pred2.safetensors (its predictions).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "lib"))
from torch_weights import dnnlua_to_torch, read_safetensors, torch_to_dnnlua, write_safetensors  # noqa: E402


class NHWC(torch.nn.Module):
    """Runs a channels-first torch stack on dnnlua's (N, H, W, C) images and returns NHWC, so that
    a Flatten after it orders features as dnnlua's Flatten does."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def build(kind):
    """The torch model equal to the spec's dnnlua model, and the name map."""
    if kind == "mlp":  # Dense(8, relu) -> Dense(3, softmax)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                                    torch.nn.Softmax(dim=-1))
        return model, {"fc1": "0", "fc2": "2"}
    # Conv2D(4, 3, relu) on (6, 6, 2) -> Flatten -> Dense(3)
    model = torch.nn.Sequential(NHWC(torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU())),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 3))
    return model, {"conv": "0.body.0", "fc": "2"}


def main():
    kind, folder = sys.argv[1], sys.argv[2]
    tensors, _ = read_safetensors(folder + "/dnnlua.safetensors")
    x = read_safetensors(folder + "/x.safetensors")[0]["x"]
    model, names = build(kind)
    model.load_state_dict(dnnlua_to_torch(tensors, names))
    with torch.no_grad():
        write_safetensors(folder + "/torch_pred.safetensors", {"y": model(x)})
    torch.manual_seed(0)
    fresh, _ = build(kind)
    write_safetensors(folder + "/from_torch.safetensors", torch_to_dnnlua(fresh.state_dict(), names))
    with torch.no_grad():
        write_safetensors(folder + "/torch_pred2.safetensors", {"y": fresh(x)})


if __name__ == "__main__":
    main()
