#!/usr/bin/env node
// Runs a GGUF model in llama.cpp (through node-llama-cpp's prebuilt CPU
// binaries) on given token ids and prints what it computed as JSON:
//
//   node tests/llamacpp/run_llamacpp.mjs MODEL.gguf --tokens 1,2,3 [--greedy N] [--all-logits]
//   node tests/llamacpp/run_llamacpp.mjs MODEL.gguf --text "Once upon a time" [--greedy N] ...
//
//   {"model": ..., "n_vocab": V, "tokens": [...], "bos": B, "eos": E,
//    "logits": [[V floats] per position]    (all positions with --all-logits,
//                                             else only the last one),
//    "greedy": [N token ids]}                (greedy continuation of --tokens)
//
// No sampling options, no chat template: token ids in, raw logits
// (llama_get_logits_ith) and argmax tokens out (never stopped by EOS).
// --text instead of --tokens tokenizes with llama.cpp's own tokenizer first,
// as llama-cli does: BOS when the vocabulary asks for it
// (llama_vocab_get_add_bos), then common_tokenize(text, add_special=false,
// parse_special=false); the ids used are in "tokens". CPU only, 2 threads
// (--threads), f32 KV cache (--kv-type f16 for llama.cpp's default), no flash
// attention; nothing is downloaded or built: a missing prebuilt binary is an
// error. Any failure prints "run_llamacpp: ..." (with llama.cpp's own error
// log lines) to stderr and exits non-zero; stdout then stays empty.
import fs from "node:fs";
import path from "node:path";

import { openLlamaCpp } from "./llamacpp_common.mjs";

const USAGE = "usage: run_llamacpp.mjs MODEL.gguf (--tokens 1,2,3 | --text TEXT) [--greedy N] [--all-logits] " +
    "[--threads N] [--context N] [--kv-type f32|f16]";

function fail(message, code = 1) {
  process.stderr.write(`run_llamacpp: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { model: null, tokens: null, text: null, greedy: 0, allLogits: false, threads: 2, context: 0, kvType: "f32" };
  const intArg = (name, v) => {
    if (v === undefined || !/^\d+$/.test(v)) fail(`${name} needs a non-negative integer, got '${v ?? ""}'\n${USAGE}`, 2);
    return Number(v);
  };
  for (let i = 0; i < argv.length; ++i) {
    let a = argv[i];
    let value;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) { value = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => (value !== undefined ? value : argv[++i]);
    switch (a) {
      case "--tokens": {
        const v = next();
        if (v === undefined || !/^\d+(,\d+)*$/.test(v))
          fail(`--tokens needs comma-separated token ids such as 1,2,3, got '${v ?? ""}'\n${USAGE}`, 2);
        args.tokens = v.split(",").map(Number);
        break;
      }
      case "--text": {
        const v = next();
        if (v === undefined || v === "") fail(`--text needs a non-empty text\n${USAGE}`, 2);
        args.text = v;
        break;
      }
      case "--greedy": args.greedy = intArg(a, next()); break;
      case "--threads": args.threads = Math.max(1, intArg(a, next())); break;
      case "--context": args.context = intArg(a, next()); break;
      case "--all-logits": args.allLogits = true; break;
      case "--kv-type": {
        const v = next();
        if (v !== "f32" && v !== "f16") fail(`--kv-type is f32 or f16, got '${v ?? ""}'\n${USAGE}`, 2);
        args.kvType = v;
        break;
      }
      case "-h": case "--help": process.stdout.write(USAGE + "\n"); process.exit(0);
      default:
        if (a.startsWith("-") || args.model !== null) fail(`unexpected argument '${argv[i]}'\n${USAGE}`, 2);
        args.model = a;
    }
  }
  if (args.model === null) fail(`no model given\n${USAGE}`, 2);
  if ((args.tokens === null) === (args.text === null)) fail(`give exactly one of --tokens and --text\n${USAGE}`, 2);
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(args.model);
  if (!fs.existsSync(modelPath)) fail(`${args.model}: no such file`);

  const { llama, model, llamaLog, createContext } =
      await openLlamaCpp({ model: args.model, threads: args.threads, fail });
  if (args.text !== null) {
    // llama-cli's prompt: BOS (if the vocabulary adds it) + the text's tokens.
    const bos = model.tokens.bos;
    args.tokens = [...(bos != null && model.tokens.shouldPrependBosToken ? [bos] : []),
                   ...model.tokenize(args.text, false)];
    if (args.tokens.length === 0) fail(`llama.cpp tokenized --text '${args.text}' to no tokens`);
  }
  const needed = args.tokens.length + args.greedy + 1;
  const contextSize = Math.max(args.context, needed, 32);
  const context = await createContext({ contextSize, batchSize: Math.max(needed, 32), kvType: args.kvType });
  const seq = context.getSequence();

  // One batch for the prompt (logits where asked), then one token at a time.
  // generateNext with temperature 0 = llama.cpp's greedy sampler, whose chain
  // leaves the logits untouched; `logits: true` returns all n_vocab of them.
  const want = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
  const n = args.tokens.length;
  const input = args.tokens.map((t, i) => (args.allLogits || i === n - 1 ? [t, want] : t));
  const nVocabFile = model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length;
  const outside = args.tokens.find((t) => nVocabFile !== undefined && t >= nVocabFile);
  if (outside !== undefined) fail(`token id ${outside} is outside ${args.model}'s vocabulary (0..${nVocabFile - 1})`);
  const toArray = (map, where) => {
    if (!map) fail(`llama.cpp returned no logits for ${where}\n${llamaLog()}`);
    const nv = map.size;
    const out = new Array(nv);
    for (const [tok, v] of map) {
      if (!(tok >= 0 && tok < nv)) fail(`llama.cpp returned a logit for token ${tok} outside 0..${nv - 1}`);
      out[tok] = v;
    }
    return out;
  };
  const argmax = (row) => {
    let best = 0;
    for (let i = 1; i < row.length; ++i) if (row[i] > row[best]) best = i;
    return best;
  };

  let results;
  try {
    results = await seq.controlledEvaluate(input);
  } catch (e) {
    fail(`llama.cpp could not evaluate tokens ${args.tokens.join(",")}: ${e.message}\n${llamaLog()}`);
  }
  const logits = [];
  for (let i = 0; i < n; ++i)
    if (args.allLogits || i === n - 1) logits.push(toArray(results[i]?.next?.logits, `position ${i}`));
  const nVocab = logits[logits.length - 1].length;
  if (logits.some((r) => r.length !== nVocab)) fail("llama.cpp returned rows of different lengths");

  const greedy = [];
  let next = argmax(logits[logits.length - 1]);
  const sampled = results[n - 1]?.next?.token;
  if (sampled !== next && logits[logits.length - 1][sampled] !== logits[logits.length - 1][next])
    fail(`llama.cpp's greedy sampler picked ${sampled}, the argmax of its logits is ${next}`);
  for (let g = 0; g < args.greedy; ++g) {
    greedy.push(next);
    if (g === args.greedy - 1) break;
    let r;
    try {
      r = await seq.controlledEvaluate([[next, want]]);
    } catch (e) {
      fail(`llama.cpp could not evaluate greedy token ${g}: ${e.message}\n${llamaLog()}`);
    }
    next = argmax(toArray(r[0]?.next?.logits, `greedy step ${g}`));
  }

  const result = {
    model: args.model,
    architecture: model.fileInfo?.metadata?.general?.architecture ?? null,
    n_vocab: nVocab,
    n_vocab_gguf: nVocabFile ?? null,
    text: args.text,
    tokens: args.tokens,
    bos: model.tokens.bos ?? null,
    eos: model.tokens.eos ?? null,
    all_logits: args.allLogits,
    kv_type: args.kvType,
    logits,
    greedy,
  };
  // JSON.stringify writes non-finite numbers as null: callers check for that.
  process.stdout.write(JSON.stringify(result) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e) => fail(e?.stack ?? String(e)));
