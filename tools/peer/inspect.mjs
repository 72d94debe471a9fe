#!/usr/bin/env node
// What llama.cpp (the peer, through node-llama-cpp) makes of a GGUF model: its header as llama.cpp's GGUF
// reader sees it, and whether llama.cpp loads it (and, with --eval, runs it), as JSON on stdout.
//
//   node tools/peer/inspect.mjs MODEL.gguf... [--no-load] [--eval N]
//
// Output, one line per model in argument order: {"architecture": "llama", "tensorCount": 147, "fileType": 15,
//          "loaded": true, "typeDescription": "llama 1B Q4_K - Medium", "trainContextSize": 131072,
//          "generated": [ids...]}
// --no-load reads the header only ("loaded" is false, no type description). --eval N greedily generates N tokens
// from the BOS token, which runs llama.cpp's forward pass over every weight. Any failure: a message on stderr,
// exit 1.
import process from "node:process";

import {getLlama, readGgufFileInfo, LlamaCompletion} from "node-llama-cpp";

const usage = "usage: inspect.mjs MODEL.gguf... [--no-load] [--eval N]";

function fail(message) {
    process.stderr.write(`inspect.mjs: ${message}\n`);
    process.exit(1);
}

function parseArguments(argv) {
    const options = {paths: [], load: true, evalTokens: 0};
    for (let i = 0; i < argv.length; i++) {
        const argument = argv[i];
        if (argument === "--no-load") options.load = false;
        else if (argument === "--eval") {
            const count = Number(argv[++i]);
            if (!Number.isInteger(count) || count < 1) fail(`--eval needs a positive token count\n${usage}`);
            options.evalTokens = count;
        } else if (argument === "--help" || argument === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        } else if (argument.startsWith("--")) fail(`unknown option ${argument}\n${usage}`);
        else options.paths.push(argument);
    }
    if (options.paths.length === 0) fail(usage);
    if (options.evalTokens > 0 && !options.load) fail("--eval needs the model loaded");
    return options;
}

const options = parseArguments(process.argv.slice(2));
const llama = options.load ? await getLlama({gpu: false, build: "never", logLevel: "error"}) : null;
for (const path of options.paths) process.stdout.write(JSON.stringify(await inspect(path)) + "\n");
if (llama != null) await llama.dispose();

async function inspect(path) {
    const result = {};
    try {
        const info = await readGgufFileInfo(path, {logWarnings: false, ignoreKeys: ["tokenizer.ggml.merges"]});
        const general = info.metadata?.general ?? {};
        result.architecture = general.architecture ?? null;
        result.tensorCount = Number(info.tensorCount);
        result.fileType = general.file_type ?? null;
    } catch (error) {
        fail(`cannot read ${path}: ${error.message}`);
    }
    result.loaded = false;
    if (llama == null) return result;
    let model;
    try {
        model = await llama.loadModel({modelPath: path, gpuLayers: 0});
    } catch (error) {
        fail(`llama.cpp cannot load ${path}: ${error.message}`);
    }
    result.loaded = true;
    result.typeDescription = model.typeDescription;
    result.trainContextSize = model.trainContextSize;
    if (options.evalTokens > 0) {
        try {
            const context = await model.createContext({contextSize: 64, batchSize: 16, threads: 1});
            const completion = new LlamaCompletion({contextSequence: context.getSequence()});
            const bos = model.tokens.bos;
            const generated = [];
            await completion.generateCompletion(bos != null ? [bos] : model.tokenize("The"), {
                maxTokens: options.evalTokens,
                temperature: 0,
                onToken: (tokens) => generated.push(...tokens)
            });
            result.generated = generated.map(Number);
            await context.dispose();
        } catch (error) {
            fail(`llama.cpp cannot run ${path}: ${error.message}`);
        }
    }
    await model.dispose();
    return result;
}
