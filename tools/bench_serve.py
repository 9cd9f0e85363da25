#!/usr/bin/env python3
"""Load generator for `awqx serve`: aggregate generated tokens/s, TTFT and inter-token latency
(p50/p99) at several numbers of concurrent streams. Standard library only.

Each request is a streaming /v1/completions with a prompt of exactly --prompt-tokens token ids
(BOS + ids, so no tokenizer is needed), --gen-tokens generated tokens (ignore_eos), greedy.
Every request's prompt differs from its first token on (no prefix-cache hits) unless
--shared-prefix N: then the first N ids after BOS are the same in every request and only the
rest differs (the prefix cache's case: a long system prompt or chat history).
At concurrency C, C client threads each send --requests-per-stream requests back to back.
TTFT = request sent -> first token chunk; ITL = gaps between later token chunks; decode
tok/s per stream = (tokens - 1) / (last chunk - first chunk), the median over requests (compare
with `awqx bench`'s decode tok/s at one stream). Mean batch = generated tokens / engine steps
and "engine in forward %" = seconds in Model::forward_batch / wall time, both from the server's
/metrics over the level (well below 100 % at load: the engine waits for requests, or for a CPU).

  tools/bench_serve.py --url http://127.0.0.1:8080 [--concurrency 1,2,4,8,16] [--csv F] [--plot F.png]
"""
import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def one_request(host, port, body, headers):
    conn = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body, headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    first, last, gaps, tokens = None, None, [], 0
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            payload = event[6:]
            if payload == b"[DONE]":
                continue
            j = json.loads(payload)
            if "usage" in j and j["usage"]:
                tokens = j["usage"]["completion_tokens"]
            # One chunk per token (its text may be empty: a random-weights model's ids beyond the
            # byte tokenizer decode to nothing); the last one carries finish_reason.
            if j.get("choices") and j["choices"][0].get("finish_reason") is None:
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
    conn.close()
    decode = (tokens - 1) / (last - first) if first and last > first and tokens > 1 else float("nan")
    return (first - t0 if first else float("nan")), gaps, tokens, decode


def metrics(host, port, headers):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/metrics", headers=headers)
    text = conn.getresponse().read().decode()
    conn.close()
    return {k: float(v) for k, v in re.findall(r"^awqx_(\w+) ([0-9.eE+-]+)$", text, re.M)}


def make_prompt(args, serial):
    """BOS + prompt_tokens - 1 ids; the first shared_prefix of them fixed, the rest from serial."""
    n = args.prompt_tokens - 1
    # ids 3..252: valid for every tokenizer here (make-model's byte-level one has 258)
    fixed = [(7 * i + 13) % 250 + 3 for i in range(min(args.shared_prefix, n))]
    rest = [(31 * serial + 11 * i + 5) % 250 + 3 for i in range(n - len(fixed))]
    return [1] + fixed + rest


def run_level(host, port, conc, args, headers, serial):
    ttft, itl, decode, tokens, errors = [], [], [], [0], []
    lock = threading.Lock()

    def worker():
        for _ in range(args.requests_per_stream):
            with lock:
                serial[0] += 1
                body = json.dumps({"prompt": make_prompt(args, serial[0]), "max_tokens": args.gen_tokens,
                                   "temperature": 0, "ignore_eos": True, "stream": True,
                                   "stream_options": {"include_usage": True}})
            try:
                t, g, n, d = one_request(host, port, body, headers)
            except Exception as e:  # noqa: BLE001 - reported in the table
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                ttft.append(t)
                itl.extend(g)
                decode.append(d)
                tokens[0] += n

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    m0 = metrics(host, port, headers)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        print(f"{len(errors)} errors at {conc} streams, first: {errors[0]}", file=sys.stderr)
    m1 = metrics(host, port, headers)
    steps = m1.get("engine_steps_total", 0) - m0.get("engine_steps_total", 0)
    gen = m1.get("generation_tokens_total", 0) - m0.get("generation_tokens_total", 0)
    cached = m1.get("prompt_tokens_cached_total", 0) - m0.get("prompt_tokens_cached_total", 0)
    fwd = m1.get("engine_forward_seconds_total", 0) - m0.get("engine_forward_seconds_total", 0)
    return {"concurrency": conc, "requests": len(ttft), "errors": len(errors), "tokens": tokens[0],
            "wall_s": wall, "tok_s": tokens[0] / wall if wall > 0 else 0,
            "decode_tok_s": statistics.median(decode) if decode else float("nan"),
            "mean_batch": gen / steps if steps else float("nan"), "cached_tokens": int(cached),
            "forward_pct": 100.0 * fwd / wall if wall > 0 else float("nan"),
            "ttft_p50_ms": 1e3 * pct(ttft, 50), "ttft_p99_ms": 1e3 * pct(ttft, 99),
            "itl_p50_ms": 1e3 * pct(itl, 50), "itl_p99_ms": 1e3 * pct(itl, 99),
            "itl_mean_ms": 1e3 * statistics.fmean(itl) if itl else float("nan")}


def plot(rows, path):
    data = path + ".dat"
    with open(data, "w") as f:
        for r in rows:
            f.write(f"{r['concurrency']} {r['tok_s']:.2f} {r['ttft_p50_ms']:.2f} {r['ttft_p99_ms']:.2f} "
                    f"{r['itl_p50_ms']:.2f} {r['itl_p99_ms']:.2f}\n")
    script = f"""
set terminal pngcairo size 1000,420
set output '{path}'
set multiplot layout 1,2 title 'awqx serve: {rows[0]['prompt']}-token prompts, {rows[0]['gen']} generated tokens'
set logscale x 2
set xlabel 'concurrent streams'
set ylabel 'generated tokens/s (all streams)'
set grid
plot '{data}' using 1:2 with linespoints lw 2 title 'tokens/s'
set ylabel 'ms'
set logscale y
plot '{data}' using 1:3 w lp title 'TTFT p50', '' using 1:4 w lp title 'TTFT p99', \
     '' using 1:5 w lp title 'ITL p50', '' using 1:6 w lp title 'ITL p99'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--concurrency", default="1,2,4,8,16")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--requests-per-stream", type=int, default=2)
    ap.add_argument("--shared-prefix", type=int, default=0, help="prompt ids after BOS common to all requests")
    ap.add_argument("--csv", default="")
    ap.add_argument("--plot", default="")
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    one_request(u.hostname, u.port or 80, json.dumps({"prompt": [1, 100], "max_tokens": 2, "stream": True}),
                headers)  # warm-up
    rows, serial = [], [0]
    print("| streams | requests | errors | gen tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms "
          "| decode tok/s per stream | mean batch | cached prompt tokens | engine in forward % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in [int(x) for x in args.concurrency.split(",")]:
        r = run_level(u.hostname, u.port or 80, c, args, headers, serial)
        r["prompt"], r["gen"] = args.prompt_tokens, args.gen_tokens
        rows.append(r)
        print(f"| {c} | {r['requests']} | {r['errors']} | {r['tok_s']:.1f} | {r['ttft_p50_ms']:.1f} | "
              f"{r['ttft_p99_ms']:.1f} | {r['itl_p50_ms']:.2f} | {r['itl_p99_ms']:.2f} | {r['decode_tok_s']:.2f} | "
              f"{r['mean_batch']:.2f} | {r['cached_tokens']} | {r['forward_pct']:.0f} |", flush=True)
    if args.csv:
        with open(args.csv, "w") as f:
            keys = ["concurrency", "requests", "errors", "tokens", "wall_s", "tok_s", "ttft_p50_ms", "ttft_p99_ms",
                    "itl_p50_ms", "itl_p99_ms", "itl_mean_ms", "decode_tok_s", "mean_batch", "cached_tokens", "forward_pct"]
            f.write(",".join(keys) + "\n")
            for r in rows:
                f.write(",".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
