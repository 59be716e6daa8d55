"""The same benchmark as bench/attention.lua in PyTorch: forward + backward of
scaled-dot-product attention (H = 4, d = 64, self-attention) at T = 128, 512,
2048, each size in a fresh process for its own peak RSS. Uses
torch.nn.functional.scaled_dot_product_attention where this PyTorch has it
(2.0 and later), else softmax(q k^T / sqrt(d)) v of matmul and softmax (what
1.13 offers; its nn.MultiheadAttention computes the same way).
Usage: python3 bench/attention_torch.py [THREADS] [BATCH]
       python3 bench/attention_torch.py THREADS BATCH T [causal]   (one run)"""
import math
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from torch_common import rss_mb

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1
heads, d = 4, 64
has_sdpa = hasattr(F, "scaled_dot_product_attention")


def attention(q, k, v, causal):
    if has_sdpa:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    s = q @ k.transpose(-2, -1) / math.sqrt(d)
    if causal:
        t = q.shape[2]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v


def one_run(t, causal):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    q, k, v = (torch.randn(batch, heads, t, d, requires_grad=True) for _ in range(3))
    gy = torch.randn(batch, heads, t, d)
    base = rss_mb()

    def step():
        (attention(q, k, v, causal) * gy).sum().backward()
        q.grad = k.grad = v.grad = None

    step()
    reps = 3 if t >= 2048 else 10 if t >= 512 else 40
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    print("attention_ms %.2f" % ((time.perf_counter() - t0) / reps * 1000))
    print("peak_rss_mb %.1f" % rss_mb())
    print("extra_rss_mb %.1f" % (rss_mb() - base))


def main():
    if len(sys.argv) > 3:
        one_run(int(sys.argv[3]), len(sys.argv) > 4 and sys.argv[4] == "causal")
        return
    kind = "sdpa" if has_sdpa else "explicit"
    print("PyTorch %s attention (%s), forward + backward, batch %d, %d heads, d %d, %d threads"
          % (torch.__version__, kind, batch, heads, d, threads))
    print("%-6s %-9s %-7s %12s %14s %14s" % ("T", "kind", "mask", "ms", "peak RSS MiB", "extra MiB"))
    for t in [128, 512, 2048]:
        for mask in ["none", "causal"]:
            out = subprocess.run([sys.executable, sys.argv[0], str(threads), str(batch), str(t), mask],
                                 capture_output=True, text=True, check=True).stdout
            vals = dict(line.split() for line in out.splitlines())
            print("%-6d %-9s %-7s %12.2f %14.1f %14.1f" % (t, kind, mask, float(vals["attention_ms"]),
                                                          float(vals["peak_rss_mb"]), float(vals["extra_rss_mb"])))


if __name__ == "__main__":
    main()
