#!/usr/bin/env node
// Prefill-only llama.cpp run for bench/prefill_memory.py: loads a GGUF with
// node-llama-cpp's pinned prebuilt CPU build (tests/llamacpp/node_modules),
// creates a context of --context tokens, evaluates the prompt (no generation)
// and prints one JSON line on stdout:
//
//   {"tokens": N, "context": C, "context_actual": C', "batch": B,
//    "flash_attention": true|false, "kv_type": "f32", "threads": T,
//    "load_s": ..., "context_s": ..., "prefill_s": ..., "prefill_tok_s": ...}
//
//   node bench/llamacpp_prefill.mjs MODEL.gguf --tokens-file FILE | --n-tokens 0
//        [--context C] [--batch B] [--threads T] [--flash-attn auto|on|off]
//        [--kv-type f32|f16]
//
// --tokens-file holds whitespace-separated token ids. --n-tokens 0 loads the
// model and creates the context but evaluates nothing: run it under
// /usr/bin/time to get the baseline RSS (Node.js + llama.cpp + weights + KV
// cache) that the prompt's evaluation adds to. Timing covers only
// evaluateWithoutGeneratingNewTokens (the prompt, in batches of --batch
// tokens, llama.cpp's n_ubatch = n_batch as node-llama-cpp sets it).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const USAGE = "usage: llamacpp_prefill.mjs MODEL.gguf (--tokens-file FILE | --n-tokens 0) [--context C] " +
    "[--batch B] [--threads T] [--flash-attn auto|on|off] [--kv-type f32|f16]";

function fail(message, code = 1) {
  process.stderr.write(`llamacpp_prefill: ${message}\n`);
  process.exit(code);
}

const args = { model: null, tokensFile: null, nTokens: null, context: 0, batch: 512, threads: 2,
               flash: "on", kvType: "f32" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; ++i) {
  const a = argv[i];
  const next = () => {
    if (i + 1 >= argv.length) fail(`${a} needs a value\n${USAGE}`, 2);
    return argv[++i];
  };
  const int = (v) => {
    if (!/^\d+$/.test(v)) fail(`${a} needs a non-negative integer, got '${v}'\n${USAGE}`, 2);
    return Number(v);
  };
  switch (a) {
    case "--tokens-file": args.tokensFile = next(); break;
    case "--n-tokens": args.nTokens = int(next()); break;
    case "--context": args.context = int(next()); break;
    case "--batch": args.batch = Math.max(1, int(next())); break;
    case "--threads": args.threads = Math.max(1, int(next())); break;
    case "--flash-attn": {
      const v = next();
      if (!["auto", "on", "off"].includes(v)) fail(`--flash-attn is auto, on or off, got '${v}'`, 2);
      args.flash = v;
      break;
    }
    case "--kv-type": {
      const v = next();
      if (v !== "f32" && v !== "f16") fail(`--kv-type is f32 or f16, got '${v}'`, 2);
      args.kvType = v;
      break;
    }
    case "-h": case "--help": process.stdout.write(USAGE + "\n"); process.exit(0);
    default:
      if (a.startsWith("-") || args.model !== null) fail(`unexpected argument '${a}'\n${USAGE}`, 2);
      args.model = a;
  }
}
if (args.model === null) fail(`no model given\n${USAGE}`, 2);
if ((args.tokensFile === null) === (args.nTokens === null)) fail(`give one of --tokens-file and --n-tokens\n${USAGE}`, 2);
if (args.nTokens !== null && args.nTokens !== 0) fail("--n-tokens only takes 0 (the baseline run)", 2);

let tokens = [];
if (args.tokensFile !== null) {
  let text;
  try { text = fs.readFileSync(args.tokensFile, "utf8"); } catch (e) { fail(`${args.tokensFile}: ${e.message}`); }
  tokens = text.split(/[\s,]+/).filter((s) => s !== "").map((s) => {
    if (!/^\d+$/.test(s)) fail(`${args.tokensFile}: '${s}' is not a token id`);
    return Number(s);
  });
  if (tokens.length === 0) fail(`${args.tokensFile}: no token ids`);
}

// node-llama-cpp lives in tests/llamacpp/node_modules (npm ci --prefix tests/llamacpp).
let nlc;
try {
  const require = createRequire(path.join(here, "..", "tests", "llamacpp", "package.json"));
  nlc = await import(require.resolve("node-llama-cpp"));
} catch (e) {
  fail(`cannot import node-llama-cpp (${e.message}); install it with: npm ci --prefix tests/llamacpp`);
}
const { getLlama, LlamaLogLevel } = nlc;
const log = [];
const logger = (level, message) => {
  log.push(`[${level}] ${String(message).replace(/\n$/, "")}`);
  if (process.env.RUN_LLAMACPP_VERBOSE === "1") process.stderr.write(`llama.cpp [${level}] ${message}`);
};
const tail = () => log.filter((l) => /^\[(error|fatal|warn)\]/.test(l)).slice(-10).join("\n");
const now = () => Number(process.hrtime.bigint()) / 1e9;

const t0 = now();
let llama, model, context;
try {
  llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                           progressLogs: false, logLevel: LlamaLogLevel.info, logger, maxThreads: args.threads });
  model = await llama.loadModel({ modelPath: path.resolve(args.model), gpuLayers: 0, useMmap: true });
} catch (e) {
  fail(`cannot load ${args.model} in llama.cpp: ${e.message}\n${tail()}`);
}
const t1 = now();
const contextSize = Math.max(args.context, tokens.length, 32);
const kv = args.kvType.toUpperCase();
try {
  context = await model.createContext({
    contextSize,
    batchSize: Math.min(args.batch, contextSize),
    threads: { ideal: args.threads, min: args.threads },
    sequences: 1,
    flashAttention: args.flash === "auto" ? "auto" : args.flash === "on",
    experimentalKvCacheKeyType: kv,
    experimentalKvCacheValueType: kv,
  });
} catch (e) {
  fail(`cannot create a ${contextSize}-token context: ${e.message}\n${tail()}`);
}
const t2 = now();
const seq = context.getSequence();
let prefill = 0;
if (tokens.length > 0) {
  try {
    await seq.evaluateWithoutGeneratingNewTokens(tokens);
  } catch (e) {
    fail(`evaluating ${tokens.length} tokens failed: ${e.message}\n${tail()}`);
  }
  prefill = now() - t2;
}
const result = {
  tokens: tokens.length, context: contextSize, context_actual: context.contextSize,
  batch: context.batchSize, flash_attention: context.flashAttention, kv_type: args.kvType,
  threads: args.threads, load_s: t1 - t0, context_s: t2 - t1, prefill_s: prefill,
  prefill_tok_s: prefill > 0 ? tokens.length / prefill : 0,
};
process.stdout.write(JSON.stringify(result) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
