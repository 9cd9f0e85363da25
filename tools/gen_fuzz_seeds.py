#!/usr/bin/env python3
"""Writes the small hand-made fuzz seeds in tests/fuzz/corpus/{tokenizer,gguf}/.
tokenizer seeds: tokenizer.json bytes, NUL, text. gguf seeds: tiny GGUF v2/v3 files."""
import json, os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")
os.makedirs(os.path.join(root, "tokenizer"), exist_ok=True)
os.makedirs(os.path.join(root, "gguf"), exist_ok=True)

def put(sub, name, data):
    with open(os.path.join(root, sub, name), "wb") as f:
        f.write(data)

# --- tokenizer.json seeds -------------------------------------------------------------
byte_level = {
    "added_tokens": [{"id": 7, "content": "<|end|>", "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120a": 4, "c": 5, "abc": 6},
              "merges": ["a b", ["\u0120", "a"], "ab c"], "ignore_merges": False},
}
put("tokenizer", "byte_level.bin", json.dumps(byte_level).encode() + b"\0ab abc a<|end|>c\xff")
gpt2 = {"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True},
        "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "\u0120": 3}, "merges": ["h i"]}}
put("tokenizer", "gpt2.bin", json.dumps(gpt2).encode() + b"\0hi hi\n")
spm = {
    "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True}],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                {"Sequence": {"id": "A", "type_id": 0}}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True,
              "vocab": {"<unk>": 0, "<s>": 1, "<0x41>": 2, "<0xC3>": 3, "\u2581": 4, "x": 5, "\u2581x": 6, "y": 7},
              "merges": ["\u2581 x"]},
}
put("tokenizer", "spm.bin", json.dumps(spm).encode() + b"\0x yA \xc3\xa9 <s>x")
meta = {"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        "model": {"type": "BPE", "vocab": {"\u2581": 0, "q": 1, "\u2581q": 2}, "merges": [["\u2581", "q"]]}}
put("tokenizer", "metaspace.bin", json.dumps(meta).encode() + b"\0q q  q")

# --- GGUF seeds --------------------------------------------------------------------------
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def kv(key, typ, payload):
    return gstr(key) + struct.pack("<I", typ) + payload

def arr(elem_type, items, pack):
    return struct.pack("<IQ", elem_type, len(items)) + b"".join(pack(x) for x in items)

def gguf(version, kvs, tensors=b"", n_tensors=0):
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kvs)) + b"".join(kvs) + tensors

toks = ["<unk>", "<s>", "</s>", "<0x41>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab"]
kvs = [kv("general.architecture", 8, gstr("llama")),
       kv("tokenizer.ggml.model", 8, gstr("llama")),
       kv("tokenizer.ggml.tokens", 9, arr(8, toks, gstr)),
       kv("tokenizer.ggml.scores", 9, arr(6, [0, 0, 0, 0, -1, -2, -3, -4, -5, -6], lambda x: struct.pack("<f", x))),
       kv("tokenizer.ggml.token_type", 9, arr(5, [2, 3, 3, 6, 1, 1, 1, 1, 1, 1], lambda x: struct.pack("<i", x))),
       kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
       kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2)),
       kv("tokenizer.ggml.add_bos_token", 7, b"\x01")]
put("gguf", "llama_v3.gguf", gguf(3, kvs))
tensor = gstr("tok_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 10) + struct.pack("<IQ", 0, 0)
put("gguf", "llama_v2_tensor.gguf", gguf(2, kvs + [kv("general.alignment", 4, struct.pack("<I", 32))], tensor, 1)
    + b"\0" * 200)
btoks = ["h", "i", "hi", "\u0120", "\u0120hi", "<|endoftext|>"]
kvs2 = [kv("tokenizer.ggml.model", 8, gstr("gpt2")),
        kv("tokenizer.ggml.pre", 8, gstr("gpt-2")),
        kv("tokenizer.ggml.tokens", 9, arr(8, btoks, gstr)),
        kv("tokenizer.ggml.token_type", 9, arr(5, [1, 1, 1, 1, 1, 3], lambda x: struct.pack("<i", x))),
        kv("tokenizer.ggml.merges", 9, arr(8, ["h i", "\u0120 hi"], gstr)),
        kv("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 5)),
        kv("nested", 9, struct.pack("<IQ", 9, 1) + arr(4, [1, 2], lambda x: struct.pack("<I", x))),
        kv("f64", 12, struct.pack("<d", 1.5))]
put("gguf", "gpt2_v3.gguf", gguf(3, kvs2))
