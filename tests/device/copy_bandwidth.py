"""Copy bandwidth of each GPU with PyTorch (pinned host memory): host-to-device, device-to-host, device-to-device.

A rough cross-check of burn-in level 2's nvbandwidth limits on a machine that has a GPU but no nvbandwidth
(scripts/device-gpu-check). Prints one table row per GPU and direction, in GB/s (10^9 bytes per second); for
device-to-device the bytes counted are those copied once (nvbandwidth's convention), not read plus written.
"""

from __future__ import annotations

import statistics
import sys

try:
    import torch
except ImportError:  # a GPU node without PyTorch: nvbandwidth (burn-in level 2) is the measurement there
    torch = None

SIZE = 1 << 30  # bytes per copy
REPEATS = 10


def timed(copy):
    """Median seconds of REPEATS copies, after one warm-up."""
    copy()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPEATS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        copy()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return statistics.median(times)


def measure(index):
    """GB/s per direction on GPU ``index``."""
    with torch.cuda.device(index):
        host = torch.empty(SIZE, dtype=torch.uint8, pin_memory=True)
        dev = torch.empty(SIZE, dtype=torch.uint8, device="cuda")
        dev2 = torch.empty(SIZE, dtype=torch.uint8, device="cuda")
        seconds = {
            "h2d": timed(lambda: dev.copy_(host, non_blocking=True)),
            "d2h": timed(lambda: host.copy_(dev, non_blocking=True)),
            "d2d": timed(lambda: dev2.copy_(dev, non_blocking=True)),
        }
    return {direction: SIZE / s / 1e9 for direction, s in seconds.items()}


def main():
    if torch is None:
        print("PyTorch is not installed: no copy-bandwidth cross-check", file=sys.stderr)
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    print(f"{'gpu':>3}  {'name':<28} {'direction':<9} {'GB/s':>8}")
    for index in range(torch.cuda.device_count()):
        name = torch.cuda.get_device_name(index)
        for direction, rate in measure(index).items():
            print(f"{index:>3}  {name:<28} {direction:<9} {rate:>8.1f}")
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
