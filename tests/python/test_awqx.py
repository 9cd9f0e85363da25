"""awqx Python module: same bytes as the CLI, same greedy text as `awqx generate`, numpy linear vs
an independent numpy dequantization, every error class, Ctrl-C then resume, install paths."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import awqx
from conftest import CALIB, OPTS, SRC, TINY, cli_path, run_cli

QC = {"zero_point": True, "q_group_size": 64, "w_bit": 4, "version": "GEMM"}


def files_of(d):
    return sorted(f for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))


def quantize_py(out, work, progress=False, **kw):
    m = awqx.AutoAWQForCausalLM.from_pretrained(TINY)
    m.quantize(quant_config=QC, calib_data=CALIB, progress=progress, work_dir=work, **OPTS, **kw)
    m.save_quantized(out)
    return m


def test_quantize_same_bytes_as_cli(tmp_path, cli_quantized):
    out = str(tmp_path / "py-awq")
    m = quantize_py(out, str(tmp_path / "work"))
    assert m.report["n_layers"] == 6 and m.report["calib_tokens"] > 0
    assert files_of(out) == files_of(cli_quantized)
    for f in files_of(out):
        if f == "README.md":  # names the command that made it: differs by design
            continue
        with open(os.path.join(out, f), "rb") as a, open(os.path.join(cli_quantized, f), "rb") as b:
            assert a.read() == b.read(), "%s differs between Python and CLI" % f
    card = open(os.path.join(out, "README.md")).read()
    assert card.startswith("---\n") and "\n---\n" in card[4:]
    for needle in ("base_model: \"tiny-llama-7m\"", "library_name: awqx", "  - awq\n", "  - 4-bit\n",
                   "group_size: 64", "calibration_data: \"wikitext2-valid.txt\"", "AutoAWQForCausalLM"):
        assert needle in card, needle
    cli_card = open(os.path.join(cli_quantized, "README.md")).read()
    assert "command: \"awqx quantize --model" in cli_card


def test_save_quantized_shard_size(tmp_path, cli_quantized):
    m = quantize_py(str(tmp_path / "a"), str(tmp_path / "work"))
    m.save_quantized(str(tmp_path / "b"), shard_size="2MB")
    shards = [f for f in files_of(str(tmp_path / "b")) if f.endswith(".safetensors")]
    assert len(shards) > 1 and "model.safetensors.index.json" in files_of(str(tmp_path / "b"))
    # The re-sharded folder loads and generates like the CLI's.
    q = awqx.AutoAWQForCausalLM.from_quantized(str(tmp_path / "b"))
    p = awqx.AutoAWQForCausalLM.from_quantized(cli_quantized)
    assert q.generate([1, 296, 292], max_new_tokens=8, temperature=0) == p.generate([1, 296, 292], max_new_tokens=8,
                                                                                   temperature=0)


def test_generate_greedy_equals_cli(cli_quantized):
    prompt = "Once upon a time"
    q = awqx.AutoAWQForCausalLM.from_quantized(cli_quantized, fuse_layers=True, max_seq_len=128)
    text = q.generate(prompt, max_new_tokens=24, temperature=0)
    cli = run_cli("generate", "--model", cli_quantized, "--prompt", prompt, "--max-new-tokens", "24",
                  "--temperature", "0", "--max-seq-len", "128")
    assert text and cli == prompt + text + "\n"
    assert "".join(q.stream(prompt, max_new_tokens=24, temperature=0)) == text
    ids = q.tokenizer.encode(prompt)
    out = q.generate(ids, max_new_tokens=24, temperature=0)
    assert out[:len(ids)] == ids and q.tokenizer.decode(out[len(ids):]).strip() == text.strip()
    # Sampling: same seed, same tokens; the stream can be closed early.
    a = q.generate(prompt, max_new_tokens=12, temperature=0.9, top_p=0.9, top_k=20, seed=7)
    assert a == q.generate(prompt, max_new_tokens=12, temperature=0.9, top_p=0.9, top_k=20, seed=7)
    s = q.stream(prompt, max_new_tokens=200, temperature=0)
    next(s)
    s.close()
    # step_tokens (--step-tokens): smaller forward steps, same greedy text; a bad value names it.
    assert awqx.AutoAWQForCausalLM.from_quantized(cli_quantized, max_seq_len=128, step_tokens=2).generate(
        prompt, max_new_tokens=24, temperature=0) == text
    with pytest.raises(Exception, match="step_tokens"):
        awqx.AutoAWQForCausalLM.from_quantized(cli_quantized, step_tokens=-4)


def test_tokenizer():
    t = awqx.Tokenizer(TINY)
    ids = t.encode("hello world")
    assert ids[0] == t.bos_token_id and t.decode(ids) == "hello world"
    assert t.apply_chat_template([{"role": "user", "content": "hi"}]) == "[INST] hi [/INST]"
    assert t.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True)[0] == t.bos_token_id


def awq_dequant_ref(qweight, qzeros, scales):
    """Independent numpy decoding of AutoAWQ's GEMM layout: nibble i of a word holds column
    8c + order[i], order = 0 2 4 6 1 3 5 7; W[n][k] = (q - z) * s."""
    order = [0, 2, 4, 6, 1, 3, 5, 7]

    def unpack(a):
        out = np.zeros((a.shape[0], a.shape[1] * 8), np.int64)
        u = a.astype(np.uint32)
        for i, c in enumerate(order):
            out[:, c::8] = (u >> (4 * i)) & 0xF
        return out

    q, z = unpack(qweight), unpack(qzeros)
    g = qweight.shape[0] // scales.shape[0]
    w = (q - np.repeat(z, g, axis=0)) * np.repeat(scales.astype(np.float32), g, axis=0)
    return w.T.astype(np.float32)  # [n][k]


@pytest.mark.parametrize("backend", ["", "ref"])
def test_linear_matches_numpy_reference(backend):
    rng = np.random.default_rng(1)
    k, n, g, m = 256, 48, 64, 5
    qweight = rng.integers(-2**31, 2**31, size=(k, n // 8), dtype=np.int64).astype(np.int32)
    qzeros = rng.integers(-2**31, 2**31, size=(k // g, n // 8), dtype=np.int64).astype(np.int32)
    scales = (rng.random((k // g, n)) * 0.02 + 0.001).astype(np.float16)
    packed = awqx.pack(qweight, qzeros, scales, backend=backend)
    assert (packed.n, packed.k) == (n, k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    y = awqx.linear(x, packed)
    w = awq_dequant_ref(qweight, qzeros, scales)
    ref = x.astype(np.float64) @ w.T.astype(np.float64)
    # fp32 accumulation over k terms (some kernels round x to bf16/int8: bound from the
    # magnitudes): |err| <= k * max|x| * max|w| * 2^-7 covers bf16/int8 activation rounding.
    tol = k * np.abs(x).max() * np.abs(w).max() * 2.0 ** -7
    assert y.shape == (m, n) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=0, atol=tol)
    if backend == "ref":  # the reference kernel accumulates in fp32 in order: much tighter
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-4 * np.abs(ref).max())
    # out= is written in place; a 1-D x gives a 1-D y.
    buf = np.empty((m, n), np.float32)
    assert awqx.linear(x, packed, out=buf) is not None and np.array_equal(buf, y)
    with pytest.raises(awqx.InvalidArgumentError, match="out"):
        awqx.linear(x, packed, out=np.empty((n, m), np.float32).T)  # not C-contiguous: would be a copy
    # m = 1 may pick another kernel (gemv) than m = 5 (gemm): same bound, bit-exact only for ref.
    y1 = awqx.linear(x[2], packed)
    assert y1.shape == (n,)
    np.testing.assert_allclose(y1, ref[2], rtol=0, atol=tol)
    if backend == "ref":
        assert np.array_equal(y1, y[2])


def test_kernels_and_bench():
    info = awqx.kernels()
    assert info["kernels"] and all({"name", "supported", "priority"} <= set(k) for k in info["kernels"])
    assert info["select"][1] in {k["name"] for k in info["kernels"]}
    rows = awqx.bench_kernels(m=[1], k=256, n=256, kernels="ref", baselines=False, repeats=1, cache_mb=1)
    assert rows and all("median_ms" in r or "status" in r for r in rows)


def test_bench_model_with_batch(cli_quantized):
    doc = awqx.bench(cli_quantized, prompt_tokens=8, gen_tokens=3, repeats=2, warmup=0, threads=1, batch=2)
    assert doc["batch"] == 2 and doc["prompt_tokens"] == 8 and doc["gen_tokens"] == 3
    assert len(doc["decode_tok_s_runs"]) == 2 and len(doc["batch_decode_tok_s_runs"]) == 2
    assert doc["batch_decode_tok_s"]["median"] > 0
    assert doc["batch_vs_single"] == pytest.approx(doc["batch_decode_tok_s"]["median"] / doc["decode_tok_s"]["median"])
    with pytest.raises(awqx.InvalidArgumentError, match="--batch"):
        awqx.bench(cli_quantized, prompt_tokens=8, gen_tokens=3, repeats=1, warmup=0, batch=0)


def test_error_classes(tmp_path):
    cases = {"io": awqx.IoError, "format": awqx.FormatError, "shape": awqx.ShapeError, "dtype": awqx.DTypeError,
             "unsupported_model": awqx.UnsupportedModelError,
             "unsupported_hardware": awqx.UnsupportedHardwareError,
             "invalid_argument": awqx.InvalidArgumentError, "internal": awqx.InternalError}
    for code, cls in cases.items():
        with pytest.raises(cls) as e:
            awqx._awqx._raise_error(code, "f.json", "key", "bad")
        assert isinstance(e.value, awqx.Error) and e.value.code == code
        assert str(e.value) == "f.json: 'key': bad" and e.value.file == "f.json" and e.value.field == "key"
    # Real failures reach the same classes, with the C++ one-line message.
    with pytest.raises(awqx.IoError, match="config.json"):
        awqx.AutoAWQForCausalLM.from_pretrained(str(tmp_path / "missing"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(awqx.FormatError, match="config.json"):
        awqx.AutoAWQForCausalLM.from_pretrained(str(tmp_path / "bad"))
    m = awqx.AutoAWQForCausalLM.from_pretrained(TINY)
    with pytest.raises(awqx.InvalidArgumentError, match="group"):
        m.quantize(quant_config={"q_group_size": 100}, calib_data=CALIB, progress=False,
                   work_dir=str(tmp_path / "w"), **OPTS)
    with pytest.raises(awqx.InvalidArgumentError, match="quant_config"):
        m.quantize(quant_config={"bits": 4}, calib_data=CALIB, progress=False)
    with pytest.raises(awqx.InvalidArgumentError, match="max_calib_samples"):
        m.quantize(quant_config=QC, calib_data=CALIB, progress=False, max_calib_samples="8")
    with pytest.raises(awqx.InvalidArgumentError, match="no_such_option"):
        m.quantize(quant_config=QC, calib_data=CALIB, progress=False, no_such_option=1)
    with pytest.raises(awqx.InvalidArgumentError, match="search.precision"):
        m.quantize(quant_config=QC, calib_data=CALIB, progress=False, search_precision="fp8",
                   work_dir=str(tmp_path / "w"), **OPTS)
    with pytest.raises(awqx.InvalidArgumentError, match="save_quantized"):
        m.save_quantized(str(tmp_path / "never"))
    with pytest.raises(awqx.IoError, match="nonexistent-calib"):
        m.quantize(quant_config=QC, calib_data=str(tmp_path / "nonexistent-calib.txt"), progress=False,
                   work_dir=str(tmp_path / "w"))
    rng = np.random.default_rng(0)
    qw = rng.integers(0, 100, size=(64, 2), dtype=np.int32)
    with pytest.raises(awqx.DTypeError, match="scales"):
        awqx.pack(qw, np.zeros((1, 2), np.int32), np.ones((1, 16), np.float64))
    with pytest.raises(awqx.ShapeError):
        awqx.pack(qw, np.zeros((1, 2), np.int32), np.ones((1, 15), np.float16))
    with pytest.raises(awqx.InvalidArgumentError, match="backend"):
        awqx.pack(qw, np.zeros((1, 2), np.int32), np.ones((1, 16), np.float16), backend="no_such_kernel")
    # A kernel above the ISA level: AWQX_ISA=ref caps it (read once per process, so a child).
    code = ("import awqx, numpy as np\n"
            "try:\n"
            "    awqx.pack(np.zeros((64, 2), np.int32), np.zeros((1, 2), np.int32), np.ones((1, 16), np.float16),"
            " backend='gemv_f32_q4g_avx2')\n"
            "except awqx.UnsupportedHardwareError as e:\n"
            "    print('unsupported_hardware', e.code)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, AWQX_ISA="ref"))
    assert r.stdout.strip() == "unsupported_hardware unsupported_hardware", r.stdout + r.stderr
    bad = tmp_path / "unsupported"
    bad.mkdir()
    (bad / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}')
    with pytest.raises(awqx.UnsupportedModelError):
        awqx.AutoAWQForCausalLM.from_pretrained(str(bad))


def test_keyboard_interrupt_then_resume(tmp_path, cli_quantized):
    work = str(tmp_path / "work")
    seen = []

    def interrupt_after_two(p):  # Ctrl-C arrives while layer 3 would start
        seen.append(p["layer"])
        if p["layer"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    m = awqx.AutoAWQForCausalLM.from_pretrained(TINY)
    with pytest.raises(KeyboardInterrupt):
        m.quantize(quant_config=QC, calib_data=CALIB, progress=interrupt_after_two, work_dir=work, **OPTS)
    assert seen == [1, 2]  # stopped at the layer boundary
    assert os.path.isdir(work + ".tmp") and not os.path.exists(work)
    rep = m.quantize(quant_config=QC, calib_data=CALIB, progress=False, work_dir=work, **OPTS)
    assert rep["resumed_layers"] == 2 and rep["n_layers"] == 6
    out = str(tmp_path / "out")
    m.save_quantized(out)
    for f in files_of(out):
        if f.endswith(".safetensors"):
            with open(os.path.join(out, f), "rb") as a, open(os.path.join(cli_quantized, f), "rb") as b:
                assert a.read() == b.read(), f


def test_pip_install(tmp_path):
    """The README's supported install: pip install --no-build-isolation . (reusing this build tree
    through AWQX_BUILD_DIR, so the test does not compile the project again)."""
    build = os.environ.get("AWQX_BUILD_DIR")
    if not build:
        pytest.skip("AWQX_BUILD_DIR not set (run through ctest)")
    target = str(tmp_path / "site")
    env = dict(os.environ, AWQX_BUILD_DIR=build)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                        "--target", target, SRC], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(os.environ, PYTHONPATH=target)
    r = subprocess.run([sys.executable, "-c", "import awqx; print(awqx.__version__, awqx.__file__)"],
                       capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith(awqx.__version__) and target in r.stdout, r.stderr
