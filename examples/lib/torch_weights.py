"""dnnlua <-> PyTorch weights: safetensors read and written with only torch and
the standard library, and the layout changes between Keras's names and
layouts ("fc1/kernel" (in, out), "conv/kernel" (kh, kw, in, out)) and a torch
state_dict (Linear (out, in), Conv2d (out, in, kh, kw)). docs/pytorch.md
shows the same code; examples/convert_vgg19.py and tests/torch/interchange.py
import it.
"""
import json
import struct

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
