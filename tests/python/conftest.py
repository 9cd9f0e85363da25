"""Shared fixtures: paths (from ctest's environment, with fallbacks for a plain `pytest` run from
the project root with PYTHONPATH=<build>/python) and one CLI quantization of the tiny model."""
import os
import subprocess

import pytest

SRC = os.environ.get("AWQX_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SHARED = os.path.join(SRC, "..", "shared")
TINY = os.path.join(SHARED, "models", "tiny-llama-7m")
CALIB = os.path.join(SHARED, "data", "wikitext2-valid.txt")
# Few samples keep the suite fast; the CLI and Python runs must use the same ones.
OPTS = {"max_calib_samples": 8, "max_calib_seq_len": 64}


def cli_path():
    return os.environ.get("AWQX_CLI", os.path.join(SRC, "build", "awqx"))


def run_cli(*args):
    r = subprocess.run([cli_path(), *args], capture_output=True, text=True)
    assert r.returncode == 0, "awqx %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr)
    return r.stdout


@pytest.fixture(scope="session")
def cli_quantized(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cli") / "tiny-awq")
    run_cli("quantize", "--model", TINY, "--out", out, "--calib", CALIB, "--max-calib-samples",
            str(OPTS["max_calib_samples"]), "--max-calib-seq-len", str(OPTS["max_calib_seq_len"]), "--group-size", "64",
            "--threads", "2")
    return out
