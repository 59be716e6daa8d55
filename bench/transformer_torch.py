"""The same benchmark as bench/transformer.lua in PyTorch: one
nn.TransformerEncoderLayer(128, 4, 512, dropout=0, relu, batch_first, post-norm)
on batches of 32 sequences of 128 steps (random data): inference samples/s
(eval, no_grad: PyTorch's fused inference path where it applies) and its peak
RSS, then training samples/s (Adam on the mean of the output squared) and the
peak RSS after it.
Usage: python3 bench/transformer_torch.py STEPS TORCH_THREADS
(OpenBLAS's own threads are set by OPENBLAS_NUM_THREADS in the environment.)"""
import sys

import torch

from torch_common import report

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
batch, timesteps, dim, heads, intermediate = 32, 128, 128, 4, 512
torch.manual_seed(1)
n = 8 * batch
x = torch.rand(n, timesteps, dim)
model = torch.nn.TransformerEncoderLayer(dim, heads, intermediate, dropout=0.0, activation="relu",
                                         layer_norm_eps=1e-5, batch_first=True)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)


def batch_at(s):
    start = (s * batch) % (n - batch)
    return x[start:start + batch]


def infer(count):
    with torch.no_grad():
        for s in range(count):
            model(batch_at(s))


model.eval()
report("transformer_infer", infer, steps, batch)


def train_steps(count):
    for s in range(count):
        y = model(batch_at(s))
        loss = (y * y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


model.train()
report("transformer_train", train_steps, steps, batch)
