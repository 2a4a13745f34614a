"""Same-run PyTorch CUDA yardstick for bench/gpu.ts: the Gaussian-mixture E-step (log joint
[N, K], log marginal [N], responsibilities [N, K]) at N points for (K, D) = (16, 8) and
(64, 32), diagonal and full precision Cholesky factors (scikit-learn's convention: full P_k
upper triangular, Lambda_k = P_k P_k^T; diagonal P_k = 1 / sigma_k), written as one would
by hand in PyTorch: the Mahalanobis terms through matmuls, torch.logsumexp, exp.

    python3 bench/gpu-torch.py [--n 1000000] [--reps 20] [--configs "16,8;64,32"] [--out FILE]

Prints one JSON object (ms per E-step and million points per second per case). float32,
TF32 off (torch's default for matmul), timed with torch.cuda.synchronize after warm-up.
"""
import argparse
import json
import math
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1_000_000)
ap.add_argument("--reps", type=int, default=20)
ap.add_argument("--configs", default="16,8;64,32")
ap.add_argument("--out", default="")
a = ap.parse_args()

dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = False
gen = torch.Generator(device="cpu").manual_seed(20261202)


def case(n, k, d, diagonal):
    means = (torch.rand(k, d, generator=gen) * 6 - 3)
    sign = torch.where(torch.rand(k, d, generator=gen) < 0.2, -1.0, 1.0)
    dg = sign * (0.5 + 1.5 * torch.rand(k, d, generator=gen))
    if diagonal:
        p = dg
    else:
        off = torch.rand(k, d, d, generator=gen) - 0.5
        p = torch.triu(off, 1) + torch.diag_embed(dg)
    w = 0.1 + 0.9 * torch.rand(k, generator=gen)
    logw = torch.log(w / w.sum())
    z = torch.randint(0, k, (n,), generator=gen)
    x = means[z] + (torch.rand(n, d, generator=gen) * 3 - 1.5)
    return [t.to(dev, torch.float32).contiguous() for t in (x, means, p, logw)]


def estep(x, means, p, logw):
    n, d = x.shape
    k = means.shape[0]
    if p.dim() == 2:
        p2 = p * p  # [K, D]
        # sum_d p^2 (x - mu)^2 = x^2 . p^2 - 2 x . (mu p^2) + sum mu^2 p^2
        maha = (x * x) @ p2.T - 2.0 * (x @ (means * p2).T) + (means * means * p2).sum(1)
        half_log_det = torch.log(torch.abs(p)).sum(1)
    else:
        # z[n, k, :] = P_k^T (x_n - mu_k) = x_n P_k - mu_k P_k, all k in one [N, D] x [D, K D] product.
        pcat = p.permute(1, 0, 2).reshape(d, k * d)
        shift = torch.bmm(means.unsqueeze(1), p).reshape(1, k * d)
        z = x @ pcat - shift
        maha = (z * z).view(n, k, d).sum(2)
        half_log_det = torch.log(torch.abs(torch.diagonal(p, dim1=1, dim2=2))).sum(1)
    lj = logw + half_log_det - 0.5 * d * math.log(2 * math.pi) - 0.5 * maha
    lse = torch.logsumexp(lj, 1)
    resp = torch.exp(lj - lse.unsqueeze(1))
    return lj, lse, resp


results = []
for cfg in a.configs.split(";"):
    k, d = (int(v) for v in cfg.split(","))
    for diagonal in (True, False):
        x, means, p, logw = case(a.n, k, d, diagonal)
        with torch.no_grad():
            for _ in range(3):
                estep(x, means, p, logw)
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t0 = time.perf_counter()
            for _ in range(a.reps):
                out = estep(x, means, p, logw)
            torch.cuda.synchronize() if dev.type == "cuda" else None
            ms = (time.perf_counter() - t0) * 1e3 / a.reps
        del out
        row = {"K": k, "D": d, "diagonal": diagonal, "torch_ms": round(ms, 3), "torch_Mpoints_per_s": round(a.n / ms / 1e3, 2)}
        results.append(row)
        print(json.dumps(row), flush=True, file=__import__("sys").stderr)
        del x, means, p, logw
        if dev.type == "cuda":
            torch.cuda.empty_cache()

report = {
    "bench": "gpu-estep-torch",
    "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
    "torch": torch.__version__,
    "tf32": torch.backends.cuda.matmul.allow_tf32,
    "N": a.n,
    "reps": a.reps,
    "results": results,
}
text = json.dumps(report, indent=2)
print(text)
if a.out:
    with open(a.out, "w") as f:
        f.write(text + "\n")
