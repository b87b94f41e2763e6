//===- TokenizerImpl.h - shared vocabulary machinery (internal) -*- C++ -*-===//
//
// Loaders (GGUF, llama2.c, tokenizer.json) fill a VocabData and hand it to
// makeSpmTokenizer / makeBpeTokenizer, which check it and build the lookup
// tables. VocabTokenizer holds what both families share: UTF-8 validation,
// splitting out user-defined/special tokens, decode and pieces.
//
// Not part of the public API; tests include it to reach the pieces.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_TOKENIZER_TOKENIZERIMPL_H
#define TESSEL_FRONTENDS_TOKENIZER_TOKENIZERIMPL_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "frontends/tokenizer/Tokenizer.h"

namespace tessel::frontends::tok {

/// GGUF's tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

struct VocabData {
  std::string source;             // the file, for error messages
  std::vector<std::string> texts; // token id -> text as stored
  std::vector<float> scores;      // empty, or one per token (SPM merge priority)
  std::vector<TokenType> types;   // one per token
  int32_t bos = -1, eos = -1, unk = -1;
};

/// Largest vocabulary any loader accepts (2^24; real ones are below 2^18).
constexpr int64_t kMaxVocab = int64_t(1) << 24;

struct SpmOptions {
  bool addSpacePrefix = true;
};

struct BpeOptions {
  std::string kind;                 // e.g. "bpe:qwen2"
  std::vector<std::string> regexes; // applied in order (see RegexSplitter)
  bool ignoreMerges = false;        // a word that is a token stays whole (llama3)
  bool addPrefixSpace = false;      // HF ByteLevel add_prefix_space
  /// Merges in rank order, as (left, right) token texts.
  std::vector<std::pair<std::string, std::string>> merges;
};

absl::StatusOr<std::unique_ptr<Tokenizer>> makeSpmTokenizer(VocabData vocab, SpmOptions opts);
absl::StatusOr<std::unique_ptr<Tokenizer>> makeBpeTokenizer(VocabData vocab, BpeOptions opts);

/// Splits a GGUF/HF merge line "left right" at the first space after the
/// first character (llama.cpp's rule; a token may itself start with a space).
bool splitMerge(std::string_view line, std::string &left, std::string &right);

/// GPT-2's byte -> printable code point map (bytes that are printable Latin-1
/// map to themselves, the rest to U+0100 and up in order).
uint32_t byteToCodepoint(uint8_t b);
/// The inverse; -1 for code points that no byte maps to.
int byteFromCodepoint(uint32_t cp);

/// Pre-tokenizer regexes, as llama.cpp writes them (case-insensitive
/// contractions spelt out so that only ASCII s/S etc. match).
extern const char kRegexGpt2[];
extern const char kRegexLlama3[];
extern const char kRegexQwen2[];
/// The same three as HF tokenizer.json files write them.
extern const char kHfRegexGpt2[];
extern const char kHfRegexLlama3[];
extern const char kHfRegexQwen2[];

struct PreTokenizerInfo {
  std::vector<std::string> regexes;
  bool ignoreMerges = false;
};
/// The pre-tokenizer a GGUF `tokenizer.ggml.pre` value names, or null.
const PreTokenizerInfo *findGgufPreTokenizer(std::string_view pre);
/// "gpt-2, llama-bpe, qwen2, ..." for error messages.
std::string supportedGgufPreTokenizers();

/// What SPM and BPE share. The vocabulary is fixed at construction; the
/// lookup tables point into it, so objects are never copied or moved.
class VocabTokenizer : public Tokenizer {
public:
  using Tokenizer::piece;
  absl::StatusOr<std::vector<int32_t>> encode(std::string_view text,
                                              std::string_view what) const override;
  absl::StatusOr<std::vector<int32_t>> encodeWithSpecial(std::string_view text,
                                                         std::string_view what) const override;
  absl::StatusOr<std::string> decode(const std::vector<int32_t> &ids) const override;
  std::string piece(int32_t id) const override;
  int32_t vocabSize() const override { return static_cast<int32_t>(vocab_.texts.size()); }
  int32_t bos() const override { return vocab_.bos; }
  int32_t eos() const override { return vocab_.eos; }

  /// Token type and text (tests, diagnostics).
  TokenType type(int32_t id) const { return vocab_.types[id]; }
  const std::string &text(int32_t id) const { return vocab_.texts[id]; }
  /// Id of the token spelt exactly `text`, or -1 (the last one on duplicates,
  /// as llama.cpp).
  int32_t find(std::string_view text) const;

  VocabTokenizer(const VocabTokenizer &) = delete;
  VocabTokenizer &operator=(const VocabTokenizer &) = delete;

protected:
  explicit VocabTokenizer(VocabData vocab);
  /// Builds the text -> id map and the special-token lists; call once the
  /// subclass has filled pieces_.
  void finishSetup();

  /// Encodes text that contains no special token. `atStart` is true at the
  /// start of the input and right after a special token.
  virtual absl::Status encodeText(std::string_view text, bool atStart,
                                  std::vector<int32_t> &out) const = 0;

  absl::StatusOr<std::vector<int32_t>> encodeImpl(std::string_view text, std::string_view what,
                                                  bool parseSpecial) const;

  VocabData vocab_;
  std::vector<std::string> pieces_; // what each token decodes to
  std::unordered_map<std::string_view, int32_t> byText_;
  // Tokens matched whole before tokenization, longest text first.
  std::vector<int32_t> userDefined_; // always
  std::vector<int32_t> allSpecial_;  // with encodeWithSpecial (adds control, unknown)
};

} // namespace tessel::frontends::tok

#endif // TESSEL_FRONTENDS_TOKENIZER_TOKENIZERIMPL_H
