"""awqx: AWQ int4 quantization and CPU inference for Llama-family models.

AutoAWQ-shaped API::

    import awqx
    model = awqx.AutoAWQForCausalLM.from_pretrained("path/to/fp-model")
    model.quantize(quant_config={"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM"})
    model.save_quantized("path/to/out")
    q = awqx.AutoAWQForCausalLM.from_quantized("path/to/out")
    print(q.generate("Once upon a time", max_new_tokens=32, temperature=0))

Kernel level: awqx.kernels(), awqx.pack(qweight, qzeros, scales), awqx.linear(x, packed),
awqx.bench_kernels(...), awqx.bench(model, ...). Errors: awqx.Error and its subclasses (awqx.errors).
"""
import json as _json

from . import _awqx
from .auto import AutoAWQForCausalLM, AwqForCausalLM, QuantizedModel
from .errors import (DTypeError, Error, FormatError, InternalError, InvalidArgumentError, IoError, ShapeError,
                     UnsupportedHardwareError, UnsupportedModelError)
from .progress import TextBar
from .tokenizer import Tokenizer

__version__ = _awqx.__version__

kernels = _awqx.kernels
pack = _awqx.pack
linear = _awqx.linear
PackedLinear = _awqx.PackedLinear
peak_rss_bytes = _awqx.peak_rss_bytes


def bench_kernels(m=(1,), k=0, n=0, group_size=128, zero_point=True, kernels="all", baselines=True, threads=0,
                  repeats=0, cache_mb=0, report=False):
    """Times the int4 kernels like `awqx bench-kernels`; returns the rows its --json writes
    ("results"), or the whole JSON document as a dict with report=True."""
    doc = _json.loads(_awqx.bench_kernels_json(list(m), k, n, group_size, zero_point, kernels, baselines, threads,
                                               repeats, cache_mb))
    return doc if report else doc["results"]


def bench(model, prompt_tokens=512, gen_tokens=128, repeats=5, warmup=1, backend="", threads=0, fuse_layers=True,
          kv_type="f16", step_tokens=0, seed=1, batch=1):
    """Prefill/decode tokens/s of a model folder like `awqx bench` (same keywords as its flags;
    batch=N also decodes N sequences together); returns the dict its --json writes."""
    return _json.loads(_awqx.bench_model_json(str(model), prompt_tokens, gen_tokens, repeats, warmup, backend, threads,
                                              fuse_layers, kv_type, step_tokens, seed, batch))


__all__ = ["AutoAWQForCausalLM", "AwqForCausalLM", "QuantizedModel", "Tokenizer", "TextBar", "kernels", "pack",
           "linear", "PackedLinear", "bench_kernels", "bench", "peak_rss_bytes", "Error", "IoError", "FormatError",
           "ShapeError", "DTypeError", "UnsupportedModelError", "UnsupportedHardwareError", "InvalidArgumentError",
           "InternalError", "__version__"]
