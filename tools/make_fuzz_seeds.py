#!/usr/bin/env python3
"""Writes the hand-made fuzz seeds in tests/fuzz/corpus/{safetensors,config}/ (no real model bytes).
safetensors seeds: one mode byte ('S' file, 'I' index json) then the payload."""
import json
import os
import struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")
for sub in ("safetensors", "config"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)


def put(sub, name, data):
    with open(os.path.join(root, sub, name), "wb") as f:
        f.write(data)


def st(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes). Returns a safetensors file."""
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


f32 = struct.pack("<4f", 1.0, -2.5, 0.0, float("inf"))
f16 = struct.pack("<4H", 0x3C00, 0xC100, 0x0001, 0x7E00)
bf16 = struct.pack("<4H", 0x3F80, 0xC020, 0x0001, 0x7FC1)
put("safetensors", "f32.bin", b"S" + st([("w", "F32", [2, 2], f32)], {"format": "pt"}))
put("safetensors", "mixed.bin", b"S" + st([
    ("model.embed_tokens.weight", "BF16", [4], bf16),
    ("model.layers.0.self_attn.q_proj.weight", "F16", [2, 2], f16),
    ("model.layers.0.self_attn.q_proj.qweight", "I32", [1, 2], struct.pack("<2i", 0x12345678, -1)),
    ("q.qzeros", "I32", [1, 1], struct.pack("<i", 0x11111111)),
    ("b", "BOOL", [3], b"\x00\x01\x00"), ("u", "U8", [2], b"\x07\x08"), ("i8", "I8", [2], b"\xff\x01"),
    ("i16", "I16", [1], b"\x01\x02"), ("i64", "I64", [1], b"\x00" * 8), ("d", "F64", [1], struct.pack("<d", 3.5)),
]))
put("safetensors", "empty_tensor.bin", b"S" + st([("e", "F32", [0, 3], b""), ("s", "F32", [], b"\x00\x00\x80\x3f")]))
put("safetensors", "empty_header.bin", b"S" + st([]))
put("safetensors", "unpadded.bin", b"S" + st([("x", "F16", [1], b"\x00\x3c")], pad=False))
put("safetensors", "index.bin", b"I" + json.dumps({
    "metadata": {"total_size": 24},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}).encode())

base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
put("config", "llama.json", json.dumps(base, indent=1).encode())
l3 = dict(base, head_dim=16, eos_token_id=[2, 3], rope_scaling={
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64})
put("config", "llama3.json", json.dumps(l3).encode())
put("config", "mistral.json", json.dumps(dict(base, architectures=["MistralForCausalLM"], model_type="mistral",
                                              sliding_window=None)).encode())
put("config", "qwen2.json", json.dumps(dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                                            tie_word_embeddings=True, sliding_window=64)).encode())
awq = dict(base, quantization_config={"quant_method": "awq", "bits": 4, "group_size": 32, "zero_point": True,
                                      "version": "gemm", "modules_to_not_convert": None})
put("config", "awq.json", json.dumps(awq).encode())
put("config", "quant_only.json", json.dumps({"quant_method": "awq", "w_bit": 4, "q_group_size": 128,
                                             "zero_point": False, "version": "GEMV",
                                             "modules_to_not_convert": ["lm_head"]}).encode())
put("config", "fallback.json", json.dumps({k: v for k, v in base.items() if k != "architectures"}).encode())

# --- calibration readers (calib_fuzz): mode byte 0 txt, 1 jsonl, 2 raw .jsonl.zst bytes,
# 3 jsonl compressed by the target itself ----------------------------------------------
for sub in ("calib", "awq", "tokcfg"):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
put("calib", "txt.bin", b"\x00\xef\xbb\xbfFirst paragraph\nstill first.\n\n  \n\nSecond \xc3\xa9 paragraph.\n")
put("calib", "jsonl.bin", b"\x01" + b'{"text": "one"}\n\n{"text": "  two \\u00e9 ", "meta": {"x": 1}}\r\n{"text": ""}\n')
put("calib", "jsonl_compress.bin", b"\x03" + b'{"text": "hello"}\n{"text": "world"}\n')
try:
    import zstandard  # optional: the raw-zstd seed needs a compressor
    put("calib", "zst_raw.bin", b"\x02" + zstandard.ZstdCompressor().compress(b'{"text": "zst"}\n'))
except ImportError:
    import shutil, subprocess
    if shutil.which("zstd"):
        z = subprocess.run(["zstd", "-c", "-q"], input=b'{"text": "zst"}\n', capture_output=True, check=True).stdout
        put("calib", "zst_raw.bin", b"\x02" + z)

# --- AWQ tensor sets (awq_fuzz): flags, n sel, k sel, group byte, damage, where, fill -----
# flags: bit0 gemv, bit1 zero_point, bit2 qzeros present, bit3 bias, bits4-7 group index.
fill = bytes(range(256)) + struct.pack("<4H", 0x3C00, 0x7C00, 0x7E00, 0xFC00)  # incl. Inf/NaN f16
for name, flags, n, k, grp, dmg, where in [
        ("gemm_g32_zp", 0x36, 1, 15, 0, 0, 0), ("gemm_perchan", 0x06, 0, 3, 0, 0, 0),
        ("gemv_g64_zp_bias", 0x4F, 1, 15, 0, 0, 0), ("gemm_sym_nozeros", 0x30, 3, 7, 0, 0, 0),
        ("gemm_bad_dtype", 0x36, 1, 15, 0, 1, 1), ("gemm_dim_plus", 0x36, 1, 15, 0, 2, 2),
        ("gemv_short_span", 0x47, 0, 7, 0, 5, 0x31), ("gemm_missing", 0x36, 1, 15, 0, 6, 1),
        ("gemm_group96", 0xF6, 1, 23, 64 + 96, 0, 0), ("gemm_bias_f32", 0x3E, 0, 7, 0, 0x40, 0)]:
    put("awq", name + ".bin", bytes([flags, n, k, grp, dmg, where]) + fill)

# --- tokenizer folder configs (tokcfg_fuzz): tokenizer_config \0 generation_config \0 config \0 text
put("tokcfg", "llama2.bin", json.dumps({"add_bos_token": True, "bos_token": "<s>", "eos_token": {"content": "</s>"},
                                        "chat_template": "[INST]"}).encode() + b"\0" +
    json.dumps({"bos_token_id": 1, "eos_token_id": [2, 0]}).encode() + b"\0" + b"{}\0a a")
put("tokcfg", "null_bos.bin", json.dumps({"bos_token": None, "add_bos_token": True}).encode())
put("tokcfg", "config_only.bin", b"\0\0" + json.dumps({"bos_token_id": 1, "eos_token_id": 2}).encode())

# --- headers of the real files in ../shared/models (a few KB each; never whole files) --------
shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "models")
tiny = os.path.join(shared, "tiny-llama-7m")
if os.path.isdir(tiny):
    with open(os.path.join(tiny, "model.safetensors"), "rb") as f:
        hl = struct.unpack("<Q", f.read(8))[0]
        hdr = f.read(hl)
        data = f.read(1024)
    # As is (offsets point past the truncated data: exercises the big-header reject path) ...
    put("safetensors", "real_tiny_llama_header.bin", b"S" + struct.pack("<Q", hl) + hdr + data)
    # ... and the same names/dtypes with shapes shrunk so the file is valid.
    real = json.loads(hdr)
    small = [(k, v["dtype"], [2] * len(v["shape"]), b"\x01" * ({"F32": 4, "F16": 2, "BF16": 2}.get(v["dtype"], 4)
                                                                * 2 ** len(v["shape"])))
             for k, v in real.items() if k != "__metadata__"]
    put("safetensors", "real_tiny_llama_small.bin", b"S" + st(small, real.get("__metadata__")))
    rd = lambda n: open(os.path.join(tiny, n), "rb").read()
    put("config", "real_tiny_llama.json", rd("config.json"))
    put("tokcfg", "real_tiny_llama.bin", rd("tokenizer_config.json") + b"\0" + rd("generation_config.json") + b"\0"
        + rd("config.json") + b"\0a")
data_dir = os.path.join(shared, "..", "data")
if os.path.isdir(data_dir):
    txt = open(os.path.join(data_dir, "wikitext2-valid.txt"), "rb").read(3000)
    txt = txt[:txt.rfind(b"\n") + 1]
    put("calib", "real_wikitext2_head.bin", b"\x00" + txt)
    put("calib", "real_wikitext2_head_jsonl.bin", b"\x03" + b"".join(
        json.dumps({"text": p.decode("utf-8", "replace")}).encode() + b"\n" for p in txt.split(b"\n\n") if p.strip()))
