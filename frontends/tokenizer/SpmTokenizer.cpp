//===- SpmTokenizer.cpp - SentencePiece-style BPE -------------------------===//
//
// The algorithm of SentencePiece's BPE model (and of llama.cpp's
// llm_tokenizer_spm and llama2.c's encode):
//   1. every ' ' becomes U+2581 "▁", and one "▁" is prefixed to the text;
//   2. the text starts as one symbol per character;
//   3. repeatedly, of all adjacent pairs whose concatenation is a token, the
//      one whose token has the highest score merges (ties: leftmost first);
//   4. each final symbol is its token, or - when a single character is not in
//      the vocabulary - one <0xXX> byte token per UTF-8 byte.
// Step 3 keeps candidate pairs in a priority queue; a pair whose symbols
// changed since it was queued is recognised by its length and dropped.
//
//===----------------------------------------------------------------------===//
#include <array>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "frontends/tokenizer/TokenizerImpl.h"
#include "frontends/tokenizer/Utf8.h"

namespace tessel::frontends::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's space

// "<0xAB>" -> 0xAB; -1 if `t` is not of that form.
int parseByteToken(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>')
    return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    return -1;
  };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

class SpmTokenizer final : public VocabTokenizer {
public:
  SpmTokenizer(VocabData vocab, SpmOptions opts) : VocabTokenizer(std::move(vocab)), opts_(opts) {}

  absl::Status init() {
    const int32_t n = vocabSize();
    if (vocab_.scores.empty())
      vocab_.scores.assign(n, 0.0f);
    pieces_.resize(n);
    byteToken_.fill(-1);
    for (int32_t i = 0; i < n; ++i) {
      const std::string &t = vocab_.texts[i];
      switch (vocab_.types[i]) {
      case TokenType::Normal: {
        std::string p;
        for (size_t k = 0; k < t.size();) {
          if (t.compare(k, kSpace.size(), kSpace) == 0) {
            p += ' ';
            k += kSpace.size();
          } else {
            p += t[k++];
          }
        }
        pieces_[i] = std::move(p);
        break;
      }
      case TokenType::Byte: {
        int b = parseByteToken(t);
        if (b < 0)
          return absl::InvalidArgumentError(
              absl::StrCat(vocab_.source, ": token ", i, " is typed as a byte token but its text ",
                           printable(t), " is not of the form <0xXX>"));
        pieces_[i] = std::string(1, static_cast<char>(b));
        break;
      }
      case TokenType::UserDefined:
        pieces_[i] = t;
        break;
      default: // control, unknown, unused: no text of their own
        break;
      }
    }
    finishSetup();
    // Byte fallback finds <0xXX> by text, whatever its type (as llama.cpp).
    for (int b = 0; b < 256; ++b)
      byteToken_[b] = find(absl::StrFormat("<0x%02X>", b));
    return absl::OkStatus();
  }

  std::string kind() const override { return "spm"; }
  bool addsSpacePrefix() const override { return opts_.addSpacePrefix; }

protected:
  absl::Status encodeText(std::string_view text, bool atStart,
                          std::vector<int32_t> &out) const override {
    std::string s;
    s.reserve(text.size() + 8);
    if (opts_.addSpacePrefix && atStart)
      s += kSpace;
    for (char c : text) {
      if (c == ' ')
        s += kSpace;
      else
        s += c;
    }

    struct Symbol {
      int32_t prev, next;
      uint32_t start, len; // bytes of `s`; len 0 once merged into the left
    };
    std::vector<Symbol> sym;
    sym.reserve(s.size());
    for (size_t off = 0; off < s.size();) {
      uint32_t len = static_cast<uint32_t>(std::min(utf8SeqLen(s[off]), s.size() - off));
      int32_t idx = static_cast<int32_t>(sym.size());
      sym.push_back({idx - 1, -1, static_cast<uint32_t>(off), len});
      if (idx > 0)
        sym[idx - 1].next = idx;
      off += len;
    }

    struct Pair {
      float score;
      int32_t left, right;
      uint32_t size;
    };
    auto lowerPriority = [](const Pair &a, const Pair &b) {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(lowerPriority)> queue(lowerPriority);
    auto tryPair = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0)
        return;
      uint32_t size = sym[l].len + sym[r].len;
      int32_t id = find(std::string_view(s).substr(sym[l].start, size));
      if (id < 0)
        return;
      queue.push({vocab_.scores[id], l, r, size});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i)
      tryPair(i - 1, i);

    while (!queue.empty()) {
      Pair p = queue.top();
      queue.pop();
      Symbol &l = sym[p.left], &r = sym[p.right];
      // Lengths only grow, so a changed symbol shows in the sum.
      if (l.len == 0 || r.len == 0 || l.len + r.len != p.size)
        continue;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0)
        sym[r.next].prev = p.left;
      tryPair(l.prev, p.left);
      tryPair(p.left, l.next);
    }

    for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
      std::string_view piece = std::string_view(s).substr(sym[i].start, sym[i].len);
      int32_t id = find(piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : piece) {
        int32_t b = byteToken_[static_cast<uint8_t>(c)];
        if (b < 0)
          b = vocab_.unk;
        if (b < 0)
          return absl::InvalidArgumentError(absl::StrFormat(
              "character %s is not in the vocabulary, which has neither the byte token <0x%02X> "
              "nor an unknown token",
              printable(piece), static_cast<uint8_t>(c)));
        out.push_back(b);
      }
    }
    return absl::OkStatus();
  }

private:
  SpmOptions opts_;
  std::array<int32_t, 256> byteToken_;
};

} // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> makeSpmTokenizer(VocabData vocab, SpmOptions opts) {
  const size_t n = vocab.texts.size();
  if (n == 0)
    return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": empty vocabulary"));
  if (static_cast<int64_t>(n) > kMaxVocab)
    return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": vocabulary of ", n,
                                                   " tokens is absurd (limit ", kMaxVocab, ")"));
  if (!vocab.scores.empty() && vocab.scores.size() != n)
    return absl::InvalidArgumentError(
        absl::StrCat(vocab.source, ": ", vocab.scores.size(), " scores for ", n, " tokens"));
  if (vocab.types.size() != n)
    return absl::InvalidArgumentError(
        absl::StrCat(vocab.source, ": ", vocab.types.size(), " token types for ", n, " tokens"));
  for (int32_t *id : {&vocab.bos, &vocab.eos, &vocab.unk})
    if (*id < -1 || *id >= static_cast<int64_t>(n))
      return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": special token id ", *id,
                                                     " is outside the vocabulary of ", n));
  auto t = std::make_unique<SpmTokenizer>(std::move(vocab), opts);
  if (auto st = t->init(); !st.ok())
    return st;
  return std::unique_ptr<Tokenizer>(std::move(t));
}

} // namespace tessel::frontends::tok
