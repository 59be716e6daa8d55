"""The PyTorch twin of examples/vae.lua, for the cross-check in
tests/lua/vae_spec.lua: the same layers (NHWC images in, Keras's "same"
padding reproduced: stride-2 convolutions pad bottom and right only, the
stride-2 transposed convolutions drop their last row and column), the
initial weights written by the example's --save-init, the same loss, Adam
and the same batches in file order.

    python3 vae_twin.py INIT_DIR DATA_DIR LIMIT TEST EPOCHS BATCH LR LATENT

prints "forward v..." (mu and the decoder's logits at mu for the first 4
test images, no noise) and "elbo_epoch<k> v" (the test negative ELBO).
"""
import gzip
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "lib"))
from torch_weights import read_safetensors  # noqa: E402


def read_images(path, limit):
    with gzip.open(path, "rb") as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        n = min(n, limit)
        data = f.read(n * h * w)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).float().div(255).reshape(n, h, w, 1)


def same_conv(x, w, b):       # Keras's "same", stride 2, even input: one row/column of zeros after
    return F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2)


def same_conv_transpose(x, w, b, stride):
    if stride == 1:
        return F.conv_transpose2d(x, w, b, padding=1)
    y = F.conv_transpose2d(x, w, b, stride=2)
    return y[:, :, :2 * x.shape[2], :2 * x.shape[3]]


class Twin:
    def __init__(self, init_dir):
        enc, _ = read_safetensors(init_dir + "/vae_encoder.safetensors")
        dec, _ = read_safetensors(init_dir + "/vae_decoder.safetensors")
        self.p = {}
        for name, t in list(enc.items()) + list(dec.items()):
            if t.dim() == 4:   # Conv2D (kh, kw, in, out) -> (out, in, kh, kw); Conv2DTranspose
                t = t.permute(3, 2, 0, 1)   # (kh, kw, out, in) -> ConvTranspose2d's (in, out, kh, kw): the same permute
            elif t.dim() == 2:                           # Dense (in, out) -> (out, in)
                t = t.t()
            self.p[name] = t.contiguous().clone().requires_grad_()
        self.names = sorted(self.p)

    def layer(self, x, name, fn, **kw):
        return fn(x, self.p[name + "/kernel"], self.p[name + "/bias"], **kw)

    def encode(self, x, latent):
        h = x.permute(0, 3, 1, 2)
        h = F.relu(self.layer(h, "enc_conv1", same_conv))
        h = F.relu(self.layer(h, "enc_conv2", same_conv))
        h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)   # Flatten in NHWC order
        h = F.relu(self.layer(h, "enc_dense", F.linear))
        stats = self.layer(h, "enc_stats", F.linear)
        return stats[:, :latent], stats[:, latent:]

    def decode(self, z):
        h = F.relu(self.layer(z, "dec_dense", F.linear))
        h = h.reshape(-1, 7, 7, 64).permute(0, 3, 1, 2)
        h = F.relu(self.layer(h, "dec_up1", same_conv_transpose, stride=2))
        h = F.relu(self.layer(h, "dec_up2", same_conv_transpose, stride=2))
        return self.layer(h, "dec_logits", same_conv_transpose, stride=1).permute(0, 2, 3, 1)

    def negative_elbo(self, x, latent):
        mu, logvar = self.encode(x, latent)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        logits = self.decode(z).reshape(x.shape[0], -1)
        rec = F.binary_cross_entropy_with_logits(logits, x.reshape(x.shape[0], -1), reduction="none").sum(1)
        kl = 0.5 * (mu.square() + logvar.exp() - logvar - 1).sum(1)
        return rec + kl


def main():
    init_dir, data_dir = sys.argv[1], sys.argv[2]
    limit, test_n, epochs, batch = (int(v) for v in sys.argv[3:7])
    lr, latent = float(sys.argv[7]), int(sys.argv[8])
    torch.manual_seed(0)
    train = read_images(data_dir + "/train-images-idx3-ubyte.gz", limit)
    test = read_images(data_dir + "/t10k-images-idx3-ubyte.gz", test_n)
    twin = Twin(init_dir)
    with torch.no_grad():
        mu, _ = twin.encode(test[:4], latent)
        logits = twin.decode(mu)
        print("forward", " ".join("%.7g" % v for v in torch.cat([mu.reshape(-1), logits.reshape(-1)]).tolist()))
    opt = torch.optim.Adam([twin.p[n] for n in twin.names], lr=lr, eps=1e-7)   # Keras's epsilon
    for epoch in range(1, epochs + 1):
        for start in range(0, train.shape[0], batch):
            loss = twin.negative_elbo(train[start:start + batch], latent).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            print("elbo_epoch%d %.6g" % (epoch, twin.negative_elbo(test, latent).mean().item()))


if __name__ == "__main__":
    main()
