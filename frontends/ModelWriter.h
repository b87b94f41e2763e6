//===- ModelWriter.h - write models as GGUF or HF safetensors ---*- C++ -*-===//
//
// `tessel mkmodel` writes random-weight models of any supported
// architecture in both formats so that Tessel and llama.cpp (or
// transformers) can be compared on the same weights.
//
// The formats disagree on one thing that matters: llama.cpp's `llama`
// architecture rotates interleaved RoPE pairs while Hugging Face's LLaMA,
// Mistral and Mixtral rotate half-split pairs. The writers permute the rows
// of the q/k projections (as llama.cpp's converter does) so that both files
// describe the same function; the IR then says which layout each file uses.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MODELWRITER_H
#define TESSEL_FRONTENDS_MODELWRITER_H

#include <string>

#include "absl/status/status.h"
#include "frontends/Gguf.h"
#include "frontends/ModelConfig.h"
#include "frontends/WeightStore.h"

namespace tessel::frontends {

struct GgufWriteOptions {
  /// Copy the tokenizer metadata from this GGUF (its vocabulary size must
  /// match); otherwise a synthetic SentencePiece vocabulary is written
  /// (<unk>, <s>, </s>, 256 byte tokens, then filler pieces).
  const GgufFile *vocabFrom = nullptr;
};

absl::Status writeGgufModel(const ModelConfig &config, const WeightStore &weights,
                            const std::string &path, const GgufWriteOptions &options = {});

/// Writes DIR/config.json and DIR/model.safetensors (sharded past
/// `maxShardBytes` if non-zero). Quantized weights are written as f32.
absl::Status writeHfModel(const ModelConfig &config, const WeightStore &weights,
                          const std::string &dir, uint64_t maxShardBytes = 0);

/// The RoPE layout each format's loader assumes for this architecture.
RopeStyle ggufRopeStyle(ModelArch arch);
RopeStyle hfRopeStyle(ModelArch arch);

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MODELWRITER_H
