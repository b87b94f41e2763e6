#!/usr/bin/env node
// llama-perplexity's perplexity, computed from llama.cpp's own tokenizer and
// logits (node-llama-cpp's prebuilt CPU binaries, which ship no
// llama-perplexity binary), and printed as JSON:
//
//   node tests/llamacpp/perplexity_llamacpp.mjs MODEL.gguf --file TEXT [--ctx 128]
//        [--chunks N] [--threads 2] [--kv-type f32|f16] [--tokens-only]
//
//   {"model": ..., "file": ..., "n_ctx": 128, "n_chunk": 46, "n_tokens": 5892,
//    "scored": 2898, "ppl": P, "ppl_uncertainty": U, "running": [PPL after each chunk],
//    "tokens": [the text's ids, BOS first], ...}
//
// This reimplements the scoring of llama.cpp's tools/perplexity/perplexity.cpp
// (`perplexity()`, llama.cpp v0.5.0 = commit de3ff815, the source node-llama-cpp
// 3.22.1 ships in node_modules/node-llama-cpp/llama/gitRelease.bundle) over the
// logits llama.cpp computes, step by step:
//  1. The text is the file less one trailing newline (common/arg.cpp's -f), tokenized
//     as common_tokenize(ctx, text, add_special=true, parse_special=false): BOS first
//     when the vocabulary adds it (llama_vocab_get_add_bos), then the text's ids.
//  2. n_chunk = floor(n_tokens / n_ctx) windows; at least 2 * n_ctx tokens are needed.
//  3. Window i is tokens[i*n_ctx, (i+1)*n_ctx) with its first token replaced by BOS
//     (when the vocabulary adds BOS), evaluated on an empty KV cache at positions
//     0..n_ctx-1 in one batch (llama-perplexity: n_batch = min(2048, n_ctx) covers it).
//  4. first = n_ctx/2; the logits at positions first..n_ctx-2 score the tokens at
//     first+1..n_ctx-1: nll = -(logit[tok] - max - log(sum exp(logit - max))),
//     with llama.cpp's float/double mix (log_softmax() in perplexity.cpp).
//  5. PPL = exp(sum nll / count); uncertainty = PPL * sqrt((E[nll^2] - E[nll]^2) / (count - 1)),
//     llama-perplexity's "Final estimate: PPL = ... +/- ...".
// Differences from the llama-perplexity binary, none of which changes the
// arithmetic: windows are evaluated one at a time (llama-perplexity packs
// n_batch/n_ctx of them into one batch as separate sequences), the KV cache is
// f32 by default (llama.cpp's default is f16: --kv-type f16), no flash attention,
// 2 threads, CPU only. Nothing is downloaded or built.
// --tokens-only prints the tokens (and counts) without evaluating anything.
// Errors: "perplexity_llamacpp: ..." on stderr, non-zero exit (2: bad usage).
import fs from "node:fs";
import path from "node:path";

import { openLlamaCpp } from "./llamacpp_common.mjs";

const USAGE = "usage: perplexity_llamacpp.mjs MODEL.gguf --file TEXT [--ctx N] [--chunks N] " +
    "[--threads N] [--kv-type f32|f16] [--tokens-only]";

function fail(message, code = 1) {
  process.stderr.write(`perplexity_llamacpp: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { model: null, file: null, ctx: 128, chunks: 0, threads: 2, kvType: "f32", tokensOnly: false };
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
      case "--file": args.file = next(); if (!args.file) fail(`--file needs a path\n${USAGE}`, 2); break;
      case "--ctx": args.ctx = intArg(a, next()); break;
      case "--chunks": args.chunks = intArg(a, next()); break;
      case "--threads": args.threads = Math.max(1, intArg(a, next())); break;
      case "--kv-type": {
        const v = next();
        if (v !== "f32" && v !== "f16") fail(`--kv-type is f32 or f16, got '${v ?? ""}'\n${USAGE}`, 2);
        args.kvType = v;
        break;
      }
      case "--tokens-only": args.tokensOnly = true; break;
      case "-h": case "--help": process.stdout.write(USAGE + "\n"); process.exit(0);
      default:
        if (a.startsWith("-") || args.model !== null) fail(`unexpected argument '${argv[i]}'\n${USAGE}`, 2);
        args.model = a;
    }
  }
  if (args.model === null || args.file === null) fail(`give MODEL and --file\n${USAGE}`, 2);
  if (args.ctx < 3) fail(`--ctx must be at least 3 (a window scores positions ctx/2..ctx-2)`, 2);
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = path.resolve(args.model);
  if (!fs.existsSync(modelPath)) fail(`${args.model}: no such file`);
  let text;
  try {
    text = fs.readFileSync(args.file, "utf8");
  } catch (e) {
    fail(`cannot read ${args.file}: ${e.message}`);
  }
  if (text.endsWith("\n")) text = text.slice(0, -1); // common/arg.cpp's -f drops one
  if (text === "") fail(`${args.file} is empty`);

  const { llama, model, llamaLog, createContext } =
      await openLlamaCpp({ model: args.model, threads: args.threads, fail });

  // 1. common_tokenize(ctx, text, add_special = true, parse_special = false).
  const bos = model.tokens.bos;
  const addBos = bos != null && model.tokens.shouldPrependBosToken;
  const tokens = [...(addBos ? [bos] : []), ...model.tokenize(text, false)];
  const nCtx = args.ctx;
  // 2. Windows.
  if (tokens.length < 2 * nCtx)
    fail(`${args.file} tokenizes to ${tokens.length} tokens; a context of ${nCtx} needs at least ${2 * nCtx}`);
  const nChunkMax = Math.floor(tokens.length / nCtx);
  const nChunk = args.chunks > 0 ? Math.min(args.chunks, nChunkMax) : nChunkMax;
  const first = Math.floor(nCtx / 2);
  const result = {
    model: args.model, file: args.file, n_ctx: nCtx, n_chunk: nChunk, n_tokens: tokens.length,
    scored: nChunk * (nCtx - 1 - first), bos: bos ?? null, add_bos: addBos, kv_type: args.kvType,
    threads: args.threads, llama_cpp: "node-llama-cpp 3.22.1 (llama.cpp v0.5.0, de3ff815), CPU",
  };
  if (args.tokensOnly) {
    process.stdout.write(JSON.stringify({ ...result, tokens }) + "\n");
    await model.dispose();
    await llama.dispose();
    return;
  }

  const context = await createContext({ contextSize: nCtx, batchSize: nCtx, kvType: args.kvType });
  const seq = context.getSequence();
  const want = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
  const f32 = Math.fround;

  let nll = 0, nll2 = 0, count = 0;
  const running = [];
  for (let i = 0; i < nChunk; ++i) {
    // 3. The window on an empty cache, BOS first.
    await seq.clearHistory();
    const window = tokens.slice(i * nCtx, (i + 1) * nCtx);
    if (addBos) window[0] = bos;
    let results;
    try {
      results = await seq.controlledEvaluate(window.map((t, k) => (k >= first ? [t, want] : t)));
    } catch (e) {
      fail(`llama.cpp could not evaluate window ${i + 1}: ${e.message}\n${llamaLog()}`);
    }
    // 4. Score tokens first+1 .. n_ctx-1 from the logits at first .. n_ctx-2.
    for (let k = first; k < nCtx - 1; ++k) {
      const map = results[k]?.next?.logits;
      if (!map) fail(`llama.cpp returned no logits for window ${i + 1}, position ${k}\n${llamaLog()}`);
      const logits = new Float32Array(map.size);
      for (const [tok, v] of map) logits[tok] = v;
      const target = tokens[i * nCtx + k + 1];
      // perplexity.cpp's log_softmax(n_vocab, logits, tok): float max and
      // differences, expf, a double sum.
      let maxLogit = logits[0];
      for (let v = 1; v < logits.length; ++v) maxLogit = Math.max(maxLogit, logits[v]);
      let sumExp = 0;
      for (let v = 0; v < logits.length; ++v) sumExp += f32(Math.exp(f32(logits[v] - maxLogit)));
      const value = -(f32(logits[target] - maxLogit) - Math.log(sumExp));
      nll += value;
      nll2 += value * value;
    }
    count += nCtx - 1 - first;
    running.push(Math.exp(nll / count));
  }
  // 5. The final estimate.
  const mean = nll / count;
  const variance = nll2 / count - mean * mean;
  const ppl = Math.exp(mean);
  const uncertainty = variance > 0 ? Math.sqrt(variance / (count - 1)) * ppl : null;
  process.stdout.write(JSON.stringify({ ...result, ppl, ppl_uncertainty: uncertainty, running, tokens }) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e) => fail(e?.stack ?? String(e)));
