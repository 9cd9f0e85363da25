"""awqx.Tokenizer: encode/decode and built-in chat templates (llama-2, llama-3, chatml)."""
import os

from . import _awqx


class Tokenizer:
    """Tokenizer of a model folder (tokenizer.json / tokenizer.model / tokenizer.bin) or one file."""

    def __init__(self, path, _impl=None):
        self.path = path
        self._tok = _impl if _impl is not None else _awqx.Tokenizer(path)

    @classmethod
    def from_pretrained(cls, path):
        return cls(path)

    def encode(self, text, add_bos=True):
        return self._tok.encode(text, add_bos)

    def decode(self, ids):
        return self._tok.decode(list(ids))

    def __call__(self, text, add_bos=True):
        return {"input_ids": self.encode(text, add_bos)}

    @property
    def vocab_size(self):
        return self._tok.vocab_size

    @property
    def bos_token_id(self):
        return self._tok.bos_id

    @property
    def eos_token_ids(self):
        return list(self._tok.eos_ids)

    def chat_family(self):
        """"llama-2", "llama-3" or "chatml", from the folder's tokenizer_config / vocabulary."""
        folder = self.path if os.path.isdir(self.path) else os.path.dirname(self.path)
        return _awqx.detect_chat_family(folder)

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False, family=None):
        """messages: [{"role": "system"|"user"|"assistant", "content": str}, ...] (HF's shape).
        Returns the prompt text, or its ids (with BOS) when tokenize=True."""
        pairs = [(m["role"], m["content"]) for m in messages]
        text = _awqx.apply_chat_template(family or self.chat_family(), pairs, add_generation_prompt)
        return self.encode(text, True) if tokenize else text
