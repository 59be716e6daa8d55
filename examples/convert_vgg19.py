"""Converts torchvision's VGG19 weights into a dnnlua safetensors file for
examples/style_transfer.lua --weights: the 16 convolutions of vgg19().features
under Keras's layer names (block1_conv1 ... block5_conv4), kernels in Keras's
layout (kh, kw, in, out).

    /usr/bin/python3 examples/convert_vgg19.py vgg19.safetensors [state_dict.pth]

With a .pth file (a state_dict saved by torch.save, e.g. torchvision's
vgg19-dcbb9e9d.pth), that file is converted; without one, torchvision
(Debian's python3-torchvision) loads its ImageNet weights, downloading them
on first use.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from torch_weights import torch_to_dnnlua, write_safetensors  # noqa: E402

# vgg19().features: the index of each conv in torchvision's Sequential, by block.
BLOCKS = [[0, 2], [5, 7], [10, 12, 14, 16], [19, 21, 23, 25], [28, 30, 32, 34]]


def names():
    """{"block1_conv1": "features.0", ...}"""
    out = {}
    for b, indices in enumerate(BLOCKS, start=1):
        for c, index in enumerate(indices, start=1):
            out[f"block{b}_conv{c}"] = f"features.{index}"
    return out


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    if len(sys.argv) == 3:
        state = torch.load(sys.argv[2], map_location="cpu")
    else:
        import torchvision
        state = torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict()
    write_safetensors(sys.argv[1], torch_to_dnnlua(state, names()))
    print(f"wrote {sys.argv[1]}: {len(names())} convolutions")


if __name__ == "__main__":
    main()
