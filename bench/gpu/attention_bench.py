#!/usr/bin/env python3
"""GPU benchmark: Tessel's attention kernels against PyTorch SDPA, and decode tok/s.

    bench/gpu/attention_bench.py --tessel build/bin/tessel [--gpu_arch sm_90] [--reps 20]
        [--seqs 1024,4096,16384] [--head_dims 64,128] [--heads 16] [--no-decode]
        [--results bench/RESULTS.md | --no-results] [--work DIR]

Attention forward, causal, batch 1, 16 heads (MHA), for every sequence length
x head_dim, all in one run on one GPU:
  Tessel  `tessel eval FILE --device cuda --compiled --reps R --json` on a
          module from make_attention_mlir.py (one tessel.attention, q_len =
          kv_len = S). Tessel's attention kernels are float32 (the op takes
          f32 only). The time is the median of R calls after one warm-up, in
          compiled code (kernel launches and the device sync; the inputs are
          on the device already and the result's copy back to the host is
          not counted: tessel eval reports both, see the JSON).
  PyTorch torch.nn.functional.scaled_dot_product_attention(is_causal=True)
          on [1, 16, S, D] tensors in bfloat16 (FlashAttention-2 backend on
          H100) and in float32 (TF32 off), timed with CUDA events: the median
          of R calls after 3 warm-ups.
TFLOP/s counts the causal FLOPs only: 2 matmuls x 2 FLOPs x B x H x S^2 x D / 2.

Why 16 heads: batch 1 is a long-context prefill; 16 heads x 128 = 2048 is
Llama-3.2-1B's hidden size, and 16 heads x S/64 query tiles already make
256 thread blocks at S = 1024, enough to fill the 132 SMs of an H100. At
S = 16384 the f32 q/k/v/o take 4 x 128 MiB (head_dim 128).

Decode: `tessel mkmodel bench/models/llama3.2-1b.json` (random f32 weights,
Llama-3.2-1B's shape: 16 layers, 32 heads over 8 KV heads, head_dim 64, vocab
128256) then `tessel run GGUF --device cuda -n 128` after an 8-token prompt;
its stderr gives decode tok/s. Beside it: the weight bytes read per token
(`tessel inspect --json`) and the device-memory bandwidth PyTorch measures in
the same run (a 1 GiB device-to-device copy), i.e. the bandwidth roofline.

Writes the section between <!-- gpu_bench:start --> and <!-- gpu_bench:end -->
of --results (default bench/RESULTS.md; the rest of the file is kept) and
WORK/attention_bench.json. Exit status: 0 done, 1 a run failed, 2 cannot run
(no torch with CUDA, no tessel). Runs with /usr/bin/python3 (torch needed).
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import make_attention_mlir  # noqa: E402

START, END = "<!-- gpu_bench:start -->", "<!-- gpu_bench:end -->"
BATCH, HEADS = 1, 16
NOT_RUN = "not run (no GPU lent to this session)"


def die(message):
    print(f"attention_bench: cannot run: {message}", flush=True)
    sys.exit(2)


def causal_flops(batch, heads, seq, head_dim):
    return 2 * 2 * batch * heads * seq * seq * head_dim / 2


def tflops(flops, ms):
    return flops / (ms * 1e-3) / 1e12 if ms and ms > 0 else None


def torch_sdpa_ms(torch, seq, head_dim, dtype, reps):
    F = torch.nn.functional
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(BATCH, HEADS, seq, head_dim, device="cuda", dtype=dtype, generator=g)
               for _ in range(3))
    for _ in range(3):
        F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        F.scaled_dot_product_attention(q, k, v, is_causal=True)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    del q, k, v
    torch.cuda.empty_cache()
    return statistics.median(times)


def device_bandwidth_gbs(torch):
    """Device-memory bandwidth from a 1 GiB device-to-device copy (read + write)."""
    n = 1 << 28  # float32 elements = 1 GiB
    x = torch.empty(n, device="cuda")
    y = torch.empty_like(x)
    for _ in range(2):
        y.copy_(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        y.copy_(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    del x, y
    torch.cuda.empty_cache()
    return 2 * 4 * n / (statistics.median(times) * 1e-3) / 1e9


def run(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def tessel_attention(a, seq, head_dim):
    d = os.path.join(a.work, f"s{seq}-d{head_dim}")
    os.makedirs(d, exist_ok=True)
    mlir = os.path.join(d, "attention.mlir")
    with open(mlir, "w") as f:
        f.write(make_attention_mlir.attention_mlir(BATCH, seq, HEADS, HEADS, head_dim, causal=True))
    r = run([a.tessel, "eval", mlir, "--device", "cuda", "--compiled", "--gpu_arch", a.gpu_arch,
             "--reps", str(a.reps), "--json", "--values", "0"])
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]}
    out = json.loads(r.stdout)
    t = out["timing"]
    return {"ms": t["in_compiled_code"]["median_ms"], "call_ms": t["median_ms"],
            "compile_s": out.get("compile_s"),
            "device": re.sub(r"^compiled for CUDA \((.*)\)$", r"\1", out.get("how", ""))}


def decode(a, torch_bw):
    gguf = os.path.join(a.work, "llama3.2-1b-f32.gguf")
    desc = os.path.join(ROOT, "bench", "models", "llama3.2-1b.json")
    if not os.path.exists(gguf) or os.path.getmtime(gguf) < os.path.getmtime(desc):
        r = run([a.tessel, "mkmodel", desc, "-o", gguf])
        if r.returncode != 0:
            return {"error": "mkmodel: " + (r.stderr.strip().splitlines() or ["?"])[-1]}
    info = run([a.tessel, "inspect", gguf, "--json", "--context", str(a.context)])
    weight_bytes = None
    if info.returncode == 0:
        weight_bytes = json.loads(info.stdout)["decode"]["weight_bytes_per_token"]
    r = run([a.tessel, "run", gguf, "--device", "cuda", "--gpu_arch", a.gpu_arch, "--prompt_ids",
             "128000 791 4062 14198 39935 35308 927 279", "-n", str(a.decode_tokens),
             "--print_token_ids", "--context", str(a.context), "--no_cache"])
    if r.returncode != 0:
        return {"error": "run: " + (r.stderr.strip().splitlines() or ["?"])[-1]}
    m = re.search(r"decode (\d+) tokens: ([0-9.]+) tok/s", r.stderr)
    p = re.search(r"prefill (\d+) tokens: ([0-9.]+) tok/s", r.stderr)
    c = re.search(r"compile ([0-9.]+) s", r.stderr)
    if not m:
        return {"error": "no 'decode N tokens: X tok/s' in tessel run's stderr: " + r.stderr[-300:]}
    res = {"tokens": int(m.group(1)), "tok_s": float(m.group(2)),
           "prefill_tok_s": float(p.group(2)) if p else None,
           "compile_s": float(c.group(1)) if c else None, "weight_bytes": weight_bytes,
           "bandwidth_gbs": torch_bw}
    if weight_bytes and torch_bw:
        res["roofline_tok_s"] = torch_bw * 1e9 / weight_bytes
    return res


def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def ratio(x, y):
    return f"{x / y:.2f}×" if x and y else "—"


def para(text):
    return textwrap.fill(text, width=95, break_on_hyphens=False)


def section(results):
    """The markdown between the markers; results None: the not-run placeholder."""
    cmd = ("scripts/gpu_check.sh   # on a GPU machine: parity checks, then this benchmark\n"
           "bench/gpu/attention_bench.py --tessel build/bin/tessel --gpu_arch sm_90   # the benchmark alone")
    lines = [START, "## GPU: attention and decode (`bench/gpu/attention_bench.py`)", ""]
    if results is None:
        lines += [para(f"**{NOT_RUN[0].upper() + NOT_RUN[1:]}.** Nothing below has been measured "
                       "yet: the session that wrote this section had no GPU. On a machine with an "
                       "NVIDIA GPU and PyTorch with CUDA, this fills it (replacing everything "
                       "between the `gpu_bench` markers):"), ""]
    else:
        env = results["env"]
        lines += [para(f"Measured {env['date']} on {env['gpu']} ({env['tessel_device']}), torch "
                       f"{env['torch']} (CUDA {env['cuda']}), Tessel {env['git']}; written by "
                       "`bench/gpu/attention_bench.py`, regenerated by:"), ""]
    lines += ["```sh", cmd, "```", ""]
    lines += [para("Attention forward, causal, batch 1, 16 heads (MHA; 16 x 128 = 2048 is "
              "Llama-3.2-1B's width, and 16 heads fill an H100's 132 SMs from S = 1024 on). "
              "**Tessel's attention kernels are float32** (`tessel.attention` takes f32 only); "
              "PyTorch's `scaled_dot_product_attention(is_causal=True)` runs in bf16 "
              "(FlashAttention-2) and in f32 (TF32 off) on the same GPU in the same run. "
              "TFLOP/s: the causal FLOPs (2 x 2 x B x H x S² x D / 2) over the median time of "
              f"{results['reps'] if results else 20} calls; Tessel's time is in compiled code "
              "(launches and device sync, inputs already on the device, the copy of the "
              "result to the host not counted)."), ""]
    lines += ["| S | head_dim | Tessel f32 ms | Tessel f32 TFLOP/s | torch f32 ms | torch f32 "
              "TFLOP/s | torch bf16 ms | torch bf16 TFLOP/s | Tessel / torch f32 | "
              "Tessel / torch bf16 |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = results["attention"] if results else [
        {"seq": s, "head_dim": d} for s in (1024, 4096, 16384) for d in (64, 128)]
    for r in rows:
        if results is None:
            lines.append(f"| {r['seq']} | {r['head_dim']} | " + " | ".join([NOT_RUN] * 8) + " |")
            continue
        t = r["tessel"]
        tt = tflops(r["flops"], t.get("ms"))
        f32, bf16 = tflops(r["flops"], r["torch_f32_ms"]), tflops(r["flops"], r["torch_bf16_ms"])
        tcell = f"error: {t['error']}" if "error" in t else fmt(t["ms"], 3)
        lines.append(
            f"| {r['seq']} | {r['head_dim']} | {tcell} | {fmt(tt)} | {fmt(r['torch_f32_ms'], 3)} | "
            f"{fmt(f32)} | {fmt(r['torch_bf16_ms'], 3)} | {fmt(bf16)} | {ratio(tt, f32)} | "
            f"{ratio(tt, bf16)} |")
    lines += ["", para("Decode, Llama-3.2-1B-shaped model (`bench/models/llama3.2-1b.json`, random f32 "
              "weights via `tessel mkmodel`), `tessel run GGUF --device cuda -n 128` after an "
              "8-token prompt, context 1024. The roofline is the device-memory bandwidth "
              "PyTorch measures in the same run (1 GiB copy) over the weight bytes read per "
              "token (`tessel inspect --json`)."), "",
              "| model | weights | decode tok/s | prefill tok/s (8 tokens) | weight bytes/token | "
              "measured bandwidth GB/s | roofline tok/s | fraction of roofline |",
              "|---|---|---|---|---|---|---|---|"]
    if results is None:
        lines.append("| Llama-3.2-1B shape | f32 | " + " | ".join([NOT_RUN] * 6) + " |")
    else:
        d = results["decode"]
        if "error" in d:
            lines.append(f"| Llama-3.2-1B shape | f32 | error: {d['error']} | | | | | |")
        elif d.get("skipped"):
            lines.append("| Llama-3.2-1B shape | f32 | not run (--no-decode) | | | | | |")
        else:
            roof = d.get("roofline_tok_s")
            lines.append(
                f"| Llama-3.2-1B shape | f32 | {fmt(d['tok_s'], 1)} | {fmt(d['prefill_tok_s'], 1)} | "
                f"{d['weight_bytes'] / 1e9:.2f} GB | {fmt(d['bandwidth_gbs'], 0)} | {fmt(roof, 1)} | "
                f"{fmt(d['tok_s'] / roof * 100 if roof else None, 0)} % |")
    lines += ["", END]
    return "\n".join(lines)


def write_results(path, text):
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    if START in old and END in old:
        new = old[:old.index(START)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(new)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tessel", default=os.path.join(ROOT, "build", "bin", "tessel"))
    p.add_argument("--gpu_arch", default="sm_90")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--seqs", default="1024,4096,16384")
    p.add_argument("--head_dims", default="64,128")
    p.add_argument("--no-decode", action="store_true", help="skip the Llama-3.2-1B decode run")
    p.add_argument("--decode_tokens", type=int, default=128)
    p.add_argument("--context", type=int, default=1024)
    p.add_argument("--results", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    p.add_argument("--no-results", action="store_true", help="print only; leave RESULTS.md alone")
    p.add_argument("--placeholder", action="store_true",
                   help="write the not-run section (no GPU needed) and exit")
    p.add_argument("--work", default=os.path.join(ROOT, "build", "gpu-check", "bench"))
    a = p.parse_args(argv)

    if a.placeholder:
        write_results(a.results, section(None))
        print(f"attention_bench: wrote the not-run section to {a.results}")
        return 0
    if not os.access(a.tessel, os.X_OK):
        die(f"no tessel binary at {a.tessel} (build it, or pass --tessel)")
    try:
        import torch
    except Exception as e:
        die(f"cannot import torch ({e}); the benchmark compares with PyTorch on the same GPU")
    if not torch.cuda.is_available():
        die(f"torch {torch.__version__} sees no CUDA device (torch.version.cuda = {torch.version.cuda})")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(a.work, exist_ok=True)
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    env = {"date": datetime.date.today().isoformat(), "gpu": torch.cuda.get_device_name(0),
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "git": git + (" + local changes" if dirty else ""), "tessel_device": "?"}
    results = {"env": env, "reps": a.reps, "attention": []}
    failed = False
    for seq in (int(s) for s in a.seqs.split(",")):
        for d in (int(x) for x in a.head_dims.split(",")):
            flops = causal_flops(BATCH, HEADS, seq, d)
            t = tessel_attention(a, seq, d)
            failed |= "error" in t
            if t.get("device"):
                env["tessel_device"] = t["device"]
            row = {"seq": seq, "head_dim": d, "flops": flops, "tessel": t,
                   "torch_f32_ms": torch_sdpa_ms(torch, seq, d, torch.float32, a.reps),
                   "torch_bf16_ms": torch_sdpa_ms(torch, seq, d, torch.bfloat16, a.reps)}
            results["attention"].append(row)
            tt = tflops(flops, t.get("ms"))
            print(f"S={seq} D={d}: tessel f32 {fmt(t.get('ms'), 3)} ms ({fmt(tt)} TFLOP/s)"
                  f"{' ' + t['error'] if 'error' in t else ''}; torch f32 {row['torch_f32_ms']:.3f} ms "
                  f"({fmt(tflops(flops, row['torch_f32_ms']))}), bf16 {row['torch_bf16_ms']:.3f} ms "
                  f"({fmt(tflops(flops, row['torch_bf16_ms']))})", flush=True)
    if a.no_decode:
        results["decode"] = {"skipped": True}
    else:
        results["decode"] = decode(a, device_bandwidth_gbs(torch))
        failed |= "error" in results["decode"]
        print(f"decode: {json.dumps(results['decode'])}", flush=True)
    with open(os.path.join(a.work, "attention_bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    text = section(results)
    print(text)
    if not a.no_results:
        write_results(a.results, text)
        print(f"attention_bench: updated {a.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
