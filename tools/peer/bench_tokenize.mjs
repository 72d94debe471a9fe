#!/usr/bin/env node
// The peer's (llama.cpp through node-llama-cpp) tokenizer throughput, for bench/bench_tokenizer.cpp.
//
//   node tools/peer/bench_tokenize.mjs TEXT_FILE VOCAB.gguf... [--repeat N]
//
// Tokenizes the whole file (UTF-8) with each vocabulary N times (3), without BOS and without parsing special
// tokens, and prints one JSON object: {"results": [{"model", "bytes", "tokens", "checksum", "seconds"}]},
// seconds being the fastest run. checksum is FNV-1a over the ids (as little-endian uint32), so a caller can
// check it produced the same ids.
import fs from "node:fs";
import process from "node:process";

import {getLlama} from "node-llama-cpp";

function fail(message) {
    process.stderr.write(`bench_tokenize.mjs: ${message}\n`);
    process.exit(1);
}

const positional = [];
let repeat = 3;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--repeat") {
        repeat = Number(argv[++i]);
        if (!Number.isInteger(repeat) || repeat < 1) fail("--repeat needs a positive integer");
    } else if (argv[i].startsWith("--")) fail(`unknown option ${argv[i]}`);
    else positional.push(argv[i]);
}
if (positional.length < 2) fail("usage: bench_tokenize.mjs TEXT_FILE VOCAB.gguf... [--repeat N]");

const bytes = fs.readFileSync(positional[0]);
const text = bytes.toString("utf8");

function checksum(ids) {
    let hash = 0x811c9dc5;
    for (const id of ids) {
        for (let shift = 0; shift < 32; shift += 8) {
            hash ^= (id >>> shift) & 0xff;
            hash = Math.imul(hash, 0x01000193) >>> 0;
        }
    }
    return hash >>> 0;
}

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const results = [];
for (const modelPath of positional.slice(1)) {
    const model = await llama.loadModel({modelPath, vocabOnly: true});
    let best = Infinity;
    let ids = [];
    for (let run = 0; run < repeat; run++) {
        const start = process.hrtime.bigint();
        ids = model.tokenize(text, false);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        best = Math.min(best, seconds);
    }
    results.push({model: modelPath, bytes: bytes.length, tokens: ids.length, checksum: checksum(ids), seconds: best});
    await model.dispose();
}
process.stdout.write(JSON.stringify({results}) + "\n");
await llama.dispose();
