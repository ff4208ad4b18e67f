#!/usr/bin/python3
"""The kernels suite's PyTorch peer: torch.matmul on the CPU (float32) at the
matmul cases' shapes, spawned by bench/suites/kernels.ts before Dawn starts.

  --shapes FILE   JSON list of {"name", "M", "N", "K", "transA", "transB"}:
                  op(A) [M, K] x op(B) [K, N], transposed operands stored
                  transposed (a Linear layer's x W^T is transB), as ours
  --time-ms MS    minimum timed milliseconds per shape

Prints one JSON line: {"peer": "pytorch", "version", "threads", "blas",
"results": {name: {"ms", "iters"}}}. The output C is preallocated (out=), as
ours writes into an existing C. Same timing as torch_decoder.py (measure()).
"""
import argparse
import json
import os

import torch

from torch_decoder import blas_library, measure


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", required=True)
    p.add_argument("--time-ms", type=float, default=400)
    a = p.parse_args()
    with open(a.shapes) as f:
        shapes = json.load(f)
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    results = {}
    for s in shapes:
        m, n, k = s["M"], s["N"], s["K"]
        A = torch.randn(k, m).t() if s["transA"] else torch.randn(m, k)
        B = torch.randn(n, k).t() if s["transB"] else torch.randn(k, n)
        C = torch.empty(m, n)
        with torch.no_grad():
            results[s["name"]] = measure(lambda: torch.matmul(A, B, out=C), a.time_ms)
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                      "blas": blas_library(), "results": results}))


if __name__ == "__main__":
    main()
