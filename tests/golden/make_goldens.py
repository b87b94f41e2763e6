#!/usr/bin/python3
"""PyTorch golden vectors for the tessel reference evaluator.

Every case is one small JSON file in tests/golden/data/<case>.json holding an
MLIR module (a single `func.func @main` that applies tessel ops to its
arguments), the argument values and the expected results. The expected results
are computed by PyTorch in float64 from float32 inputs and rounded to float32.
The semantics followed are the op descriptions in dialect/TesselOps.td.

Run with Debian's python3-torch (torch 1.13), from the repository root:

    /usr/bin/python3 tests/golden/make_goldens.py [--check-with build/bin/tessel-opt]

The output is deterministic: inputs come from numpy's PCG64 generator seeded by
a CRC32 of the case name, and re-running rewrites identical files.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
F64 = torch.float64

# ---------------------------------------------------------------------------
# Values and formatting
# ---------------------------------------------------------------------------


def f32(x):
    """The float32 value nearest x, as an exact Python float."""
    return float(np.float32(x))


def fattr(x):
    """An MLIR float literal that parses to exactly the float32 value of x."""
    s = repr(f32(x))
    mant, _, exp = s.partition("e")
    if "." not in mant:
        mant += ".0"
    return mant + ("e" + exp if exp else "")


class Rng:
    """Inputs: float32 values on a 2^-10 grid (short, exact decimal forms)."""

    def __init__(self, name):
        self.g = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))

    def normal(self, shape, std=1.0, mean=0.0):
        a = self.g.standard_normal(size=tuple(shape)) * std + mean
        return (np.round(a * 1024.0) / 1024.0).astype(np.float32)

    def uniform(self, shape, lo, hi):
        a = self.g.uniform(lo, hi, size=tuple(shape))
        return (np.round(a * 1024.0) / 1024.0).astype(np.float32)

    def ints(self, shape, lo, hi):
        return self.g.integers(lo, hi, size=tuple(shape), dtype=np.int64)

    def weight(self, out_f, in_f, lead=()):
        return self.normal(tuple(lead) + (out_f, in_f), std=1.0 / math.sqrt(in_f))


def t(a):
    """numpy input -> torch float64 (or int64 / bool) for the oracle."""
    if a.dtype == np.float32:
        return torch.from_numpy(a.astype(np.float64))
    if a.dtype == np.bool_:
        return torch.from_numpy(a.copy())
    return torch.from_numpy(a.astype(np.int64))


def ttype(shape, elem):
    return "tensor<" + "".join(
        ("?" if d is None else str(d)) + "x" for d in shape) + elem + ">"


ELEM = {"f32": "f32", "i64": "i64", "i1": "i1"}


class Arg:
    """One function argument: a tensor or (scalar=True) a plain i64."""

    def __init__(self, name, value, scalar=False):
        self.name = name
        self.scalar = scalar
        if scalar:
            self.value = np.array(value, dtype=np.int64)
            self.dtype = "i64"
        else:
            self.value = value
            self.dtype = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64",
                          np.dtype(np.bool_): "i1"}[value.dtype]

    @property
    def type(self):
        if self.scalar:
            return "i64"
        return ttype(self.value.shape, ELEM[self.dtype])

    def json(self):
        if self.dtype == "f32":
            data = [float(x) for x in self.value.reshape(-1).tolist()]
        else:
            data = [int(x) for x in self.value.reshape(-1).tolist()]
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.value.shape),
                "data": data}


def out_json(name, value, dtype="f32"):
    if dtype == "f32":
        a = value.detach().to(torch.float32).numpy()
        if not np.all(np.isfinite(a)):
            raise ValueError("non-finite golden output " + name)
        data = [float(x) for x in a.reshape(-1).tolist()]
    else:
        a = value.detach().numpy().astype(np.int64)
        data = [int(x) for x in a.reshape(-1).tolist()]
    return {"name": name, "dtype": dtype, "shape": list(a.shape), "data": data}


CASES = []


def case(name, family, description, args, body, results, outputs):
    """Registers one case.

    args: list of Arg; body: MLIR lines of the function body (without the
    return); results: list of (ssa_value, mlir_type) returned; outputs: list
    of (name, torch tensor) in the same order.
    """
    sig = ", ".join("%" + a.name + ": " + a.type for a in args)
    rtypes = [ty for _, ty in results]
    rsig = rtypes[0] if len(rtypes) == 1 else "(" + ", ".join(rtypes) + ")"
    lines = ["func.func @main(" + sig + ") -> " + rsig + " {"]
    lines += ["  " + l for l in body]
    lines.append("  return " + ", ".join(v for v, _ in results) + " : " + ", ".join(rtypes))
    lines.append("}")
    assert len(outputs) == len(results)
    CASES.append({
        "name": name,
        "family": family,
        "description": description,
        "mlir": "\n".join(lines) + "\n",
        "inputs": [a.json() for a in args],
        "outputs": [out_json(n, v) for n, v in outputs],
    })


def fn_type(args, result):
    return "(" + ", ".join(a.type for a in args) + ") -> " + result


def one_op(name, family, description, args, op_text, result_type, value, out_name="out",
           suffix=None):
    """A case whose body is a single op applied to all arguments in order.

    op_text is the op up to (not including) the ` : type` suffix; the suffix
    is the functional type of all arguments unless given."""
    if suffix is None:
        suffix = fn_type(args, result_type)
    case(name, family, description, args, ["%0 = " + op_text + " : " + suffix],
         [("%0", result_type)], [(out_name, value)])


def attrs(*parts):
    parts = [p for p in parts if p]
    return " {" + ", ".join(parts) + "}" if parts else ""


# ---------------------------------------------------------------------------
# Oracles (torch, float64)
# ---------------------------------------------------------------------------


def rms_norm_ref(x, w, eps, unit_offset=False):
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)
    return y * (w + 1.0 if unit_offset else w)


def rope_ref(x, pos, layout, theta=10000.0, rotary_dim=None, linear_scaling=1.0,
             freq_factors=None):
    """x: [B, S, H, D], pos: [B, S] ints. Pair i turns by
    (pos / linear_scaling) * theta^(-2i / rotary_dim) / freq_factors[i]."""
    d = x.shape[-1]
    r = d if rotary_dim is None else rotary_dim
    i = torch.arange(r // 2, dtype=F64)
    inv_freq = torch.pow(torch.tensor(theta, dtype=F64), -2.0 * i / r)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors.to(F64)
    ang = (pos.to(F64) / linear_scaling)[..., None] * inv_freq  # [B, S, r/2]
    cos = torch.cos(ang)[:, :, None, :]
    sin = torch.sin(ang)[:, :, None, :]
    out = x.clone()
    if layout == "interleaved":
        a, b = x[..., 0:r:2], x[..., 1:r:2]
        out[..., 0:r:2] = a * cos - b * sin
        out[..., 1:r:2] = a * sin + b * cos
    else:
        a, b = x[..., : r // 2], x[..., r // 2: r]
        out[..., : r // 2] = a * cos - b * sin
        out[..., r // 2: r] = a * sin + b * cos
    return out


def rope_hf_rotate_half(x, pos, theta, rotary_dim, linear_scaling):
    """Independent check of half_split: HF LLaMA/NeoX rotate_half."""
    r = rotary_dim
    inv_freq = 1.0 / (theta ** (torch.arange(0, r, 2, dtype=F64) / r))
    freqs = (pos.to(F64) / linear_scaling)[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], -1)[:, :, None, :]
    xr, xp = x[..., :r], x[..., r:]
    rot = torch.cat([-xr[..., r // 2:], xr[..., : r // 2]], -1)
    return torch.cat([xr * emb.cos() + rot * emb.sin(), xp], -1)


def rope_complex(x, pos, theta, rotary_dim, linear_scaling):
    """Independent check of interleaved: llama's complex multiplication."""
    r = rotary_dim
    inv_freq = 1.0 / (theta ** (torch.arange(0, r, 2, dtype=F64) / r))
    freqs = (pos.to(F64) / linear_scaling)[..., None] * inv_freq
    cis = torch.polar(torch.ones_like(freqs), freqs)[:, :, None, :]
    xr, xp = x[..., :r], x[..., r:]
    xc = torch.view_as_complex(xr.reshape(*xr.shape[:-1], r // 2, 2).contiguous())
    yr = torch.view_as_real(xc * cis).reshape(xr.shape)
    return torch.cat([yr, xp], -1)


def attention_ref(q, k, v, num_heads, num_kv_heads, causal=False, window=None, mask=None,
                  scale=None, sinks=None):
    """softmax(q k^T * scale + mask) v with explicit masks; rows that see no
    key give zeros; sinks join the softmax denominator only."""
    b, lq, h, d = q.shape
    lk = k.shape[1]
    assert h == num_heads and k.shape[2] == num_kv_heads
    group = num_heads // num_kv_heads
    k = k.repeat_interleave(group, dim=2)  # query head h reads kv head h // group
    v = v.repeat_interleave(group, dim=2)
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * scale
    qpos = torch.arange(lq) + (lk - lq)
    kj = torch.arange(lk)
    visible = torch.ones(b, 1, lq, lk, dtype=torch.bool)
    if causal:
        visible &= (kj[None, :] <= qpos[:, None])[None, None]
    if window is not None:
        visible &= ((qpos[:, None] - kj[None, :]) < window)[None, None]
    if mask is not None:
        if mask.dim() == 2:
            visible &= mask[:, None, None, :]
        else:
            visible &= mask[:, None, :, :]
    scores = scores.masked_fill(~visible, float("-inf"))
    if sinks is not None:
        sink = sinks.to(F64)[None, :, None, None].expand(b, h, lq, 1)
        probs = torch.softmax(torch.cat([scores, sink], -1), -1)[..., :lk]
    else:
        probs = torch.softmax(scores, -1)
    probs = torch.where(visible.expand_as(probs), probs, torch.zeros_like(probs))
    probs = torch.nan_to_num(probs, nan=0.0)  # fully masked rows
    return torch.einsum("bhqk,bkhd->bqhd", probs, v)


def act_ref(name, x, tanh_approx=False):
    if name == "relu":
        return F.relu(x)
    if name in ("gelu", "geglu"):
        return F.gelu(x, approximate="tanh" if tanh_approx else "none")
    if name in ("silu", "swiglu"):
        return F.silu(x)
    raise ValueError(name)


GATED = ("swiglu", "geglu")


def ffn_ref(x, up, gate, down, act, tanh_approx=False, b_up=None, b_down=None):
    u = F.linear(x, up, b_up)
    if act in GATED:
        h = act_ref(act, F.linear(x, gate), tanh_approx) * u
    else:
        h = act_ref(act, u, tanh_approx)
    return F.linear(h, down, b_down)


def router_scores(x, router, scoring):
    logits = F.linear(x, router)
    return torch.softmax(logits, -1) if scoring == "softmax" else torch.sigmoid(logits)


def router_gap(x, router, top_k, scoring):
    """Smallest gap between the top_k-th and (top_k+1)-th score of any token."""
    scores = router_scores(x, router, scoring)
    if top_k >= scores.shape[-1]:
        return math.inf
    srt = torch.sort(scores, -1, descending=True).values
    return (srt[..., top_k - 1] - srt[..., top_k]).min().item()


def moe_ref(x, router, experts, shared, top_k, scoring, normalize, routed_scale, act,
            tanh_approx=False):
    scores = router_scores(x, router, scoring)
    # Ties are broken towards the lower index by the op; the inputs are chosen
    # so that the top_k-th and (top_k+1)-th scores are well apart.
    gap = router_gap(x, router, top_k, scoring)
    assert gap > 1e-3, "router scores too close to a tie: %g" % gap
    w, idx = torch.topk(scores, top_k, dim=-1)
    if normalize:
        w = w / w.sum(-1, keepdim=True)
    w = w * routed_scale
    up, gate, down = experts
    e = router.shape[0]
    outs = torch.stack([ffn_ref(x, up[i], None if gate is None else gate[i], down[i], act,
                                tanh_approx) for i in range(e)], -2)  # [..., E, dim]
    picked = torch.gather(outs, -2, idx[..., None].expand(*idx.shape, outs.shape[-1]))
    y = (w[..., None] * picked).sum(-2)
    # Cross-check against a per-token loop.
    flat_x = x.reshape(-1, x.shape[-1])
    flat_w, flat_i = w.reshape(-1, top_k), idx.reshape(-1, top_k)
    for n in range(flat_x.shape[0]):
        acc = torch.zeros(x.shape[-1], dtype=F64)
        for j in range(top_k):
            ei = int(flat_i[n, j])
            acc += flat_w[n, j] * ffn_ref(flat_x[n], up[ei], None if gate is None else gate[ei],
                                          down[ei], act, tanh_approx)
        assert torch.allclose(acc, y.reshape(-1, x.shape[-1])[n], atol=1e-12)
    if shared is not None:
        y = y + ffn_ref(x, shared[0], shared[1], shared[2], act, tanh_approx)
    return y


def mla_ref(x, pos, q_w, kv_w, wo, H, r, dn, dr, dv, q_lora_rank=None, layout="interleaved",
            theta=10000.0, eps=f32(1e-6), causal=False, window=None, mask=None, scale=None):
    b, s, _ = x.shape
    if q_lora_rank is None:
        q = F.linear(x, q_w[0])
    else:
        wq_a, q_norm, wq_b = q_w
        q = F.linear(rms_norm_ref(F.linear(x, wq_a), q_norm, eps), wq_b)
    q = q.reshape(b, s, H, dn + dr)
    q_nope, q_rope = q[..., :dn], q[..., dn:]
    wkv_a, kv_norm, wkv_b = kv_w
    ckv = F.linear(x, wkv_a)
    c, k_rope = ckv[..., :r], ckv[..., r:]
    kv = F.linear(rms_norm_ref(c, kv_norm, eps), wkv_b).reshape(b, s, H, dn + dv)
    k_nope, v = kv[..., :dn], kv[..., dn:]
    q_rope = rope_ref(q_rope, pos, layout, theta)
    k_rope = rope_ref(k_rope[:, :, None, :], pos, layout, theta)
    qf = torch.cat([q_nope, q_rope], -1)
    kf = torch.cat([k_nope, k_rope.expand(b, s, H, dr)], -1)
    if scale is None:
        scale = 1.0 / math.sqrt(dn + dr)
    o = attention_ref(qf, kf, v, H, H, causal, window, mask, scale)
    return F.linear(o.reshape(b, s, H * dv), wo)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def embedding_cases():
    for name, scale in (("embedding_scale", math.sqrt(8.0)), ("embedding", None)):
        g = Rng(name)
        table = g.normal((10, 8))
        ids = g.ints((2, 3), 0, 10)
        args = [Arg("table", table), Arg("ids", ids)]
        s = 1.0 if scale is None else f32(scale)
        out = F.embedding(t(ids), t(table)) * s
        a = attrs(None if scale is None else "scale = %s : f32" % fattr(scale))
        one_op(name, "embedding",
               "table[ids] * %s (vocab 10, dim 8, ids [2,3])" % ("scale" if scale else "1"),
               args, "tessel.embedding %%table[%%ids]%s" % a,
               ttype((2, 3, 8), "f32"), out,
               suffix="%s, %s -> %s" % (args[0].type, args[1].type, ttype((2, 3, 8), "f32")))


def linear_cases():
    specs = [("linear_bias", (2, 3, 16), 12, True), ("linear", (2, 3, 16), 12, False),
             ("linear_rank2_bias", (5, 8), 6, True)]
    for name, shape, out_f, bias in specs:
        g = Rng(name)
        x = g.normal(shape)
        w = g.weight(out_f, shape[-1])
        args = [Arg("x", x), Arg("w", w)]
        b = None
        if bias:
            b = g.normal((out_f,), 0.5)
            args.append(Arg("b", b))
        out = F.linear(t(x), t(w), None if b is None else t(b))
        one_op(name, "linear", "x W^T%s, x %s, W [%d, %d]" % (" + b" if bias else "",
                                                              list(shape), out_f, shape[-1]),
               args, "tessel.linear %x, %w" + (" bias(%b)" if bias else ""),
               ttype(shape[:-1] + (out_f,), "f32"), out)


def norm_cases():
    specs = [("rms_norm", (2, 3, 16), None, False),
             ("rms_norm_eps_rank2", (4, 12), 1e-6, False),
             ("rms_norm_unit_offset", (2, 3, 16), 1e-6, True)]
    for name, shape, eps, unit in specs:
        g = Rng(name)
        x = g.normal(shape, 2.0)
        w = g.normal(shape[-1:], 0.2) if unit else g.normal(shape[-1:], 0.3, 1.0)
        e = f32(1e-5 if eps is None else eps)
        out = rms_norm_ref(t(x), t(w), e, unit)
        a = attrs(None if eps is None else "epsilon = %s : f32" % fattr(eps),
                  "unit_offset" if unit else None)
        one_op(name, "rms_norm",
               "x / sqrt(mean(x^2) + %g) * %s, x %s" % (eps or 1e-5, "(1 + w)" if unit else "w",
                                                        list(shape)),
               [Arg("x", x), Arg("w", w)], "tessel.rms_norm %x, %w" + a, ttype(shape, "f32"), out)
    specs = [("layer_norm_bias", (2, 3, 16), None, True), ("layer_norm", (4, 12), 1e-6, False)]
    for name, shape, eps, bias in specs:
        g = Rng(name)
        x = g.normal(shape, 2.0, 0.5)
        w = g.normal(shape[-1:], 0.3, 1.0)
        args = [Arg("x", x), Arg("w", w)]
        b = None
        if bias:
            b = g.normal(shape[-1:], 0.5)
            args.append(Arg("b", b))
        e = f32(1e-5 if eps is None else eps)
        out = F.layer_norm(t(x), shape[-1:], t(w), None if b is None else t(b), e)
        a = attrs(None if eps is None else "epsilon = %s : f32" % fattr(eps))
        one_op(name, "layer_norm", "layer norm%s, eps %g, x %s" % (
            " with bias" if bias else " without bias", eps or 1e-5, list(shape)),
            args, "tessel.layer_norm %x, %w" + (" bias(%b)" if bias else "") + a,
            ttype(shape, "f32"), out)


def rope_cases():
    # name, shape [B,S,H,D], layout, theta, rotary_dim, linear_scaling
    specs = [("rope_interleaved", (2, 4, 2, 8), "interleaved", None, None, None),
             ("rope_half_split", (2, 4, 2, 8), "half_split", None, None, None),
             ("rope_partial_half_split", (2, 4, 2, 12), "half_split", None, 8, None),
             ("rope_partial_interleaved", (2, 4, 2, 12), "interleaved", None, 4, None),
             ("rope_linear_scaling", (2, 4, 2, 8), "half_split", 500000.0, None, 4.0),
             ("rope_linear_scaling_interleaved", (1, 4, 2, 8), "interleaved", None, None, 2.5)]
    for name, shape, layout, theta, rd, ls in specs:
        g = Rng(name)
        x = g.normal(shape)
        b, s = shape[:2]
        pos = np.stack([np.arange(s) + int(o) for o in g.ints((b,), 0, 60)]).astype(np.int64)
        pos[-1, -1] += 37  # positions need not be consecutive
        th = f32(10000.0 if theta is None else theta)
        lsv = f32(1.0 if ls is None else ls)
        r = shape[-1] if rd is None else rd
        out = rope_ref(t(x), t(pos), layout, th, r, lsv)
        check = (rope_hf_rotate_half if layout == "half_split" else rope_complex)(
            t(x), t(pos), th, r, lsv)
        assert torch.allclose(out, check, atol=1e-12), name
        a = attrs("layout = #tessel.rope_layout<%s>" % layout,
                  None if theta is None else "theta = %s : f32" % fattr(theta),
                  None if rd is None else "rotary_dim = %d : i64" % rd,
                  None if ls is None else "linear_scaling = %s : f32" % fattr(ls))
        desc = "RoPE %s, theta %g, rotary_dim %d of %d, linear_scaling %g" % (
            layout, th, r, shape[-1], lsv)
        one_op(name, "rope", desc, [Arg("x", x), Arg("pos", pos)], "tessel.rope %x, %pos" + a,
               ttype(shape, "f32"), out)


def llama3_freq_factors(head_dim, theta, factor, low_freq_factor, high_freq_factor, original_ctx):
    """Llama 3 rope scaling as per-pair divisors of the frequency (the form
    llama.cpp stores as `rope_freqs.weight`), following HF's
    _compute_llama3_parameters."""
    inv_freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    wavelen = 2 * np.pi / inv_freq
    low_wavelen = original_ctx / low_freq_factor
    high_wavelen = original_ctx / high_freq_factor
    smooth = (original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    scaled = np.where(medium, (1 - smooth) * inv_freq / factor + smooth * inv_freq, scaled)
    return (inv_freq / scaled).astype(np.float32)


def rope_freq_factor_cases():
    name = "rope_llama3_freq_factors"
    g = Rng(name)
    shape = (1, 5, 2, 16)
    x = g.normal(shape)
    pos = np.array([[0, 1, 2, 900, 4000]], dtype=np.int64)
    ff = llama3_freq_factors(16, 500000.0, 8.0, 1.0, 4.0, 64)
    out = rope_ref(t(x), t(pos), "half_split", f32(500000.0), 16, f32(1.0), t(ff))
    a = attrs("layout = #tessel.rope_layout<half_split>", "theta = %s : f32" % fattr(500000.0))
    one_op(name, "rope", "RoPE half_split with Llama 3 frequency factors",
           [Arg("x", x), Arg("pos", pos), Arg("ff", ff)],
           "tessel.rope %x, %pos freq_factors(%ff)" + a, ttype(shape, "f32"), out)


def attention_case(name, desc, b, lq, lk, h, kvh, d, dv=None, causal=False, window=None,
                   mask=None, scale=None, sinks=False):
    g = Rng(name)
    dv = d if dv is None else dv
    q = g.normal((b, lq, h, d))
    k = g.normal((b, lk, kvh, d))
    v = g.normal((b, lk, kvh, dv))
    args = [Arg("q", q), Arg("k", k), Arg("v", v)]
    operands = "%q, %k, %v"
    if mask is not None:
        args.append(Arg("mask", mask))
        operands += " mask(%mask)"
    sk = None
    if sinks:
        sk = g.normal((h,), 1.0, 0.5)
        args.append(Arg("sinks", sk))
        operands += " sinks(%sinks)"
    sc = None if scale is None else f32(scale)
    out = attention_ref(t(q), t(k), t(v), h, kvh, causal, window,
                        None if mask is None else t(mask), sc, None if sk is None else t(sk))
    a = attrs("num_heads = %d : i64" % h, "num_kv_heads = %d : i64" % kvh,
              "causal" if causal else None,
              None if window is None else "window = %d : i64" % window,
              None if scale is None else "scale = %s : f32" % fattr(scale))
    one_op(name, "attention", desc, args, "tessel.attention " + operands + a,
           ttype((b, lq, h, dv), "f32"), out)


def padding_mask(b, lk, right=True):
    m = np.ones((b, lk), dtype=np.bool_)
    # batch 0 is full length; batch 1 has its last (or first) 2 keys padded,
    # plus one hole in the middle so the mask is not just a length.
    if right:
        m[1, lk - 2:] = False
    else:
        m[1, :2] = False
    m[1, lk // 2] = False
    return m


def attention_cases():
    kinds = [("mha", 4, 4), ("gqa", 4, 2), ("mqa", 4, 1)]
    for kind, h, kvh in kinds:
        attention_case("attention_%s_causal" % kind,
                       "%s (%d heads / %d kv heads), causal, batch 2, seq 6" % (
                           kind.upper(), h, kvh),
                       2, 6, 6, h, kvh, 8, causal=True)
        attention_case("attention_%s_causal_window" % kind,
                       "%s (%d heads / %d kv heads), causal, sliding window 3, batch 2, seq 7" % (
                           kind.upper(), h, kvh),
                       2, 7, 7, h, kvh, 8, causal=True, window=3)
        attention_case("attention_%s_padding_mask" % kind,
                       "%s (%d heads / %d kv heads), non-causal, [batch, kv_len] padding mask, "
                       "batch 2, seq 6" % (kind.upper(), h, kvh),
                       2, 6, 6, h, kvh, 8, mask=padding_mask(2, 6))
    attention_case("attention_gqa_decode_causal",
                   "GQA causal with q_len 3 < kv_len 8: queries are positions 5..7",
                   2, 3, 8, 4, 2, 8, causal=True)
    attention_case("attention_gqa_decode_one_token",
                   "GQA causal decode step, q_len 1, kv_len 9", 1, 1, 9, 4, 2, 8, causal=True)
    attention_case("attention_gqa_decode_window",
                   "GQA causal, window 4, q_len 2 < kv_len 8", 2, 2, 8, 4, 2, 8, causal=True,
                   window=4)
    attention_case("attention_mha_causal_left_padding",
                   "MHA causal + left-padding mask [batch, kv_len]; batch 1's query 0 sees no "
                   "key and yields zeros", 2, 6, 6, 2, 2, 8, causal=True,
                   mask=padding_mask(2, 6, right=False))
    g = Rng("attention_mask_rank3/mask")
    m3 = g.g.random((2, 5, 6)) < 0.6
    m3[0, 2, :] = False  # a row that sees nothing -> zeros
    m3[1, 0, :] = True
    attention_case("attention_mask_rank3",
                   "GQA, non-causal, rank-3 [batch, q_len, kv_len] mask with one fully masked "
                   "row (zeros), q_len 5, kv_len 6", 2, 5, 6, 4, 2, 8, mask=m3)
    g = Rng("attention_decode_mask_rank3/mask")
    m3 = g.g.random((2, 3, 7)) < 0.7
    m3[:, :, 6] = True
    attention_case("attention_decode_causal_mask_rank3",
                   "MHA causal + rank-3 mask, q_len 3 < kv_len 7", 2, 3, 7, 2, 2, 8, causal=True,
                   mask=m3)
    attention_case("attention_scale",
                   "MHA non-causal with custom scale 0.3, q_len 4, kv_len 5", 2, 4, 5, 2, 2, 8,
                   scale=0.3)
    attention_case("attention_v_head_dim",
                   "GQA causal with v_head_dim 6 != head_dim 8", 2, 5, 5, 4, 2, 8, dv=6,
                   causal=True)
    attention_case("attention_sinks",
                   "GQA causal with attention sinks (one logit per head in the denominator)",
                   2, 5, 5, 4, 2, 8, causal=True, sinks=True)
    attention_case("attention_sinks_window_mask",
                   "MHA causal, window 2, left-padding mask and sinks; a fully masked row "
                   "yields zeros", 2, 5, 5, 2, 2, 8, causal=True, window=2,
                   mask=padding_mask(2, 5, right=False), sinks=True)


def mla_case(name, desc, b=2, s=5, dim=16, H=2, r=8, dn=4, dr=4, dv=4, q_lora_rank=None,
             layout=None, theta=None, eps=None, causal=False, window=None, mask=None,
             scale=None):
    g = Rng(name)
    x = g.normal((b, s, dim))
    pos = np.stack([np.arange(s) + int(o) for o in g.ints((b,), 0, 20)]).astype(np.int64)
    args = [Arg("x", x), Arg("pos", pos)]
    if q_lora_rank is None:
        qw = [("wq", g.weight(H * (dn + dr), dim))]
    else:
        qw = [("wq_a", g.weight(q_lora_rank, dim)), ("q_norm", g.normal((q_lora_rank,), 0.3, 1.0)),
              ("wq_b", g.weight(H * (dn + dr), q_lora_rank))]
    kvw = [("wkv_a", g.weight(r + dr, dim)), ("kv_norm", g.normal((r,), 0.3, 1.0)),
           ("wkv_b", g.weight(H * (dn + dv), r))]
    wo = g.weight(dim, H * dv)
    args += [Arg(n, a) for n, a in qw] + [Arg(n, a) for n, a in kvw] + [Arg("wo", wo)]
    if mask is not None:
        args.append(Arg("mask", mask))
    e = f32(1e-6 if eps is None else eps)
    th = f32(10000.0 if theta is None else theta)
    out = mla_ref(t(x), t(pos), [t(a) for _, a in qw], [t(a) for _, a in kvw], t(wo), H, r, dn,
                  dr, dv, q_lora_rank, layout or "interleaved", th, e, causal, window,
                  None if mask is None else t(mask), None if scale is None else f32(scale))
    a = attrs("num_heads = %d : i64" % H, "kv_lora_rank = %d : i64" % r,
              "qk_nope_dim = %d : i64" % dn, "qk_rope_dim = %d : i64" % dr,
              "v_head_dim = %d : i64" % dv,
              None if q_lora_rank is None else "q_lora_rank = %d : i64" % q_lora_rank,
              None if layout is None else "rope_layout = #tessel.rope_layout<%s>" % layout,
              None if theta is None else "rope_theta = %s : f32" % fattr(theta),
              None if eps is None else "epsilon = %s : f32" % fattr(eps),
              "causal" if causal else None,
              None if window is None else "window = %d : i64" % window,
              None if scale is None else "scale = %s : f32" % fattr(scale))
    text = "tessel.mla %%x, %%pos q(%s) kv(%s) out(%%wo)%s" % (
        ", ".join("%" + n for n, _ in qw), ", ".join("%" + n for n, _ in kvw),
        " mask(%mask)" if mask is not None else "") + a
    one_op(name, "mla", desc, args, text, ttype((b, s, dim), "f32"), out)


def mla_cases():
    for ql in (None, 8):
        sfx = "" if ql is None else "_q_lora"
        qd = "wq" if ql is None else "q_lora_rank 8"
        mla_case("mla_causal" + sfx, "MLA (%s), causal, batch 2, seq 5" % qd, causal=True,
                 q_lora_rank=ql)
        mla_case("mla_causal_window" + sfx, "MLA (%s), causal, window 2" % qd, causal=True,
                 window=2, q_lora_rank=ql)
        mla_case("mla_padding_mask" + sfx, "MLA (%s), non-causal, [batch, seq] padding mask" % qd,
                 mask=padding_mask(2, 5), q_lora_rank=ql)
    mla_case("mla_half_split_attrs",
             "MLA (q_lora_rank 6), causal, rope_layout half_split, rope_theta 50000, "
             "epsilon 1e-5, scale 0.25, 3 heads, dn 6 dr 2 dv 5",
             b=1, s=6, dim=12, H=3, r=6, dn=6, dr=2, dv=5, q_lora_rank=6, layout="half_split",
             theta=50000.0, eps=1e-5, causal=True, scale=0.25)


def ffn_case(name, desc, act, tanh_approx=False, bias=False, shape=(2, 3, 8), hidden=16):
    g = Rng(name)
    dim = shape[-1]
    x = g.normal(shape)
    up = g.weight(hidden, dim)
    gate = g.weight(hidden, dim) if act in GATED else None
    down = g.weight(dim, hidden)
    args = [Arg("x", x), Arg("w_up", up)]
    if gate is not None:
        args.append(Arg("w_gate", gate))
    args.append(Arg("w_down", down))
    bu = bd = None
    if bias:
        bu, bd = g.normal((hidden,), 0.5), g.normal((dim,), 0.5)
        args += [Arg("b_up", bu), Arg("b_down", bd)]
    out = ffn_ref(t(x), t(up), None if gate is None else t(gate), t(down), act, tanh_approx,
                  None if bu is None else t(bu), None if bd is None else t(bd))
    text = "tessel.ffn %x up(%w_up)" + (" gate(%w_gate)" if gate is not None else "") + \
        " down(%w_down)" + (" up_bias(%b_up) down_bias(%b_down)" if bias else "") + \
        attrs("activation = #tessel.activation<%s>" % act, "tanh_approx" if tanh_approx else None)
    one_op(name, "ffn", desc, args, text, ttype(shape, "f32"), out)


def ffn_cases():
    ffn_case("ffn_relu", "relu(x W_up^T) W_down^T", "relu")
    ffn_case("ffn_gelu", "exact (erf) gelu FFN", "gelu")
    ffn_case("ffn_gelu_tanh", "tanh-approximate gelu FFN", "gelu", tanh_approx=True)
    ffn_case("ffn_silu", "silu FFN", "silu")
    ffn_case("ffn_swiglu", "SwiGLU: silu(x W_gate^T) * (x W_up^T), then W_down", "swiglu")
    ffn_case("ffn_geglu", "GeGLU with exact gelu", "geglu")
    ffn_case("ffn_geglu_tanh", "GeGLU with tanh-approximate gelu (Gemma)", "geglu",
             tanh_approx=True)
    ffn_case("ffn_gelu_tanh_bias", "GPT-2 MLP: gelu_tanh(x W_up^T + b_up) W_down^T + b_down",
             "gelu", tanh_approx=True, bias=True)
    ffn_case("ffn_swiglu_bias", "SwiGLU with up and down biases (no gate bias)", "swiglu",
             bias=True, shape=(5, 8))


def moe_case(name, desc, top_k, scoring, normalize, routed_scale=None, shared=False,
             act="swiglu", tanh_approx=False, E=4, dim=8, hidden=12, shared_hidden=10,
             shape=(2, 3)):
    g = Rng(name)
    x = g.normal(shape + (dim,))
    router = g.normal((E, dim), 0.8)
    while router_gap(t(x), t(router), top_k, scoring) <= 1e-3:
        router = g.normal((E, dim), 0.8)  # redraw until no near-ties in the top-k cut
    gated = act in GATED
    up = g.weight(hidden, dim, (E,))
    gate = g.weight(hidden, dim, (E,)) if gated else None
    down = g.weight(dim, hidden, (E,))
    args = [Arg("x", x), Arg("router", router), Arg("up", up)]
    if gated:
        args.append(Arg("gate", gate))
    args.append(Arg("down", down))
    sh = None
    if shared:
        sh = [g.weight(shared_hidden, dim), g.weight(shared_hidden, dim) if gated else None,
              g.weight(dim, shared_hidden)]
        args.append(Arg("s_up", sh[0]))
        if gated:
            args.append(Arg("s_gate", sh[1]))
        args.append(Arg("s_down", sh[2]))
    rs = f32(1.0 if routed_scale is None else routed_scale)
    out = moe_ref(t(x), t(router), [t(up), None if gate is None else t(gate), t(down)],
                  None if sh is None else [None if a is None else t(a) for a in sh],
                  top_k, scoring, normalize, rs, act, tanh_approx)
    ex = "%up, %gate, %down" if gated else "%up, %down"
    shs = ("%s_up, %s_gate, %s_down" if gated else "%s_up, %s_down") if shared else None
    text = "tessel.moe %%x router(%%router) experts(%s)%s" % (
        ex, "" if shs is None else " shared(%s)" % shs) + attrs(
        "top_k = %d : i64" % top_k, "scoring = #tessel.moe_scoring<%s>" % scoring,
        "normalize_top_k" if normalize else None,
        None if routed_scale is None else "routed_scale = %s : f32" % fattr(routed_scale),
        "activation = #tessel.activation<%s>" % act, "tanh_approx" if tanh_approx else None)
    one_op(name, "moe", desc, args, text, ttype(shape + (dim,), "f32"), out)


def moe_cases():
    moe_case("moe_top1_softmax", "top-1 of 4, softmax scores (weight = the softmax prob), "
             "SwiGLU experts", 1, "softmax", False)
    moe_case("moe_top1_softmax_shared", "top-1 of 4, softmax, plus a shared SwiGLU expert",
             1, "softmax", False, shared=True)
    moe_case("moe_top2_softmax_norm", "Mixtral-style top-2 of 4, softmax, normalize_top_k",
             2, "softmax", True)
    moe_case("moe_top2_softmax_norm_shared",
             "top-2 of 4, softmax, normalize_top_k, plus a shared SwiGLU expert",
             2, "softmax", True, shared=True)
    moe_case("moe_top2_sigmoid_norm_scaled_shared",
             "DeepSeek-V3-style: sigmoid scores, top-2 of 6, normalize_top_k, routed_scale 2.5, "
             "shared expert", 2, "sigmoid", True, routed_scale=2.5, shared=True, E=6)
    moe_case("moe_top2_sigmoid_scaled",
             "sigmoid scores, top-2 of 4, no normalisation, routed_scale 0.75",
             2, "sigmoid", False, routed_scale=0.75)
    moe_case("moe_top2_softmax_gelu_shared",
             "top-2 of 4, softmax without normalisation, non-gated gelu_tanh experts (up, down) "
             "and shared expert", 2, "softmax", False, shared=True, act="gelu", tanh_approx=True)


def einsum_cases():
    specs = [
        ("einsum_attention_scores", "bqhd,bkhd->bhqk", [(2, 4, 2, 8), (2, 5, 2, 8)]),
        ("einsum_attention_values", "bhqk,bkhd->bqhd", [(2, 2, 4, 5), (2, 5, 2, 8)]),
        ("einsum_matmul", "ij,jk->ik", [(5, 7), (7, 6)]),
        ("einsum_batched_matmul", "bij,bjk->bik", [(3, 4, 5), (3, 5, 6)]),
        ("einsum_transpose", "ij->ji", [(4, 7)]),
        ("einsum_sum_all", "ij->", [(5, 6)]),
        ("einsum_dot", "i,i->", [(11,), (11,)]),
        ("einsum_projection", "bsd,hd->bsh", [(2, 3, 8), (5, 8)]),
        ("einsum_chain3", "ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
        ("einsum_outer", "i,j->ij", [(4,), (5,)]),
        ("einsum_permute_reduce", "abc->cb", [(3, 4, 5)]),
        ("einsum_bilinear", "bn,anm,bm->ba", [(2, 4), (3, 4, 5), (2, 5)]),
    ]
    for name, eq, shapes in specs:
        g = Rng(name)
        xs = [g.normal(s) for s in shapes]
        names = ["in%d" % i for i in range(len(xs))]
        out = torch.einsum(eq, *[t(a) for a in xs])
        args = [Arg(n, a) for n, a in zip(names, xs)]
        one_op(name, "einsum", "einsum \"%s\"" % eq, args,
               "tessel.einsum \"%s\" %s" % (eq, ", ".join("%" + n for n in names)),
               ttype(tuple(out.shape), "f32"), out)


def softmax_cases():
    for name, shape, axis in (("softmax_last_axis", (2, 3, 7), None),
                              ("softmax_axis1", (2, 5, 3), 1),
                              ("softmax_negative_axis", (3, 4, 2), -2)):
        g = Rng(name)
        x = g.normal(shape, 3.0)
        x.reshape(-1)[0] = 60.0  # large logits must not overflow
        out = torch.softmax(t(x), -1 if axis is None else axis)
        a = attrs(None if axis is None else "axis = %d : i64" % axis)
        args = [Arg("x", x)]
        one_op(name, "softmax", "softmax along axis %d of %s" % (-1 if axis is None else axis,
                                                              list(shape)),
               args, "tessel.softmax %x" + a, ttype(shape, "f32"), out, suffix=ttype(shape, "f32"))


def residual_cases():
    g = Rng("residual_add")
    a, b = g.normal((2, 3, 8)), g.normal((2, 3, 8))
    one_op("residual_add", "residual_add", "a + b, [2,3,8]", [Arg("a", a), Arg("b", b)],
           "tessel.residual_add %a, %b", ttype((2, 3, 8), "f32"), t(a) + t(b),
           suffix=ttype((2, 3, 8), "f32"))


def kv_cache_cases():
    # update then view, static view type; both results are returned.
    name = "kv_cache_update_view"
    g = Rng(name)
    cache = g.normal((2, 8, 2, 4))
    upd = g.normal((2, 3, 2, 4))
    pos, length = 2, 5
    args = [Arg("cache", cache), Arg("update", upd), Arg("pos", pos, scalar=True),
            Arg("len", length, scalar=True)]
    new = t(cache).clone()
    new[:, pos:pos + 3] = t(upd)
    view = new[:, :length]
    ct, vt = ttype((2, 8, 2, 4), "f32"), ttype((2, length, 2, 4), "f32")
    case(name, "kv_cache", "kv_cache_update of 3 rows at position 2 (i64 argument), then "
         "kv_cache_view of length 5 (static result); returns the cache and the view",
         args,
         ["%%c = tessel.kv_cache_update %%cache, %%update, %%pos : (%s, %s, i64) -> %s" % (
             ct, args[1].type, ct),
          "%%v = tessel.kv_cache_view %%c, %%len : (%s, i64) -> %s" % (ct, vt)],
         [("%c", ct), ("%v", vt)], [("cache", new), ("view", view)])

    # decode step: write the new k/v row at `pos`, view pos+1 rows (dynamic
    # length), attend with the one new query.
    name = "kv_cache_decode_attention"
    g = Rng(name)
    b, maxlen, kvh, h, d, pos = 1, 8, 2, 4, 4, 5
    kc, vc = g.normal((b, maxlen, kvh, d)), g.normal((b, maxlen, kvh, d))
    q, k, v = g.normal((b, 1, h, d)), g.normal((b, 1, kvh, d)), g.normal((b, 1, kvh, d))
    args = [Arg("q", q), Arg("k", k), Arg("v", v), Arg("k_cache", kc), Arg("v_cache", vc),
            Arg("pos", pos, scalar=True), Arg("len", pos + 1, scalar=True)]
    kc2, vc2 = t(kc).clone(), t(vc).clone()
    kc2[:, pos:pos + 1], vc2[:, pos:pos + 1] = t(k), t(v)
    out = attention_ref(t(q), kc2[:, :pos + 1], vc2[:, :pos + 1], h, kvh, causal=True)
    ct, ut = ttype((b, maxlen, kvh, d), "f32"), ttype((b, 1, kvh, d), "f32")
    dyn = ttype((b, None, kvh, d), "f32")
    ot = ttype((b, 1, h, d), "f32")
    case(name, "kv_cache", "decode step: kv_cache_update k and v at position 5, kv_cache_view "
         "of 6 rows (dynamic length), GQA causal attention of one query; returns the output and "
         "both updated caches", args,
         ["%%kc = tessel.kv_cache_update %%k_cache, %%k, %%pos : (%s, %s, i64) -> %s" % (ct, ut, ct),
          "%%vc = tessel.kv_cache_update %%v_cache, %%v, %%pos : (%s, %s, i64) -> %s" % (ct, ut, ct),
          "%%kv = tessel.kv_cache_view %%kc, %%len : (%s, i64) -> %s" % (ct, dyn),
          "%%vv = tessel.kv_cache_view %%vc, %%len : (%s, i64) -> %s" % (ct, dyn),
          "%%o = tessel.attention %%q, %%kv, %%vv {num_heads = %d : i64, num_kv_heads = %d : i64, "
          "causal} : (%s, %s, %s) -> %s" % (h, kvh, ttype((b, 1, h, d), "f32"), dyn, dyn, ot)],
         [("%o", ot), ("%kc", ct), ("%vc", ct)],
         [("out", out), ("k_cache", kc2), ("v_cache", vc2)])


def decoder_block_cases():
    name = "decoder_block_llama"
    g = Rng(name)
    b, s, dim, h, kvh, hidden = 1, 8, 32, 4, 2, 64
    hd = dim // h
    x = g.normal((b, s, dim))
    pos = np.arange(s, dtype=np.int64)[None]
    attn_norm = g.normal((dim,), 0.2, 1.0)
    wq, wk, wv = g.weight(h * hd, dim), g.weight(kvh * hd, dim), g.weight(kvh * hd, dim)
    wo = g.weight(dim, h * hd)
    ffn_norm = g.normal((dim,), 0.2, 1.0)
    w_gate, w_up, w_down = g.weight(hidden, dim), g.weight(hidden, dim), g.weight(dim, hidden)
    args = [Arg("x", x), Arg("pos", pos), Arg("attn_norm", attn_norm), Arg("wq", wq),
            Arg("wk", wk), Arg("wv", wv), Arg("wo", wo), Arg("ffn_norm", ffn_norm),
            Arg("w_gate", w_gate), Arg("w_up", w_up), Arg("w_down", w_down)]
    eps = f32(1e-5)
    # Oracle, written HF-LLaMA style (rotate_half, repeat_kv, causal mask).
    X = t(x)
    n1 = rms_norm_ref(X, t(attn_norm), eps)
    q = F.linear(n1, t(wq)).view(b, s, h, hd)
    k = F.linear(n1, t(wk)).view(b, s, kvh, hd)
    v = F.linear(n1, t(wv)).view(b, s, kvh, hd)
    q = rope_hf_rotate_half(q, t(pos), 10000.0, hd, 1.0)
    k = rope_hf_rotate_half(k, t(pos), 10000.0, hd, 1.0)
    a = attention_ref(q, k, v, h, kvh, causal=True)
    hmid = X + F.linear(a.reshape(b, s, dim), t(wo))
    n2 = rms_norm_ref(hmid, t(ffn_norm), eps)
    y = hmid + F.linear(F.silu(F.linear(n2, t(w_gate))) * F.linear(n2, t(w_up)), t(w_down))

    T = lambda *sh: ttype(sh, "f32")
    x3, q3, kv3 = T(b, s, dim), T(b, s, h * hd), T(b, s, kvh * hd)
    q4, kv4 = T(b, s, h, hd), T(b, s, kvh, hd)
    pt = ttype((b, s), "i64")
    body = [
        "%%n1 = tessel.rms_norm %%x, %%attn_norm {epsilon = 1.0e-05 : f32} : (%s, %s) -> %s"
        % (x3, T(dim), x3),
        "%%q = tessel.linear %%n1, %%wq : (%s, %s) -> %s" % (x3, T(h * hd, dim), q3),
        "%%k = tessel.linear %%n1, %%wk : (%s, %s) -> %s" % (x3, T(kvh * hd, dim), kv3),
        "%%v = tessel.linear %%n1, %%wv : (%s, %s) -> %s" % (x3, T(kvh * hd, dim), kv3),
        "%%q4 = tensor.expand_shape %%q [[0], [1], [2, 3]] output_shape [%d, %d, %d, %d] : %s into %s"
        % (b, s, h, hd, q3, q4),
        "%%k4 = tensor.expand_shape %%k [[0], [1], [2, 3]] output_shape [%d, %d, %d, %d] : %s into %s"
        % (b, s, kvh, hd, kv3, kv4),
        "%%v4 = tensor.expand_shape %%v [[0], [1], [2, 3]] output_shape [%d, %d, %d, %d] : %s into %s"
        % (b, s, kvh, hd, kv3, kv4),
        "%%qr = tessel.rope %%q4, %%pos {layout = #tessel.rope_layout<half_split>, "
        "theta = 10000.0 : f32} : (%s, %s) -> %s" % (q4, pt, q4),
        "%%kr = tessel.rope %%k4, %%pos {layout = #tessel.rope_layout<half_split>, "
        "theta = 10000.0 : f32} : (%s, %s) -> %s" % (kv4, pt, kv4),
        "%%a = tessel.attention %%qr, %%kr, %%v4 {num_heads = %d : i64, num_kv_heads = %d : i64, "
        "causal} : (%s, %s, %s) -> %s" % (h, kvh, q4, kv4, kv4, q4),
        "%%a3 = tensor.collapse_shape %%a [[0], [1], [2, 3]] : %s into %s" % (q4, q3),
        "%%o = tessel.linear %%a3, %%wo : (%s, %s) -> %s" % (q3, T(dim, h * hd), x3),
        "%%h = tessel.residual_add %%x, %%o : %s" % x3,
        "%%n2 = tessel.rms_norm %%h, %%ffn_norm {epsilon = 1.0e-05 : f32} : (%s, %s) -> %s"
        % (x3, T(dim), x3),
        "%%f = tessel.ffn %%n2 up(%%w_up) gate(%%w_gate) down(%%w_down) "
        "{activation = #tessel.activation<swiglu>} : (%s, %s, %s, %s) -> %s"
        % (x3, T(hidden, dim), T(hidden, dim), T(dim, hidden), x3),
        "%%y = tessel.residual_add %%h, %%f : %s" % x3,
    ]
    case(name, "decoder_block",
         "LLaMA block: rms_norm, q/k/v linear, expand_shape, rope half_split, GQA causal "
         "attention (4 heads / 2 kv heads), collapse_shape, o linear, residual, rms_norm, "
         "SwiGLU FFN, residual; batch 1, seq 8, dim 32",
         args, body, [("%y", x3)], [("out", y)])


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def dump(c):
    def compact(o):
        return json.dumps(o, separators=(",", ":"), allow_nan=False)
    parts = ["{"]
    for key in ("name", "family", "description", "mlir"):
        parts.append(' %s: %s,' % (json.dumps(key), json.dumps(c[key])))
    for key in ("inputs", "outputs"):
        items = [compact(x) for x in c[key]]
        parts.append(' %s: [\n  %s\n ]%s' % (json.dumps(key), ",\n  ".join(items),
                                             "," if key == "inputs" else ""))
    parts.append("}")
    return "\n".join(parts) + "\n"


def check_mlir(tessel_opt, c):
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(c["mlir"])
        path = f.name
    try:
        p = subprocess.run([tessel_opt, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        return p.stderr.strip() or "exit code %d" % p.returncode
    return None


FAMILIES = {"embedding", "linear", "rms_norm", "layer_norm", "rope", "attention", "mla", "ffn",
            "moe", "einsum", "softmax", "residual_add", "kv_cache", "decoder_block"}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data"),
                    help="output directory (default: tests/golden/data)")
    ap.add_argument("--check-with", metavar="TESSEL_OPT",
                    help="parse and verify every case's MLIR with this tessel-opt")
    opts = ap.parse_args()

    for gen in (embedding_cases, linear_cases, norm_cases, rope_cases, rope_freq_factor_cases,
                attention_cases,
                mla_cases, ffn_cases, moe_cases, einsum_cases, softmax_cases, residual_cases,
                kv_cache_cases, decoder_block_cases):
        gen()

    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    assert all(c["family"] in FAMILIES for c in CASES)

    failures = 0
    if opts.check_with:
        for c in CASES:
            err = check_mlir(opts.check_with, c)
            if err:
                failures += 1
                print("FAIL %s:\n%s\n%s" % (c["name"], c["mlir"], err), file=sys.stderr)
        if failures:
            print("%d of %d cases do not verify" % (failures, len(CASES)), file=sys.stderr)
            return 1

    os.makedirs(opts.out, exist_ok=True)
    for f in os.listdir(opts.out):
        if f.endswith(".json") and f[:-5] not in names:
            os.unlink(os.path.join(opts.out, f))  # stale case
    total = 0
    for c in CASES:
        text = dump(c)
        json.loads(text)  # well-formed
        path = os.path.join(opts.out, c["name"] + ".json")
        with open(path, "w") as f:
            f.write(text)
        total += len(text)
    print("wrote %d cases (%d bytes) to %s%s (torch %s)" % (
        len(CASES), total, opts.out, ", all verified by tessel-opt" if opts.check_with else "",
        torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
