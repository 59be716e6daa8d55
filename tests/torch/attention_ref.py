"""Reference values from PyTorch for tests/lua/attention_spec.lua.

Reads a file written by the spec: lines "case NAME KIND CAUSAL HEADS" (KIND sdpa
or mha; CAUSAL 0 or 1; HEADS the number of heads for mha) and tensors
"NAME.T d1,d2,...: v v v".

sdpa: q, k, v (B, H, T, d), mask (0/1, broadcastable; optional), gy. Runs
torch.nn.functional.scaled_dot_product_attention where this PyTorch has it
(2.0 and later), else softmax(q k^T / sqrt(d) + mask) v written out (what its
math backend computes), in float64; prints "NAME.y", "NAME.dq", "NAME.dk",
"NAME.dv" (gradients of sum(y gy)) and "impl sdpa" or "impl manual".

mha: query (B, Tq, Fq), value (B, Tk, Fv), key (optional), attention_mask
(B, Tq, Tk) (optional), Keras's weights wq (Fq, H, kd), bq (H, kd), wk, bk,
wv (Fv, H, vd), bv, wo (H, vd, out), bo (out), and gy. Runs
torch.nn.MultiheadAttention with the weights converted from Keras's layouts
(its per-projection weights are (H * kd, F), the transposed (F, H * kd) view
of Keras's kernel; the heads are consecutive blocks of kd columns in both)
where it fits (kd = vd = Fq / H, out = Fq), else Keras's einsums written out;
prints "NAME.y" and the gradients of sum(y gy) with respect to the inputs and
every weight in Keras's layouts ("NAME.dquery", "NAME.dwq", ...) and
"impl module" or "impl einsum"."""
import math
import sys

import torch
import torch.nn.functional as F

from tensor_text import emit, read_cases


def read(path):
    lines, tensors = read_cases(path)
    cases = [(name, kind, causal == "1", int(heads)) for _, name, kind, causal, heads in lines]
    for key, t in tensors.items():
        t.requires_grad_(not key.endswith((".gy", ".mask")))
    return cases, tensors


def allowed(mask, causal, tq, tk):
    """A bool tensor, True where attention is allowed (None: everywhere)."""
    ok = None if mask is None else mask != 0
    if causal:
        tri = torch.ones(tq, tk, dtype=torch.bool).tril()
        ok = tri if ok is None else ok & tri
    return ok


def manual_attention(q, k, v, ok):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if ok is not None:
        s = s.masked_fill(~ok, float("-inf"))
    return torch.softmax(s, -1) @ v


def run_sdpa(name, causal, t):
    q, k, v = t[name + ".q"], t[name + ".k"], t[name + ".v"]
    ok = allowed(t.get(name + ".mask"), causal, q.shape[2], k.shape[2])
    if hasattr(F, "scaled_dot_product_attention"):
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=ok)
        impl = "sdpa"
    else:
        y = manual_attention(q, k, v, ok)
        impl = "manual"
    (y * t[name + ".gy"]).sum().backward()
    print("impl", impl)
    emit(name + ".y", y)
    for key in ["q", "k", "v"]:
        emit(name + ".d" + key, t[name + "." + key].grad)


def keras_mha(query, value, key, ok, w):
    """Keras's MultiHeadAttention, its einsums written out."""
    q = torch.einsum("abc,cde->abde", query, w["wq"]) + w["bq"]
    k = torch.einsum("abc,cde->abde", key, w["wk"]) + w["bk"]
    v = torch.einsum("abc,cde->abde", value, w["wv"]) + w["bv"]
    q = q / math.sqrt(q.shape[-1])
    s = torch.einsum("aecd,abcd->acbe", k, q)  # (B, H, Tq, Tk)
    if ok is not None:
        s = s.masked_fill(~(ok.unsqueeze(1) if ok.dim() == 3 else ok), float("-inf"))
    p = torch.softmax(s, -1)
    o = torch.einsum("acbe,aecd->abcd", p, v)  # (B, Tq, H, vd)
    return torch.einsum("abcd,cde->abe", o, w["wo"]) + w["bo"]


def module_mha(query, value, key, ok, w, heads):
    """torch.nn.MultiheadAttention on the same weights."""
    fq, fk, fv = query.shape[2], key.shape[2], value.shape[2]
    m = torch.nn.MultiheadAttention(fq, heads, kdim=fk, vdim=fv, batch_first=True).double()
    with torch.no_grad():
        if m._qkv_same_embed_dim:
            m.in_proj_weight.copy_(torch.cat([w[n].reshape(w[n].shape[0], -1).t() for n in ["wq", "wk", "wv"]]))
        else:
            m.q_proj_weight.copy_(w["wq"].reshape(fq, -1).t())
            m.k_proj_weight.copy_(w["wk"].reshape(fk, -1).t())
            m.v_proj_weight.copy_(w["wv"].reshape(fv, -1).t())
        m.in_proj_bias.copy_(torch.cat([w[n].reshape(-1) for n in ["bq", "bk", "bv"]]))
        m.out_proj.weight.copy_(w["wo"].reshape(-1, w["wo"].shape[2]).t())
        m.out_proj.bias.copy_(w["bo"])
    mask = None if ok is None else (~ok).repeat_interleave(heads, 0) if ok.dim() == 3 else ~ok
    y, _ = m(query, key, value, attn_mask=mask, need_weights=False)
    return y, m


def keras_grads_from_module(m, w):
    """The module's parameter gradients in Keras's layouts."""
    fq = w["wq"].shape[0]
    if m._qkv_same_embed_dim:
        gq, gk, gv = m.in_proj_weight.grad.split(w["wq"].shape[1] * w["wq"].shape[2])
    else:
        gq, gk, gv = m.q_proj_weight.grad, m.k_proj_weight.grad, m.v_proj_weight.grad
    out = {"wq": gq.t().reshape(fq, *w["wq"].shape[1:]), "wk": gk.t().reshape(w["wk"].shape),
           "wv": gv.t().reshape(w["wv"].shape)}
    gb = m.in_proj_bias.grad.split([w[n].numel() for n in ["bq", "bk", "bv"]])
    for n, g in zip(["bq", "bk", "bv"], gb):
        out[n] = g.reshape(w[n].shape)
    out["wo"] = m.out_proj.weight.grad.t().reshape(w["wo"].shape)
    out["bo"] = m.out_proj.bias.grad
    return out


def run_mha(name, causal, heads, t):
    query, value = t[name + ".query"], t[name + ".value"]
    key = t.get(name + ".key")
    key_in = value if key is None else key
    w = {n: t[name + "." + n] for n in ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"]}
    ok = allowed(t.get(name + ".mask"), causal, query.shape[1], key_in.shape[1])
    kd, vd, out = w["wq"].shape[2], w["wv"].shape[2], w["wo"].shape[2]
    fits = kd == vd and kd * heads == query.shape[2] and out == query.shape[2]
    if fits:
        y, m = module_mha(query, value, key_in, ok, w, heads)
    else:
        y = keras_mha(query, value, key_in, ok, w)
    (y * t[name + ".gy"]).sum().backward()
    print("impl", "module" if fits else "einsum")
    emit(name + ".y", y)
    grads = keras_grads_from_module(m, w) if fits else {n: w[n].grad for n in w}
    for n in w:
        emit(name + ".d" + n, grads[n])
    for n, v in [("query", query), ("value", value), ("key", key)]:
        if v is not None:
            emit(name + ".d" + n, v.grad)


def main():
    cases, tensors = read(sys.argv[1])
    for name, kind, causal, heads in cases:
        if kind == "sdpa":
            run_sdpa(name, causal, tensors)
        else:
            run_mha(name, causal, heads, tensors)


if __name__ == "__main__":
    main()
