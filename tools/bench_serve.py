#!/usr/bin/env python3
"""Load generator for `awqx serve`: aggregate generated tokens/s, TTFT and inter-token latency
(p50/p99) at several numbers of concurrent streams. Standard library only.

Each request is a streaming /v1/completions with a prompt of exactly --prompt-tokens token ids
(BOS + fixed ids, so no tokenizer is needed), --gen-tokens generated tokens (ignore_eos), greedy.
At concurrency C, C client threads each send --requests-per-stream requests back to back.
TTFT = request sent -> first chunk with text; ITL = gaps between later text chunks.

  tools/bench_serve.py --url http://127.0.0.1:8080 [--concurrency 1,2,4,8,16] [--csv F] [--plot F.png]
"""
import argparse
import http.client
import json
import statistics
import subprocess
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
            if j.get("choices") and j["choices"][0].get("text"):
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
    conn.close()
    return (first - t0 if first else float("nan")), gaps, tokens, time.perf_counter() - t0


def run_level(host, port, conc, args, headers):
    prompt = [1] + [(7 * i + 13) % 3000 + 100 for i in range(args.prompt_tokens - 1)]
    body = json.dumps({"prompt": prompt, "max_tokens": args.gen_tokens, "temperature": 0, "ignore_eos": True,
                       "stream": True, "stream_options": {"include_usage": True}})
    ttft, itl, tokens, errors = [], [], [0], []
    lock = threading.Lock()

    def worker():
        for _ in range(args.requests_per_stream):
            try:
                t, g, n, _ = one_request(host, port, body, headers)
            except Exception as e:  # noqa: BLE001 - reported in the table
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                ttft.append(t)
                itl.extend(g)
                tokens[0] += n

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"concurrency": conc, "requests": len(ttft), "errors": len(errors), "tokens": tokens[0],
            "wall_s": wall, "tok_s": tokens[0] / wall if wall > 0 else 0,
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
    ap.add_argument("--csv", default="")
    ap.add_argument("--plot", default="")
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    one_request(u.hostname, u.port or 80, json.dumps({"prompt": [1, 100], "max_tokens": 2, "stream": True}),
                headers)  # warm-up
    rows = []
    print(f"| streams | requests | errors | gen tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for c in [int(x) for x in args.concurrency.split(",")]:
        r = run_level(u.hostname, u.port or 80, c, args, headers)
        r["prompt"], r["gen"] = args.prompt_tokens, args.gen_tokens
        rows.append(r)
        print(f"| {c} | {r['requests']} | {r['errors']} | {r['tok_s']:.1f} | {r['ttft_p50_ms']:.1f} | "
              f"{r['ttft_p99_ms']:.1f} | {r['itl_p50_ms']:.2f} | {r['itl_p99_ms']:.2f} |", flush=True)
    if args.csv:
        with open(args.csv, "w") as f:
            keys = ["concurrency", "requests", "errors", "tokens", "wall_s", "tok_s", "ttft_p50_ms", "ttft_p99_ms",
                    "itl_p50_ms", "itl_p99_ms", "itl_mean_ms"]
            f.write(",".join(keys) + "\n")
            for r in rows:
                f.write(",".join(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
