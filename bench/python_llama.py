"""Benchmark of the Python package: hearth.Llama's generation speed beside `hearth run`'s on the same model (the
overhead of Python per token), and eight prompts generated one after another beside the same eight batched.

    python3 bench/python_llama.py [-m MODEL.gguf] [-n TOKENS] [-t THREADS] [--prompts 8]

Every generation is greedy with the end-of-generation token banned, so that each produces exactly -n tokens.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
import hearth  # noqa: E402

PROMPTS = ["The Python interpreter", "Debian packages are", "A fortune:", "import os\n", "The kernel schedules",
           "Lists and tuples", "In the beginning", "To configure the network"]


def hearth_run(binary, model, prompt, n, threads, eos, n_ctx):
    run = subprocess.run([binary, "run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-t", str(threads),
                          "-c", str(n_ctx), "--no-display-prompt", "--logit-bias", f"{eos}-inf"], capture_output=True,
                         text=True, check=True)
    match = re.search(r"generation:\s+(\d+) tokens in ([\d.]+) ms", run.stderr)
    return int(match.group(1)) / (float(match.group(2)) / 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", default=str(ROOT.parent / "shared" / "models" / "hearth-demo-13m-q8_0.gguf"))
    parser.add_argument("-n", type=int, default=128, help="tokens per generation")
    parser.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    parser.add_argument("-r", "--repetitions", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--hearth", default=str(ROOT / "build" / "bin" / "hearth"))
    args = parser.parse_args()

    n_ctx = 64 + args.n
    with hearth.Llama(args.model, n_ctx=n_ctx, n_threads=args.threads, verbose=False) as llm:
        eos = llm.token_eos()
        bias = {eos: float("-inf")}
        llm(PROMPTS[0], max_tokens=8, temperature=0, logit_bias=bias)  # warm-up
        python_rates, engine_rates = [], []
        for _ in range(args.repetitions):
            arrivals = []
            chunks = llm(PROMPTS[0], max_tokens=args.n, temperature=0, logit_bias=bias, stream=True)
            for chunk in chunks:
                arrivals.append(time.perf_counter())
                usage = chunk.get("usage")
            # Token arrivals in Python, first to last (the last chunk only closes the stream), against the engine's
            # own clock for the same tokens (result timings: first token to the end).
            python_rates.append((args.n - 1) / (arrivals[-2] - arrivals[0]))
            engine_rates.append((args.n - 1) / (llm.last_timings["duration_ms"] - llm.last_timings["time_to_first_token_ms"]) * 1e3)
            assert usage["completion_tokens"] == args.n
        cli_rates = [hearth_run(args.hearth, args.model, PROMPTS[0], args.n, args.threads, eos, n_ctx)
                     for _ in range(args.repetitions)]

        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.prompts)]
        start = time.perf_counter()
        sequential = [llm(p, max_tokens=args.n, temperature=0, logit_bias=bias) for p in prompts]
        sequential_s = time.perf_counter() - start
    with hearth.Llama(args.model, n_ctx=n_ctx, n_parallel=args.prompts, n_threads=args.threads, verbose=False) as batched:
        batched.create_completions(prompts[:2], max_tokens=4, temperature=0, logit_bias=bias)  # warm-up
        start = time.perf_counter()
        together = batched.create_completions(prompts, max_tokens=args.n, temperature=0, logit_bias=bias)
        batched_s = time.perf_counter() - start
    same = [r["choices"][0]["text"] for r in sequential] == [r["choices"][0]["text"] for r in together]

    total = args.n * args.prompts
    median = statistics.median
    print(f"model {Path(args.model).name}, {args.n} tokens per generation, {args.threads} threads, "
          f"median of {args.repetitions}")
    print(f"| single stream | tok/s |\n|---|---:|\n"
          f"| hearth run (C++; its report: n tokens over n-1 decodes) | {median(cli_rates):.1f} |\n"
          f"| hearth.Llama, the engine's clock | {median(engine_rates):.1f} |\n"
          f"| hearth.Llama stream=True, tokens as Python receives them | {median(python_rates):.1f} |")
    print(f"Python overhead per token: {100 * (1 - median(python_rates) / median(engine_rates)):+.1f}% "
          "(Python's arrivals against the engine's clock; positive: slower)")
    print(f"| {args.prompts} prompts x {args.n} tokens | s | aggregate tok/s |\n|---|---:|---:|\n"
          f"| one after another (n_parallel 1) | {sequential_s:.2f} | {total / sequential_s:.1f} |\n"
          f"| create_completions (n_parallel {args.prompts}) | {batched_s:.2f} | {total / batched_s:.1f} |")
    print(f"batched / sequential: {sequential_s / batched_s:.2f}x; texts identical: {same}")


if __name__ == "__main__":
    main()
