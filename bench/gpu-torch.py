"""Same-run PyTorch CUDA yardstick for bench/gpu.ts: the Gaussian-mixture E-step (log joint
[N, K], log marginal [N], responsibilities [N, K]) at N points for (K, D) = (16, 8) and
(64, 32), diagonal and full precision Cholesky factors (scikit-learn's convention: full P_k
upper triangular, Lambda_k = P_k P_k^T; diagonal P_k = 1 / sigma_k), written as one would
by hand in PyTorch: the Mahalanobis terms through matmuls, torch.logsumexp, exp.

    python3 bench/gpu-torch.py [--n 1000000] [--reps 20] [--configs "16,8;64,32"]
                               [--shared-data DIR] [--grad "1000000,16,8"] [--out FILE]

Prints one JSON object (ms per E-step and million points per second per case). float32,
TF32 off (torch's default for matmul), timed with torch.cuda.synchronize after warm-up.

With --shared-data DIR (written by bench/gpu.ts --shared-data DIR in the same run): the full EM fit
bench/gpu.ts runs, on the same data from the same starting values, as scikit-learn's
GaussianMixture(covariance_type='full') does it (reg_covar added to the diagonals, weights
from counts + 10 eps, stop when the mean log likelihood per point changes by less than tol),
hand-written in PyTorch: seconds, iterations, seconds per iteration, final mean log
likelihood per point ("em" in the report); and, from pf.json there, the bootstrap particle
filter bench/gpu.ts runs (two-state Gaussian HMM, systematic resampling when the ESS falls
below half the particles), on the device: particle-steps per second and log Z
("particle_filter" in the report).

With --grad N,K,D: the negative log likelihood of a diagonal Gaussian mixture at N points and
its gradient by autograd with respect to (weight logits through a softmax, means, log
scales), the computation bench/gpu.ts --grad times in mixppl (there through a stick-breaking
simplex): ms per evaluation and evaluations per second ("gradient" in the report).
"""
import argparse
import json
import math
import os
import sys
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=1_000_000)
ap.add_argument("--reps", type=int, default=20)
ap.add_argument("--configs", default="16,8;64,32")
ap.add_argument("--shared-data", default="")
ap.add_argument("--grad", default="")
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
        print(json.dumps(row), flush=True, file=sys.stderr)
        del x, means, p, logw
        if dev.type == "cuda":
            torch.cuda.empty_cache()



def em_fit(x, w, mu, cov, tol, max_iter, reg):
    """EM for a full-covariance mixture from (w, mu, cov); returns (w, mu, cov, iterations, mean log lik, converged)."""
    n, d = x.shape
    k = mu.shape[0]
    eye = torch.eye(d, device=x.device)
    eps = torch.finfo(torch.float32).eps
    prev = -math.inf
    ll = -math.inf
    for it in range(1, max_iter + 1):
        # E-step: precision Cholesky factors P_k = L_k^{-T} (scikit-learn's precisions_cholesky_).
        lchol = torch.linalg.cholesky(cov)
        p = torch.linalg.solve_triangular(lchol, eye.expand(k, d, d), upper=False).transpose(1, 2)
        _, lse, resp = estep(x, mu, p, torch.log(w))
        ll = lse.mean().item()
        # M-step.
        nk = resp.sum(0) + 10 * eps
        w = nk / n
        mu = (resp.T @ x) / nk.unsqueeze(1)
        covs = []
        for j in range(k):
            dx = x - mu[j]
            covs.append((resp[:, j].unsqueeze(1) * dx).T @ dx / nk[j] + reg * eye)
        cov = torch.stack(covs)
        if abs(ll - prev) < tol:
            return w, mu, cov, it, ll, True
        prev = ll
    return w, mu, cov, max_iter, ll, False


em_report = None
if a.shared_data and os.path.exists(os.path.join(a.shared_data, "em.json")):
    import numpy as np

    with open(os.path.join(a.shared_data, "em.json")) as f:
        spec = json.load(f)
    n, k, d = spec["N"], spec["K"], spec["D"]
    x = torch.from_numpy(np.fromfile(os.path.join(a.shared_data, "em-x.f32"), dtype=np.float32).reshape(n, d)).to(dev)
    init = spec["init"]
    w0 = torch.tensor(init["w"], dtype=torch.float32, device=dev)
    mu0 = torch.tensor(init["mu"], dtype=torch.float32, device=dev)
    l0 = torch.tensor(init["L"], dtype=torch.float32, device=dev)
    cov0 = l0 @ l0.transpose(1, 2)
    with torch.no_grad():
        em_fit(x, w0, mu0, cov0, spec["tol"], 2, spec["regCovar"])  # warm-up
        torch.cuda.synchronize() if dev.type == "cuda" else None
        t0 = time.perf_counter()
        w, mu, cov, iters, ll, conv = em_fit(x, w0, mu0, cov0, spec["tol"], spec["maxIter"], spec["regCovar"])
        torch.cuda.synchronize() if dev.type == "cuda" else None
        secs = time.perf_counter() - t0
    # The mean log likelihood is that of the parameters before the last M-step, as mixppl's and scikit-learn's.
    em_report = {"N": n, "K": k, "D": d, "seconds": round(secs, 3), "iterations": iters, "s_per_iter": round(secs / iters, 4),
                 "loglik_per_point": ll, "converged": conv, "mu": mu.cpu().tolist()}
    print(json.dumps({key: v for key, v in em_report.items() if key != "mu"}), flush=True, file=sys.stderr)
    del x

pf_report = None
if a.shared_data and os.path.exists(os.path.join(a.shared_data, "pf.json")):
    with open(os.path.join(a.shared_data, "pf.json")) as f:
        spec = json.load(f)
    T, P = spec["T"], spec["P"]
    pi = torch.tensor(spec["pi"], device=dev)
    A = torch.tensor(spec["A"], device=dev)
    mu = torch.tensor(spec["mu"], device=dev)
    sd = torch.tensor(spec["sd"], device=dev)
    y = spec["y"]
    pfgen = torch.Generator(device=dev).manual_seed(1)

    def pf():
        z = torch.multinomial(pi.expand(1, -1), P, replacement=True, generator=pfgen).squeeze(0)
        logw = torch.zeros(P, device=dev)
        logz = 0.0
        for t in range(T):
            if t > 0:
                w = torch.softmax(logw, 0)
                if (1.0 / (w * w).sum()).item() < spec["resampleThreshold"] * P:
                    logz += (torch.logsumexp(logw, 0) - math.log(P)).item()
                    u = (torch.arange(P, device=dev) + torch.rand(1, device=dev, generator=pfgen)) / P
                    idx = torch.searchsorted(torch.cumsum(w, 0), u).clamp_(max=P - 1)
                    z = z[idx]
                    logw = torch.zeros(P, device=dev)
                z = torch.multinomial(A[z], 1, generator=pfgen).squeeze(1)
            m, s = mu[z], sd[z]
            logw = logw - 0.5 * math.log(2 * math.pi) - torch.log(s) - 0.5 * ((y[t] - m) / s) ** 2
        return logz + (torch.logsumexp(logw, 0) - math.log(P)).item()

    pf()  # warm-up
    times, logzs = [], []
    for _ in range(3):
        torch.cuda.synchronize() if dev.type == "cuda" else None
        t0 = time.perf_counter()
        logzs.append(pf())
        torch.cuda.synchronize() if dev.type == "cuda" else None
        times.append(time.perf_counter() - t0)
    med = sorted(times)[1]
    pf_report = {"T": T, "P": P, "median_seconds": round(med, 3), "particle_steps_per_s": float(f"{P * T / med:.4g}"), "logZ": logzs}
    print(json.dumps(pf_report), flush=True, file=sys.stderr)

grad_report = None
if a.grad:
    n, k, d = (int(v) for v in a.grad.split(","))
    x, means, _, _ = case(n, k, d, True)
    logits = torch.zeros(k, device=dev, requires_grad=True)
    mu = means.clone().requires_grad_(True)
    log_sigma = torch.zeros(k, d, device=dev, requires_grad=True)

    def potential():
        sigma = torch.exp(log_sigma)
        z = (x.unsqueeze(1) - mu) / sigma  # [N, K, D]
        lp = -0.5 * (z * z).sum(2) - log_sigma.sum(1) - 0.5 * d * math.log(2 * math.pi)
        return -torch.logsumexp(torch.log_softmax(logits, 0) + lp, 1).sum()

    def evaluate():
        for p in (logits, mu, log_sigma):
            p.grad = None
        v = potential()
        v.backward()
        return v

    for _ in range(3):
        evaluate()
    torch.cuda.synchronize() if dev.type == "cuda" else None
    t0 = time.perf_counter()
    for _ in range(a.reps):
        v = evaluate()
    torch.cuda.synchronize() if dev.type == "cuda" else None
    ms = (time.perf_counter() - t0) * 1e3 / a.reps
    grad_report = {"N": n, "K": k, "D": d, "ms_per_eval": round(ms, 3), "evals_per_s": round(1e3 / ms, 1), "potential": v.item()}
    print(json.dumps(grad_report), flush=True, file=sys.stderr)
    del x, mu, log_sigma, logits

report = {
    "bench": "gpu-estep-torch",
    "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
    "torch": torch.__version__,
    "tf32": torch.backends.cuda.matmul.allow_tf32,
    "N": a.n,
    "reps": a.reps,
    "results": results,
    "em": em_report,
    "gradient": grad_report,
    "particle_filter": pf_report,
}
text = json.dumps(report, indent=2)
print(text)
if a.out:
    with open(a.out, "w") as f:
        f.write(text + "\n")
