#!/usr/bin/python3
"""Independent AutoAWQ packer (numpy only) producing golden checkpoints for tests/quant/awq_format_test.cpp.

Packs known random integers exactly the way AutoAWQ's WQLinear_GEMM / WQLinear_GEMV do (as
described in ../shared/docs/awq-reference.md §5 and AutoAWQ awq/modules/linear/gemv.py
calculate_zeros_width), and writes one safetensors file with its own json+struct writer, so that
no awqx code is involved in producing the golden data. For every case it also stores the
expected unpacked integers and the dequantized fp32 weights [N, K] = (q - z) * s.

Run:  /usr/bin/python3 tests/reference/awq_pack_ref.py tests/reference/data/awq_pack_ref.safetensors
"""
import json
import struct
import sys

import numpy as np

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def pack_gemm(int_kn):
    """int_kn: [K, N] values 0..15 -> int32 [K, N/8], AWQ order along N."""
    k, n = int_kn.shape
    out = np.zeros((k, n // 8), dtype=np.uint32)
    for col in range(n // 8):
        for i in range(8):
            out[:, col] |= int_kn[:, col * 8 + AWQ_ORDER[i]].astype(np.uint32) << np.uint32(4 * i)
    return out.view(np.int32)


def zeros_width(k, g):
    base = (k // g + 7) // 8
    mult = 1 if g >= 128 else 2 if g == 64 else 4 if g == 32 else None
    return (base + mult - 1) // mult * mult


def pack_natural(int_rows, width):
    """int_rows: [R, C] values 0..15 -> int32 [R, width], natural order, zero padded."""
    r, c = int_rows.shape
    out = np.zeros((r, width), dtype=np.uint32)
    for j in range(c):
        out[:, j // 8] |= int_rows[:, j].astype(np.uint32) << np.uint32(4 * (j % 8))
    return out.view(np.int32)


def make_case(rng, n, k, g, zero_point):
    gs = k if g == -1 else g
    q = rng.integers(0, 16, size=(n, k), dtype=np.int64)          # nn.Linear layout [N, K]
    if zero_point:
        z = rng.integers(0, 16, size=(n, k // gs), dtype=np.int64)
    else:
        z = np.full((n, k // gs), 8, dtype=np.int64)
    # fp16 scales of both signs of magnitude, so fp16 -> fp32 is exact
    s = (rng.uniform(1e-3, 0.1, size=(n, k // gs)) * rng.choice([1, 1, 1, -1], size=(n, k // gs))).astype(np.float16)
    w = ((q - np.repeat(z, gs, axis=1)).astype(np.float32) * np.repeat(s.astype(np.float32), gs, axis=1)).astype(np.float32)
    return q, z, s, w


def main(path):
    rng = np.random.default_rng(20240605)
    tensors = {}

    def add_expect(name, q, z, s, w):
        tensors[name + ".expect_q"] = q.astype(np.int32)
        tensors[name + ".expect_z"] = z.astype(np.int32)
        tensors[name + ".expect_s"] = s.astype(np.float32)
        tensors[name + ".expect_w"] = w

    # GEMM cases: (name, n, k, group, zero_point, write qzeros, bias)
    for name, n, k, g, zp, with_z, with_bias in [
        ("gemm_zp_g32", 16, 64, 32, True, True, True),
        ("gemm_sym_g64", 24, 128, 64, False, True, False),
        ("gemm_sym_noz_gall", 8, 64, -1, False, False, False),
        ("gemm_zp_g128", 32, 256, 128, True, True, False),
    ]:
        q, z, s, w = make_case(rng, n, k, g, zp)
        tensors[name + ".qweight"] = pack_gemm(q.T.copy())
        if with_z:
            tensors[name + ".qzeros"] = pack_gemm(z.T.copy())
        tensors[name + ".scales"] = s.T.copy()
        if with_bias:
            tensors[name + ".bias"] = rng.uniform(-1, 1, size=(n,)).astype(np.float16)
        add_expect(name, q, z, s, w)

    # GEMV cases: qweight [N, K/8] natural order along K, padded qzeros/scales widths.
    for name, n, k, g, zp in [("gemv_zp_g32", 16, 64, 32, True), ("gemv_zp_g128", 8, 256, 128, True),
                              ("gemv_zp_g64", 8, 192, 64, True)]:
        q, z, s, w = make_case(rng, n, k, g, zp)
        zw = zeros_width(k, g)
        tensors[name + ".qweight"] = pack_natural(q, k // 8)
        tensors[name + ".qzeros"] = pack_natural(z, zw)
        sc = np.zeros((n, 8 * zw), dtype=np.float16)
        sc[:, : s.shape[1]] = s
        tensors[name + ".scales"] = sc
        add_expect(name, q, z, s, w)

    dt = {np.dtype(np.int32): "I32", np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}
    header, blobs, off = {"__metadata__": {"format": "pt", "generator": "awq_pack_ref.py"}}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "awq_pack_ref.safetensors")
