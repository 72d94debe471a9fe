#!/usr/bin/env node
// The peer's (llama.cpp through node-llama-cpp) aggregate generation speed with several sequences in one context,
// the number bench/serve sets beside `hearth serve`'s at the same concurrency. node-llama-cpp has no HTTP server;
// what it has is the batching a server's scheduler does: evaluations that several sequences of one context ask
// for at the same time run as one llama_decode.
//
//   node tools/peer/batched.mjs -m MODEL.gguf [-s 1,4,8,16] [-p 32] [-n 64] [-t N] [--variant NAME]
//
// For each count S of -s: S sequences each evaluate a P-token prompt of random ids (concurrently), then each
// evaluates N single tokens, computing logits for every one (as a server's greedy streams do). Prints one JSON
// object per S: {"engine": "llama.cpp", "streams": S, "n_prompt": P, "n_gen": N, "prompt_seconds": ...,
// "generation_tokens_per_second": S*N / (time from the last prompt's end to the last token)}.
import os from "node:os";
import path from "node:path";
import process from "node:process";

import {importPeer, loadLlama} from "./variant.mjs";
import {randomTokens} from "./random_tokens.mjs";

const usage = "usage: batched.mjs -m MODEL.gguf [-s 1,4,8,16] [-p 32] [-n 64] [-t N] [--variant NAME]";

function fail(message, exitCode = 1) {
    process.stderr.write(`batched.mjs: ${message}\n`);
    process.exit(exitCode);
}

function parseInteger(flag, text, min, max) {
    const value = /^[0-9]+$/.test(text ?? "") ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
        fail(`${flag} must be an integer from ${min} to ${max}, not '${text}'`, 2);
    return value;
}

function parseArguments(argv) {
    const given = {s: "1,4,8,16", p: "32", n: "64"};
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--help" || flag === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        }
        const key = {"-m": "m", "-s": "s", "-p": "p", "-n": "n", "-t": "t", "--variant": "variant"}[flag];
        if (key == null) fail(`unknown argument ${flag}\n${usage}`, 2);
        if (i + 1 >= argv.length) fail(`${flag} needs a value`, 2);
        given[key] = argv[++i];
    }
    if (given.m == null) fail("-m MODEL.gguf is required", 2);
    const hardwareThreads = os.availableParallelism();
    return {
        model: path.resolve(given.m),
        streams: given.s.split(",").map((item) => parseInteger("-s", item, 1, 64)),
        nPrompt: parseInteger("-p", given.p, 1, 8192),
        nGen: parseInteger("-n", given.n, 1, 8192),
        threads: given.t == null ? hardwareThreads : parseInteger("-t", given.t, 1, 4 * hardwareThreads),
        variant: given.variant
    };
}

const rounded = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;
const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;

async function main() {
    const options = parseArguments(process.argv.slice(2));
    const {module} = await importPeer({variant: options.variant});
    const {llama, variant} = await loadLlama(module, {maxThreads: 0});
    const model = await llama.loadModel({modelPath: options.model, gpuLayers: 0});
    const embedding = model.fileInfo.tensorInfo?.find((tensor) => tensor.name === "token_embd.weight");
    if (embedding == null) fail(`${options.model} has no token_embd.weight to take the vocabulary size from`);
    const nVocab = Number(embedding.dimensions[1]);
    const withLogits = {generateNext: {token: true, options: {temperature: 0}}};

    for (const streams of options.streams) {
        const perSequence = options.nPrompt + options.nGen + 1;
        const context = await model.createContext({
            contextSize: streams * perSequence,
            batchSize: 512,
            sequences: streams,
            threads: options.threads,
            flashAttention: false  // as Hearth's f32 attention and bench.mjs
        });
        const sequences = Array.from({length: streams}, () => context.getSequence());
        const tokenSources = sequences.map((_, index) => randomTokens(index + 1, nVocab));
        const promptStart = process.hrtime.bigint();
        await Promise.all(sequences.map((sequence, index) => {
            const prompt = tokenSources[index](options.nPrompt);
            return sequence.controlledEvaluate(prompt.map((token, i) => i === prompt.length - 1 ? [token, withLogits] : token));
        }));
        const promptSeconds = seconds(promptStart);
        const generationStart = process.hrtime.bigint();
        await Promise.all(sequences.map(async (sequence, index) => {
            for (let i = 0; i < options.nGen; i++) await sequence.controlledEvaluate([[tokenSources[index](1)[0], withLogits]]);
        }));
        const generationSeconds = seconds(generationStart);
        const line = {
            engine: "llama.cpp",
            variant,
            streams,
            threads: options.threads,
            n_prompt: options.nPrompt,
            n_gen: options.nGen,
            prompt_seconds: rounded(promptSeconds, 3),
            generation_tokens_per_second: rounded(streams * options.nGen / generationSeconds, 2)
        };
        await new Promise((resolve) => process.stdout.write(JSON.stringify(line) + "\n", resolve));
        await context.dispose();
    }
    await model.dispose();
    await llama.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
