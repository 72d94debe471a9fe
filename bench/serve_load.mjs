#!/usr/bin/env node
// A load generator for an OpenAI-compatible server over loopback: S concurrent streaming completions, each with a
// P-token prompt of random ids, N generated tokens (ignore_eos), for each S of -s. Prints one JSON object per S:
//   {"streams": S, "generated_tokens": ..., "wall_seconds": ..., "aggregate_tokens_per_second": ...,
//    "generation_tokens_per_second": ..., "ttft_ms_p50": ..., "ttft_ms_p95": ..., "itl_ms_p50": ..., "itl_ms_p95": ...}
// generation_tokens_per_second counts the tokens after each stream's first one over the time from the last
// stream's first token to the last stream's end: the steady state in which every stream is generating, the
// number tools/peer/batched.mjs measures for llama.cpp.
// Then, with --overhead, the round trip of 1-token completions against the server's own accounting of them.
//
//   node bench/serve_load.mjs --url http://127.0.0.1:PORT [-s 1,4,8,16] [-p 32] [-n 64] [--vocab N] [--api-key K]
import process from "node:process";
import {randomTokens} from "../tools/peer/random_tokens.mjs";

const usage = "usage: serve_load.mjs --url URL [-s 1,4,8,16] [-p 32] [-n 64] [--vocab N] [--api-key KEY] [--overhead]";

function fail(message, exitCode = 1) {
    process.stderr.write(`serve_load.mjs: ${message}\n`);
    process.exit(exitCode);
}

function parseInteger(flag, text, min, max) {
    const value = /^[0-9]+$/.test(text ?? "") ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
        fail(`${flag} must be an integer from ${min} to ${max}, not '${text}'`, 2);
    return value;
}

function parseArguments(argv) {
    const given = {s: "1,4,8,16", p: "32", n: "64", vocab: "32000"};
    let overhead = false;
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--help" || flag === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        }
        if (flag === "--overhead") {
            overhead = true;
            continue;
        }
        const key = {"--url": "url", "-s": "s", "-p": "p", "-n": "n", "--vocab": "vocab", "--api-key": "key"}[flag];
        if (key == null) fail(`unknown argument ${flag}\n${usage}`, 2);
        if (i + 1 >= argv.length) fail(`${flag} needs a value`, 2);
        given[key] = argv[++i];
    }
    if (given.url == null) fail("--url is required", 2);
    return {
        url: given.url.replace(/\/$/, ""),
        streams: given.s.split(",").map((item) => parseInteger("-s", item, 1, 256)),
        nPrompt: parseInteger("-p", given.p, 1, 8192),
        nGen: parseInteger("-n", given.n, 1, 8192),
        nVocab: parseInteger("--vocab", given.vocab, 1, 1 << 24),
        apiKey: given.key,
        overhead
    };
}

const now = () => Number(process.hrtime.bigint()) / 1e6;  // milliseconds
const rounded = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
function percentile(values, p) {
    if (values.length === 0) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
}

function headers(options) {
    const result = {"Content-Type": "application/json"};
    if (options.apiKey != null) result.Authorization = `Bearer ${options.apiKey}`;
    return result;
}

// One streaming completion; returns the arrival time of every token-bearing chunk.
async function stream(options, prompt, maxTokens) {
    const start = now();
    const response = await fetch(`${options.url}/v1/completions`, {
        method: "POST",
        headers: headers(options),
        body: JSON.stringify({prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true,
                              stream_options: {include_usage: true}})
    });
    if (!response.ok) fail(`HTTP ${response.status}: ${await response.text()}`);
    const arrivals = [];
    let completionTokens = null;
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const bytes of response.body) {
        buffered += decoder.decode(bytes, {stream: true});
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
            const event = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
            const chunk = JSON.parse(event.slice(6));
            if (chunk.usage != null) completionTokens = chunk.usage.completion_tokens;
            if (chunk.choices?.length > 0) arrivals.push(now());
        }
    }
    return {start, arrivals, end: now(), completionTokens};
}

// Stream i's prompt comes from seed firstSeed + i (the peer's sequence i from seed i + 1).
async function measure(options, streams, firstSeed = 1) {
    const results = await Promise.all(Array.from({length: streams}, (_, index) =>
        stream(options, randomTokens(firstSeed + index, options.nVocab)(options.nPrompt), options.nGen)));
    const generated = results.reduce((sum, r) => sum + (r.completionTokens ?? r.arrivals.length), 0);
    if (results.some((r) => r.completionTokens != null && r.completionTokens !== options.nGen))
        process.stderr.write(`serve_load.mjs: some streams generated fewer than ${options.nGen} tokens\n`);
    const start = Math.min(...results.map((r) => r.start));
    const end = Math.max(...results.map((r) => r.end));
    const steadyStart = Math.max(...results.map((r) => r.arrivals[0] ?? r.end));
    const steadyTokens = results.reduce((sum, r) => sum + r.arrivals.filter((t) => t > steadyStart).length, 0);
    const ttft = results.map((r) => (r.arrivals[0] ?? r.end) - r.start);
    const gaps = results.flatMap((r) => r.arrivals.slice(1).map((t, i) => t - r.arrivals[i]));
    return {
        streams,
        n_prompt: options.nPrompt,
        n_gen: options.nGen,
        generated_tokens: generated,
        wall_seconds: rounded((end - start) / 1e3, 3),
        aggregate_tokens_per_second: rounded(generated / ((end - start) / 1e3), 2),
        generation_tokens_per_second: end > steadyStart ? rounded(steadyTokens / ((end - steadyStart) / 1e3), 2) : null,
        ttft_ms_p50: rounded(percentile(ttft, 50), 1),
        ttft_ms_p95: rounded(percentile(ttft, 95), 1),
        itl_ms_p50: gaps.length ? rounded(percentile(gaps, 50), 2) : null,
        itl_ms_p95: gaps.length ? rounded(percentile(gaps, 95), 2) : null
    };
}

// Round trip of a 1-token completion (1-token prompt) minus the server's own duration for it (its
// `timings.total_ms`, when the server reports one): what HTTP, JSON and scheduling add.
async function overhead(options) {
    const samples = [];
    for (let i = 0; i < 30; i++) {
        const start = now();
        const response = await fetch(`${options.url}/v1/completions`, {
            method: "POST",
            headers: headers(options),
            body: JSON.stringify({prompt: [1 + i], max_tokens: 1, temperature: 0, ignore_eos: true})
        });
        const body = await response.json();
        const roundTrip = now() - start;
        if (i >= 5 && body.timings?.total_ms != null) samples.push({roundTrip, server: body.timings.total_ms});
    }
    if (samples.length === 0) return {test: "overhead", note: "the server reports no timings.total_ms"};
    const overheads = samples.map((s) => s.roundTrip - s.server);
    return {
        test: "overhead",
        round_trip_ms_p50: rounded(percentile(samples.map((s) => s.roundTrip), 50), 2),
        server_ms_p50: rounded(percentile(samples.map((s) => s.server), 50), 2),
        overhead_ms_p50: rounded(percentile(overheads, 50), 2),
        overhead_ms_p95: rounded(percentile(overheads, 95), 2)
    };
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    // Warm-up (pages of the model mapped, caches filled) on a prompt no test uses, so that no test finds its prompt
    // already cached.
    await measure(options, 1, 1 << 20);
    for (const streams of options.streams) process.stdout.write(JSON.stringify(await measure(options, streams)) + "\n");
    if (options.overhead) process.stdout.write(JSON.stringify(await overhead(options)) + "\n");
}

main().catch((error) => fail(error?.stack ?? String(error)));
