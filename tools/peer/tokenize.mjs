#!/usr/bin/env node
// What llama.cpp (the peer, through node-llama-cpp) makes of texts with a vocabulary: token ids, and the text
// detokenized back, as JSON for Hearth's tokenizer conformance tests.
//
//   node tools/peer/tokenize.mjs VOCAB.gguf TEXT [--special]    one text; prints its ids space-separated
//   node tools/peer/tokenize.mjs --jobs JOBS.json               many vocabularies and texts in one process
//
// JOBS.json: {"jobs": [{"model": "a.gguf", "texts": ["...", ...], "special": false,
//                        "special_texts": ["...", ...]}, ...]}              ("special", "special_texts" optional)
// Output:    {"results": [{"ids": [[...], ...], "detokenized": ["...", ...], "special_ids": [[...], ...]}, ...]}
//            (one per job, in order; "special_ids" when the job has "special_texts")
//
// Ids are llama.cpp's tokenization without BOS/EOS; "special": true parses special-token text (e.g. "<s>")
// into those tokens; "special_texts" are always tokenized that way. "detokenized" is llama.cpp's
// detokenization of "ids" with special tokens hidden.
// Vocabulary-only GGUF files are enough: models are loaded with vocabOnly.
import fs from "node:fs";
import process from "node:process";

import {getLlama} from "node-llama-cpp";

const usage = "usage: tokenize.mjs VOCAB.gguf TEXT [--special]\n       tokenize.mjs --jobs JOBS.json";

function fail(message) {
    process.stderr.write(`tokenize.mjs: ${message}\n`);
    process.exit(1);
}

function parseArguments(argv) {
    const positional = [];
    let jobsPath = null;
    let special = false;
    for (let i = 0; i < argv.length; i++) {
        const argument = argv[i];
        if (argument === "--jobs") {
            if (i + 1 >= argv.length) fail(`--jobs needs a file\n${usage}`);
            jobsPath = argv[++i];
        } else if (argument === "--special") special = true;
        else if (argument === "--help" || argument === "-h") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        } else if (argument.startsWith("--")) fail(`unknown option ${argument}\n${usage}`);
        else positional.push(argument);
    }
    if (jobsPath != null) {
        if (positional.length !== 0) fail(usage);
        let request;
        try {
            request = JSON.parse(fs.readFileSync(jobsPath, "utf8"));
        } catch (error) {
            fail(`cannot read ${jobsPath}: ${error.message}`);
        }
        if (!Array.isArray(request.jobs)) fail(`${jobsPath} has no "jobs" array`);
        return {jobs: request.jobs, single: false};
    }
    if (positional.length !== 2) fail(usage);
    return {jobs: [{model: positional[0], texts: [positional[1]], special}], single: true};
}

const {jobs, single} = parseArguments(process.argv.slice(2));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const results = [];
for (const job of jobs) {
    if (typeof job.model !== "string" || !Array.isArray(job.texts)) fail("each job needs a \"model\" and \"texts\"");
    const model = await llama.loadModel({modelPath: job.model, vocabOnly: true});
    const ids = job.texts.map((text) => Array.from(model.tokenize(text, job.special === true)));
    const detokenized = ids.map((tokens) => model.detokenize(tokens, false));
    const result = {ids, detokenized};
    if (Array.isArray(job.special_texts)) {
        result.special_ids = job.special_texts.map((text) => Array.from(model.tokenize(text, true)));
    }
    results.push(result);
    await model.dispose();
}
if (single) process.stdout.write(results[0].ids[0].join(" ") + "\n");
else process.stdout.write(JSON.stringify({results}) + "\n");
await llama.dispose();
