"""The same benchmark as bench/mlp.lua in PyTorch: the 784-512-512-10 MLP
(batch 128, Adam) for a fixed number of steps, then tiny ops.
Usage: python3 bench/mlp_torch.py STEPS TORCH_THREADS
(OpenBLAS's own threads are set by OPENBLAS_NUM_THREADS in the environment.)"""
import gzip
import sys
import time

import numpy as np
import torch

from torch_common import rss_mb

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
batch = 128
torch.manual_seed(1)

try:
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = torch.from_numpy(np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 784).astype(np.float32) / 255)
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        y = torch.from_numpy(np.frombuffer(f.read()[8:], np.uint8).astype(np.int64))
except OSError:
    x, y = torch.rand(60000, 784), torch.randint(0, 10, (60000,))

model = torch.nn.Sequential(
    torch.nn.Linear(784, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 512), torch.nn.ReLU(),
    torch.nn.Linear(512, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
n = x.shape[0]


def train_steps(count):
    for s in range(count):
        start = (s * batch) % (n - batch)
        xb, yb = x[start:start + batch], y[start:start + batch]
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


train_steps(20)
t0 = time.perf_counter()
train_steps(steps)
elapsed = time.perf_counter() - t0
print("mlp_train_samples_per_s %.1f" % (steps * batch / elapsed))
print("mlp_train_ms_per_step %.3f" % (elapsed / steps * 1000))


def time_op(fn, count):
    fn()
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1e6


a, b = torch.tensor([1.0]), torch.tensor([2.0])
ga, gb = torch.tensor([1.0], requires_grad=True), torch.tensor([2.0], requires_grad=True)
print("tiny_add_us %.3f" % time_op(lambda: a + b, 200000))
print("tiny_add_grad_us %.3f" % time_op(lambda: ga + gb, 200000))
print("peak_rss_mb %.1f" % rss_mb())
