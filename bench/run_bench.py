#!/usr/bin/env python3
"""The benchmark suite (issue 6): Tessel against llama.cpp and PyTorch, and bench/RESULTS.md.

One command:
  (a) writes each model shape as GGUF with `tessel mkmodel --dtype T`, for each
      weight type, into a cache directory (default build/bench-models; a file
      is rewritten only when its description is newer);
  (b) runs, for each shape x type, with the same thread count and reps:
        Tessel     tessel bench GGUF -p 128 -n 128 --json   (pp128 and tg128)
                   tessel bench GGUF -p 512 -n 0 --json     (pp512)
        llama.cpp  llama-bench -m GGUF -p 128,512 -n 0 and -p 0 -n 128 -d 128 (llama.cpp's
                   own bench, built by bench/build_llama_bench.sh against node-llama-cpp's
                   prebuilt libraries; --llamacpp node: node bench/llamacpp_bench.mjs)
        PyTorch    /usr/bin/python3 bench/torch_bench.py GGUF --pp 128,512 --tg 128
                   (f32 files only by default: it computes in f32 whatever the file holds)
      plus decode at an 8k context (f32 stories15M, llama.cpp with flash
      attention) and `tessel bench --compile` (cold and cached compile);
  (c) prints one table: tok/s of each engine, Tessel / llama.cpp and Tessel /
      PyTorch, and Tessel's roofline fraction (decode against the read
      bandwidth, prefill against the FMA peak, both measured by `tessel bench`);
  (d) rewrites the performance section of bench/RESULTS.md (between the
      markers <!-- run_bench:begin --> and <!-- run_bench:end -->; the rest of
      the file, e.g. the quality sections, is kept) with the machine, the
      tables and the issue's targets, each met or NOT MET with its figure.

  bench/run_bench.py                          # default shapes and types, 2 threads (~20 min on 2 busy cores)
  bench/run_bench.py --with-1b                # add Llama-3.2-1B (f32 GGUF 5 GB; much longer)
  bench/run_bench.py --shapes stories15M --types f32,q8_0 --no-results   # a quick look

Every engine run is timed under GNU time (peak RSS), and the CPU time other
processes used during it is recorded ("others" column, in cores): this is a
shared 2-core machine, and a run that shared its cores is slower than it
should be. Raw results go to CACHE_DIR/last-run.json, logs to CACHE_DIR/logs/.
Exit status: 0 success (targets not met are reported, not errors), 1 a run
failed, 2 bad usage or a missing tool.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TORCH_PYTHON = "/usr/bin/python3"  # Debian's python3-torch; `python3` on PATH may lack torch
GNU_TIME = "/usr/bin/time"
BEGIN, END = "<!-- run_bench:begin -->", "<!-- run_bench:end -->"

# name -> (description under bench/models, what it is)
SHAPES = {
    "stories15M": ("stories15M.json", "llama2.c stories15M: llama, dim 288, 6 layers, 6 heads, FFN 768, "
                   "vocab 32000, tied embeddings (context 16384 instead of 256, for pp512 and the 8k decode)"),
    "stories110M": ("stories110M.json", "llama2.c stories110M: llama, dim 768, 12 layers, 12 heads, FFN 2048, "
                    "vocab 32000, tied embeddings, context 1024"),
    "moe-mixtral": ("moe-mixtral.json", "Mixtral-shaped MoE: dim 512, 4 layers, 8 heads (2 KV), 8 experts "
                    "top-2 of FFN 1024, vocab 32000"),
    "mla-deepseek2": ("mla-deepseek2.json", "DeepSeek-V2-shaped MLA: dim 512, 4 layers, 8 heads, kv_lora_rank 128, "
                      "q_lora_rank 0, qk 64+32 (rope), v 64; layer 0 dense FFN 1408, then 16 routed experts "
                      "top-4 + 2 shared of FFN 256; vocab 32000"),
    "llama3.2-1b": ("llama3.2-1b.json", "Llama-3.2-1B: dim 2048, 16 layers, 32 heads (8 KV) x 64, FFN 8192, "
                    "vocab 128256, rope theta 500000 with llama3 scaling, tied embeddings"),
}
DEFAULT_SHAPES = ["stories15M", "stories110M", "moe-mixtral", "mla-deepseek2"]
BIG = "llama3.2-1b"
TYPES = ["f32", "bf16", "q8_0", "q4_0"]


def die(msg, code=2):
    print(f"run_bench: {msg}", file=sys.stderr)
    sys.exit(code)


def csv(s):
    return [x for x in re.split(r"[,\s]+", s.strip()) if x]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                   help=f"comma-separated, of {', '.join(SHAPES)} (default: all but {BIG})")
    p.add_argument("--with-1b", action="store_true", help=f"add {BIG} (f32 GGUF ~5 GB; long on 2 cores)")
    p.add_argument("--types", default=",".join(TYPES), help="weight types (default f32,bf16,q8_0,q4_0)")
    p.add_argument("--engines", default="tessel,llamacpp,torch", help="which engines run")
    p.add_argument("--llamacpp", default="bench", choices=["bench", "node"],
                   help="how llama.cpp runs: its llama-bench built against node-llama-cpp's libraries "
                        "(bench/build_llama_bench.sh; default) or bench/llamacpp_bench.mjs through node-llama-cpp "
                        "(node: its decode pays ~10 ms of scheduling per token with 2 threads on 2 cores)")
    p.add_argument("--torch-types", default="f32",
                   help="weight types PyTorch runs (it dequantizes to f32, so others repeat f32's figure)")
    p.add_argument("-t", "--threads", type=int, default=2, help="threads for every engine (default 2)")
    p.add_argument("--reps", type=int, default=1,
                   help="timed runs per test and engine in each round (default 1)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds per shape x type, alternating the engines (Tessel, llama.cpp, Tessel, ...); "
                        "each figure is the median of all rounds' timed runs (default 3). The machine's "
                        "speed drifts over minutes with its neighbours' load, so runs taken in turns share "
                        "it; one engine's runs taken together would each see a different machine")
    p.add_argument("--pp", default="128,512", help="prefill lengths (default 128,512)")
    p.add_argument("--tg", type=int, default=128, help="decode steps (default 128)")
    p.add_argument("--tg-prompt", type=int, default=128, help="prompt before the decode steps (default 128)")
    p.add_argument("--big-reps", type=int, default=1, help=f"reps for {BIG} (default 1)")
    p.add_argument("--big-tg", type=int, default=32, help=f"decode steps for {BIG} (default 32)")
    p.add_argument("--long", type=int, default=8192,
                   help="decode at this context (f32 stories15M, llama.cpp -fa on); 0 skips (default 8192)")
    p.add_argument("--long-tg", type=int, default=32, help="decode steps at the long context (default 32)")
    p.add_argument("--compile-shape", default=None,
                   help=f"model for `tessel bench --compile` (default {BIG} with --with-1b, else stories110M; "
                        f"'none' skips)")
    p.add_argument("--gemm", default="512,768,768;512,2048,768;512,768,2048;1024,1024,1024",
                   help="M,N,K shapes (';'-separated) for `tessel bench --gemm`; '' skips "
                        "(default: stories110M's pp512 projections and 1024^3)")
    p.add_argument("--gemm-reps", type=int, default=10,
                   help="--reps of each `tessel bench --gemm` (it keeps the best; default 10)")
    p.add_argument("--max-others", type=float, default=0.4,
                   help="rerun an engine run (up to --tries times, 15 s apart) when other processes used more "
                        "than this many cores during it (default 0.4)")
    p.add_argument("--tries", type=int, default=1, help="attempts per engine run: 2 reruns a contended run once (default 1)")
    p.add_argument("--flash-attn", default="best", choices=["best", "on", "off", "auto"],
                   help="llama.cpp flash attention; best (default): llama-bench runs both and each test keeps "
                        "the faster (node mode: on)")
    p.add_argument("--kv-type", default="f32", choices=["f32", "f16"], help="llama.cpp KV cache (default f32)")
    p.add_argument("--cache-dir", default=os.path.join(ROOT, "build", "bench-models"))
    p.add_argument("--tessel", default=os.environ.get("TESSEL", os.path.join(ROOT, "build", "bin", "tessel")))
    p.add_argument("--no-snapshot", action="store_true",
                   help="run --tessel in place (default: a copy in CACHE_DIR, so a rebuild mid-run cannot mix builds)")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="the file to update")
    p.add_argument("--no-results", action="store_true", help="print only; leave RESULTS.md alone")
    p.add_argument("--update", action="store_true",
                   help="merge this run into CACHE_DIR/last-run.json (its rows, 8k decode, GEMM and compile "
                        "figures replace the old ones) and rewrite RESULTS.md from the merge; e.g. "
                        "--update --shapes moe-mixtral --types q8_0 --long 0 --gemm '' --compile-shape none")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: rewrite the RESULTS.md section from CACHE_DIR/last-run.json")
    a = p.parse_args()
    a.shapes = [] if a.shapes.strip() == "none" else csv(a.shapes)
    if a.with_1b and BIG not in a.shapes:
        a.shapes.append(BIG)
    for s in a.shapes:
        if s not in SHAPES:
            die(f"unknown shape '{s}' (known: {', '.join(SHAPES)})")
    a.types = csv(a.types)
    for t in a.types:
        if t not in TYPES:
            die(f"unknown weight type '{t}' (known: {', '.join(TYPES)})")
    a.torch_types = csv(a.torch_types)
    a.engines = csv(a.engines)
    for e in a.engines:
        if e not in ("tessel", "llamacpp", "torch"):
            die(f"unknown engine '{e}' (tessel, llamacpp, torch)")
    try:
        a.pp = sorted({int(x) for x in csv(a.pp)})
    except ValueError:
        die(f"--pp: expected integers, got '{a.pp}'")
    if (a.threads < 1 or a.reps < 1 or a.rounds < 1 or a.big_reps < 1 or a.tg < 1 or a.tg_prompt < 1
            or not a.pp):
        die("-t, --reps, --rounds, --big-reps, --tg, --tg-prompt and --pp need values >= 1")
    if a.compile_shape is None:
        a.compile_shape = BIG if BIG in a.shapes else "stories110M"
    if a.compile_shape != "none" and a.compile_shape not in SHAPES:
        die(f"--compile-shape: unknown shape '{a.compile_shape}'")
    return a


# --------------------------------------------------------------------------
# Running things

def cpu_busy_s():
    """Seconds of CPU time all processes used so far (from /proc/stat), and of stolen time."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return (user + nice + system + irq + softirq) / hz, steal / hz


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Runner:
    def __init__(self, logdir, max_others, tries):
        self.logdir = logdir
        self.n = 0
        self.max_others = max_others
        self.tries = tries
        self.retried = 0

    def run(self, name, cmd, json_mode="whole"):
        """run_once, again while others used more than max_others cores (least contended kept)."""
        best = None
        for attempt in range(self.tries):
            r = self.run_once(name, cmd, json_mode)
            r["attempts"] = attempt + 1
            if best is None or r["others"] < best["others"]:
                best = r
            if r["rc"] != 0 or r["others"] <= self.max_others or attempt + 1 == self.tries:
                break
            self.retried += 1
            print(f"  (other processes used {r['others']:.2f} cores during {name}: again in 15 s)", flush=True)
            time.sleep(15)
        return best

    def run_once(self, name, cmd, json_mode):
        """Runs cmd under GNU time; returns dict(json, rc, wall, rss_mib, others, log)."""
        self.n += 1
        log = os.path.join(self.logdir, f"{self.n:03d}-{name}.log")
        tfile = log + ".time"
        busy0, steal0 = cpu_busy_s()
        mine0 = children_cpu_s()
        t0 = time.monotonic()
        p = subprocess.run([GNU_TIME, "-o", tfile, "-f", "%M"] + cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        busy1, steal1 = cpu_busy_s()
        mine = children_cpu_s() - mine0
        others = max(0.0, (busy1 - busy0) - mine) / wall if wall > 0 else 0.0
        with open(log, "w") as f:
            f.write(f"$ {' '.join(cmd)}\n--- rc {p.returncode}, {wall:.1f} s\n--- stdout\n{p.stdout}\n"
                    f"--- stderr\n{p.stderr}\n")
        rss = None
        try:
            with open(tfile) as f:
                nums = [l for l in f.read().split() if l.isdigit()]
            rss = int(nums[-1]) / 1024 if nums else None
        except OSError:
            pass
        res = None
        out = p.stdout.strip()
        if out:
            try:
                res = json.loads(out) if json_mode == "whole" else json.loads(out.splitlines()[-1])
            except ValueError:
                res = None
        return {"json": res, "rc": p.returncode, "wall": wall, "rss_mib": rss, "others": others,
                "steal": (steal1 - steal0) / wall if wall > 0 else 0.0, "log": log, "stderr": p.stderr}


def check_failed(r, what):
    if r["rc"] != 0 or r["json"] is None:
        tail = r["stderr"].strip().splitlines()[-15:]
        print(f"run_bench: {what} failed (rc {r['rc']}); log {r['log']}\n  " + "\n  ".join(tail),
              file=sys.stderr)
        return True
    return False


# --------------------------------------------------------------------------

def machine_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        m = re.search(r"^model name\s*:\s*(.*)$", txt, re.M)
        info["cpu"] = m.group(1).strip() if m else platform.processor()
        flags = re.search(r"^flags\s*:\s*(.*)$", txt, re.M)
        flags = set(flags.group(1).split()) if flags else set()
        info["simd"] = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE4/other")
        fam = re.search(r"^cpu family\s*:\s*(\d+)", txt, re.M)
        mod = re.search(r"^model\s*:\s*(\d+)", txt, re.M)
        if fam and mod:
            info["family_model"] = f"family {fam.group(1)} model {mod.group(1)}"
    except OSError:
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        tpc = re.search(r"Thread\(s\) per core:\s*(\d+)", lscpu)
        hyp = re.search(r"Hypervisor vendor:\s*(\S+)", lscpu)
        l3 = re.search(r"L3 cache:\s*(.*)", lscpu)
        info["threads_per_core"] = int(tpc.group(1)) if tpc else None
        info["hypervisor"] = hyp.group(1) if hyp else None
        info["l3"] = l3.group(1).strip() if l3 else None
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s*(\d+) kB", f.read())
        info["mem_gib"] = int(m.group(1)) / 2**20 if m else None
    except OSError:
        info["mem_gib"] = None
    info["kernel"] = platform.release()
    git = lambda *a: subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True).stdout.strip()
    info["commit"] = git("rev-parse", "--short=12", "HEAD")
    info["commit_subject"] = git("log", "-1", "--format=%s")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    info["dirty_files"] = len(dirty.splitlines()) if dirty else 0
    info["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info["load_start"] = os.getloadavg()
    return info


def peer_versions():
    v = {"llamacpp": None, "torch": None}
    meta = os.path.join(ROOT, "tests", "llamacpp", "node_modules", "@node-llama-cpp", "linux-x64", "bins",
                        "linux-x64", "_nlcBuildMetadata.json")
    pkg = os.path.join(ROOT, "tests", "llamacpp", "node_modules", "node-llama-cpp", "package.json")
    try:
        with open(pkg) as f:
            nlc = json.load(f)["version"]
        with open(meta) as f:
            rel = json.load(f)["buildOptions"]["llamaCpp"]["release"]
        v["llamacpp"] = f"node-llama-cpp {nlc} prebuilt CPU build (llama.cpp {rel})"
    except (OSError, KeyError, ValueError):
        pass
    p = subprocess.run([TORCH_PYTHON, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    if p.returncode == 0:
        v["torch"] = f"PyTorch {p.stdout.strip()} (Debian python3-torch, {TORCH_PYTHON})"
    return v


def make_models(a, tessel, need):
    """shape -> type -> GGUF path, written with `tessel mkmodel` when missing or stale."""
    os.makedirs(a.cache_dir, exist_ok=True)
    paths = {}
    for s, types in need.items():
        desc = os.path.join(HERE, "models", SHAPES[s][0])
        for t in types:
            out = os.path.join(a.cache_dir, f"{s}-{t}.gguf")
            if not (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(desc)):
                t0 = time.monotonic()
                tmp = out + ".tmp"
                p = subprocess.run([tessel, "mkmodel", desc, "--dtype", t, "-o", tmp], capture_output=True, text=True)
                if p.returncode != 0:
                    die(f"tessel mkmodel {desc} --dtype {t} failed:\n{p.stderr}", 1)
                os.replace(tmp, out)
                print(f"# wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out) / 1e6:.0f} MB, "
                      f"{time.monotonic() - t0:.1f} s)", flush=True)
            paths.setdefault(s, {})[t] = out
    return paths


def fmt(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def fmt_pct(f):
    return "—" if f is None else f"{100 * f:.0f} %"


def main():
    a = parse_args()
    if a.render_only:
        try:
            with open(os.path.join(a.cache_dir, "last-run.json")) as f:
                out = json.load(f)
        except (OSError, ValueError) as e:
            die(f"--render-only: {e}")
        md = render(out, argparse.Namespace(**out["args"]))
        print(md)
        if not a.no_results:
            write_results(a.results, md)
            print(f"# wrote {os.path.relpath(a.results, ROOT)}")
        return 0
    if not os.path.exists(GNU_TIME):
        die(f"{GNU_TIME} (GNU time) is missing: apt-get install time")
    if not (os.path.isfile(a.tessel) and os.access(a.tessel, os.X_OK)):
        die(f"{a.tessel} is missing: build Tessel first (cmake --build build) or pass --tessel")
    os.makedirs(a.cache_dir, exist_ok=True)
    logdir = os.path.join(a.cache_dir, "logs")
    if a.update:
        logdir = os.path.join(logdir, "update-" + time.strftime("%Y%m%d-%H%M%S"))
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    tessel = a.tessel
    if not a.no_snapshot:
        tessel = os.path.join(a.cache_dir, "tessel")
        shutil.copy2(a.tessel, tessel)

    notes = []
    engines = list(a.engines)
    if "llamacpp" in engines:
        if shutil.which("node") is None:
            notes.append("llama.cpp skipped: node (Node.js) not found")
            engines.remove("llamacpp")
        elif not os.path.isdir(os.path.join(ROOT, "tests", "llamacpp", "node_modules", "node-llama-cpp")):
            notes.append("llama.cpp skipped: tests/llamacpp/node_modules is missing (npm ci --prefix tests/llamacpp)")
            engines.remove("llamacpp")
    llama_bench = None
    if "llamacpp" in engines and a.llamacpp == "bench":
        p = subprocess.run([os.path.join(HERE, "build_llama_bench.sh"), os.path.join(a.cache_dir, "llama-bench")],
                           capture_output=True, text=True)
        if p.returncode == 0:
            llama_bench = p.stdout.strip().splitlines()[-1]
        else:
            notes.append("llama-bench could not be built (bench/build_llama_bench.sh), llama.cpp ran through "
                         "node-llama-cpp instead: " + (p.stderr.strip().splitlines() or ["?"])[-1])
            a.llamacpp = "node"
    if "torch" in engines:
        if subprocess.run([TORCH_PYTHON, "-c", "import torch"], capture_output=True).returncode != 0:
            notes.append(f"PyTorch skipped: {TORCH_PYTHON} cannot import torch (apt-get install python3-torch)")
            engines.remove("torch")

    machine = machine_info()
    peers = peer_versions()
    t_start = time.monotonic()
    print(f"# run_bench: {machine['date']}, {machine['cores']} cores ({machine['cpu']}, {machine['simd']}), "
          f"load average {machine['load_start'][0]:.2f}, commit {machine['commit']}"
          f"{' + uncommitted changes' if machine['dirty_files'] else ''}", flush=True)
    print(f"# shapes {', '.join(a.shapes)}; types {', '.join(a.types)}; engines {', '.join(engines)}; "
          f"{a.threads} threads; median of {a.rounds} rounds x {a.reps}", flush=True)

    need = {sh: list(a.types) for sh in a.shapes}  # shape -> types to write
    for extra in ([a.compile_shape] if a.compile_shape != "none" else []) + (["stories15M"] if a.long else []):
        if "f32" not in need.setdefault(extra, []):
            need[extra].append("f32")
    paths = make_models(a, tessel, need)

    runner = Runner(logdir, a.max_others, a.tries)
    rows = []  # one per shape x type x test
    machines = []  # tessel bench's measured machine figures
    failures = 0

    def tessel_bench(model, p, n, reps, extra=(), suffix=""):
        r = runner.run(f"tessel-{os.path.basename(model)}-p{p}-n{n}{suffix}",
                       [tessel, "bench", model, "-p", str(p), "-n", str(n), "-t", str(a.threads),
                        "--reps", str(reps), "--json"] + list(extra))
        if check_failed(r, f"tessel bench {model} -p {p} -n {n}"):
            return None
        machines.append(r["json"]["machine"])
        return r

    def llamacpp(model, pps, tg, tg_prompt, reps, flash, suffix=""):
        """llama.cpp's pp and tg runs: (results [{test, fa, runs}], others, rss) or None."""
        base = os.path.basename(model)
        if a.llamacpp == "node":
            flash = "on" if flash == "best" else flash
            r = runner.run(f"llamacpp-{base}", ["node", os.path.join(HERE, "llamacpp_bench.mjs"), model,
                                               "--pp", ",".join(map(str, pps)), "--tg", str(tg),
                                               "--tg-prompt", str(tg_prompt), "--reps", str(reps),
                                               "--threads", str(a.threads), "--flash-attn", flash,
                                               "--kv-type", a.kv_type], json_mode="lastline")
            if check_failed(r, f"llama.cpp (node) on {model}"):
                return None
            return ([{"test": x["test"], "fa": flash, "runs": [x["tok_s"]]} for x in r["json"]["results"]],
                    r["others"], r["rss_mib"])
        common = ["-m", model, "-t", str(a.threads), "-r", str(reps),
                  "-fa", "on,off" if flash == "best" else flash, "-ctk", a.kv_type,
                  "-ctv", a.kv_type, "-o", "json"]
        results, others, rss = [], 0.0, 0.0
        runs = []
        if pps:
            runs.append((f"llama-bench-{base}-pp{suffix}", ["-p", ",".join(map(str, pps)), "-n", "0"]))
        if tg:
            runs.append((f"llama-bench-{base}-tg{suffix}", ["-p", "0", "-n", str(tg), "-d", str(tg_prompt)]))
        for name, extra in runs:
            r = runner.run(name, [llama_bench] + extra + common)
            if check_failed(r, f"llama-bench on {model}"):
                return None
            others, rss = max(others, r["others"]), max(rss, r["rss_mib"] or 0)
            for x in r["json"]:
                samples = x.get("samples_ts") or [x["avg_ts"]]
                test = f"pp{x['n_prompt']}" if x["n_gen"] == 0 else f"tg{x['n_gen']}"
                results.append({"test": test, "runs": samples, "fa": "on" if x.get("flash_attn") else "off"})
        return results, others, rss

    for s in a.shapes:
        big = s == BIG
        reps = a.big_reps if big else a.reps
        tg = a.big_tg if big else a.tg
        for t in a.types:
            model = paths[s][t]
            rel = os.path.relpath(model, ROOT)
            res = {}  # test -> engine -> value dict
            others = []
            print(f"# {s} {t}: {rel}", flush=True)
            rounds = 1 if big else a.rounds
            tessel_runs = {}  # test -> {"runs": [...], "roof": [...], "rss": [...]}
            llama_runs = {}  # (test, fa) -> [tok/s]
            llama_rss = 0.0
            failed = set()

            def add_tessel(test, runs, roof, rss):
                e = tessel_runs.setdefault(test, {"runs": [], "roof": [], "rss": []})
                e["runs"] += runs
                e["roof"].append(roof)
                e["rss"].append(rss or 0)

            for rnd in range(rounds):
                suffix = f"-round{rnd + 1}" if rounds > 1 else ""
                if "tessel" in engines:
                    ra = tessel_bench(model, a.tg_prompt, tg, reps, suffix=suffix)
                    if ra:
                        j = ra["json"]
                        others.append(ra["others"])
                        add_tessel(f"tg{tg}", j["decode_tok_s_runs"], j["roofline"]["decode_tok_s"],
                                   ra["rss_mib"])
                        if a.tg_prompt in a.pp:
                            add_tessel(f"pp{a.tg_prompt}", j["prefill_tok_s_runs"],
                                       j["roofline"]["prefill_tok_s"], ra["rss_mib"])
                    else:
                        failed.add("tessel")
                    for pp in a.pp:
                        if pp == a.tg_prompt:
                            continue
                        rb = tessel_bench(model, pp, 0, reps, suffix=suffix)
                        if rb:
                            j = rb["json"]
                            others.append(rb["others"])
                            add_tessel(f"pp{pp}", j["prefill_tok_s_runs"], j["roofline"]["prefill_tok_s"],
                                       rb["rss_mib"])
                        else:
                            failed.add("tessel")
                if "llamacpp" in engines:
                    lr_ = llamacpp(model, a.pp, tg, a.tg_prompt, reps, a.flash_attn, suffix=suffix)
                    if lr_ is None:
                        failed.add("llamacpp")
                    else:
                        others.append(lr_[1])
                        llama_rss = max(llama_rss, lr_[2] or 0)
                        for x in lr_[0]:
                            llama_runs.setdefault((x["test"], x["fa"]), []).extend(x["runs"])
            failures += len(failed)
            for test, e in tessel_runs.items():
                tok_s, roof = statistics.median(e["runs"]), statistics.median(e["roof"])
                res.setdefault(test, {})["tessel"] = {"tok_s": tok_s, "roof": roof, "frac": tok_s / roof,
                                                      "rss": max(e["rss"]), "runs": e["runs"]}
            for (test, fa), runs in llama_runs.items():  # -fa on,off: each test keeps its faster one
                tok_s = statistics.median(runs)
                cur = res.setdefault(test, {}).get("llamacpp")
                if cur is None or tok_s > cur["tok_s"]:
                    res[test]["llamacpp"] = {"tok_s": tok_s, "rss": llama_rss, "fa": fa, "runs": runs}
            peers_cmds = []
            if "torch" in engines and t in a.torch_types:
                peers_cmds.append(("torch", [TORCH_PYTHON, os.path.join(HERE, "torch_bench.py"), model,
                                             "--pp", ",".join(map(str, a.pp)), "--tg", str(tg),
                                             "--tg-prompt", str(a.tg_prompt), "--reps", str(reps),
                                             "-t", str(a.threads)]))
            for eng, cmd in peers_cmds:
                r = runner.run(f"{eng}-{os.path.basename(model)}", cmd, json_mode="lastline")
                if r["json"] is not None and "unsupported" in r["json"]:
                    for test in [f"pp{n}" for n in a.pp] + [f"tg{tg}"]:
                        res.setdefault(test, {})[eng] = {"tok_s": None, "note": "n/a"}
                    notes.append(f"{eng} on {s}: {r['json']['unsupported']}")
                    continue
                if check_failed(r, f"{eng} on {rel}"):
                    failures += 1
                    continue
                others.append(r["others"])
                for x in r["json"]["results"]:
                    res.setdefault(x["test"], {})[eng] = {"tok_s": x["tok_s"], "rss": r["rss_mib"]}
            for test in [f"pp{n}" for n in a.pp] + [f"tg{tg}"]:
                e = res.get(test, {})
                row = {"shape": s, "type": t, "test": test,
                       "tessel": e.get("tessel", {}).get("tok_s"),
                       "roof": e.get("tessel", {}).get("roof"),
                       "frac": e.get("tessel", {}).get("frac"),
                       "llamacpp": e.get("llamacpp", {}).get("tok_s"),
                       "llamacpp_fa": e.get("llamacpp", {}).get("fa"),
                       "torch": e.get("torch", {}).get("tok_s"),
                       "torch_note": e.get("torch", {}).get("note"),
                       "others": max(others) if others else None,
                       "tessel_runs": e.get("tessel", {}).get("runs"),
                       "llamacpp_runs": e.get("llamacpp", {}).get("runs")}
                rows.append(row)
                print(f"  {test:7s} tessel {fmt(row['tessel']):>8s}  llama.cpp {fmt(row['llamacpp']):>8s}  "
                      f"torch {fmt(row['torch'] if row['torch'] is not None else row['torch_note']):>8s}  "
                      f"T/l {fmt_ratio(ratio(row['tessel'], row['llamacpp'])):>6s}  "
                      f"T/pt {fmt_ratio(ratio(row['tessel'], row['torch'])):>7s}  "
                      f"roofline {fmt_pct(row['frac']):>5s}", flush=True)

    # Decode at a long context (f32 stories15M).
    long_res = None
    if a.long:
        model = paths["stories15M"]["f32"]
        print(f"# decode at a {a.long}-token context: stories15M f32", flush=True)
        long_res = {"context": a.long, "tg": a.long_tg}
        if "tessel" in engines:
            r = tessel_bench(model, a.long, a.long_tg, 1)
            if r:
                long_res["others"] = max(long_res.get("others", 0.0), r["others"])
                long_res.update(tessel=r["json"]["decode_tok_s"], roof=r["json"]["roofline"]["decode_tok_s"],
                                frac=r["json"]["roofline"]["decode_fraction"], tessel_prefill=r["json"]["prefill_tok_s"],
                                others_t=r["others"])
            else:
                failures += 1
        if "llamacpp" in engines:
            # The target is against -fa on; -fa off is run too (and shown) when --flash-attn is best.
            lr_ = llamacpp(model, [], a.long_tg, a.long, 1, "best" if a.flash_attn == "best" else "on")
            if lr_ is not None:
                long_res["others"] = max(long_res.get("others", 0.0), lr_[1])
                fa = {x["fa"]: statistics.median(x["runs"]) for x in lr_[0]}
                long_res.update(llamacpp=fa.get("on"), llamacpp_fa_off=fa.get("off"), others_l=lr_[1])
            else:
                failures += 1
        print(f"  tg{a.long_tg}@{a.long}: tessel {fmt(long_res.get('tessel'))}  llama.cpp "
              f"{fmt(long_res.get('llamacpp'))}  T/l {fmt_ratio(ratio(long_res.get('tessel'), long_res.get('llamacpp')))}",
              flush=True)

    # Compile time.
    compile_res = None
    if a.compile_shape != "none" and "tessel" in engines:
        model = paths[a.compile_shape]["f32"]
        print(f"# tessel bench --compile: {a.compile_shape} f32", flush=True)
        r = tessel_bench(model, 16, 1, 1, extra=["--compile"])
        if r:
            compile_res = {"shape": a.compile_shape, "cold_s": r["json"]["compile"]["cold_s"],
                           "cached_s": r["json"]["compile"].get("cached_s"), "rss_mib": r["rss_mib"],
                           "others": r["others"]}
            print(f"  cold {compile_res['cold_s']:.2f} s, cached {compile_res['cached_s']:.3f} s", flush=True)
        else:
            failures += 1

    # The f32 GEMM kernel alone.
    gemm_res = []
    if a.gemm.strip() and "tessel" in engines:
        print("# tessel bench --gemm", flush=True)
        for shape in [x for x in re.split(r"[;\s]+", a.gemm.strip()) if x]:
            r = runner.run(f"tessel-gemm-{shape}", [tessel, "bench", "--gemm", shape, "-t", str(a.threads),
                                                    "--reps", str(a.gemm_reps), "--json"])
            if check_failed(r, f"tessel bench --gemm {shape}"):
                failures += 1
                continue
            j = r["json"]
            gemm_res.append({"shape": shape, "one": j["gflop_s_1_thread"], "all": j["gflop_s_all_threads"],
                             "peak": j["fma_gflop_s_1_thread"], "frac": j["fraction_of_1_thread_peak"],
                             "speedup": j["speedup"], "threads": j["threads"], "others": r["others"]})
            g = gemm_res[-1]
            print(f"  {shape}: {g['one']:.1f} GFLOP/s on 1 thread ({100 * g['frac']:.0f} % of "
                  f"{g['peak']:.0f}), {g['all']:.1f} on {g['threads']} (x{g['speedup']:.2f})", flush=True)

    machine["load_end"] = os.getloadavg()
    elapsed = time.monotonic() - t_start
    out = {"machine": machine, "machine_samples": machines, "peers": peers,
           "args": {k: v for k, v in vars(a).items()}, "rows": rows,
           "long": long_res, "compile": compile_res, "gemm": gemm_res, "notes": notes, "elapsed_s": elapsed,
           "retried": runner.retried}
    if a.update:
        try:
            with open(os.path.join(a.cache_dir, "last-run.json")) as f:
                out = merge(json.load(f), out)
        except (OSError, ValueError) as e:
            print(f"run_bench: --update: no earlier run to merge into ({e}); writing this run alone",
                  file=sys.stderr)
    summarize_machine(out)
    with open(os.path.join(a.cache_dir, "last-run.json"), "w") as f:
        json.dump(out, f, indent=1)

    md = render(out, argparse.Namespace(**out["args"]))
    print()
    print(md)
    if not a.no_results:
        write_results(a.results, md)
        print(f"# wrote {os.path.relpath(a.results, ROOT)}")
    print(f"# {elapsed / 60:.1f} min; raw results {os.path.relpath(os.path.join(a.cache_dir, 'last-run.json'), ROOT)}, "
          f"logs {os.path.relpath(logdir, ROOT)}/")
    return 1 if failures else 0


def summarize_machine(out):
    samples = out.get("machine_samples") or []
    for key in ("read_gb_s", "fma_gflop_s_1_thread", "fma_gflop_s_all_threads"):
        vals = [m[key] for m in samples]
        if vals:
            out["machine"][key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                                   "n": len(vals)}


def merge(old, new):
    """old run + an --update run: new rows replace old ones in place, new extras replace old extras."""
    key = lambda r: (r["shape"], r["type"], r["test"])
    fresh = {key(r): r for r in new["rows"]}
    rows = [fresh.pop(key(r), r) for r in old["rows"]]
    rows += [r for r in new["rows"] if key(r) in fresh]
    args = old["args"]
    for k in ("shapes", "types"):
        args[k] = args[k] + [x for x in new["args"][k] if x not in args[k]]
    for k in ("long", "compile"):
        if new.get(k):
            old[k] = new[k]
    if new.get("gemm"):
        old["gemm"] = new["gemm"]
        args["gemm_reps"] = new["args"]["gemm_reps"]
    what = [f"{len(new['rows'])} rows"] + [k for k in ("long", "compile", "gemm") if new.get(k)]
    old.setdefault("updates", []).append({
        "date": new["machine"]["date"], "argv": sys.argv[1:], "commit": new["machine"]["commit"],
        "dirty_files": new["machine"]["dirty_files"], "what": what, "elapsed_s": new["elapsed_s"],
        "load": [new["machine"]["load_start"][0], new["machine"]["load_end"][0]]})
    old["rows"] = rows
    old["args"] = args
    old["machine_samples"] = (old.get("machine_samples") or []) + new["machine_samples"]
    old["notes"] = old.get("notes", []) + [n for n in new["notes"] if n not in old.get("notes", [])]
    old["retried"] = old.get("retried", 0) + new.get("retried", 0)
    return old


# --------------------------------------------------------------------------
# RESULTS.md

CONTENDED = 0.5  # cores used by other processes above which a row is marked


def mark(r):
    return " †" if r.get("others") is not None and r["others"] >= CONTENDED else ""

def render(out, a):
    m, rows = out["machine"], out["rows"]
    L = []
    w = L.append
    w("## Performance: Tessel against llama.cpp and PyTorch (`bench/run_bench.py`)")
    w("")
    w("Written by `bench/run_bench.py`; everything between the `run_bench` markers is regenerated by")
    w("")
    cmd = "bench/run_bench.py"
    if a.shapes != DEFAULT_SHAPES:
        cmd += " --with-1b" if a.shapes == DEFAULT_SHAPES + [BIG] else f" --shapes {','.join(a.shapes)}"
    if a.types != TYPES:
        cmd += f" --types {','.join(a.types)}"
    if a.threads != 2:
        cmd += f" -t {a.threads}"
    if a.reps != 1:
        cmd += f" --reps {a.reps}"
    rounds = getattr(a, "rounds", 1)  # runs from before --rounds had one
    if rounds != 3:
        cmd += f" --rounds {rounds}"
    w(f"```sh\n{cmd}\n```")
    w("")
    w(f"**Machine**: {m['cpu']} ({m.get('family_model', '?')}, {m['simd']}), {m['cores']} cores"
      f"{' (' + str(m['threads_per_core']) + ' thread per core)' if m.get('threads_per_core') else ''}"
      f"{', ' + m['hypervisor'] + ' VM' if m.get('hypervisor') else ''}, L3 {m.get('l3') or '?'}, "
      f"{m['mem_gib']:.1f} GiB memory, Linux {m['kernel']}. ")
    if "read_gb_s" in m:
        r, f1, fa = m["read_gb_s"], m["fma_gflop_s_1_thread"], m["fma_gflop_s_all_threads"]
        w(f"Measured by `tessel bench` at each of its {r['n']} runs (median, range): read bandwidth "
          f"**{r['median']:.1f} GB/s** ({r['min']:.1f}–{r['max']:.1f}) with {a.threads} threads; f32 FMA peak "
          f"**{f1['median']:.0f} GFLOP/s** on 1 thread ({f1['min']:.0f}–{f1['max']:.0f}) and "
          f"**{fa['median']:.0f} GFLOP/s** on {a.threads} ({fa['min']:.0f}–{fa['max']:.0f}).")
    dirty = f" with {m['dirty_files']} tracked files changed" if m["dirty_files"] else ""
    w(f"Run {m['date']}, commit `{m['commit']}` ({m['commit_subject']}){dirty}; "
      f"load average {m['load_start'][0]:.2f} at the start, {m['load_end'][0]:.2f} at the end; "
      f"{out['elapsed_s'] / 60:.1f} minutes.")
    w("")
    p = out["peers"]
    w("Engines, all on the same GGUF file (`tessel mkmodel DESC --dtype T`: the description's seed, so")
    w("every type holds the same random weights) and the same thread count:")
    w("")
    w(f"- **Tessel**: `tessel bench GGUF -p {a.tg_prompt} -n {a.tg} -t {a.threads} --reps {a.reps} --json` "
      f"(pp{a.tg_prompt}, tg{a.tg})"
      + "".join(f" and `-p {n} -n 0` (pp{n})" for n in a.pp if n != a.tg_prompt)
      + ". JIT compile (not timed). Its defaults, as llama.cpp's: on q8_0 and q4_0 files the "
      "layers on those weights round their input rows to q8_0 and multiply in integers, on "
      "bf16 files to bf16 and multiply with `vdpbf16ps` (`--activations auto`; "
      "`--activations f32` keeps f32 inputs).")
    if getattr(a, "llamacpp", "node") == "bench":
        w(f"- **llama.cpp**: its own `llama-bench` (tools/llama-bench of the same source, built by "
          f"`bench/build_llama_bench.sh` against {p['llamacpp'] or 'node-llama-cpp'}'s libraries; "
          f"`-ctk/-ctv f32` added): `llama-bench -m GGUF -p {','.join(map(str, a.pp))} -n 0` and "
          f"`-p 0 -n {a.tg} -d {a.tg_prompt}`, `-t {a.threads} -r {a.reps} "
          f"-fa {'on,off' if a.flash_attn == 'best' else a.flash_attn} "
          f"-ctk {a.kv_type} -ctv {a.kv_type}` (median of its samples; one warm-up run; batch 2048, ubatch 512).")
    else:
        w(f"- **llama.cpp**: `bench/llamacpp_bench.mjs` ({p['llamacpp'] or 'not available'}), flash attention "
          f"{a.flash_attn}, {a.kv_type} KV cache, each pp in one batch (n_batch = n_ubatch = the largest pp). "
          f"Its decode pays node-llama-cpp's per-token scheduling (~10 ms per token with 2 threads on this "
          f"2-core machine, 0.3 ms with 1): `--llamacpp bench` is the fair peer.")
    w(f"- **PyTorch**: `bench/torch_bench.py` ({p['torch'] or 'not available'}), eager f32 with a KV cache, "
      f"run on {', '.join(a.torch_types)} files only (it dequantizes, so other types would repeat the f32 "
      f"figure). Debian's torch links the reference netlib BLAS here (no OpenBLAS installed; F.linear "
      f"~2.5 GFLOP/s on one thread), so projections of 8+ rows go through oneDNN "
      f"(`torch.utils.mkldnn`), single rows through `F.linear`; attention products are `torch.matmul` "
      f"(netlib). It is a weak peer for decode and for long prompts.")
    w("")
    w(f"pp N: one prefill of N random tokens on an empty cache; tg N: N single-token decode steps after "
      f"a {a.tg_prompt}-token prompt. "
      + (f"Each engine runs each shape x type in {rounds} rounds, taking turns (Tessel, llama.cpp, Tessel, "
         f"llama.cpp, ...), {a.reps} timed run(s) after a warm-up run per round; each figure is the median "
         f"of all its rounds' runs. The machine's speed drifts over minutes with its neighbours' load, so runs "
         f"taken in turns see the same machine, where one engine's runs taken together would not"
         if rounds > 1 else
         f"Each figure is the median of {a.reps} timed runs after a warm-up run")
      + (f" ({a.big_reps} run and tg{a.big_tg} for {BIG}, one round)." if BIG in a.shapes else "."))
    w("Roofline (Tessel's, from `tessel bench`): decode ≤ bandwidth / (active weight bytes in the file's type "
      "+ KV bytes) per token, the bandwidth read from 2 MiB pages as the weights are placed; prefill ≤ FMA "
      "peak on all threads / FLOPs per token (the layers' at every prompt token, the LM head's once: a "
      "prefill computes logits for the last position only), the FMA peak measured under whatever load the "
      "machine has. "
      "\"others\" is the CPU "
      "(in cores, of 2) that other processes used during the row's slowest-contended run: above ~0.3 the row's "
      "times are inflated by sharing, llama.cpp's most (its threads spin at barriers).")
    w("")
    w("| shape | type | test | Tessel tok/s | llama.cpp tok/s | PyTorch tok/s | Tessel / llama.cpp | "
      "Tessel / PyTorch | Tessel roofline tok/s | Tessel % of roofline | others |")
    w("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        torch_v = fmt(r["torch"]) if r["torch"] is not None else (r["torch_note"] or "—")
        lc = fmt(r["llamacpp"]) + (" ⁰" if r.get("llamacpp_fa") == "off" else "")
        w(f"| {r['shape']} | {r['type']} | {r['test']}{mark(r)} | {fmt(r['tessel'])} | {lc} | "
          f"{torch_v} | {fmt_ratio(ratio(r['tessel'], r['llamacpp']))} | {fmt_ratio(ratio(r['tessel'], r['torch']))} | "
          f"{fmt(r['roof'])} | {fmt_pct(r['frac'])} | {fmt(r['others'], 2) if r['others'] is not None else '—'} |")
    w("")
    if getattr(a, "flash_attn", "on") == "best":
        w("llama.cpp ran each test with flash attention on and off; ⁰ marks the tests where off was faster "
          "(the faster one is shown).")
        w("")
    if any(mark(r) for r in rows):
        w(f"† other processes used {CONTENDED} cores or more during one of the row's runs: its figures, "
          "llama.cpp's above all, are not reliable.")
        w("")
    lr = out["long"]
    if lr:
        w(f"Decode at a long context: stories15M f32, tg{lr['tg']} after {lr['context']} prompt tokens "
          f"(median of 1 after a warm-up), llama.cpp with flash attention on: Tessel {fmt(lr.get('tessel'))} tok/s "
          f"(roofline {fmt(lr.get('roof'))}, {fmt_pct(lr.get('frac'))}), llama.cpp {fmt(lr.get('llamacpp'))} tok/s"
          + (f" (with flash attention off: {fmt(lr.get('llamacpp_fa_off'))})" if lr.get("llamacpp_fa_off") else "")
          + ", "
          f"ratio {fmt_ratio(ratio(lr.get('tessel'), lr.get('llamacpp')))}{mark(lr)}"
          f" (others {lr.get('others', 0):.2f} cores). Both KV caches are {a.kv_type}; llama.cpp's CPU flash "
          f"attention is much slower on an f32 cache than on its default f16 one (`--kv-type f16`).")
        w("")
    gm = out.get("gemm") or []
    if gm:
        w("f32 GEMM kernel alone (`tessel bench --gemm M,N,K`, C[M,N] = A[M,K] W[N,K]^T, best of "
          f"{getattr(a, 'gemm_reps', 3)}), against the single-core FMA peak it measures:")
        w("")
        w(f"| M,N,K | 1 thread GFLOP/s | % of 1-core peak | {gm[0]['threads']} threads GFLOP/s | speedup | others |")
        w("|---|--:|--:|--:|--:|--:|")
        for g in gm:
            w(f"| {g['shape']} | {g['one']:.1f} | {fmt_pct(g['frac'])}{mark(g)} | {g['all']:.1f} | "
              f"{g['speedup']:.2f}×{mark(g)} | {g['others']:.2f} |")
        w("")
    c = out["compile"]
    if c:
        w(f"Compile (`tessel bench --compile`, {c['shape']} f32): cold {c['cold_s']:.2f} s into an empty cache, "
          f"cached {c['cached_s']:.3f} s; peak RSS of that run {c['rss_mib'] / 1024:.1f} GiB"
          f" (others {c.get('others', 0):.2f} cores).")
        w("")
    for u in out.get("updates", []):
        w(f"- Updated {u['date']} by `bench/run_bench.py {shlex.join(u['argv'])}` at commit `{u.get('commit', '?')}`"
          f"{' (+ uncommitted changes)' if u.get('dirty_files') else ''} ({', '.join(u['what'])}; "
          f"{u['elapsed_s'] / 60:.1f} min, load average {u['load'][0]:.2f} to {u['load'][1]:.2f}).")
    if out.get("retried"):
        w(f"- {out['retried']} engine runs were repeated because other processes used more than "
          f"{a.max_others} cores during them (the least contended attempt is shown).")
    for n in out["notes"]:
        w(f"- Note: {n}")
    if out["notes"] or out.get("retried") or out.get("updates"):
        w("")
    w(render_targets(out, a))
    return "\n".join(L)


def render_targets(out, a):
    rows, L = out["rows"], []
    w = L.append
    tg = [r for r in rows if r["test"].startswith("tg")]
    pp = [r for r in rows if r["test"].startswith("pp")]
    w("### Targets (issue 6)")
    w("")
    w("| target | status | measured |")
    w("|---|---|---|")

    def status(vals, ok):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "not measured", vals
        return ("met" if all(ok(v) for v in vals) else "**NOT MET**"), vals

    def figures(rs, key):
        return ", ".join(f"{r['shape']} {fmt_ratio(key(r)) if key(r) is not None else '—'}{mark(r)}" for r in rs)

    for t in a.types:
        rs = [r for r in tg if r["type"] == t]
        st, _ = status([ratio(r["tessel"], r["llamacpp"]) for r in rs], lambda v: v >= 1.0)
        w(f"| decode ≥ 1.0× llama.cpp, {t} | {st} | {figures(rs, lambda r: ratio(r['tessel'], r['llamacpp']))} |")
    for t in a.types:
        rs = [r for r in tg if r["type"] == t]
        st, _ = status([r["frac"] for r in rs], lambda v: v >= 0.9)
        w(f"| decode ≥ 90 % of the bandwidth roofline, {t} | {st} | "
          + ", ".join(f"{r['shape']} {fmt_pct(r['frac'])}" for r in rs) + " |")
    for t in a.types:
        rs = [r for r in pp if r["type"] == t]
        st, _ = status([ratio(r["tessel"], r["llamacpp"]) for r in rs], lambda v: v >= 1.5)
        w(f"| prefill ≥ 1.5× llama.cpp, {t} | {st} | "
          + ", ".join(f"{r['shape']} {r['test']} {fmt_ratio(ratio(r['tessel'], r['llamacpp']))}{mark(r)}"
                      for r in rs) + " |")
    gm = out.get("gemm") or []
    if gm:
        st, _ = status([g["frac"] for g in gm], lambda v: v >= 0.8)
        w(f"| f32 GEMM ≥ 80 % of the single-core FMA peak (1 thread) | {st} | "
          + ", ".join(f"{g['shape']} {fmt_pct(g['frac'])}{mark(g)} ({g['one']:.0f} of {g['peak']:.0f} GFLOP/s)"
                      for g in gm)
          + " |")
        st, _ = status([g["speedup"] for g in gm], lambda v: v >= 1.8)
        w(f"| f32 GEMM on {gm[0]['threads']} threads ≥ 1.8× 1 thread | {st} | "
          + ", ".join(f"{g['shape']} {g['speedup']:.2f}×{mark(g)} ({g['all']:.0f} GFLOP/s)" for g in gm) + " |")
    else:
        w("| f32 GEMM ≥ 80 % of the single-core FMA peak; ≥ 1.8× on 2 threads | not measured (--gemm '') | |")
    lr = out["long"]
    if lr:
        r_ = ratio(lr.get("tessel"), lr.get("llamacpp"))
        st = "not measured" if r_ is None else ("met" if r_ >= 1.0 else "**NOT MET**")
        w(f"| decode at {lr['context']} tokens of context ≥ 1.0× llama.cpp -fa (stories15M f32, tg{lr['tg']}) | {st} | "
          f"{fmt(lr.get('tessel'))} against {fmt(lr.get('llamacpp'))} tok/s: {fmt_ratio(r_)}{mark(lr)}"
          + (f" (llama.cpp without -fa: {fmt(lr['llamacpp_fa_off'])} tok/s, "
             f"{fmt_ratio(ratio(lr.get('tessel'), lr['llamacpp_fa_off']))})" if lr.get("llamacpp_fa_off") else "")
          + " |")
    else:
        w("| decode at an 8k context with -fa | not measured (--long 0) | |")
    moe = [r for r in tg if r["shape"] in ("moe-mixtral", "mla-deepseek2")]
    st, _ = status([ratio(r["tessel"], r["llamacpp"]) for r in moe], lambda v: v >= 1.0)
    w(f"| MoE decode ≥ 1.0× llama.cpp | {st} | "
      + ", ".join(f"{r['shape']} {r['type']} {fmt_ratio(ratio(r['tessel'], r['llamacpp']))}{mark(r)}" for r in moe)
      + " |")
    c = out["compile"]
    if c and c["shape"] == BIG:
        ok = c["cold_s"] <= 3.0 and c["cached_s"] is not None and c["cached_s"] <= 0.2
        w(f"| compile Llama-3.2-1B ≤ 3 s cold, ≤ 0.2 s cached | {'met' if ok else '**NOT MET**'} | "
          f"cold {c['cold_s']:.2f} s, cached {c['cached_s']:.3f} s |")
    else:
        extra = (f"; {c['shape']} f32 instead: cold {c['cold_s']:.2f} s, cached {c['cached_s']:.3f} s"
                 if c else "")
        w(f"| compile Llama-3.2-1B ≤ 3 s cold, ≤ 0.2 s cached | not measured in this run (`--with-1b`) | "
          f"Llama-3.2-1B was not in this run{extra} |")
    return "\n".join(L)


def write_results(path, md):
    block = f"{BEGIN}\n{md}\n{END}\n\n"
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = "# Benchmark results\n\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END):].lstrip("\n")
    else:  # first run: after the title and its introduction, before the first section
        m = re.search(r"^## ", old, re.M)
        cut = m.start() if m else len(old)
        new = old[:cut] + block + "\n" + old[cut:]
    with open(path + ".tmp", "w") as f:
        f.write(new)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main())
