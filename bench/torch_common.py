"""What the PyTorch benchmarks share: peak RSS and the timed report that bench/common.lua's report prints for
dnnlua, line for line, so bench/run.sh reads both by name."""
import resource
import time


def rss_mb():
    """Peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(prefix, run, steps, batch, warmup=2):
    """Runs run(warmup), times run(steps) of batch examples each, prints <prefix>_samples_per_s, _ms_per_step and
    _peak_rss_mb; returns the seconds."""
    run(warmup)
    t0 = time.perf_counter()
    run(steps)
    elapsed = time.perf_counter() - t0
    print("%s_samples_per_s %.1f" % (prefix, steps * batch / elapsed))
    print("%s_ms_per_step %.3f" % (prefix, elapsed / steps * 1000))
    print("%s_peak_rss_mb %.1f" % (prefix, rss_mb()))
    return elapsed
