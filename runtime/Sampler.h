//===- Sampler.h - next-token choice from logits ----------------*- C++ -*-===//
//
// Greedy (temperature 0), or temperature + top-k + top-p with a seeded
// SplitMix64 stream: the semantics of `tessel.sample` (dialect/TesselOps.td),
// so a sampled run can be replayed by the reference evaluator.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_RUNTIME_SAMPLER_H
#define TESSEL_RUNTIME_SAMPLER_H

#include <cstdint>
#include <vector>

namespace tessel::runtime {

struct SamplerOptions {
  double temperature = 0.0; // 0 = greedy
  int64_t topK = 0;         // 0 = no limit
  double topP = 1.0;
  uint64_t seed = 0;
};

class Sampler {
public:
  explicit Sampler(const SamplerOptions &options) : options_(options), state_(options.seed) {}
  /// Picks a token from `logits` (one row of `vocab` values).
  int32_t sample(const float *logits, int64_t vocab);

private:
  double uniform();
  SamplerOptions options_;
  uint64_t state_;
  std::vector<int64_t> order_;
  std::vector<double> prob_;
};

} // namespace tessel::runtime

#endif // TESSEL_RUNTIME_SAMPLER_H
