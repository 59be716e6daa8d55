"""The same benchmark as bench/cnn.lua in PyTorch: the CNN of
examples/train_cnn.lua (NCHW, PyTorch's native layout; batch norm with
the example's momentum 0.9 and epsilon 1e-3), inference samples/s (batch 500,
no_grad, eval mode) and its peak RSS, then training samples/s (batch 64,
Adam) and the peak RSS after it.
Usage: python3 bench/cnn_torch.py STEPS TORCH_THREADS
(OpenBLAS's own threads are set by OPENBLAS_NUM_THREADS in the environment.)"""
import gzip
import sys

import numpy as np
import torch

from torch_common import report

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
batch, infer_batch = 64, 500
torch.manual_seed(1)

try:
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = torch.from_numpy(np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        y = torch.from_numpy(np.frombuffer(f.read()[8:], np.uint8).astype(np.int64))
except OSError:
    x, y = torch.rand(60000, 1, 28, 28), torch.randint(0, 10, (60000,))
n = x.shape[0]


def block(cin, cout):
    return [torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]


model = torch.nn.Sequential(
    *block(1, 16), *block(16, 32),
    torch.nn.Flatten(), torch.nn.Dropout(0.2), torch.nn.Linear(1568, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2),
    torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()


def infer(count):
    with torch.no_grad():
        for s in range(count):
            start = (s * infer_batch) % (n - infer_batch)
            torch.softmax(model(x[start:start + infer_batch]), -1)


model.eval()
infer_steps = max(4, steps // 4)
report("cnn_infer", infer, infer_steps, infer_batch)


def train_steps(count):
    for s in range(count):
        start = (s * batch) % (n - batch)
        xb, yb = x[start:start + batch], y[start:start + batch]
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


model.train()
report("cnn_train", train_steps, steps, batch, warmup=5)
