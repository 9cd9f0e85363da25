#!/usr/bin/python3
"""Independent safetensors reader for the tests: parses the header with json + struct and decodes
float tensors with numpy. Prints one line per tensor: name dtype shape-joined-by-x sum absmax first."""
import json
import struct
import sys

import numpy as np

path = sys.argv[1]
with open(path, "rb") as f:
    buf = f.read()
(n,) = struct.unpack("<Q", buf[:8])
header = json.loads(buf[8 : 8 + n])
data = buf[8 + n :]
header.pop("__metadata__", None)
for name in sorted(header):
    e = header[name]
    b, en = e["data_offsets"]
    raw = data[b:en]
    dt = e["dtype"]
    if dt == "F32":
        v = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dt == "F16":
        v = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dt == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        v = u.view(np.float32).astype(np.float64)
    else:
        v = None
    shape = "x".join(str(d) for d in e["shape"]) or "scalar"
    if v is None:
        print(f"{name} {dt} {shape} nan nan nan")
    else:
        first = v[0] if v.size else 0.0
        print(f"{name} {dt} {shape} {v.sum():.17g} {np.abs(v).max() if v.size else 0.0:.17g} {first:.17g}")
