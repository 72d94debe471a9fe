#!/usr/bin/env node
// What llama.cpp (the peer, through node-llama-cpp) makes of a model: prompt tokens, a greedy continuation, and
// the whole next-token distribution along it, for Hearth's conformance suite.
//
//   node tools/peer/evaluate.mjs MODEL.gguf PROMPT [N]      one model, one prompt, N greedy tokens (32); JSON only
//   node tools/peer/evaluate.mjs --jobs JOBS.json           many models and prompts in one process
//
// Options: --positions P (N) positions whose logits are kept, --threads T (0: all cores), --variant NAME (the
//          llama.cpp CPU library to load, e.g. haswell or zen4; default: the one ggml picks for this CPU),
//          --logits-dir DIR (where the logit rows go; without it they are not written), --flash-attention on|off
//          (off: llama.cpp's CPU flash attention keeps Q and the running sum of V rows in f16, which an f32 engine
//          should not be compared against).
//          --list-variants prints the CPU variants the installed peer ships and exits.
// JOBS.json: {"models": [{"path": "a.gguf", "prompts": ["...", ...], "paths": [[...], ...]?}, ...]} plus optional "generate",
// "positions", "variant", "logits_dir", "flash_attention" for all. The output is one line of JSON per model, in
// order, each written as soon as that model is done (a caller can work on it meanwhile).
//
// Each line: model, peer (package and version), variant and library (the CPU library ggml reported loading),
// features (the instruction sets llama.cpp's system info lists for it), n_vocab, logits (the file, or null), and
// per prompt:
//   prompt_tokens   the prompt tokenized as llama.cpp does for generation: BOS first when the vocabulary asks for
//                   it, special-token text not parsed
//   greedy          N tokens from llama.cpp's greedy sampler (temperature 0), one decode per token, each prompt
//                   alone in a fresh context; generation does not stop at end-of-generation tokens
//   greedy_text     their text
// The logits file holds, for each prompt in order, P rows of n_vocab little-endian float32: the raw logits after
// the prompt's last token and after each of greedy[0 .. P-2], from one batched decode of prompt + greedy[0..P-2]
// in a fresh context (teacher forcing along the peer's own path, as llama.cpp's perplexity tool evaluates text).
// A job's "paths" (one token list per prompt, at least P-1 long) replace the peer's own greedy tokens in that pass:
// so one variant of the peer is compared with another along the same tokens.
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

import {importPeer, loadLlama, shippedVariants} from "./variant.mjs";

const usage = "usage: evaluate.mjs MODEL.gguf PROMPT [N] [--positions P] [--threads T] [--variant NAME]\n" +
    "                    [--logits-dir DIR] [--flash-attention on|off]\n" +
    "       evaluate.mjs --jobs JOBS.json [--threads T] [--variant NAME]\n" +
    "       evaluate.mjs --list-variants";

function fail(message) {
    process.stderr.write(`evaluate.mjs: ${message}\n`);
    process.exit(1);
}

function parseArguments(argv) {
    const options = {generate: 32, threads: 0, flashAttention: false};
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
        else if (argument === "--threads") options.threads = number("--threads");
        else if (argument === "--variant") options.variant = value();
        else if (argument === "--logits-dir") options.logitsDir = value();
        else if (argument === "--flash-attention") {
            const mode = value();
            if (mode !== "on" && mode !== "off") fail("--flash-attention takes on or off");
            options.flashAttention = mode === "on";
        } else if (argument === "--list-variants") {
            process.stdout.write(shippedVariants().join("\n") + "\n");
            process.exit(0);
        } else if (argument === "--help" || argument === "-h") {
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
        for (const key of ["generate", "positions"]) {
            if (jobs[key] != null) options[key] = Number(jobs[key]);
        }
        if (jobs.variant != null && options.variant == null) options.variant = String(jobs.variant);
        if (jobs.logits_dir != null) options.logitsDir = String(jobs.logits_dir);
        if (jobs.flash_attention != null) options.flashAttention = jobs.flash_attention === true;
        options.models = jobs.models;
    }
    options.positions ??= options.generate;
    for (const key of ["generate", "positions"]) {
        if (!Number.isInteger(options[key]) || options[key] < 1) fail(`${key} must be a positive integer`);
    }
    if (options.positions > options.generate) fail("--positions cannot exceed the number of generated tokens");
    if (options.logitsDir != null && !fs.existsSync(options.logitsDir)) fail(`no folder ${options.logitsDir}`);
    for (const model of options.models) {
        if (typeof model.path !== "string" || !Array.isArray(model.prompts) || model.prompts.length === 0)
            fail("each job needs a \"path\" and a non-empty \"prompts\" array");
        if (!fs.existsSync(model.path)) fail(`model file not found: ${model.path}`);
        if (model.paths != null && (!Array.isArray(model.paths) || model.paths.length !== model.prompts.length ||
            model.paths.some((tokens) => !Array.isArray(tokens) || tokens.length < options.positions - 1 ||
                tokens.some((token) => !Number.isInteger(token) || token < 0))))
            fail(`"paths" of ${model.path} must hold one list of at least ${options.positions - 1} token ids per prompt`);
    }
    return options;
}

// Greedy: one decode per token, as a generating engine runs.
async function greedyTokens(sequence, promptTokens, count) {
    const greedyNext = {generateNext: {token: true, options: {temperature: 0}}};
    const greedy = [];
    let input = promptTokens.map((token, index) => index === promptTokens.length - 1 ? [token, greedyNext] : token);
    while (greedy.length < count) {
        const output = await sequence.controlledEvaluate(input);
        const token = output[input.length - 1]?.next?.token;
        if (token == null) throw new Error(`the peer generated no token at step ${greedy.length}`);
        greedy.push(token);
        input = [[token, greedyNext]];
    }
    return greedy;
}

// The raw logits along the greedy path, from one batch: `positions` rows of the whole vocabulary. The sampler
// the peer runs to hand them over has temperature 1 and top-k, top-p and min-p off, so the logits are llama.cpp's
// own; the token it draws is ignored.
// The vocabulary size is the length of the first row (llama.cpp's n_vocab); every row must cover it.
async function forcedLogits(sequence, promptTokens, greedy, positions) {
    const logitsNext = {generateNext: {token: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1}, logits: true}};
    const forced = [...promptTokens, ...greedy.slice(0, positions - 1)];
    const firstRow = promptTokens.length - 1;
    const outputs = await sequence.controlledEvaluate(
        forced.map((token, index) => index >= firstRow ? [token, logitsNext] : token));
    const nVocab = outputs[firstRow]?.next?.logits?.size ?? 0;
    if (nVocab === 0) throw new Error("the peer returned no logits");
    const rows = new Float32Array(positions * nVocab).fill(Number.NaN);
    for (let index = firstRow; index < forced.length; index++) {
        const logits = outputs[index]?.next?.logits;
        if (logits == null || logits.size !== nVocab)
            throw new Error(`the peer returned ${logits?.size ?? 0} logits of ${nVocab} at position ${index}`);
        const row = rows.subarray((index - firstRow) * nVocab, (index - firstRow + 1) * nVocab);
        for (const [token, logit] of logits) row[token] = logit;
    }
    if (rows.some(Number.isNaN)) throw new Error("the peer's logit rows have gaps");
    return {rows, nVocab};
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    let peer;
    try {
        const {module, version} = await importPeer({variant: options.variant});
        const loaded = await loadLlama(module, {maxThreads: options.threads});
        peer = {...loaded, version};
    } catch (error) {
        if (options.variant != null && /NoBinaryFound/.test(String(error?.name ?? error)))
            fail(`the peer's CPU variant "${options.variant}" does not run on this CPU`);
        fail(error?.message ?? String(error));
    }
    const {llama} = peer;
    for (const [jobIndex, job] of options.models.entries()) {
        const model = await llama.loadModel({modelPath: path.resolve(job.path), gpuLayers: 0});
        let nVocab = null;
        const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
        const promptTokens = job.prompts.map((prompt) => {
            const tokens = [...(bos != null ? [bos] : []), ...model.tokenize(prompt, false)];
            if (tokens.length === 0) throw new Error(`prompt ${JSON.stringify(prompt)} has no tokens`);
            return tokens;
        });
        const longestPrompt = Math.max(...promptTokens.map((tokens) => tokens.length));
        const contextSize = Math.max(64, longestPrompt + options.generate + 8);
        // Each prompt alone in a fresh context (one sequence): with several sequences llama.cpp cuts a batch into
        // equal per-sequence sub-batches, which decides which of its kernels each token goes through.
        const newContext = () => model.createContext({
            contextSize,
            batchSize: contextSize,
            sequences: 1,
            threads: options.threads,
            flashAttention: options.flashAttention
        });
        const logitsFile = options.logitsDir == null ? null : path.join(options.logitsDir, `logits-${jobIndex}.f32`);
        const out = logitsFile == null ? null : fs.openSync(logitsFile, "w");
        const results = [];
        for (const [index, prompt] of job.prompts.entries()) {
            let context = await newContext();
            const greedy = await greedyTokens(context.getSequence(), promptTokens[index], options.generate);
            await context.dispose();
            if (out != null) {
                context = await newContext();
                const forcedPath = job.paths?.[index] ?? greedy;
                const forced = await forcedLogits(context.getSequence(), promptTokens[index], forcedPath, options.positions);
                await context.dispose();
                if (nVocab != null && forced.nVocab !== nVocab) throw new Error("the vocabulary size changed between prompts");
                nVocab = forced.nVocab;
                const rows = forced.rows;
                fs.writeSync(out, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
            }
            results.push({
                prompt,
                prompt_tokens: promptTokens[index],
                greedy,
                greedy_text: model.detokenize(greedy, false, promptTokens[index])
            });
        }
        if (out != null) fs.closeSync(out);
        const result = {
            model: job.path,
            peer: `node-llama-cpp ${peer.version}`,
            variant: peer.variant,
            library: peer.library,
            features: peer.features,
            n_vocab: nVocab,
            positions: options.positions,
            flash_attention: options.flashAttention,
            logits: logitsFile,
            results
        };
        await model.dispose();
        await new Promise((resolve) => process.stdout.write(JSON.stringify(result) + "\n", resolve));
    }
    await llama.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
