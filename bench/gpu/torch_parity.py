#!/usr/bin/env python3
"""Tessel's compiled attention against PyTorch, on the same random inputs.

    bench/gpu/torch_parity.py --tessel build/bin/tessel [--device cuda] [--gpu_arch sm_90]
                              [--atol 1e-4] [--work DIR]

For each shape below (MHA, GQA, MQA; causal, not causal, a sliding window;
prefill, a 16-query chunk and decode with one query; head_dim 64 and 128):
  1. bench/gpu/make_attention_mlir.py writes a module whose @main is one
     tessel.attention (f32: the op takes f32 only);
  2. q, k, v are normal(0, 1) from a fixed seed (so the scores q.k/sqrt(d)
     have unit variance and the softmax is far from flat), saved as
     WORK/NAME/arg{0,1,2}.npy;
  3. `tessel eval FILE --device cuda --compiled --inputs DIR --outputs DIR`
     runs the CUDA pipeline's kernels on them (result0.npy);
  4. PyTorch computes the same attention in float64 on the same device
     (torch.nn.functional.scaled_dot_product_attention with an explicit
     boolean mask: Tessel's queries are the newest positions, i.e. the causal
     diagonal is aligned bottom-right, where SDPA's is_causal aligns it
     top-left; GQA by repeat_interleave of the K/V heads).
PASS when max |tessel - torch float64| <= --atol (default 1e-4: the outputs
are O(1) and an f32 FlashAttention's error is ~1e-6). Torch's own float32 SDPA
error against float64 is printed beside it for scale.

--device cpu checks the CPU pipeline's code against torch on the CPU instead
(runs without a GPU; with a torch older than 2.0, which has no SDPA, the
float64 reference is computed with matmul and softmax).

Exit status: 0 all PASS, 1 any FAIL, 2 cannot run (no torch, no CUDA in torch,
no tessel). Runs with /usr/bin/python3; needs torch (and numpy if present,
else the standard-library npyio.py).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_attention_mlir  # noqa: E402
import npyio  # noqa: E402

# name: (batch, kv_len, q_len, heads, kv_heads, head_dim, causal, window)
SHAPES = {
    "mha-causal-d64": (1, 512, 512, 8, 8, 64, True, None),
    "gqa-causal-d128-b2": (2, 300, 300, 8, 2, 128, True, None),
    "mqa-causal-d64": (1, 1024, 1024, 16, 1, 64, True, None),
    "gqa-full-d128-odd": (1, 777, 777, 4, 2, 128, False, None),
    "mha-window128-d64": (1, 600, 600, 8, 8, 64, True, 128),
    "gqa-chunk16-d128": (1, 1000, 16, 8, 2, 128, True, None),
    "gqa-decode-d64-llama1b": (1, 2048, 1, 32, 8, 64, True, None),
    "gqa-decode-d128": (1, 4097, 1, 16, 4, 128, True, None),
    "mqa-decode-window-d128": (1, 3000, 1, 8, 1, 128, True, 512),
}


def die(message):
    print(f"torch_parity: cannot run: {message}", flush=True)
    sys.exit(2)


def save(path, tensor):
    t = tensor.detach().float().cpu().contiguous()
    try:
        import numpy
    except ImportError:
        numpy = None
    if numpy is not None:
        numpy.save(path, t.numpy())
    else:
        npyio.write_npy(path, list(t.shape), t.flatten().tolist())


def load(path, torch):
    shape, values = npyio.read_npy(path)
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def reference(torch, q, k, v, causal, window, dtype):
    """Tessel's attention semantics in torch: q [B, Q, H, D], k/v [B, S, KV, D]."""
    B, Q, H, D = q.shape
    S, KV = k.shape[1], k.shape[2]
    qt, kt, vt = (x.transpose(1, 2).to(dtype) for x in (q, k, v))  # [B, heads, len, D]
    if KV != H:  # GQA / MQA: query head h reads K/V head h // (H / KV)
        kt = kt.repeat_interleave(H // KV, dim=1)
        vt = vt.repeat_interleave(H // KV, dim=1)
    mask = None
    if causal:
        pos = torch.arange(Q, device=q.device).unsqueeze(1) + (S - Q)  # query i's position
        key = torch.arange(S, device=q.device).unsqueeze(0)
        mask = key <= pos
        if window is not None:
            mask &= (pos - key) < window
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    if sdpa is not None:
        out = sdpa(qt, kt, vt, attn_mask=mask)
    else:  # torch < 2.0
        scores = qt @ kt.transpose(-1, -2) / (D ** 0.5)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ vt
    return out.transpose(1, 2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tessel", default=os.path.join(HERE, "..", "..", "build", "bin", "tessel"))
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--gpu_arch", default="sm_90")
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--work", default=None, help="scratch directory (default: build/gpu-check/torch)")
    p.add_argument("--only", default="", help="comma-separated shape names (default: all)")
    p.add_argument("--json", default=None, help="also write the results here")
    a = p.parse_args(argv)

    if not os.access(a.tessel, os.X_OK):
        die(f"no tessel binary at {a.tessel} (build it, or pass --tessel)")
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        die(f"cannot import torch ({e}); install PyTorch with CUDA, or run with a python3 that has it")
    if a.device == "cuda" and not torch.cuda.is_available():
        die(f"torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda})")
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 column is true float32
    torch.backends.cudnn.allow_tf32 = False
    work = a.work or os.path.join(HERE, "..", "..", "build", "gpu-check", "torch")
    os.makedirs(work, exist_ok=True)
    dev = torch.device(a.device)
    names = [n for n in SHAPES if not a.only or n in a.only.split(",")]
    print(f"torch_parity: torch {torch.__version__} on {a.device}"
          + (f" ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})" if a.device == "cuda" else "")
          + f"; tessel --device {a.device}; tolerance {a.atol:g}", flush=True)
    failures, rows = 0, []
    for i, name in enumerate(names):
        B, S, Q, H, KV, D, causal, window = SHAPES[name]
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        mlir = os.path.join(d, "attention.mlir")
        with open(mlir, "w") as f:
            f.write(make_attention_mlir.attention_mlir(B, S, H, KV, D, causal, window, Q))
        g = torch.Generator().manual_seed(1000 + i)
        q, k, v = (torch.randn(shape, generator=g)
                   for shape in make_attention_mlir.shapes(B, S, H, KV, D, Q))
        for j, t in enumerate((q, k, v)):
            save(os.path.join(d, f"arg{j}.npy"), t)
        cmd = [a.tessel, "eval", mlir, "--compiled", "--device", a.device, "--inputs", d,
               "--outputs", d, "--json", "--values", "0", "--reps", "0"]
        if a.device == "cuda":
            cmd += ["--gpu_arch", a.gpu_arch]
        start = time.time()
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            failures += 1
            err = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
            print(f"FAIL torch/{name}: tessel eval exited {run.returncode}: {err}", flush=True)
            rows.append({"name": name, "ok": False, "error": err})
            continue
        got = load(os.path.join(d, "result0.npy"), torch).to(dev)
        q, k, v = q.to(dev), k.to(dev), v.to(dev)
        want64 = reference(torch, q, k, v, causal, window, torch.float64)
        torch32 = reference(torch, q, k, v, causal, window, torch.float32)
        diff = (got.double() - want64).abs().max().item() if got.shape == want64.shape else float("inf")
        diff32 = (torch32.double() - want64).abs().max().item()
        ok = diff <= a.atol
        failures += not ok
        rows.append({"name": name, "shape": SHAPES[name], "max_abs_diff": diff,
                     "torch_f32_max_abs_diff": diff32, "ok": ok})
        print(f"{'PASS' if ok else 'FAIL'} torch/{name}: max |tessel - torch f64| = {diff:.3g} "
              f"(torch f32: {diff32:.3g}; tolerance {a.atol:g}) "
              f"[B={B} kv_len={S} q_len={Q} H={H} KV={KV} D={D}"
              f"{' causal' if causal else ''}{f' window={window}' if window else ''}; "
              f"{time.time() - start:.1f} s]", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"torch_parity: {len(names) - failures} of {len(names)} shapes within {a.atol:g}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
