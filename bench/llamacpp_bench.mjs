#!/usr/bin/env node
// llama-bench-style prefill and decode timing of a GGUF in llama.cpp, through
// the pinned node-llama-cpp of tests/llamacpp (its prebuilt CPU build; never a
// download or a source build). It times what `tessel bench` times:
//
//   pp N   one evaluation of N prompt tokens in a single batch (n_batch =
//          n_ubatch = the largest N), on an empty KV cache; no logits asked
//   tg N   N single-token decode steps after a prompt of --tg-prompt tokens
//          (evaluated untimed first): each step evaluates one token, computes
//          its logits and picks the next token greedily (temperature 0), as
//          `tessel bench` decodes after its -p prompt
//
// each the median of --reps timed runs after one untimed warm-up run, with a
// fixed random prompt (ids below the vocabulary size, seeded). Prints one JSON
// line:
//   {"model", "threads", "flash_attention", "kv_type", "batch", "context",
//    "reps", "load_s", "results": [{"test": "pp128", "n_prompt", "n_gen",
//    "tok_s", "runs": [...]}, ...]}
//
//   node bench/llamacpp_bench.mjs MODEL.gguf [--pp 128,512] [--tg 128] [--tg-prompt 128]
//        [--reps 3] [--threads 2] [--flash-attn on|off|auto] [--kv-type f32|f16] [--seed 1]
//
// --pp "" or --tg 0 skips that test. Defaults: flash attention on (what
// llama.cpp's "auto" picks on CPU), f32 KV cache (Tessel's; llama-bench's
// default is f16). Exit status: 0 success, 1 a llama.cpp failure, 2 bad usage.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { openLlamaCpp } = await import(
    pathToFileURL(path.join(here, "..", "tests", "llamacpp", "llamacpp_common.mjs")).href);

const USAGE = "usage: node bench/llamacpp_bench.mjs MODEL.gguf [--pp 128,512] [--tg 128] [--tg-prompt 128] " +
    "[--reps 3] [--threads 2] [--flash-attn on|off|auto] [--kv-type f32|f16] [--seed 1]";

function fail(message, code = 1) {
  process.stderr.write(`llamacpp_bench: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const a = { model: null, pp: [128, 512], tg: 128, tgPrompt: 128, reps: 3, threads: 2, flash: "on",
              kvType: "f32", seed: 1 };
  const int = (name, v, min = 0) => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min) fail(`${name} needs an integer >= ${min}, got '${v ?? ""}'\n${USAGE}`, 2);
    return Number(v);
  };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const next = () => argv[++i];
    switch (arg) {
      case "--pp": {
        const v = next();
        if (v === undefined) fail(`--pp needs a list such as 128,512\n${USAGE}`, 2);
        a.pp = v.split(/[,\s]+/).filter((s) => s !== "").map((s) => int("--pp", s, 1));
        break;
      }
      case "--tg": a.tg = int("--tg", next()); break;
      case "--tg-prompt": a.tgPrompt = int("--tg-prompt", next(), 1); break;
      case "--reps": a.reps = int("--reps", next(), 1); break;
      case "--threads": a.threads = int("--threads", next(), 1); break;
      case "--seed": a.seed = int("--seed", next()); break;
      case "--flash-attn": {
        const v = next();
        if (!["on", "off", "auto"].includes(v)) fail(`--flash-attn is on, off or auto, got '${v ?? ""}'`, 2);
        a.flash = v;
        break;
      }
      case "--kv-type": {
        const v = next();
        if (v !== "f32" && v !== "f16") fail(`--kv-type is f32 or f16, got '${v ?? ""}'`, 2);
        a.kvType = v;
        break;
      }
      case "-h": case "--help": process.stdout.write(USAGE + "\n"); process.exit(0);
      default:
        if (arg.startsWith("-") || a.model !== null) fail(`unexpected argument '${arg}'\n${USAGE}`, 2);
        a.model = arg;
    }
  }
  if (a.model === null) fail(`no model given\n${USAGE}`, 2);
  if (a.pp.length === 0 && a.tg === 0) fail("nothing to run (--pp is empty and --tg is 0)", 2);
  return a;
}

const args = parseArgs(process.argv.slice(2));
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const t0 = now();
const { llama, model, llamaLog } = await openLlamaCpp({ model: args.model, threads: args.threads, fail });
const loadS = now() - t0;

// A fixed pseudo-random prompt (xorshift32), ids below the vocabulary size.
const nVocab = model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length;
if (!(nVocab > 0)) fail(`${args.model}: no tokenizer.ggml.tokens, cannot size a random prompt`);
let state = (args.seed * 2654435761 + 12345) >>> 0 || 1;
const rand = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state;
};
const longest = Math.max(0, ...args.pp, args.tg > 0 ? args.tgPrompt : 0);
const prompt = Array.from({ length: longest }, () => rand() % nVocab);

const batch = Math.max(1, ...args.pp, args.tg > 0 ? Math.min(args.tgPrompt, 512) : 1);
const contextSize = Math.max(...args.pp, args.tg > 0 ? args.tgPrompt + args.tg + 1 : 0, 32);
const kv = args.kvType.toUpperCase();
let context;
try {
  context = await model.createContext({
    contextSize, batchSize: batch, sequences: 1,
    threads: { ideal: args.threads, min: args.threads },
    flashAttention: args.flash === "auto" ? "auto" : args.flash === "on",
    experimentalKvCacheKeyType: kv,
    experimentalKvCacheValueType: kv,
  });
} catch (e) {
  fail(`llama.cpp could not create a ${contextSize}-token context for ${args.model}: ${e.message}\n${llamaLog()}`);
}
const seq = context.getSequence();

async function timePrefill(n) {
  await seq.clearHistory();
  const t = now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, n));
  return n / (now() - t);
}

async function timeDecode(n) {
  await seq.clearHistory();
  const p = prompt.slice(0, args.tgPrompt);
  await seq.evaluateWithoutGeneratingNewTokens(p.slice(0, -1));
  // The last prompt token is the first decode step's input; each step then
  // evaluates the token the step before picked.
  const it = seq.evaluate([p[p.length - 1]], { temperature: 0, yieldEogToken: true });
  let got = 0;
  const t = now();
  while (got < n) {
    const r = await it.next();
    if (r.done) break;
    ++got;
  }
  const dt = now() - t;
  await it.return();
  if (got < n) fail(`decode stopped after ${got} of ${n} tokens\n${llamaLog()}`);
  return n / dt;
}

const results = [];
async function measure(test, nPrompt, nGen, once) {
  const runs = [];
  try {
    for (let r = 0; r <= args.reps; ++r) {
      const rate = await once();
      if (r > 0) runs.push(rate); // run 0 warms caches and pages the weights in
    }
  } catch (e) {
    fail(`${test} failed: ${e.message}\n${llamaLog()}`);
  }
  results.push({ test, n_prompt: nPrompt, n_gen: nGen, tok_s: median(runs), runs });
}

for (const n of args.pp) await measure(`pp${n}`, n, 0, () => timePrefill(n));
if (args.tg > 0) await measure(`tg${args.tg}`, args.tgPrompt, args.tg, () => timeDecode(args.tg));

process.stdout.write(JSON.stringify({
  model: args.model, architecture: model.fileInfo?.metadata?.general?.architecture ?? null,
  threads: args.threads, flash_attention: context.flashAttention, kv_type: args.kvType, batch: context.batchSize,
  context: context.contextSize, reps: args.reps, load_s: loadS, results,
}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
