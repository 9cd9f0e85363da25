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
