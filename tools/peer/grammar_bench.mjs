#!/usr/bin/env node
// What the peer's grammar sampler (llama.cpp through node-llama-cpp) adds to each generated token: generations
// under a JSON schema's grammar (node-llama-cpp's own schema-to-GBNF) or a GBNF file, against generations of the
// same length without one, same model, same sampling (temperature 1, seeded). bench_grammar runs it to print the
// peer beside Hearth.
//
//   node tools/peer/grammar_bench.mjs -m MODEL.gguf (--schema FILE.json | --gbnf FILE.gbnf) [-n TOKENS] [-r RUNS] [-t THREADS]
//
// Prints one JSON object: tokens (generated under the grammar, all runs), constrained_ms_per_token,
// free_ms_per_token, overhead_ms_per_token (their difference), variant.
import fs from "node:fs";
import process from "node:process";

import {importPeer, loadLlama} from "./variant.mjs";

function fail(message, exitCode = 1) {
    process.stderr.write(`grammar_bench.mjs: ${message}\n`);
    process.exit(exitCode);
}

function parseArguments(argv) {
    const options = {n: 300, r: 3, t: 2};
    for (let i = 0; i < argv.length; i += 2) {
        const key = {"-m": "model", "--schema": "schema", "--gbnf": "gbnf", "-n": "n", "-r": "r", "-t": "t"}[argv[i]];
        if (key == null || argv[i + 1] == null) fail(`unknown or incomplete option '${argv[i]}'`, 2);
        options[key] = ["n", "r", "t"].includes(key) ? Number(argv[i + 1]) : argv[i + 1];
    }
    if (options.model == null || (options.schema == null) === (options.gbnf == null))
        fail("usage: grammar_bench.mjs -m MODEL.gguf (--schema FILE | --gbnf FILE) [-n TOKENS] [-r RUNS] [-t THREADS]", 2);
    return options;
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    const {module} = await importPeer();
    const {llama, variant} = await loadLlama(module, {maxThreads: 0});
    const model = await llama.loadModel({modelPath: options.model, gpuLayers: 0});
    const grammar = options.schema != null
        ? await llama.createGrammarForJsonSchema(JSON.parse(fs.readFileSync(options.schema, "utf8")))
        : await llama.createGrammar({grammar: fs.readFileSync(options.gbnf, "utf8")});
    const context = await model.createContext({contextSize: options.n + 8, sequences: 1, threads: options.t});
    const sequence = context.getSequence();
    const prompt = [model.tokens.bos ?? 0];

    // Up to `limit` tokens from the prompt; the time and the count.
    const generate = async (limit, seed, grammarEvaluationState) => {
        await sequence.clearHistory();
        let count = 0;
        const start = process.hrtime.bigint();
        for await (const token of sequence.evaluate(prompt, {temperature: 1, seed, grammarEvaluationState})) {
            if (model.isEogToken(token) || ++count >= limit) break;
        }
        return {count, ms: Number(process.hrtime.bigint() - start) / 1e6};
    };
    await generate(8, 0);  // warm-up
    let constrained = {count: 0, ms: 0};
    let free = {count: 0, ms: 0};
    for (let run = 1; run <= options.r; run++) {
        const state = new module.LlamaGrammarEvaluationState({model, grammar});
        const one = await generate(options.n, run, state);
        const other = await generate(Math.max(one.count, 1), run);
        constrained = {count: constrained.count + one.count, ms: constrained.ms + one.ms};
        free = {count: free.count + other.count, ms: free.ms + other.ms};
    }
    const constrainedPerToken = constrained.ms / Math.max(constrained.count, 1);
    const freePerToken = free.ms / Math.max(free.count, 1);
    process.stdout.write(JSON.stringify({
        tokens: constrained.count, constrained_ms_per_token: constrainedPerToken, free_ms_per_token: freePerToken,
        overhead_ms_per_token: constrainedPerToken - freePerToken, variant
    }) + "\n");
    await context.dispose();
    await model.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
