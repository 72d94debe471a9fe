// Loading the peer (node-llama-cpp) with one chosen CPU variant of llama.cpp, and reading back which one it loaded.
//
// node-llama-cpp's prebuilt package ships one llama.cpp CPU library per x86 variant (libggml-cpu-haswell.so,
// -skylakex, -icelake, -zen4, -sapphirerapids, ...) and ggml loads the one that scores best on this CPU. To run
// another, `loadPeer({variant})` gives node-llama-cpp a private bins folder holding symbolic links to every file
// of the real one except the other CPU variants, so that ggml's choice among what it finds is the chosen library.
// The folder is handed over by resolving node-llama-cpp's own import of its prebuilt-binaries package
// (@node-llama-cpp/linux-x64, whose only export is getBinsDir) to a generated module that names that folder.
//
// Which library ran is never guessed: ggml logs "load_backend: loaded CPU backend from PATH" when it loads it,
// and `loadedVariant` reads the variant's name from that line.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {register} from "node:module";
import {pathToFileURL} from "node:url";

const here = path.dirname(new URL(import.meta.url).pathname);
const prebuiltPackage = "@node-llama-cpp/linux-x64";
const prebuiltDir = path.join(here, "node_modules", "@node-llama-cpp", "linux-x64");
const binsDir = path.join(prebuiltDir, "bins", "linux-x64");
const variantPattern = /^libggml-cpu-(.+)\.so$/;

// The CPU variants the installed peer ships (not all of them run on every CPU).
export function shippedVariants() {
    if (!fs.existsSync(binsDir)) return [];
    return fs.readdirSync(binsDir).map((name) => variantPattern.exec(name)?.[1]).filter((name) => name != null).sort();
}

// A bins folder with only `variant` among the CPU libraries, and a module pointing node-llama-cpp at it; removed
// when the process exits.
function prepareVariant(variant) {
    const variants = shippedVariants();
    if (!variants.includes(variant))
        throw new Error(`the peer ships no CPU variant "${variant}"; it has: ${variants.join(", ")}`);
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), `hearth-peer-${variant}-`));
    process.on("exit", () => fs.rmSync(folder, {recursive: true, force: true}));
    // The same layout as the real package: bins/<platform folder>/.
    const bins = path.join(folder, "bins");
    const platformBins = path.join(bins, path.basename(binsDir));
    fs.mkdirSync(platformBins, {recursive: true});
    for (const name of fs.readdirSync(binsDir)) {
        const match = variantPattern.exec(name);
        if (match != null && match[1] !== variant) continue;
        fs.symlinkSync(path.join(binsDir, name), path.join(platformBins, name));
    }
    const packageVersion = JSON.parse(fs.readFileSync(path.join(prebuiltDir, "package.json"), "utf8")).version;
    const module = path.join(folder, "bins.mjs");
    fs.writeFileSync(module, `export function getBinsDir() { return ${JSON.stringify({binsDir: bins, packageVersion})}; }\n`);
    return pathToFileURL(module).href;
}

// Imports node-llama-cpp, with the chosen CPU variant when `variant` is given (else ggml picks as usual).
export async function importPeer({variant} = {}) {
    if (variant != null) {
        const target = prepareVariant(variant);
        const hook = `export async function resolve(specifier, context, next) {
            return specifier === ${JSON.stringify(prebuiltPackage)} ? {url: ${JSON.stringify(target)}, shortCircuit: true}
                                                                     : next(specifier, context);
        }`;
        register(`data:text/javascript,${encodeURIComponent(hook)}`);
    }
    const packageDir = path.join(here, "node_modules", "node-llama-cpp");
    try {
        const module = await import(pathToFileURL(path.join(packageDir, "dist", "index.js")).href);
        const version = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")).version;
        return {module, version};
    } catch (error) {
        throw new Error(`the peer (node-llama-cpp) is not installed in ${here}/node_modules: run scripts/setup (${error.message})`);
    }
}

// getLlama with a logger that catches ggml's report of the CPU library it loaded. Resolves to
// {llama, variant, library, features}: the variant's name and file from that report, and llama.cpp's own list of
// the instruction sets the loaded library uses (its system info).
export async function loadLlama(peerModule, options) {
    const lines = [];
    const llama = await peerModule.getLlama({
        ...options,
        gpu: false,
        build: "never",
        logLevel: "debug",
        logger: (level, message) => {
            if (level === "error" || level === "fatal") process.stderr.write(`peer: ${message}\n`);
            else if (/load_backend/.test(message)) lines.push(message);
        }
    });
    // The addon hands log lines over asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const loaded = lines.map((line) => /loaded CPU backend from (\S+)/.exec(line)?.[1]).find((file) => file != null);
    if (loaded == null) throw new Error(`the peer did not report which CPU library it loaded (${lines.join(" | ")})`);
    const variant = variantPattern.exec(path.basename(loaded))?.[1] ?? path.basename(loaded);
    const features = llama.systemInfo.split("|").map((item) => item.trim()).filter((item) => /= 1$/.test(item))
        .map((item) => item.replace(/^CPU : /, "").replace(/ = 1$/, ""));
    return {llama, variant, library: loaded, features};
}
