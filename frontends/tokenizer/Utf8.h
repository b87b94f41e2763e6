//===- Utf8.h - UTF-8 checks and conversions for the tokenizers -*- C++ -*-===//
//
// Strict validation (no overlong forms, no surrogates, nothing above
// U+10FFFF) so that everything after it may assume well-formed text, plus the
// few conversions the tokenizers need.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_TOKENIZER_UTF8_H
#define TESSEL_FRONTENDS_TOKENIZER_UTF8_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tessel::frontends::tok {

/// This absl is built with its own string_view; bridge std's to it.
inline absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

/// Where `s` stops being valid UTF-8 and why; `offset == npos` when it is valid.
struct Utf8Check {
  size_t offset = std::string_view::npos;
  const char *reason = "";
  bool ok() const { return offset == std::string_view::npos; }
};
Utf8Check checkUtf8(std::string_view s);

/// OK, or InvalidArgument "<what>: invalid UTF-8 at byte offset N (bytes ..): reason".
absl::Status validateUtf8(std::string_view s, std::string_view what);

/// Length of the sequence a lead byte starts (1 for anything that is not a
/// valid lead byte, so lenient walkers always advance).
size_t utf8SeqLen(unsigned char lead);

/// Decodes the code point at s[i] and advances i. Invalid input yields the
/// single byte's value with the high bit marker 0x80000000 (so callers can
/// pass such bytes through unchanged) and advances by one.
uint32_t decodeUtf8(std::string_view s, size_t &i);
constexpr uint32_t kRawByteFlag = 0x80000000u;

void appendUtf8(std::string &out, uint32_t cp);

/// A string fit for an error message: printable (C escapes) and cut at 80 bytes.
std::string printable(std::string_view s);

} // namespace tessel::frontends::tok

#endif // TESSEL_FRONTENDS_TOKENIZER_UTF8_H
