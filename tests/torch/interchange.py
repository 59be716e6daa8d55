"""dnnlua <-> PyTorch weights, both ways (the snippet of docs/pytorch.md).

dnnlua writes safetensors files with Keras's names and layouts
("fc1/kernel" (in, out), "conv/kernel" (kh, kw, in, out)); PyTorch's
state_dict has Linear weights (out, in) and Conv2d weights (out, in, kh, kw).
The functions below read and write safetensors by hand (no package needed
beyond torch and the standard library) and map names and layouts.

Used by tests/lua/torch_interchange_spec.lua:
    python3 interchange.py <mlp|cnn> <dir>
reads <dir>/dnnlua.safetensors (weights) and <dir>/x.safetensors (inputs),
writes <dir>/torch_pred.safetensors (the equal torch model's predictions with
those weights), <dir>/from_torch.safetensors (a fresh torch model's weights
in dnnlua's names) and <dir>/torch_pred2.safetensors (its predictions).
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """{name: tensor}, metadata from a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).float()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as float32 safetensors (what dnnlua reads)."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def dnnlua_to_torch(tensors, names):
    """A torch state_dict from dnnlua weights; names maps dnnlua layer names to torch module prefixes."""
    state = {}
    for layer, prefix in names.items():
        kernel = tensors[layer + "/kernel"]
        if kernel.dim() == 2:        # Dense (in, out) -> Linear (out, in)
            state[prefix + ".weight"] = kernel.t().contiguous()
        elif kernel.dim() == 4:      # Conv2D (kh, kw, in, out) -> Conv2d (out, in, kh, kw)
            state[prefix + ".weight"] = kernel.permute(3, 2, 0, 1).contiguous()
        if layer + "/bias" in tensors:
            state[prefix + ".bias"] = tensors[layer + "/bias"]
    return state


def torch_to_dnnlua(state, names):
    """dnnlua weights ({"fc1/kernel": ...}) from a torch state_dict; names as for dnnlua_to_torch."""
    out = {}
    for layer, prefix in names.items():
        w = state[prefix + ".weight"]
        out[layer + "/kernel"] = w.t().contiguous() if w.dim() == 2 else w.permute(2, 3, 1, 0).contiguous()
        if prefix + ".bias" in state:
            out[layer + "/bias"] = state[prefix + ".bias"]
    return out


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
