#!/usr/bin/python3
"""Prefill and decode speed of a GGUF model in eager PyTorch (f32), as `tessel bench` times them.

A plain PyTorch forward pass with a KV cache, written here, reading the same
GGUF file Tessel and llama.cpp read (a small GGUF reader; f32, f16, bf16,
q8_0 and q4_0 tensors are dequantized to f32 at load, so every weight type
runs the same f32 model):

  llama / mistral  MHA/GQA, RoPE (GGUF's adjacent-pair layout, llama3
                   rope_freqs), RMSNorm, SwiGLU, tied or separate output
  mixtral          the above with top-k routed SwiGLU experts
  deepseek2        MLA (q_lora_rank 0 or not, kv_lora_rank, nope/rope split,
                   keys and values cached per head as Hugging Face's eager
                   DeepSeek-V2 does), dense leading layers, routed + shared
                   experts (softmax or sigmoid scoring)

Timings, each the median of --reps runs after one warm-up run:
  pp N  one forward pass over N prompt tokens on an empty cache (logits for
        the last position only, as Tessel's prefill)
  tg N  N single-token decode steps after a --tg-prompt-token prompt (its
        prefill untimed), each computing the logits and taking the argmax

Run it with Debian's python3-torch (/usr/bin/python3; torch 1.13). That torch
links Debian's reference (netlib) BLAS when no OpenBLAS is installed, which
runs torch.nn.functional.linear at ~2.5 GFLOP/s on one thread. --linear auto
(the default) therefore runs projections of 8 or more rows (prefill) through
oneDNN, PyTorch's own MKL-DNN path (torch.utils.mkldnn.to_mkldnn on
nn.Linear), and single rows (decode) through F.linear; --linear dense or
mkldnn forces one. Attention score and value products are torch.matmul.

  /usr/bin/python3 bench/torch_bench.py MODEL.gguf [--pp 128,512] [--tg 128] [--tg-prompt 128]
        [-t 2] [--reps 3] [--linear auto|dense|mkldnn] [--seed 1]
  /usr/bin/python3 bench/torch_bench.py MODEL.gguf --logits IDS_FILE --out FILE   (checking)
  /usr/bin/python3 bench/torch_bench.py MODEL.gguf --dump                       (metadata, tensors)

Prints one JSON line: {"model", "architecture", "threads", "linear", "reps",
"load_s", "results": [{"test", "n_prompt", "n_gen", "tok_s", "runs"}]}. An
architecture it does not implement prints {"unsupported": "..."} and exits 3.
Exit status: 0 success, 1 a failure, 2 bad usage, 3 unsupported model.
"""

import argparse
import json
import math
import mmap
import os
import struct
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"torch_bench: cannot import torch ({e}); run it with /usr/bin/python3 "
          f"(Debian's python3-torch)", file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------
# GGUF reader (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md)

GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 8, 30
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class UnsupportedModel(Exception):
    """A model feature this PyTorch peer does not implement; run_bench.py
    then reports the peer's column as n/a for that shape."""


class GGUF:
    def __init__(self, path):
        self.path = path
        f = open(path, "rb")
        self.buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        f.close()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        version = self._u32()
        if version not in (2, 3):
            raise ValueError(f"{path}: GGUF version {version} (2 or 3 expected)")
        n_tensors, n_kv = self._u64(), self._u64()
        self.meta = {}
        for _ in range(n_kv):
            key = self._str()
            self.meta[key] = self._value(self._u32())
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._str()
            dims = [self._u64() for _ in range(self._u32())]
            ttype, off = self._u32(), self._u64()
            self.tensors[name] = (ttype, tuple(reversed(dims)), off)
        align = self.meta.get("general.alignment", 32)
        self.data = (self.pos + align - 1) // align * align

    def _read(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _u32(self):
        return self._read("<I")

    def _u64(self):
        return self._read("<Q")

    def _str(self):
        n = self._u64()
        s = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return s

    def _value(self, t):
        if t in _SCALAR:
            return self._read(_SCALAR[t])
        if t == 8:
            return self._str()
        if t == 9:
            et, n = self._u32(), self._u64()
            if et in _SCALAR and et != 7:  # numbers: one read
                dt = np.dtype(_SCALAR[et])
                v = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos)
                self.pos += n * dt.itemsize
                return v
            return [self._value(et) for _ in range(n)]
        raise ValueError(f"{self.path}: unknown GGUF value type {t}")

    def has(self, name):
        return name in self.tensors

    def tensor(self, name):
        """The tensor as a float32 torch tensor (a copy), numpy/torch shape order."""
        ttype, shape, off = self.tensors[name]
        n = int(np.prod(shape))
        start = self.data + off
        if ttype == GGML_F32:
            a = np.frombuffer(self.buf, dtype="<f4", count=n, offset=start).copy()
        elif ttype == GGML_F16:
            a = np.frombuffer(self.buf, dtype="<f2", count=n, offset=start).astype(np.float32)
        elif ttype == GGML_BF16:
            u = np.frombuffer(self.buf, dtype="<u2", count=n, offset=start).astype(np.uint32) << 16
            a = u.view(np.float32)
        elif ttype == GGML_Q8_0:  # blocks of 32: f16 scale, 32 x int8
            b = np.frombuffer(self.buf, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]), count=n // 32, offset=start)
            a = (b["d"].astype(np.float32)[:, None] * b["q"].astype(np.float32)).reshape(-1)
        elif ttype == GGML_Q4_0:  # blocks of 32: f16 scale, 16 bytes (low nibbles 0..15, high 16..31), offset 8
            b = np.frombuffer(self.buf, dtype=np.dtype([("d", "<f2"), ("q", "u1", 16)]), count=n // 32, offset=start)
            q = np.concatenate([b["q"] & 0x0F, b["q"] >> 4], axis=1).astype(np.float32) - 8.0
            a = (b["d"].astype(np.float32)[:, None] * q).reshape(-1)
        else:
            raise UnsupportedModel(f"{name}: GGML type {ttype} is not read by torch_bench.py")
        return torch.from_numpy(a.reshape(shape))


# --------------------------------------------------------------------------
# The model

class Linear:
    """y = x W^T, W [out, in]: oneDNN for many rows, F.linear for few (see --linear)."""

    mode = "auto"

    def __init__(self, w):
        self.w = w.contiguous()
        self.mk = None
        if Linear.mode in ("auto", "mkldnn"):
            import torch.utils.mkldnn as mkldnn_utils
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
            lin.weight = torch.nn.Parameter(self.w, requires_grad=False)
            self.mk = mkldnn_utils.to_mkldnn(lin)
            if Linear.mode == "mkldnn":
                self.w = None  # one copy only

    def __call__(self, x):
        rows = x.numel() // x.shape[-1]
        if self.mk is not None and (Linear.mode == "mkldnn" or rows >= 8):
            shape = x.shape
            return self.mk(x.reshape(rows, shape[-1])).reshape(*shape[:-1], -1)
        return F.linear(x, self.w)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):
    """GGUF/llama.cpp 'normal' RoPE: rotates adjacent pairs (x0,x1), (x2,x3), ... x [T, H, D]."""
    x2 = x.reshape(*x.shape[:-1], -1, 2)
    a, b = x2[..., 0], x2[..., 1]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(x.shape)


def attend(q, k, v, scale, pos0):
    """q [T, H, D], k/v [S, Hkv, D] (S = pos0 + T); causal; GQA by repetition."""
    T, H = q.shape[0], q.shape[1]
    rep = H // k.shape[1]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    qh, kh, vh = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
    s = torch.matmul(qh, kh.transpose(1, 2)) * scale  # [H, T, S]
    if T > 1:
        S = kh.shape[1]
        mask = torch.ones(T, S, dtype=torch.bool).triu(pos0 + 1)
        s = s.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), vh).transpose(0, 1)  # [T, H, Dv]


class Model:
    def __init__(self, g: GGUF):
        m = g.meta
        self.arch = arch = m["general.architecture"]
        if arch not in ("llama", "mistral", "deepseek2"):
            raise UnsupportedModel(f"architecture '{arch}'")
        k = lambda s, d=None: m.get(f"{arch}.{s}", d)
        self.dim = k("embedding_length")
        self.n_layer = k("block_count")
        self.n_head = k("attention.head_count")
        self.n_kv = k("attention.head_count_kv", self.n_head)
        if isinstance(self.n_kv, np.ndarray):
            raise UnsupportedModel("per-layer head counts")
        if k("attention.sliding_window", 0):
            raise UnsupportedModel("sliding-window attention")
        self.eps = k("attention.layer_norm_rms_epsilon", 1e-5)
        self.theta = k("rope.freq_base", 10000.0)
        if k("rope.scaling.type", "none") not in ("none",) and arch == "deepseek2":
            raise UnsupportedModel(f"rope scaling '{k('rope.scaling.type')}' for deepseek2")
        self.n_expert = k("expert_count", 0)
        self.n_expert_used = k("expert_used_count", 0)
        self.mla = arch == "deepseek2"
        if self.mla:
            self.kv_lora = k("attention.kv_lora_rank")
            self.q_lora = k("attention.q_lora_rank", 0)
            self.rope_dim = k("rope.dimension_count")
            self.v_dim = k("attention.value_length_mla", k("attention.value_length"))
            key_len = k("attention.key_length_mla", k("attention.key_length"))
            self.nope = key_len - self.rope_dim
            self.head_dim = key_len
            self.n_dense = k("leading_dense_block_count", 0)
            self.n_shared = k("expert_shared_count", 0)
            self.routed_scale = k("expert_weights_scale", 1.0)
            self.norm_topk = bool(k("expert_weights_norm", False))
            self.gating = k("expert_gating_func", 1)  # 1 softmax, 2 sigmoid
            if g.has("blk.0.attn_k_b.weight") and not g.has("blk.0.attn_kv_b.weight"):
                raise UnsupportedModel("MLA with split attn_k_b/attn_v_b tensors")
        else:
            self.head_dim = k("attention.key_length", self.dim // self.n_head)
            self.rope_dim = k("rope.dimension_count", self.head_dim)
        self.scale = 1.0 / math.sqrt(self.head_dim)
        freqs = 1.0 / (self.theta ** (torch.arange(0, self.rope_dim, 2, dtype=torch.float64) / self.rope_dim))
        if g.has("rope_freqs.weight"):  # llama3 rope scaling: divide by the factors
            freqs = freqs / g.tensor("rope_freqs.weight").double()
        self.freqs = freqs

        t = g.tensor
        L = lambda i, n: f"blk.{i}.{n}.weight"
        self.tok_embd = t("token_embd.weight")
        self.out_norm = t("output_norm.weight")
        self.output = Linear(t("output.weight") if g.has("output.weight") else self.tok_embd)
        self.layers = []
        for i in range(self.n_layer):
            ly = {"attn_norm": t(L(i, "attn_norm")), "ffn_norm": t(L(i, "ffn_norm")),
                  "wo": Linear(t(L(i, "attn_output")))}
            if self.mla:
                if self.q_lora:
                    ly["wq_a"] = Linear(t(L(i, "attn_q_a")))
                    ly["q_a_norm"] = t(L(i, "attn_q_a_norm"))
                    ly["wq_b"] = Linear(t(L(i, "attn_q_b")))
                else:
                    ly["wq"] = Linear(t(L(i, "attn_q")))
                ly["wkv_a"] = Linear(t(L(i, "attn_kv_a_mqa")))
                ly["kv_a_norm"] = t(L(i, "attn_kv_a_norm"))
                ly["wkv_b"] = Linear(t(L(i, "attn_kv_b")))
            else:
                if g.has(L(i, "attn_qkv")):
                    raise UnsupportedModel("fused attn_qkv")
                ly["wq"] = Linear(t(L(i, "attn_q")))
                ly["wk"] = Linear(t(L(i, "attn_k")))
                ly["wv"] = Linear(t(L(i, "attn_v")))
            if g.has(L(i, "ffn_gate_inp")):
                ly["router"] = Linear(t(L(i, "ffn_gate_inp")))
                ly["experts"] = [tuple(Linear(x) for x in e) for e in zip(
                    t(L(i, "ffn_gate_exps")), t(L(i, "ffn_up_exps")), t(L(i, "ffn_down_exps")))]
                if g.has(L(i, "ffn_gate_shexp")):
                    ly["shared"] = tuple(Linear(t(L(i, n))) for n in ("ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"))
            else:
                ly["ffn"] = tuple(Linear(t(L(i, n))) for n in ("ffn_gate", "ffn_up", "ffn_down"))
            self.layers.append(ly)
        self.reset()

    def reset(self):
        self.pos = 0
        self.cache = [None] * self.n_layer

    @staticmethod
    def swiglu(x, ffn):
        gate, up, down = ffn
        return down(F.silu(gate(x)) * up(x))

    def moe(self, x, ly):
        logits = ly["router"](x)  # [T, E]
        if self.mla and self.gating == 2:
            probs = torch.sigmoid(logits)
        else:
            probs = torch.softmax(logits, dim=-1)
        w, idx = torch.topk(probs, self.n_expert_used, dim=-1)
        if not self.mla or self.norm_topk:  # mixtral: softmax over the chosen k
            w = w / w.sum(-1, keepdim=True)
        if self.mla:
            w = w * self.routed_scale
        out = torch.zeros_like(x)
        for e in torch.unique(idx).tolist():
            rows, slot = torch.nonzero(idx == e, as_tuple=True)
            out.index_add_(0, rows, self.swiglu(x[rows], ly["experts"][e]) * w[rows, slot, None])
        if "shared" in ly:
            out = out + self.swiglu(x, ly["shared"])
        return out

    def attention(self, i, x, cos, sin):
        ly, T = self.layers[i], x.shape[0]
        if self.mla:
            q = ly["wq_b"](rms_norm(ly["wq_a"](x), ly["q_a_norm"], self.eps)) if self.q_lora else ly["wq"](x)
            q = q.view(T, self.n_head, self.head_dim)
            kv_a = ly["wkv_a"](x)
            c = rms_norm(kv_a[:, :self.kv_lora], ly["kv_a_norm"], self.eps)
            k_pe = rope(kv_a[:, None, self.kv_lora:], cos, sin)  # one rope head shared by all heads
            kv = ly["wkv_b"](c).view(T, self.n_head, self.nope + self.v_dim)
            k = torch.cat([kv[..., :self.nope], k_pe.expand(T, self.n_head, self.rope_dim)], dim=-1)
            v = kv[..., self.nope:]
            q = torch.cat([q[..., :self.nope], rope(q[..., self.nope:], cos, sin)], dim=-1)
        else:
            q = rope(ly["wq"](x).view(T, self.n_head, self.head_dim), cos, sin)
            k = rope(ly["wk"](x).view(T, self.n_kv, self.head_dim), cos, sin)
            v = ly["wv"](x).view(T, self.n_kv, self.head_dim)
        if self.cache[i] is not None:
            k = torch.cat([self.cache[i][0], k])
            v = torch.cat([self.cache[i][1], v])
        self.cache[i] = (k, v)
        o = attend(q, k, v, self.scale, self.pos)
        return ly["wo"](o.reshape(T, -1))

    def forward(self, tokens, all_logits=False):
        """Appends tokens to the cache; returns the logits of the last position (or all)."""
        T = len(tokens)
        pos = torch.arange(self.pos, self.pos + T, dtype=torch.float64)
        ang = pos[:, None] * self.freqs[None, :]
        cos, sin = torch.cos(ang).float(), torch.sin(ang).float()
        x = self.tok_embd[torch.tensor(tokens, dtype=torch.long)]
        for i, ly in enumerate(self.layers):
            x = x + self.attention(i, rms_norm(x, ly["attn_norm"], self.eps), cos, sin)
            h = rms_norm(x, ly["ffn_norm"], self.eps)
            x = x + (self.moe(h, ly) if "router" in ly else self.swiglu(h, ly["ffn"]))
        self.pos += T
        if not all_logits:
            x = x[-1:]
        return self.output(rms_norm(x, self.out_norm, self.eps))


# --------------------------------------------------------------------------

def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--pp", default="128,512", help="prefill lengths, comma separated ('' for none)")
    p.add_argument("--tg", type=int, default=128, help="decode steps (0: none)")
    p.add_argument("--tg-prompt", type=int, default=128, help="prompt tokens before the decode steps")
    p.add_argument("-t", "--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--linear", choices=["auto", "dense", "mkldnn"], default="auto")
    p.add_argument("--logits", metavar="IDS_FILE", help="write teacher-forced logits of these ids (check)")
    p.add_argument("--out", help="with --logits: little-endian float32 [tokens x vocab]")
    p.add_argument("--dump", action="store_true", help="print the metadata and tensors, then exit")
    a = p.parse_args()
    try:
        a.pp = [int(x) for x in a.pp.replace(" ", ",").split(",") if x]
    except ValueError:
        p.error(f"--pp: expected integers, got '{a.pp}'")
    if a.threads < 1 or a.reps < 1 or a.tg < 0 or a.tg_prompt < 1 or any(n < 1 for n in a.pp):
        p.error("-t, --reps, --tg-prompt and --pp need >= 1, --tg >= 0")
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    Linear.mode = a.linear
    try:
        g = GGUF(a.model)
    except (OSError, ValueError) as e:
        print(f"torch_bench: {e}", file=sys.stderr)
        return 1
    if a.dump:
        for k_, v in g.meta.items():
            if isinstance(v, (list, np.ndarray)) and len(v) > 8:
                v = f"[{len(v)} items]"
            print(f"{k_} = {v}")
        for n, (tt, shape, off) in g.tensors.items():
            print(f"{n}: type {tt} shape {list(shape)}")
        return 0
    t0 = time.monotonic()
    try:
        model = Model(g)
    except (UnsupportedModel, KeyError) as e:
        print(json.dumps({"model": a.model, "unsupported": f"torch_bench.py: {e}"}))
        return 3
    load_s = time.monotonic() - t0
    vocab = model.tok_embd.shape[0]

    if a.logits:
        with open(a.logits) as f:
            ids = [int(x) for x in f.read().replace(",", " ").split()]
        out = model.forward(ids, all_logits=True)
        if a.out:
            out.numpy().astype("<f4").tofile(a.out)
        print(json.dumps({"tokens": len(ids), "argmax": out.argmax(-1).tolist()}))
        return 0

    rng = np.random.default_rng(a.seed)
    longest = max(a.pp + ([a.tg_prompt] if a.tg else []) + [1])
    prompt = rng.integers(0, vocab, size=longest).tolist()

    def prefill(n):
        model.reset()
        t = time.perf_counter()
        model.forward(prompt[:n])
        return n / (time.perf_counter() - t)

    def decode(n):
        model.reset()
        logits = model.forward(prompt[:a.tg_prompt])
        t = time.perf_counter()
        for _ in range(n):
            logits = model.forward([int(logits[-1].argmax())])
        return n / (time.perf_counter() - t)

    results = []

    def measure(test, n_prompt, n_gen, once):
        runs = [once() for _ in range(a.reps + 1)][1:]  # run 0 warms up
        results.append({"test": test, "n_prompt": n_prompt, "n_gen": n_gen, "tok_s": median(runs), "runs": runs})

    for n in a.pp:
        measure(f"pp{n}", n, 0, lambda: prefill(n))
    if a.tg:
        measure(f"tg{a.tg}", a.tg_prompt, a.tg, lambda: decode(a.tg))
    print(json.dumps({"model": a.model, "architecture": model.arch, "threads": a.threads,
                      "torch": torch.__version__, "linear": a.linear, "reps": a.reps,
                      "load_s": load_s, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
