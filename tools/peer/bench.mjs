#!/usr/bin/env node
// The peer's (llama.cpp through node-llama-cpp) prompt and generation speed, measured as `hearth bench` measures
// Hearth's, so bench/compare can set the two side by side.
//
//   node tools/peer/bench.mjs -m MODEL.gguf [-p 128,512] [-n 32,128] [-t N] [-r REPS] [-d DEPTH] [--variant NAME]
//
// The tests, as in src/cli/cmd_bench.cpp:
//   ppN  N random token ids evaluated as one prompt (the context cuts it into batches of 512, as Hearth's does)
//        into a sequence holding only the DEPTH tokens before it; its time is also the time to first token.
//   tgN  N single-token evaluations, each computing logits, after a one-token prompt (untimed) that follows the
//        DEPTH tokens.
// One warm-up run per test, then -r timed runs (default 5); -p 0 or -n 0: no tests of that kind. --variant picks
// the llama.cpp CPU library (tools/peer/variant.mjs; default: the one ggml picks for this CPU).
//
// Prints one JSON object per test, with the keys of `hearth bench --json` plus "engine": "llama.cpp" and
// "variant" (the CPU library ggml reported loading). Usage errors exit with 2, failures with 1.
import os from "node:os";
import path from "node:path";
import process from "node:process";

import {importPeer, loadLlama} from "./variant.mjs";
import {randomTokens} from "./random_tokens.mjs";

const usage = "usage: bench.mjs -m MODEL.gguf [-p 128,512] [-n 32,128] [-t N] [-r REPS] [-d DEPTH] [--variant NAME]";
const batchSize = 512;  // Hearth's default n_batch, which `hearth bench` runs with

function fail(message, exitCode = 1) {
    process.stderr.write(`bench.mjs: ${message}\n`);
    process.exit(exitCode);
}

function usageError(message) {
    fail(message, 2);
}

function parseInteger(flag, text, min, max) {
    const value = /^[0-9]+$/.test(text ?? "") ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
        usageError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
    return value;
}

// "128,512" -> [128, 512]; "0" alone -> [] (no tests of that kind).
function parseSizeList(flag, text) {
    if (text === "0") return [];
    const items = (text ?? "").split(",");
    if (items.some((item) => !/^[0-9]+$/.test(item) || Number(item) < 1 || Number(item) > 1 << 20))
        usageError(`${flag} takes a comma-separated list of positive token counts (or 0 for none), not '${text}'`);
    return items.map(Number);
}

function parseArguments(argv) {
    const given = {p: "128,512", n: "32,128", r: "5", d: "0"};
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--help" || flag === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        }
        const key = {"-m": "m", "-p": "p", "-n": "n", "-t": "t", "-r": "r", "-d": "d", "--variant": "variant"}[flag];
        if (key == null) usageError(`unknown argument ${flag}\n${usage}`);
        if (i + 1 >= argv.length) usageError(`${flag} needs a value`);
        given[key] = argv[++i];
    }
    if (given.m == null) usageError("-m MODEL.gguf is required: the GGUF model to measure");
    const hardwareThreads = os.availableParallelism();
    const options = {
        model: path.resolve(given.m),
        promptSizes: parseSizeList("-p", given.p),
        generationSizes: parseSizeList("-n", given.n),
        // More than four threads per hardware thread only slows a run down (the same bound as hearth bench).
        threads: given.t == null ? hardwareThreads : parseInteger("-t", given.t, 1, 4 * hardwareThreads),
        repetitions: parseInteger("-r", given.r, 1, 1000),
        depth: parseInteger("-d", given.d, 0, 1 << 20),
        variant: given.variant
    };
    if (options.promptSizes.length === 0 && options.generationSizes.length === 0)
        usageError("-p 0 and -n 0 leave nothing to measure");
    return options;
}

const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;
const sampleStddev = (values, average) => values.length < 2 ? 0
    : Math.sqrt(values.reduce((sum, v) => sum + (v - average) ** 2, 0) / (values.length - 1));
const rounded = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main() {
    const options = parseArguments(process.argv.slice(2));
    let peer;
    try {
        const {module} = await importPeer({variant: options.variant});
        // maxThreads 0: a context's `threads` is then exactly the number of threads it runs.
        peer = await loadLlama(module, {maxThreads: 0});
    } catch (error) {
        if (options.variant != null && /NoBinaryFound/.test(String(error?.name ?? error)))
            fail(`the peer's CPU variant "${options.variant}" does not run on this CPU`);
        fail(error?.message ?? String(error));
    }
    const {llama} = peer;
    const model = await llama.loadModel({modelPath: options.model, gpuLayers: 0});
    const largest = Math.max(...options.promptSizes, ...options.generationSizes.map((n) => n + 1));
    const cellsNeeded = options.depth + largest;
    if (cellsNeeded > model.trainContextSize)
        usageError(`the tests need ${cellsNeeded} positions (-d ${options.depth}, then the longest test), ` +
                   `more than the model's context of ${model.trainContextSize}`);
    const embedding = model.fileInfo.tensorInfo?.find((tensor) => tensor.name === "token_embd.weight");
    if (embedding == null) fail(`${options.model} has no token_embd.weight to take the vocabulary size from`);
    const nextTokens = randomTokens(0, Number(embedding.dimensions[1]));

    const context = await model.createContext({
        contextSize: cellsNeeded,
        batchSize: Math.min(batchSize, cellsNeeded),
        sequences: 1,
        threads: options.threads,
        // Off (llama-bench's default too): llama.cpp's CPU flash attention accumulates in f16, another algorithm
        // than Hearth's f32 attention.
        flashAttention: false
    });
    const sequence = context.getSequence();
    if (options.depth > 0) await sequence.evaluateWithoutGeneratingNewTokens(nextTokens(options.depth));

    // Asking for the next token is what makes llama.cpp compute a token's logits (as Hearth's tests do for the
    // prompt's last token and every generated one); greedy sampling over the vocabulary costs little beside that.
    const withLogits = {generateNext: {token: true, options: {temperature: 0}}};
    const measure = async (test) => {
        if (sequence.nextTokenIndex > options.depth)
            await sequence.eraseContextTokenRanges([{start: options.depth, end: sequence.nextTokenIndex}]);
        if (test.nPrompt > 0) {
            const prompt = nextTokens(test.nPrompt);
            const input = prompt.map((token, index) => index === prompt.length - 1 ? [token, withLogits] : token);
            const start = process.hrtime.bigint();
            await sequence.controlledEvaluate(input);
            return Number(process.hrtime.bigint() - start) / 1e9;
        }
        await sequence.controlledEvaluate([[nextTokens(1)[0], withLogits]]);
        const start = process.hrtime.bigint();
        for (let i = 0; i < test.nGen; i++) await sequence.controlledEvaluate([[nextTokens(1)[0], withLogits]]);
        return Number(process.hrtime.bigint() - start) / 1e9;
    };

    const tests = [...options.promptSizes.map((n) => ({nPrompt: n, nGen: 0})),
                   ...options.generationSizes.map((n) => ({nPrompt: 0, nGen: n}))];
    for (const test of tests) {
        await measure(test);  // warm-up
        const seconds = [];
        for (let rep = 0; rep < options.repetitions; rep++) seconds.push(await measure(test));
        const rates = seconds.map((s) => (test.nPrompt + test.nGen) / s);
        const tokensPerSecond = mean(rates);
        const line = {
            test: test.nPrompt > 0 ? `pp${test.nPrompt}` : `tg${test.nGen}`,
            n_prompt: test.nPrompt,
            n_gen: test.nGen,
            depth: options.depth,
            threads: options.threads,
            repetitions: options.repetitions,
            tokens_per_second: rounded(tokensPerSecond, 2),
            stddev: rounded(sampleStddev(rates, tokensPerSecond), 2)
        };
        // Bytes per generated token: llama.cpp's llama_model_size, every tensor of the model (as hearth bench
        // counts them).
        if (test.nPrompt > 0) line.ttft_ms = rounded(mean(seconds) * 1e3, 1);
        else line.gb_per_second = rounded(model.size * tokensPerSecond / 1e9, 2);
        line.peak_rss_mib = rounded(process.resourceUsage().maxRSS / 1024, 1);
        line.engine = "llama.cpp";
        line.variant = peer.variant;
        await new Promise((resolve) => process.stdout.write(JSON.stringify(line) + "\n", resolve));
    }
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
