"""AutoAWQForCausalLM: AutoAWQ's entry points over the awqx C++ core.

awqx quantizes layer by layer from disk (one decoder layer in memory), so quantize() writes its
result into a work folder (``work_dir=``, default a folder under the system temp dir named after
the model) and save_quantized() copies it out with the requested shard size. An interrupted
quantize() (Ctrl-C: KeyboardInterrupt at the next layer boundary) leaves ``<work_dir>.tmp``;
calling quantize() again with the same arguments resumes from the finished layers.
"""
import hashlib
import os
import shutil
import tempfile

from . import _awqx
from .errors import InvalidArgumentError
from .progress import TextBar
from .tokenizer import Tokenizer

# AutoAWQ quant_config keys -> QuantizeOptions fields.
_QUANT_CONFIG_KEYS = {"zero_point": "zero_point", "q_group_size": "q_group_size", "w_bit": "w_bit",
                      "version": "version", "modules_to_not_convert": "modules_to_not_convert"}


def _invalid(field, message):
    e = InvalidArgumentError("%s: %s" % (field, message))
    e.code, e.field = "invalid_argument", field
    return e


def _calib_options(calib_data):
    """calib_data as AutoAWQ takes it: "pileval", a file path, or a list of strings."""
    if isinstance(calib_data, str):
        return {"calib_files": [calib_data]}
    if isinstance(calib_data, (list, tuple)) and all(isinstance(s, str) for s in calib_data):
        if not calib_data:
            raise _invalid("calib_data", "expected at least one text, found an empty list")
        return {"calib_texts": list(calib_data)}
    raise _invalid("calib_data", "expected \"pileval\", a file path or a list of str, found %s"
                   % type(calib_data).__name__)


class AwqForCausalLM:
    """An FP model folder to quantize (what from_pretrained returns)."""

    def __init__(self, model_path):
        self.model_path = model_path
        self.config = _awqx.load_config(model_path)  # validates config.json now, as AutoAWQ would
        self.quant_config = None
        self.report = None
        self._quantized_dir = None
        self._own_work_dir = False
        self._tokenizer = None

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self.model_path)
        return self._tokenizer

    def _default_work_dir(self):
        key = hashlib.sha1(os.path.abspath(self.model_path).encode()).hexdigest()[:12]
        name = os.path.basename(os.path.normpath(self.model_path)) or "model"
        return os.path.join(tempfile.gettempdir(), "awqx-work-%s-%s" % (name, key))

    def quantize(self, tokenizer=None, quant_config=None, calib_data="pileval", split="train", text_column="text",
                 duo_scaling=True, export_compatible=False, apply_clip=True, n_parallel_calib_samples=None,
                 max_calib_samples=128, max_calib_seq_len=512, max_chunk_size=None, modules_to_not_convert=None,
                 progress=True, work_dir=None, resume=True, method="awq", **awqx_options):
        """Quantizes the model (AWQ search + int4 packing, layer by layer).

        tokenizer, split, text_column, export_compatible, n_parallel_calib_samples and
        max_chunk_size are accepted for AutoAWQ compatibility and not used (awqx tokenizes with the
        model folder's own tokenizer). progress: True (text bar on stderr), False, or a callable
        taking the per-layer dict. awqx_options: any other QuantizeOptions field (e.g. n_grid,
        autoawq_compat, sequential_inputs, chat, calib_dir). Returns the report dict.
        """
        del tokenizer, split, text_column, export_compatible, n_parallel_calib_samples, max_chunk_size
        opts = {"method": method, "duo_scaling": duo_scaling, "apply_clip": apply_clip,
                "max_calib_samples": max_calib_samples, "max_calib_seq_len": max_calib_seq_len,
                "resume": resume, "overwrite": True}
        qc = dict(quant_config or {"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM"})
        for k, v in qc.items():
            if k not in _QUANT_CONFIG_KEYS:
                raise _invalid("quant_config", "unknown key '%s' (expected one of %s)"
                               % (k, ", ".join(sorted(_QUANT_CONFIG_KEYS))))
            opts[_QUANT_CONFIG_KEYS[k]] = v.lower() if k == "version" and isinstance(v, str) else v
        if modules_to_not_convert is not None:
            opts["modules_to_not_convert"] = list(modules_to_not_convert)
        if method == "awq":
            opts.update(_calib_options(calib_data))
        opts.update(awqx_options)
        opts["command"] = self._command(qc, calib_data, opts)
        if work_dir is None:
            work_dir = self._default_work_dir()
            self._own_work_dir = True
        else:
            self._own_work_dir = False
        cb = TextBar() if progress is True else (progress or None)
        self.report = _awqx.quantize_model(self.model_path, work_dir, opts, cb)
        self._quantized_dir = work_dir
        self.quant_config = qc
        return self.report

    def _command(self, qc, calib_data, opts):
        calib = calib_data if isinstance(calib_data, str) else "[%d texts]" % len(calib_data)
        extra = "".join(", %s=%r" % (k, opts[k]) for k in ("duo_scaling", "apply_clip", "max_calib_samples",
                                                              "max_calib_seq_len") if k in opts)
        return ("awqx.AutoAWQForCausalLM.from_pretrained(%r).quantize(quant_config=%r, calib_data=%r%s)"
                % (self.model_path, qc, calib, extra))

    def save_quantized(self, save_dir, safetensors=True, shard_size="5GB"):
        """Writes the quantized folder (AutoAWQ GEMM/GEMV checkpoint + README.md model card) to
        save_dir, whole or not at all, with shards of at most shard_size ("5GB", "500MB", bytes)."""
        if not safetensors:
            raise _invalid("safetensors", "awqx writes safetensors only")
        if self._quantized_dir is None:
            raise _invalid("save_quantized", "expected a quantized model, found none (call quantize() first)")
        _awqx.save_folder(self._quantized_dir, save_dir, shard_size)
        if self._own_work_dir:  # the temp copy is no longer needed: later saves copy from save_dir
            shutil.rmtree(self._quantized_dir, ignore_errors=True)
            self._quantized_dir, self._own_work_dir = save_dir, False


class QuantizedModel:
    """A loaded model (AWQ int4 or FP) ready to generate (what from_quantized returns)."""

    def __init__(self, impl):
        self._m = impl
        self.tokenizer = Tokenizer(impl.path, _impl=impl.tokenizer)

    @property
    def max_seq_len(self):
        return self._m.max_seq_len

    def describe(self):
        return self._m.describe()

    def _ids(self, prompt, chat):
        if isinstance(prompt, str):
            if chat:
                prompt = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}])
            return self.tokenizer.encode(prompt, True)
        ids = [int(i) for i in prompt]
        if chat:
            raise _invalid("chat", "chat=True needs a str prompt")
        return ids

    def generate(self, prompt, max_new_tokens=256, temperature=0.8, top_p=0.95, top_k=40, seed=0x5eed, chat=False,
                 return_stats=False):
        """prompt: str -> the completion text (what `awqx generate` prints after the prompt);
        token ids -> prompt + generated ids (EOS included when reached), as HF generate returns.
        temperature=0 is greedy. return_stats=True returns (result, stats dict)."""
        ids = self._ids(prompt, chat)
        new_ids, text, stats = self._m.generate_ids(ids, max_new_tokens, temperature, top_p, top_k, seed)
        out = text if isinstance(prompt, str) else ids + list(new_ids)
        return (out, stats) if return_stats else out

    def stream(self, prompt, max_new_tokens=256, temperature=0.8, top_p=0.95, top_k=40, seed=0x5eed, chat=False):
        """Iterator over the completion's text pieces as they are generated (close() stops it)."""
        return self._m.stream_ids(self._ids(prompt, chat), max_new_tokens, temperature, top_p, top_k, seed)


class AutoAWQForCausalLM:
    """AutoAWQ's factory: from_pretrained (FP, to quantize) and from_quantized (to run)."""

    def __init__(self):
        raise EnvironmentError("use AutoAWQForCausalLM.from_pretrained or from_quantized")

    @classmethod
    def from_pretrained(cls, model_path, **kwargs):
        """An FP Llama/Mistral/Qwen2 folder; kwargs (torch_dtype, device_map...) are ignored."""
        del kwargs
        return AwqForCausalLM(model_path)

    @classmethod
    def from_quantized(cls, quant_path, fuse_layers=True, max_seq_len=None, backend="", kv_type="f16",
                       step_tokens=None, **kwargs):
        """Loads an AWQ int4 folder (or an FP one) for generation. max_seq_len: KV cache
        capacity in tokens (None = config.json's). backend: force a kernel by name.
        step_tokens: tokens per forward step (prefill chunk; None = 512), as --step-tokens."""
        del kwargs
        return QuantizedModel(_awqx.Model(quant_path, fuse_layers, int(max_seq_len or 0), backend, kv_type,
                                          int(step_tokens or 0)))
