# PyTorch's figure for bench/slicing.lua: select every time step of a
# (32, T, 64) input that requires grad, sum, backward.
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())


def run(T):
    x = torch.randn(32, T, 64, requires_grad=True)
    total = None
    for t in range(T):
        s = x.select(1, t).sum()
        total = s if total is None else total + s
    total.backward()


for T in (50, 100, 200, 400):
    run(T)
    reps = max(3, 800 // T)
    start = time.process_time()
    for _ in range(reps):
        run(T)
    ms = (time.process_time() - start) / reps * 1000
    print(f"slice_T{T}_ms {ms:.3f}")
    print(f"slice_T{T}_us_per_step {ms * 1000 / T:.2f}")
