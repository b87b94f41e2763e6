//===- RegexSplitter.h - regex pre-tokenization (PCRE2) ---------*- C++ -*-===//
//
// A byte-level BPE pre-tokenizer cuts text into "words" with one or more
// regexes (HF's Split with behavior "Isolated"): every match is a word, and
// so is every stretch between two matches. With several regexes, each one
// splits the words the previous one produced. PCRE2 runs the patterns in
// UTF + UCP mode (\s, \p{L}, \p{N} are Unicode-aware), JIT-compiled when the
// platform allows.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_TOKENIZER_REGEXSPLITTER_H
#define TESSEL_FRONTENDS_TOKENIZER_REGEXSPLITTER_H

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

struct pcre2_real_code_8;

namespace tessel::frontends::tok {

class RegexSplitter {
public:
  /// Compiles every pattern; a bad one is an error quoting it and PCRE2's message.
  static absl::StatusOr<std::unique_ptr<RegexSplitter>> compile(std::vector<std::string> patterns);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter &) = delete;
  RegexSplitter &operator=(const RegexSplitter &) = delete;

  /// Appends the words of `text` (valid UTF-8) to `words`, in order; they
  /// concatenate back to `text`. Fails only if PCRE2 gives up (resource limits).
  absl::Status split(std::string_view text, std::vector<std::string_view> &words) const;

  const std::vector<std::string> &patterns() const { return patterns_; }

private:
  RegexSplitter() = default;
  absl::Status splitOne(size_t which, std::string_view text,
                        std::vector<std::string_view> &out) const;
  std::vector<std::string> patterns_;
  std::vector<pcre2_real_code_8 *> codes_;
};

} // namespace tessel::frontends::tok

#endif // TESSEL_FRONTENDS_TOKENIZER_REGEXSPLITTER_H
