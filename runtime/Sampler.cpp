//===- Sampler.cpp --------------------------------------------------------===//
#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tessel::runtime {

double Sampler::uniform() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(const float *logits, int64_t vocab) {
  if (options_.temperature == 0.0)
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  int64_t keep = options_.topK > 0 ? std::min(options_.topK, vocab) : vocab;
  // Only the `keep` largest need ordering (ties: lower id first).
  auto byLogit = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), byLogit);
  prob_.resize(keep);
  double m = logits[order_[0]] / options_.temperature, sum = 0;
  for (int64_t k = 0; k < keep; ++k)
    sum += (prob_[k] = std::exp(logits[order_[k]] / options_.temperature - m));
  double mass = 0;
  int64_t nucleus = 0;
  while (nucleus < keep) {
    mass += prob_[nucleus++] / sum;
    if (mass >= options_.topP)
      break;
  }
  double total = 0;
  for (int64_t k = 0; k < nucleus; ++k)
    total += prob_[k];
  double u = uniform() * total, cum = 0;
  for (int64_t k = 0; k < nucleus; ++k)
    if ((cum += prob_[k]) > u)
      return static_cast<int32_t>(order_[k]);
  return static_cast<int32_t>(order_[nucleus - 1]);
}

} // namespace tessel::runtime
