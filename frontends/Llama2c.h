//===- Llama2c.h - llama2.c checkpoints --------------------------*- C++ -*-===//
//
// The legacy (v0) llama2.c format: a header of seven int32 (dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
// means the classifier is stored separately), then f32 arrays stacked over
// layers. RoPE pairs adjacent features (interleaved), as in GGUF's llama.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_LLAMA2C_H
#define TESSEL_FRONTENDS_LLAMA2C_H

#include <string>

#include "absl/status/statusor.h"
#include "frontends/ModelConfig.h"
#include "frontends/WeightStore.h"

namespace tessel::frontends {

struct Llama2cModel {
  ModelConfig config;
  WeightStore weights; // canonical GGUF names, zero-copy views of the map
};

absl::StatusOr<Llama2cModel> loadLlama2c(const std::string &path);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_LLAMA2C_H
