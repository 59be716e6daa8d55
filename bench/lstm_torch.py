"""The same benchmark as bench/lstm.lua in PyTorch: nn.LSTM(128, 256) on
batches of 64 sequences of 100 steps (random data), then Linear(256, 10) on
the last output: inference samples/s (no_grad) and its peak RSS, then
training samples/s (cross-entropy, Adam) and the peak RSS after it.
Usage: python3 bench/lstm_torch.py STEPS TORCH_THREADS
(OpenBLAS's own threads are set by OPENBLAS_NUM_THREADS in the environment.)"""
import sys

import torch

from torch_common import report

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
batch, timesteps, features, units = 64, 100, 128, 256
torch.manual_seed(1)
n = 8 * batch
x = torch.rand(n, timesteps, features)
y = torch.arange(n) % 10


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(features, units, batch_first=True)
        self.head = torch.nn.Linear(units, 10)

    def forward(self, xb):
        out, _ = self.lstm(xb)
        return self.head(out[:, -1])


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()


def infer(count):
    with torch.no_grad():
        for s in range(count):
            start = (s * batch) % (n - batch)
            model(x[start:start + batch])


model.eval()
report("lstm_infer", infer, steps, batch)


def train_steps(count):
    for s in range(count):
        start = (s * batch) % (n - batch)
        loss = loss_fn(model(x[start:start + batch]), y[start:start + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()


model.train()
report("lstm_train", train_steps, steps, batch)
