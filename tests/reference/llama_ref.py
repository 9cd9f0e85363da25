#!/usr/bin/python3
"""Independent float64 numpy implementation of the Hugging Face Llama forward pass.

Oracle for tests/model/reference_logits_test.cpp. It shares no code with awqx: it parses the
safetensors header itself (8-byte little-endian length + JSON), widens bf16 by shifting the bits
into the high half of a float32, and follows transformers' modeling_llama.py: RMSNorm (float
math, weight multiply), rotate-half RoPE with inv_freq = theta^(-2i/d), causal softmax attention
with GQA (repeat_kv), SwiGLU MLP, final norm, lm_head (or tied embeddings). Qwen2-style q/k/v
biases are applied when present.

usage: llama_ref.py --model DIR --tokens 1,2,3 --out logits.f32
Writes float32 little-endian logits [len(tokens)][vocab] (row-major).
"""
import argparse
import json
import os
import struct

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    data = raw[8 + hlen:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = data[b:e]
        dt = info["dtype"]
        if dt == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dt == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        else:
            continue
        out[name] = a.reshape(info["shape"]).astype(np.float64)
    return out


def load_all(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        for fn in files:
            tensors.update(load_safetensors(os.path.join(model_dir, fn)))
    else:
        tensors.update(load_safetensors(os.path.join(model_dir, "model.safetensors")))
    return tensors


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def forward(cfg, t, tokens):
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_heads)
    hd = cfg.get("head_dim") or hidden // n_heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    if cfg.get("rope_scaling"):
        raise SystemExit("llama_ref.py: rope_scaling is not implemented in the reference")
    n_layers = cfg["num_hidden_layers"]
    m = len(tokens)

    x = t["model.embed_tokens.weight"][np.array(tokens)]
    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.outer(np.arange(m, dtype=np.float64), inv_freq)
    emb = np.concatenate([ang, ang], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)  # [m][hd]
    mask = np.triu(np.full((m, m), -np.inf), k=1)

    def lin(name, v):
        y = v @ t[name + ".weight"].T
        if name + ".bias" in t:
            y = y + t[name + ".bias"]
        return y

    for l in range(n_layers):
        p = f"model.layers.{l}."
        h = rmsnorm(x, t[p + "input_layernorm.weight"], eps)
        q = lin(p + "self_attn.q_proj", h).reshape(m, n_heads, hd).transpose(1, 0, 2)
        k = lin(p + "self_attn.k_proj", h).reshape(m, n_kv, hd).transpose(1, 0, 2)
        v = lin(p + "self_attn.v_proj", h).reshape(m, n_kv, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = n_heads // n_kv
        k = np.repeat(k, rep, axis=0)
        v = np.repeat(v, rep, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s = s / s.sum(axis=-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(m, n_heads * hd)
        x = x + lin(p + "self_attn.o_proj", a)
        h = rmsnorm(x, t[p + "post_attention_layernorm.weight"], eps)
        g = lin(p + "mlp.gate_proj", h)
        u = lin(p + "mlp.up_proj", h)
        x = x + lin(p + "mlp.down_proj", g / (1.0 + np.exp(-g)) * u)
    x = rmsnorm(x, t["model.norm.weight"], eps)
    head = t["lm_head.weight"] if "lm_head.weight" in t else t["model.embed_tokens.weight"]
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    tokens = [int(s) for s in args.tokens.split(",")]
    logits = forward(cfg, load_all(args.model), tokens)
    logits.astype("<f4").tofile(args.out)


if __name__ == "__main__":
    main()
