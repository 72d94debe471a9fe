#!/usr/bin/env node
// What llama.cpp (the peer, through node-llama-cpp) makes of a model: prompt tokens, next-token probabilities
// and a greedy continuation, as JSON for Hearth's conformance suite.
//
//   node tools/peer/evaluate.mjs MODEL.gguf PROMPT [N]            one model, one prompt, N greedy tokens (64)
//   node tools/peer/evaluate.mjs --jobs JOBS.json                 many models and prompts in one process
//
// Options: --positions P (16) positions with probabilities, --top K (20) tokens per position,
//          --temperature T (1) the temperature the probabilities are taken at, --threads N (0: all cores),
//          --flash-attention on|off (off). llama.cpp's CPU flash attention keeps Q and the running sum of V rows
//          in f16, which moves this demo model's top logits by ~0.03; without it attention is f32 apart from the
//          f16 cache and the f16 copies of Q and the softmax weights, which is closer to an f32 engine.
// JOBS.json: {"models": [{"path": "a.gguf", "prompts": ["...", ...], "temperature": T?}, ...]} plus optional
// "generate", "positions", "top", "temperature", "flash_attention" for all. The output is then one line of JSON
// per model, in order, each written as soon as that model is done (a caller can work on it meanwhile).
//
// For each prompt:
//   prompt_tokens   the prompt tokenized as llama.cpp does for generation: BOS first when the vocabulary asks for
//                   it, special-token text not parsed
//   greedy          N tokens from llama.cpp's greedy sampler (temperature 0), one decode per token; generation
//                   does not stop at end-of-generation tokens, so both engines always produce N
//   positions       for the first P greedy positions (the prompt's last token, then each greedy token fed back),
//                   the K most probable next tokens as [token, probability], probability = softmax(logits / T)
//                   over the whole vocabulary; from one batched decode of prompt + greedy[0..P-2]
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

const usage = "usage: evaluate.mjs MODEL.gguf PROMPT [N] [--positions P] [--top K] [--temperature T] [--threads N]\n" +
    "                    [--flash-attention on|off]\n" +
    "       evaluate.mjs --jobs JOBS.json [--threads N]";

function fail(message) {
    process.stderr.write(`evaluate.mjs: ${message}\n`);
    process.exit(1);
}

function parseArguments(argv) {
    const options = {generate: 64, positions: 16, top: 20, temperature: 1, threads: 0, flashAttention: false};
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const argument = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) fail(`${argument} needs a value\n${usage}`);
            return argv[++i];
        };
        const number = (name) => {
            const parsed = Number(value());
            if (!Number.isFinite(parsed)) fail(`${name} must be a number`);
            return parsed;
        };
        if (argument === "--jobs") options.jobs = value();
        else if (argument === "--positions") options.positions = number("--positions");
        else if (argument === "--top") options.top = number("--top");
        else if (argument === "--temperature") options.temperature = number("--temperature");
        else if (argument === "--threads") options.threads = number("--threads");
        else if (argument === "--flash-attention") {
            const mode = value();
            if (mode !== "on" && mode !== "off") fail("--flash-attention takes on or off");
            options.flashAttention = mode === "on";
        }
        else if (argument === "--help" || argument === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        } else if (argument.startsWith("--")) fail(`unknown option ${argument}\n${usage}`);
        else positional.push(argument);
    }
    if (options.jobs == null) {
        if (positional.length < 2 || positional.length > 3) fail(usage);
        options.models = [{path: positional[0], prompts: [positional[1]]}];
        if (positional.length === 3) options.generate = Number(positional[2]);
    } else {
        if (positional.length !== 0) fail(`--jobs takes no other arguments\n${usage}`);
        let jobs;
        try {
            jobs = JSON.parse(fs.readFileSync(options.jobs, "utf8"));
        } catch (error) {
            fail(`cannot read jobs file ${options.jobs}: ${error.message}`);
        }
        if (!Array.isArray(jobs.models)) fail(`jobs file ${options.jobs} has no "models" array`);
        for (const key of ["generate", "positions", "top", "temperature"]) {
            if (jobs[key] != null) options[key] = Number(jobs[key]);
        }
        if (jobs.flash_attention != null) options.flashAttention = jobs.flash_attention === true;
        options.models = jobs.models;
    }
    for (const key of ["generate", "positions", "top"]) {
        if (!Number.isInteger(options[key]) || options[key] < 1) fail(`${key} must be a positive integer`);
    }
    if (!(options.temperature > 0)) fail("--temperature must be positive");
    if (options.positions > options.generate) fail("--positions cannot exceed the number of generated tokens");
    for (const model of options.models) {
        if (typeof model.path !== "string" || !Array.isArray(model.prompts) || model.prompts.length === 0)
            fail("each job needs a \"path\" and a non-empty \"prompts\" array");
        if (!fs.existsSync(model.path)) fail(`model file not found: ${model.path}`);
        if (model.temperature != null && !(Number(model.temperature) > 0)) fail(`temperature of ${model.path} must be positive`);
    }
    return options;
}

async function loadPeer() {
    const here = path.dirname(new URL(import.meta.url).pathname);
    try {
        const module = await import(path.join(here, "node_modules", "node-llama-cpp", "dist", "index.js"));
        const packageJson = JSON.parse(fs.readFileSync(path.join(here, "node_modules", "node-llama-cpp", "package.json"), "utf8"));
        return {module, version: packageJson.version};
    } catch (error) {
        fail(`the peer (node-llama-cpp) is not installed in ${here}/node_modules: run scripts/setup (${error.message})`);
    }
}

// The top-K (token, probability) pairs at temperature T, from the peer's temperature-scaled top logits and the sum
// of exp(scaled logit - max scaled logit) over the whole vocabulary.
function topProbabilities(next, top) {
    if (next?.logits == null || next.totalLogitWeight == null) throw new Error("the peer returned no logits");
    const pairs = [...next.logits.entries()].slice(0, top);
    const maxLogit = pairs[0][1];
    return pairs.map(([token, logit]) => [token, Math.exp(logit - maxLogit) / next.totalLogitWeight]);
}

// Greedy: one decode per token for every prompt at once, as a generating engine runs.
async function greedyTokens(model, sequence, promptTokens, options) {
    const greedyNext = {generateNext: {token: true, options: {temperature: 0}}};
    const greedy = [];
    let input = promptTokens.map((token, index) => index === promptTokens.length - 1 ? [token, greedyNext] : token);
    while (greedy.length < options.generate) {
        const output = await sequence.controlledEvaluate(input);
        const token = output[input.length - 1]?.next?.token;
        if (token == null) throw new Error(`the peer generated no token at step ${greedy.length}`);
        greedy.push(token);
        input = [[token, greedyNext]];
    }
    return greedy;
}

// Probabilities along the greedy path: one batch, P rows of logits, the whole vocabulary in the softmax (top-k,
// top-p and min-p off; the draw the sampler makes is ignored).
async function forcedProbabilities(sequence, promptTokens, greedy, options, temperature) {
    const probabilityNext = {
        generateNext: {
            token: true,
            options: {temperature, topK: 0, topP: 1, minP: 0, seed: 1},
            logits: {filter: {includeTop: options.top}},
            totalLogitWeight: true
        }
    };
    const forced = [...promptTokens, ...greedy.slice(0, options.positions - 1)];
    const firstRow = promptTokens.length - 1;
    const outputs = await sequence.controlledEvaluate(
        forced.map((token, index) => index >= firstRow ? [token, probabilityNext] : token));
    const positions = [];
    for (let index = firstRow; index < forced.length; index++)
        positions.push({top: topProbabilities(outputs[index]?.next, options.top)});
    return positions;
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    const {module: peer, version} = await loadPeer();
    const llama = await peer.getLlama({gpu: false, build: "never", logLevel: "error", maxThreads: options.threads});
    for (const job of options.models) {
        const model = await llama.loadModel({modelPath: path.resolve(job.path), gpuLayers: 0});
        const longestPrompt = Math.max(...job.prompts.map((prompt) => model.tokenize(prompt, false).length));
        const contextSize = Math.max(64, longestPrompt + 1 + options.generate + 8);
        const temperature = job.temperature != null ? Number(job.temperature) : options.temperature;
        const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
        const promptTokens = job.prompts.map((prompt) => {
            const tokens = [...(bos != null ? [bos] : []), ...model.tokenize(prompt, false)];
            if (tokens.length === 0) throw new Error(`prompt ${JSON.stringify(prompt)} has no tokens`);
            return tokens;
        });
        // Each prompt alone in a fresh context (one sequence): with several sequences llama.cpp cuts a batch into
        // equal per-sequence sub-batches, which decides which quantized kernel (single-token or grouped) each
        // token goes through; single sequences make the comparison independent of that policy.
        const newContext = () => model.createContext({
            contextSize,
            batchSize: contextSize,
            sequences: 1,
            threads: options.threads,
            flashAttention: options.flashAttention
        });
        const greedy = [];
        const positions = [];
        for (let index = 0; index < promptTokens.length; index++) {
            let context = await newContext();
            greedy.push(await greedyTokens(model, context.getSequence(), promptTokens[index], options));
            await context.dispose();
            context = await newContext();
            positions.push(await forcedProbabilities(context.getSequence(), promptTokens[index], greedy[index], options,
                temperature));
            await context.dispose();
        }
        const prompts = job.prompts.map((prompt, index) => ({
            prompt,
            prompt_tokens: promptTokens[index],
            positions: positions[index],
            greedy: greedy[index],
            greedy_text: model.detokenize(greedy[index], false, promptTokens[index])
        }));
        const result = {
            model: job.path,
            peer: `node-llama-cpp ${version}`,
            vocabulary_type: model.vocabularyType,
            temperature,
            flash_attention: options.flashAttention,
            results: prompts
        };
        await model.dispose();
        await new Promise((resolve) => process.stdout.write(JSON.stringify(result) + "\n", resolve));
    }
    await llama.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
