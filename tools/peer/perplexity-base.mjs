#!/usr/bin/env node
// llama.cpp's next-token distributions over a text, saved as llama.cpp's perplexity tool saves them
// (`llama-perplexity --kl-divergence-base FILE`), so that `hearth perplexity --kl-divergence-base FILE
// --kl-divergence` compares Hearth's distributions with the peer's on the same file and text.
//
//   node tools/peer/perplexity-base.mjs MODEL.gguf TEXT OUT [-c N_CTX (512)] [--chunks K (all)] [--threads T]
//                                       [--variant NAME]
//
// The method is llama-perplexity's: tokenize the whole text (BOS first when the vocabulary asks for it), cut it
// into chunks of N_CTX tokens, make each chunk's first token BOS, evaluate each chunk alone in a fresh context,
// and keep the distributions of the second half (positions N_CTX/2 .. N_CTX-2, each predicting the next token).
// The file (docs/architecture.md describes it): "_logits_", int32 n_ctx, n_vocab, n_chunk, the n_chunk * n_ctx
// tokens as int32, then per scored position 2*((n_vocab+1)/2)+4 uint16: float32 scale and float32 min_log_prob,
// then each token's log-probability as round((logit - min_logit) / scale), min_logit = max(min, max - 16).
// Prints the perplexity of the scored positions to stdout, as llama.cpp's final estimate line.
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

import {importPeer, loadLlama} from "./variant.mjs";

const usage = "usage: perplexity-base.mjs MODEL.gguf TEXT OUT [-c N_CTX] [--chunks K] [--threads T] [--variant NAME]";

function fail(message) {
    process.stderr.write(`perplexity-base.mjs: ${message}\n`);
    process.exit(1);
}

function parseArguments(argv) {
    const options = {nCtx: 512, chunks: -1, threads: 0};
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const argument = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) fail(`${argument} needs a value\n${usage}`);
            return argv[++i];
        };
        if (argument === "-c" || argument === "--ctx-size") options.nCtx = Number(value());
        else if (argument === "--chunks") options.chunks = Number(value());
        else if (argument === "--threads") options.threads = Number(value());
        else if (argument === "--variant") options.variant = value();
        else if (argument.startsWith("-")) fail(`unknown option ${argument}\n${usage}`);
        else positional.push(argument);
    }
    if (positional.length !== 3) fail(usage);
    [options.model, options.text, options.out] = positional;
    if (!Number.isInteger(options.nCtx) || options.nCtx < 4) fail("-c must be an integer of at least 4");
    if (!Number.isInteger(options.chunks)) fail("--chunks must be an integer");
    return options;
}

// One position's record, with llama.cpp's float32 arithmetic (Math.fround at each step it rounds). Returns
// log(sum exp(logit)), the normalizer of the log-probabilities.
function encodeRecord(logits, record) {
    const f = Math.fround;
    let maxLogit = logits[0];
    let minLogit = logits[0];
    for (let i = 1; i < logits.length; i++) {
        if (logits[i] > maxLogit) maxLogit = logits[i];
        if (logits[i] < minLogit) minLogit = logits[i];
    }
    minLogit = Math.max(minLogit, f(maxLogit - 16));
    let sumExp = 0;
    for (let i = 0; i < logits.length; i++) sumExp += f(Math.exp(f(logits[i] - maxLogit)));
    const logSumExp = f(Math.log(sumExp));
    const minLogProb = f(f(minLogit - maxLogit) - logSumExp);
    const scale = f(f(maxLogit - minLogit) / 65535);
    new Float32Array(record.buffer, record.byteOffset, 2).set([scale, minLogProb]);
    const values = record.subarray(4, 4 + logits.length);
    if (scale === 0) {
        values.fill(0);
    } else {
        const inverse = f(1 / scale);
        for (let i = 0; i < logits.length; i++)
            values[i] = logits[i] > minLogit ? Math.round(f(inverse * f(logits[i] - minLogit))) : 0;
    }
    return maxLogit + logSumExp;
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    let text;
    try {
        text = fs.readFileSync(options.text, "utf8");
    } catch (error) {
        fail(`cannot read ${options.text}: ${error.message}`);
    }
    const {module} = await importPeer({variant: options.variant});
    const {llama, variant} = await loadLlama(module, {maxThreads: options.threads});
    const model = await llama.loadModel({modelPath: path.resolve(options.model), gpuLayers: 0});
    const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    const tokens = [...(bos != null ? [bos] : []), ...model.tokenize(text, false)];
    const nCtx = options.nCtx;
    if (tokens.length < 2 * nCtx) fail(`the text has ${tokens.length} tokens; at least 2 * n_ctx = ${2 * nCtx} are needed`);
    const available = Math.floor(tokens.length / nCtx);
    const nChunk = options.chunks < 0 ? available : Math.min(options.chunks, available);
    const first = nCtx >> 1;
    const logitsNext = {generateNext: {token: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1}, logits: true}};

    const out = fs.openSync(options.out, "w");
    let nVocab = null;
    let nll = 0;
    let count = 0;
    for (let chunk = 0; chunk < nChunk; chunk++) {
        const input = tokens.slice(chunk * nCtx, (chunk + 1) * nCtx);
        if (bos != null) input[0] = bos;
        const context = await model.createContext({contextSize: nCtx, batchSize: nCtx, sequences: 1,
            threads: options.threads, flashAttention: false});
        const outputs = await context.getSequence().controlledEvaluate(
            input.map((token, index) => index >= first && index < nCtx - 1 ? [token, logitsNext] : token));
        await context.dispose();
        for (let j = first; j < nCtx - 1; j++) {
            const map = outputs[j]?.next?.logits;
            if (map == null) fail(`the peer returned no logits at chunk ${chunk} position ${j}`);
            if (nVocab == null) {
                nVocab = map.size;
                const header = Buffer.alloc(8 + 12);
                header.write("_logits_", 0, "latin1");
                header.writeInt32LE(nCtx, 8);
                header.writeInt32LE(nVocab, 12);
                header.writeInt32LE(nChunk, 16);
                fs.writeSync(out, header);
                fs.writeSync(out, Buffer.from(Int32Array.from(tokens.slice(0, nChunk * nCtx)).buffer));
            }
            if (map.size !== nVocab) fail(`the peer returned ${map.size} logits, not ${nVocab}`);
            const logits = new Float32Array(nVocab);
            for (const [token, logit] of map) logits[token] = logit;
            const record = new Uint16Array(2 * ((nVocab + 1) >> 1) + 4);
            const normalizer = encodeRecord(logits, record);
            fs.writeSync(out, new Uint8Array(record.buffer));
            nll += normalizer - logits[tokens[chunk * nCtx + j + 1]];  // -log p(next token)
            count++;
        }
    }
    fs.closeSync(out);
    process.stdout.write(`peer ${variant}: ${nChunk} chunks of ${nCtx}, ${count} positions, PPL = ${Math.exp(nll / count).toFixed(4)}\n`);
    await model.dispose();
    await llama.dispose();
}

main().catch((error) => fail(error?.stack ?? String(error)));
