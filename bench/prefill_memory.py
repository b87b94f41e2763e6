#!/usr/bin/env python3
"""Peak RSS and prefill speed against context length: Tessel vs llama.cpp.

For each context length L (default 1024 2048 4096 8192 16384) this builds a
prompt of L random token ids (fixed seed, below the vocabulary size) and runs

  * Tessel:    tessel run DESC --prompt_ids IDS -n 1 --temp 0 --print_token_ids --context L --no_cache
  * llama.cpp: node bench/llamacpp_prefill.mjs DESC.gguf --tokens-file IDS --context L
               (same random model, written by `tessel mkmodel`; 2 threads,
               f32 KV cache, flash attention on, batch 512)

each under /usr/bin/time (peak RSS = `%M`), and prints one table with ratios,
then checks that Tessel's peak RSS is linear in L (least-squares fit
RSS = a + b*L, max relative residual, growth per doubling) against what the KV
cache alone needs per token and what one materialised L x L score matrix
would cost.

Both engines also run a baseline: Tessel with a 1-token prompt and llama.cpp
with no prompt (model loaded, context created), both at the smallest L. The
"+base" columns are peak RSS minus that baseline: Node.js + llama.cpp start
at ~100 MiB and Tessel (LLVM JIT) at ~150 MiB before any token is evaluated.

  bench/prefill_memory.py [--lengths 1024,2048,...] [--desc bench/models/prefill-llama.json]
                          [--tessel build/bin/tessel] [--no-llamacpp] [--flash-attn on|off|auto]
                          [--batch 512] [--seed 1]

Environment: PREFILL_LENGTHS (same as --lengths), TESSEL (the binary).
Exit status: 0 on success, 1 when a run fails, 2 on bad usage or a missing tool.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GNU_TIME = "/usr/bin/time"
MAX_ARG_STRLEN = 131072  # Linux: the longest single command-line argument


def die(msg, code=2):
    print(f"prefill_memory: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", default=os.environ.get("PREFILL_LENGTHS", "1024,2048,4096,8192,16384"),
                   help="comma/space separated context lengths (env PREFILL_LENGTHS)")
    p.add_argument("--desc", default=os.path.join(HERE, "models", "prefill-llama.json"),
                   help="model description (.json, random weights)")
    p.add_argument("--tessel", default=os.environ.get("TESSEL", os.path.join(ROOT, "build", "bin", "tessel")))
    p.add_argument("--no-llamacpp", action="store_true", help="skip the llama.cpp columns")
    p.add_argument("--flash-attn", default="on", choices=["on", "off", "auto"],
                   help="llama.cpp flash attention (default on: what llama.cpp's 'auto' picks on CPU)")
    p.add_argument("--batch", type=int, default=512, help="llama.cpp n_batch = n_ubatch (default 512)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random prompt")
    p.add_argument("--keep", metavar="DIR", help="keep the GGUF, prompts and logs in DIR")
    a = p.parse_args()
    try:
        a.lengths = sorted({int(x) for x in re.split(r"[,\s]+", a.lengths.strip()) if x})
    except ValueError:
        die(f"--lengths: expected integers, got '{a.lengths}'")
    if not a.lengths or a.lengths[0] < 2:
        die("--lengths: give context lengths >= 2")
    return a


def read_desc(path):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{path}: {e}")
    heads = d.get("num_attention_heads") or d.get("n_head")
    hidden = d.get("hidden_size") or d.get("n_embd")
    return {
        "layers": d.get("num_hidden_layers") or d.get("n_layer"),
        "heads": heads,
        "kv_heads": d.get("num_key_value_heads", heads),
        "head_dim": d.get("head_dim", hidden // heads),
        "hidden": hidden,
        "vocab": d["vocab_size"],
        "context": d.get("max_position_embeddings") or d.get("n_positions"),
        "type": d.get("model_type"),
        "ffn": d.get("intermediate_size") or d.get("n_inner"),
    }


def timed(cmd, log_path):
    """Runs cmd under GNU time; returns (rc, peak RSS KiB, wall s, stdout, stderr)."""
    tfile = log_path + ".time"
    t0 = time.monotonic()
    p = subprocess.run([GNU_TIME, "-o", tfile, "-f", "%M %e %U %S"] + cmd,
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    with open(log_path, "w") as f:
        f.write(f"$ {' '.join(c if len(c) < 200 else c[:80] + '...' for c in cmd)}\n"
                f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}\n")
    rss = None
    try:
        with open(tfile) as f:
            lines = [l for l in f.read().splitlines() if re.match(r"^\d+ [\d.]+ [\d.]+ [\d.]+$", l)]
        if lines:
            rss = int(lines[-1].split()[0])
            cpu = float(lines[-1].split()[2]) + float(lines[-1].split()[3])
    except OSError:
        pass
    return p.returncode, rss, wall, p.stdout, p.stderr, (cpu if rss is not None else None)


def run_tessel(args, ids, context, log):
    prompt = " ".join(map(str, ids))
    if len(prompt) >= MAX_ARG_STRLEN:
        die(f"the prompt for L={len(ids)} is {len(prompt)} bytes, above Linux's {MAX_ARG_STRLEN}-byte limit "
            f"for one argument (--prompt_ids); use a smaller vocabulary or shorter lengths", 1)
    cmd = [args.tessel, "run", args.desc, "--prompt_ids", prompt, "-n", "1", "--temp", "0",
           "--print_token_ids", "--context", str(context),
           # Every run compiles with the JIT: a compile-cache hit would skip
           # LLVM and make the runs' fixed memory differ.
           "--no_cache"]
    for attempt in range(20):
        # build/ is relinked continually by others: wait for the binary to come back.
        if os.access(args.tessel, os.X_OK):
            rc, rss, wall, out, err, cpu = timed(cmd, log)
            if rc != 127:
                break
        time.sleep(3)
    else:
        die(f"{args.tessel} stayed missing for a minute", 1)
    m = re.search(r"prefill (\d+) tokens: ([\d.]+) tok/s", err)
    if rc != 0 or not m:
        print(f"prefill_memory: tessel run failed (rc {rc}) for {len(ids)} tokens, --context {context}; "
              f"log: {log}\n{err[-2000:]}", file=sys.stderr)
        sys.exit(1)
    stopped = "stopped at the context length" in err
    return {"rss": rss, "tok_s": float(m.group(2)), "tokens": int(m.group(1)), "wall": wall,
            "cpu": cpu, "stopped": stopped, "err": err}


def run_llamacpp(args, gguf, ids_file, context, log, baseline=False):
    cmd = ["node", os.path.join(HERE, "llamacpp_prefill.mjs"), gguf, "--context", str(context),
           "--batch", str(args.batch), "--threads", "2", "--flash-attn", args.flash_attn, "--kv-type", "f32"]
    cmd += ["--n-tokens", "0"] if baseline else ["--tokens-file", ids_file]
    rc, rss, wall, out, err, cpu = timed(cmd, log)
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = None
    if rc != 0 or res is None:
        print(f"prefill_memory: llama.cpp run failed (rc {rc}), log: {log}\n{err[-2000:]}", file=sys.stderr)
        sys.exit(1)
    res.update(rss=rss, wall=wall, cpu=cpu)
    return res


def lstsq_line(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def mib(kib):
    return kib / 1024.0


def main():
    args = parse_args()
    if not os.path.exists(GNU_TIME):
        die(f"{GNU_TIME} (GNU time) is missing: apt-get install time")
    if not (os.path.isfile(args.tessel) and os.access(args.tessel, os.X_OK)):
        die(f"{args.tessel} is missing or not executable: build Tessel first (cmake --build build), "
            f"or point --tessel/TESSEL at the binary")
    cfg = read_desc(args.desc)
    if cfg["context"] is not None and args.lengths[-1] > cfg["context"]:
        die(f"{args.desc}: max_position_embeddings {cfg['context']} is below the largest length "
            f"{args.lengths[-1]}")

    llama_note = None
    if not args.no_llamacpp:
        if shutil.which("node") is None:
            llama_note = "node (Node.js) not found: llama.cpp columns skipped (apt-get install nodejs npm)"
        elif not os.path.isdir(os.path.join(ROOT, "tests", "llamacpp", "node_modules", "node-llama-cpp")):
            llama_note = ("tests/llamacpp/node_modules is missing: llama.cpp columns skipped "
                          "(npm ci --prefix tests/llamacpp)")
    else:
        llama_note = "llama.cpp columns skipped (--no-llamacpp)"
    use_llama = llama_note is None

    work = args.keep or tempfile.mkdtemp(prefix="prefill_memory.")
    os.makedirs(work, exist_ok=True)
    try:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    except OSError:
        cpu = "?"
    print(f"# prefill_memory: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({cpu}), "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"# model {os.path.relpath(args.desc, ROOT)}: {cfg['type']}, hidden {cfg['hidden']}, "
          f"{cfg['layers']} layers, {cfg['heads']} heads ({cfg['kv_heads']} KV) x {cfg['head_dim']}, "
          f"ffn {cfg['ffn']}, vocab {cfg['vocab']}, f32 random weights")
    print(f"# prompt: L random ids < {cfg['vocab']} (seed {args.seed}), prefill only (-n 1: the first "
          f"token comes from the prefill logits)")

    gguf = os.path.join(work, "model.gguf")
    if use_llama:
        p = subprocess.run([args.tessel, "mkmodel", args.desc, "-o", gguf], capture_output=True, text=True)
        if p.returncode != 0:
            die(f"tessel mkmodel {args.desc} failed:\n{p.stderr}", 1)
        print(f"# llama.cpp: node-llama-cpp 3.22.1 prebuilt CPU build, 2 threads, f32 KV cache, "
              f"flash attention {args.flash_attn}, n_batch = n_ubatch = {args.batch}")
    else:
        print(f"# {llama_note}")

    import random
    rng = random.Random(args.seed)
    big = [rng.randrange(cfg["vocab"]) for _ in range(args.lengths[-1])]

    # Older builds refused a prompt that fills --context exactly; if one
    # does, it gets one extra KV row.
    extra = 0
    base_ids = big[:1]
    tb = run_tessel(args, base_ids, args.lengths[0], os.path.join(work, "tessel-base.log"))
    lb = None
    if use_llama:
        lb = run_llamacpp(args, gguf, None, args.lengths[0], os.path.join(work, "llama-base.log"), baseline=True)

    rows = []
    for L in args.lengths:
        ids = big[:L]
        ids_file = os.path.join(work, f"ids-{L}.txt")
        with open(ids_file, "w") as f:
            f.write(" ".join(map(str, ids)) + "\n")
        t = run_tessel(args, ids, L + extra, os.path.join(work, f"tessel-{L}.log"))
        if t["stopped"] and extra == 0:
            extra = 1
            t = run_tessel(args, ids, L + extra, os.path.join(work, f"tessel-{L}.log"))
        if t["stopped"] or t["tok_s"] == 0:
            die(f"tessel did not prefill {L} tokens with --context {L + extra}:\n{t['err']}", 1)
        ll = None
        if use_llama:
            ll = run_llamacpp(args, gguf, ids_file, L, os.path.join(work, f"llama-{L}.log"))
        rows.append((L, t, ll))
        print(f"#   L={L}: tessel {mib(t['rss']):.1f} MiB {t['tok_s']:.1f} tok/s ({t['wall']:.1f} s)"
              + (f"; llama.cpp {mib(ll['rss']):.1f} MiB {ll['prefill_tok_s']:.1f} tok/s ({ll['wall']:.1f} s)"
                 if ll else ""), flush=True)
    if extra:
        print("# note: tessel run refuses a prompt of exactly --context tokens (\"stopped at the context "
              "length\" before the prefill), so Tessel ran with --context L+1 (one more KV row)")

    print()
    hdr = ["L", "Tessel MiB", "+base", "llama.cpp MiB", "+base", "RSS ratio", "+base ratio",
           "Tessel tok/s", "llama.cpp tok/s", "speed ratio"]
    table = []
    for L, t, ll in rows:
        td = mib(t["rss"] - tb["rss"])
        r = [str(L), f"{mib(t['rss']):.1f}", f"{td:.1f}"]
        if ll:
            ld = mib(ll["rss"] - lb["rss"])
            r += [f"{mib(ll['rss']):.1f}", f"{ld:.1f}", f"{t['rss'] / ll['rss']:.2f}",
                  f"{td / ld:.2f}" if ld > 0 else "-",
                  f"{t['tok_s']:.1f}", f"{ll['prefill_tok_s']:.1f}", f"{t['tok_s'] / ll['prefill_tok_s']:.2f}"]
        else:
            r += ["-", "-", "-", "-", f"{t['tok_s']:.1f}", "-", "-"]
        table.append(r)
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(hdr)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for r in table:
        print(line(r))
    base = f"Tessel {mib(tb['rss']):.1f} MiB (1-token prompt, --context {args.lengths[0]})"
    if lb:
        base += f", llama.cpp {mib(lb['rss']):.1f} MiB (model loaded, {args.lengths[0]}-token context, no tokens)"
    print(f"baseline: {base}")
    print("ratios are Tessel / llama.cpp: RSS below 1 = Tessel uses less memory, speed above 1 = Tessel faster")
    print(f"Tessel CPU time / wall at the largest L: {rows[-1][1]['cpu']:.1f} s / {rows[-1][1]['wall']:.1f} s"
          + (f"; llama.cpp {rows[-1][2]['cpu']:.1f} s / {rows[-1][2]['wall']:.1f} s" if rows[-1][2] else ""))

    # Linearity of Tessel's peak RSS in L.
    print()
    xs = [L for L, _, _ in rows]
    ys = [t["rss"] * 1024.0 for _, t, _ in rows]  # bytes
    kv_tok = 2 * cfg["layers"] * cfg["kv_heads"] * cfg["head_dim"] * 4
    Lmax = xs[-1]
    print(f"linearity (Tessel peak RSS, bytes, least squares over {len(xs)} lengths):")
    if len(xs) >= 2:
        a, b = lstsq_line(xs, ys)
        resid = max(abs(y - (a + b * x)) / y for x, y in zip(xs, ys))
        print(f"  RSS = {a / 2**20:.1f} MiB + {b:.0f} bytes/token * L;  max relative residual {resid * 100:.2f}%")
        for name, res in (("llama.cpp", [ll for _, _, ll in rows]),):
            if all(res):
                la, lb_ = lstsq_line(xs, [r["rss"] * 1024.0 for r in res])
                lres = max(abs(r["rss"] * 1024.0 - (la + lb_ * x)) / (r["rss"] * 1024.0) for x, r in zip(xs, res))
                print(f"  ({name}: RSS = {la / 2**20:.1f} MiB + {lb_:.0f} bytes/token * L; "
                      f"max relative residual {lres * 100:.2f}%)")
        steps = []
        for i in range(1, len(xs) - 1):
            d1, d2 = ys[i] - ys[i - 1], ys[i + 1] - ys[i]
            if d1 > 0 and xs[i + 1] - xs[i] == 2 * (xs[i] - xs[i - 1]):
                steps.append(f"{xs[i]}->{xs[i + 1]}: x{d2 / d1:.2f}")
        if steps:
            print(f"  growth of each step over the previous one (lengths doubling: linear ~x2, "
                  f"quadratic ~x4): {', '.join(steps)}")
        print(f"  KV cache alone: 2 * {cfg['layers']} layers * {cfg['kv_heads']} KV heads * {cfg['head_dim']} * "
              f"4 bytes = {kv_tok} bytes/token ({kv_tok * Lmax / 2**20:.0f} MiB at {Lmax}); "
              f"fitted slope / KV = {b / kv_tok:.1f}")
        per_tok_act = 4 * (cfg["hidden"] * 4 + 2 * cfg["ffn"] + cfg["vocab"])
        print(f"  (whole-prompt activations also grow linearly: e.g. f32 [L, {cfg['hidden']}] x4, "
              f"[L, {cfg['ffn']}] x2 and [L, {cfg['vocab']}] logits = {per_tok_act} bytes/token)")
        score = Lmax * Lmax * 4
        print(f"  one materialised {Lmax} x {Lmax} f32 score matrix = {score / 2**20:.0f} MiB per head "
              f"({score * cfg['heads'] / 2**20:.0f} MiB for {cfg['heads']} heads of one layer); Tessel's whole "
              f"peak at {Lmax} is {ys[-1] / 2**20:.0f} MiB, {(ys[-1] - tb['rss'] * 1024.0) / 2**20:.0f} MiB above "
              f"its baseline: {'not materialised' if ys[-1] - tb['rss'] * 1024.0 < score else 'too short a length to tell from memory alone'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"\n# logs and prompts kept in {work}")


if __name__ == "__main__":
    main()
