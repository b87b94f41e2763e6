//===- Tokenizer.h - text <-> token ids ------------------------*- C++ -*-===//
//
// Two tokenizer families, each loadable from the files models ship with:
//
//  * SentencePiece-style BPE ("spm"): llama2.c `tokenizer.bin`, GGUF
//    `tokenizer.ggml.model = "llama"`. Spaces become U+2581, a space is
//    prefixed to the text, pairs merge by score, bytes fall back to <0xXX>.
//  * Byte-level BPE ("bpe:<pre-tokenizer>"): GGUF `tokenizer.ggml.model =
//    "gpt2"` with its `tokenizer.ggml.pre` regexes, and HF `tokenizer.json`.
//
// Both reproduce llama.cpp's token ids exactly (tests/unit/tokenizer checks
// every line of llama.cpp's test vectors). Text must be valid UTF-8; anything
// else is an InvalidArgument error naming the input and the byte offset.
// Every loader checks what it reads (lengths, ids, merges) and answers with
// one error naming the file instead of crashing.
//
// A loaded tokenizer is immutable: encode/decode are safe to call from
// several threads at once.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_TOKENIZER_TOKENIZER_H
#define TESSEL_FRONTENDS_TOKENIZER_TOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::frontends {

class GgufFile;

class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  /// UTF-8 text -> ids, no BOS/EOS added (callers add bos() when they want it).
  /// Invalid UTF-8 -> InvalidArgument error naming `what` (e.g. the file or
  /// "--text") and the byte offset. Text that spells a control token (e.g.
  /// "<|im_start|>") is tokenized as plain text, as llama.cpp does without
  /// parse_special; user-defined tokens are always matched whole.
  virtual absl::StatusOr<std::vector<int32_t>> encode(std::string_view text,
                                                      std::string_view what = "text") const = 0;

  /// As encode(), but text that spells a control or unknown token becomes that
  /// token (llama.cpp's parse_special = true): for chat templates.
  /// (Defaults to encode() for tokenizers without special tokens.)
  virtual absl::StatusOr<std::vector<int32_t>>
  encodeWithSpecial(std::string_view text, std::string_view what = "text") const {
    return encode(text, what);
  }

  /// ids -> text (byte tokens reassembled; an id outside the vocab is an error
  /// naming it). Control tokens (BOS, EOS, ...) contribute nothing. For SPM
  /// the space prefixed by encode() is removed again, so
  /// decode(encode(t)) == t for every valid UTF-8 `t`. The result holds the
  /// bytes the tokens spell: ids that split a character give invalid UTF-8.
  virtual absl::StatusOr<std::string> decode(const std::vector<int32_t> &ids) const = 0;

  /// The text (bytes) one token contributes, for streaming: "" for control
  /// tokens and ids outside the vocab; one byte for SPM byte tokens (a
  /// character may span several tokens, so buffer until it is complete).
  virtual std::string piece(int32_t id) const = 0;

  /// piece(id) given the previous token: SPM strips the leading space of the
  /// first token of a sequence (prev < 0, or prev == bos()), as SentencePiece
  /// and llama2.c do; otherwise the same as piece(id).
  std::string piece(int32_t id, int32_t prev) const;

  virtual int32_t vocabSize() const = 0;
  virtual int32_t bos() const = 0; // -1 if none
  virtual int32_t eos() const = 0; // -1 if none
  /// "spm", "bpe:gpt-2", "bpe:llama-bpe", "bpe:qwen2", ... (for GGUF the
  /// part after "bpe:" is tokenizer.ggml.pre).
  virtual std::string kind() const = 0;
  /// True for SPM tokenizers that prefix a space to the text (and so strip it
  /// from the first decoded token).
  virtual bool addsSpacePrefix() const { return false; }

  /// GGUF "llama" (SPM) and "gpt2" (byte-level BPE) models; an unknown model
  /// or pre-tokenizer is an error listing the supported ones.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> fromGguf(const GgufFile &file);
  /// llama2.c tokenizer.bin: int32 max_token_length, then `vocabSize` times
  /// {float score, int32 len, len bytes}. Ids 0/1/2 are <unk>/BOS/EOS.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> fromLlama2c(const std::string &tokenizerBinPath,
                                                                int32_t vocabSize);
  /// HF tokenizer.json: a BPE model with a byte-level pre-tokenizer (ByteLevel,
  /// optionally after Split regexes / Digits: gpt2, llama3, qwen2 style).
  /// Anything else (WordPiece, Unigram, byte_fallback, Metaspace, ...) is an
  /// error saying what is not supported. BOS/EOS come from a
  /// tokenizer_config.json next to the file when there is one, else from
  /// well-known token texts.
  static absl::StatusOr<std::unique_ptr<Tokenizer>>
  fromHfJson(const std::string &tokenizerJsonPath);
};

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_TOKENIZER_TOKENIZER_H
