// What every llama.cpp script here shares: starting node-llama-cpp's
// prebuilt CPU build (never a download or a source build), loading a GGUF,
// creating a context with the settings the references use (CPU, N threads,
// no flash attention, f32 KV cache unless asked), and keeping llama.cpp's
// log for error messages (it is the only place a refused model is
// explained). `fail(message)` is the caller's: it prints and exits.
import path from "node:path";

export async function openLlamaCpp({ model: modelArg, threads, fail }) {
  const modelPath = path.resolve(modelArg);
  // Keep llama.cpp's log off stdout, but remember it.
  const log = [];
  const verbose = process.env.RUN_LLAMACPP_VERBOSE === "1";
  const logger = (level, message) => {
    const line = String(message).replace(/\n$/, "");
    log.push(`[${level}] ${line}`);
    if (verbose) process.stderr.write(`llama.cpp [${level}] ${line}\n`);
  };
  // node-llama-cpp loads a model twice (a no-alloc dry run to size it, then
  // for real), so llama.cpp's complaints come twice: print each once.
  const llamaLog = () => {
    const interesting = log.filter((l) => /^\[(error|fatal|warn)\]/.test(l));
    return [...new Set(interesting.length ? interesting : log.slice(-15))].map((l) => "  " + l).join("\n");
  };

  let nlc;
  try {
    nlc = await import("node-llama-cpp");
  } catch (e) {
    fail(`cannot import node-llama-cpp (${e.message}); install it with: npm ci --prefix tests/llamacpp`);
  }
  const { getLlama, LlamaLogLevel } = nlc;
  let llama, model;
  try {
    llama = await getLlama({
      gpu: false, // CPU backend only
      build: "never", // never compile llama.cpp from source (that would need network/cmake)
      usePrebuiltBinaries: true,
      skipDownload: true,
      progressLogs: false,
      logLevel: verbose ? LlamaLogLevel.debug : LlamaLogLevel.info,
      logger,
      maxThreads: threads,
    });
  } catch (e) {
    fail(`cannot start llama.cpp (node-llama-cpp's prebuilt CPU binary): ${e.message}\n${llamaLog()}`);
  }
  try {
    model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true, checkTensors: true });
  } catch (e) {
    fail(`llama.cpp could not load ${modelArg}: ${e.message}\n${llamaLog()}`);
  }

  // llama.cpp's default KV cache is f16; f32 keeps llama.cpp within ~1e-5 of
  // an f32/f64 reference instead of ~1e-3 (kvType "f16" = stock llama.cpp).
  const createContext = async ({ contextSize, batchSize, kvType }) => {
    try {
      return await model.createContext({
        contextSize, batchSize, sequences: 1, flashAttention: false,
        threads: { ideal: threads, min: threads },
        experimentalKvCacheKeyType: kvType.toUpperCase(),
        experimentalKvCacheValueType: kvType.toUpperCase(),
      });
    } catch (e) {
      fail(`llama.cpp could not create a ${contextSize}-token context for ${modelArg}: ${e.message}\n${llamaLog()}`);
    }
  };
  return { llama, model, llamaLog, createContext };
}
