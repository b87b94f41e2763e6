//===- BpeTokenizer.cpp - byte-level BPE (GPT-2 family) -------------------===//
//
// The algorithm of GPT-2's encoder (HF tokenizers' BPE model with a ByteLevel
// pre-tokenizer, llama.cpp's llm_tokenizer_bpe):
//   1. regexes cut the text into words (RegexSplitter);
//   2. each byte of a word is spelt as one printable code point (GPT-2's
//      byte -> unicode table), so every token is a string of such characters;
//   3. within a word, starting from one symbol per byte, the adjacent pair
//      with the lowest merge rank merges (ties: leftmost first) until no
//      adjacent pair is in the merge list;
//   4. each final symbol is a token.
// With ignore_merges (llama3), a word that is itself a token is emitted whole.
// Merges are validated at load time, so symbols are tracked as token ids and
// a pair is looked up as (left id, right id).
//
//===----------------------------------------------------------------------===//
#include <array>
#include <queue>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "frontends/tokenizer/RegexSplitter.h"
#include "frontends/tokenizer/TokenizerImpl.h"
#include "frontends/tokenizer/Utf8.h"

namespace tessel::frontends::tok {

// Raw strings: what llama.cpp's llama-vocab.cpp and the HF tokenizer.json
// files hold. llama.cpp spells out the case-insensitive contractions so that
// only ASCII letters match ((?i:'s) would also match U+017F).
const char kRegexGpt2[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char kRegexLlama3[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char kRegexQwen2[] =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char kHfRegexGpt2[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char kHfRegexLlama3[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char kHfRegexQwen2[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

struct PreEntry {
  const char *name;
  PreTokenizerInfo info;
};

// The tokenizer.ggml.pre values whose llama.cpp pre-tokenizer uses only the
// regexes above (names grouped as llama.cpp groups them).
const std::vector<PreEntry> &preTable() {
  static const std::vector<PreEntry> table = [] {
    std::vector<PreEntry> t;
    PreTokenizerInfo gpt2{{kRegexGpt2}, false};
    PreTokenizerInfo llama3{{kRegexLlama3}, true};
    PreTokenizerInfo llama3Merges{{kRegexLlama3}, false};
    PreTokenizerInfo qwen2{{kRegexQwen2}, false};
    PreTokenizerInfo starcoder{{R"(\p{N})", kRegexGpt2}, false};
    for (const char *n : {"gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais"})
      t.push_back({n, gpt2});
    for (const char *n : {"llama-bpe", "llama3", "llama-v3", "falcon3"})
      t.push_back({n, llama3});
    for (const char *n : {"dbrx", "smaug-bpe"})
      t.push_back({n, llama3Merges});
    for (const char *n : {"qwen2", "stablelm2", "megrez"})
      t.push_back({n, qwen2});
    for (const char *n :
         {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})
      t.push_back({n, starcoder});
    return t;
  }();
  return table;
}

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves,
// the other 68 bytes take U+0100.. in byte order.
struct ByteMap {
  std::array<uint32_t, 256> toCp;
  std::unordered_map<uint32_t, int> fromCp;
  ByteMap() {
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      toCp[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
      fromCp[toCp[b]] = b;
    }
  }
};
const ByteMap &byteMap() {
  static const ByteMap m;
  return m;
}

class BpeTokenizer final : public VocabTokenizer {
public:
  BpeTokenizer(VocabData vocab, BpeOptions opts)
      : VocabTokenizer(std::move(vocab)), opts_(std::move(opts)) {}

  absl::Status init() {
    const int32_t n = vocabSize();
    pieces_.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      switch (vocab_.types[i]) {
      case TokenType::Normal:
        pieces_[i] = decodeByteLevel(vocab_.texts[i]);
        break;
      case TokenType::UserDefined:
        pieces_[i] = vocab_.texts[i];
        break;
      default:
        break; // control, unknown, unused, byte: no text (llama.cpp)
      }
    }
    finishSetup();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      appendUtf8(s, byteToCodepoint(static_cast<uint8_t>(b)));
      byteToken_[b] = find(s);
    }

    auto splitter = RegexSplitter::compile(opts_.regexes);
    if (!splitter.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(vocab_.source, ": ", splitter.status().message()));
    splitter_ = std::move(*splitter);

    merges_.reserve(opts_.merges.size() * 2);
    for (size_t r = 0; r < opts_.merges.size(); ++r) {
      const auto &[left, right] = opts_.merges[r];
      int32_t l = find(left), rt = find(right);
      std::string joined = left + right;
      int32_t m = find(joined);
      const char *missing = l < 0    ? "its left part"
                            : rt < 0 ? "its right part"
                            : m < 0  ? "the merged token"
                                     : nullptr;
      if (missing)
        return absl::InvalidArgumentError(absl::StrCat(vocab_.source, ": merge #", r, " (",
                                                       printable(left), " + ", printable(right),
                                                       ") names ", missing, " ",
                                                       printable(l < 0    ? left
                                                                 : rt < 0 ? right
                                                                          : joined),
                                                       ", which is not in the vocabulary"));
      merges_.emplace(key(l, rt), Merge{static_cast<int32_t>(r), m}); // first rank wins
    }
    opts_.merges.clear();
    opts_.merges.shrink_to_fit();
    return absl::OkStatus();
  }

  std::string kind() const override { return opts_.kind; }

protected:
  absl::Status encodeText(std::string_view text, bool /*atStart*/,
                          std::vector<int32_t> &out) const override {
    std::string prefixed;
    if (opts_.addPrefixSpace && !text.empty() && text[0] != ' ') {
      prefixed = " ";
      prefixed += text;
      text = prefixed;
    }
    std::vector<std::string_view> words;
    if (auto st = splitter_->split(text, words); !st.ok())
      return st;
    for (std::string_view w : words)
      if (auto st = encodeWord(w, out); !st.ok())
        return st;
    return absl::OkStatus();
  }

private:
  struct Merge {
    int32_t rank, result;
  };
  static uint64_t key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }

  static std::string decodeByteLevel(std::string_view t) {
    std::string out;
    for (size_t i = 0; i < t.size();) {
      size_t at = i;
      uint32_t cp = decodeUtf8(t, i);
      int b = (cp & kRawByteFlag) ? -1 : byteFromCodepoint(cp);
      if (b >= 0)
        out += static_cast<char>(b);
      else
        out.append(t.substr(at, i - at)); // not a byte-level character: keep it as is
    }
    return out;
  }

  absl::Status encodeWord(std::string_view word, std::vector<int32_t> &out) const {
    if (opts_.ignoreMerges) {
      std::string spelt;
      for (char c : word)
        appendUtf8(spelt, byteToCodepoint(static_cast<uint8_t>(c)));
      if (int32_t id = find(spelt); id >= 0) {
        out.push_back(id);
        return absl::OkStatus();
      }
    }

    struct Symbol {
      int32_t id; // -1: a byte with no token of its own (never merges)
      int32_t prev, next;
      bool alive;
      uint8_t byte;
    };
    const int32_t n = static_cast<int32_t>(word.size());
    std::vector<Symbol> sym(n);
    for (int32_t i = 0; i < n; ++i) {
      uint8_t b = static_cast<uint8_t>(word[i]);
      sym[i] = {byteToken_[b], i - 1, i + 1 < n ? i + 1 : -1, true, b};
    }

    struct Pair {
      int32_t rank, left, right, leftId, rightId, result;
    };
    auto lowerPriority = [](const Pair &a, const Pair &b) {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(lowerPriority)> queue(lowerPriority);
    auto tryPair = [&](int32_t l, int32_t r) {
      if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0)
        return;
      auto it = merges_.find(key(sym[l].id, sym[r].id));
      if (it == merges_.end())
        return;
      queue.push({it->second.rank, l, r, sym[l].id, sym[r].id, it->second.result});
    };
    for (int32_t i = 1; i < n; ++i)
      tryPair(i - 1, i);

    while (!queue.empty()) {
      Pair p = queue.top();
      queue.pop();
      Symbol &l = sym[p.left], &r = sym[p.right];
      // Stale if either side merged since the pair was queued.
      if (!l.alive || !r.alive || l.next != p.right || l.id != p.leftId || r.id != p.rightId)
        continue;
      l.id = p.result;
      l.next = r.next;
      r.alive = false;
      if (r.next >= 0)
        sym[r.next].prev = p.left;
      tryPair(l.prev, p.left);
      tryPair(p.left, l.next);
    }

    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = sym[i].next) {
      int32_t id = sym[i].id >= 0 ? sym[i].id : vocab_.unk;
      if (id < 0)
        return absl::InvalidArgumentError(absl::StrFormat(
            "byte 0x%02X has no byte-level token in the vocabulary (and there is no unknown "
            "token)",
            sym[i].byte));
      out.push_back(id);
    }
    return absl::OkStatus();
  }

  BpeOptions opts_;
  std::unique_ptr<RegexSplitter> splitter_;
  std::array<int32_t, 256> byteToken_;
  std::unordered_map<uint64_t, Merge> merges_;
};

} // namespace

uint32_t byteToCodepoint(uint8_t b) { return byteMap().toCp[b]; }

int byteFromCodepoint(uint32_t cp) {
  const auto &m = byteMap().fromCp;
  auto it = m.find(cp);
  return it == m.end() ? -1 : it->second;
}

const PreTokenizerInfo *findGgufPreTokenizer(std::string_view pre) {
  for (const PreEntry &e : preTable())
    if (pre == e.name)
      return &e.info;
  return nullptr;
}

std::string supportedGgufPreTokenizers() {
  std::vector<std::string> names;
  for (const PreEntry &e : preTable())
    names.push_back(e.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> makeBpeTokenizer(VocabData vocab, BpeOptions opts) {
  const size_t n = vocab.texts.size();
  if (n == 0)
    return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": empty vocabulary"));
  if (static_cast<int64_t>(n) > kMaxVocab)
    return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": vocabulary of ", n,
                                                   " tokens is absurd (limit ", kMaxVocab, ")"));
  if (vocab.types.size() != n)
    return absl::InvalidArgumentError(
        absl::StrCat(vocab.source, ": ", vocab.types.size(), " token types for ", n, " tokens"));
  if (opts.merges.size() > static_cast<size_t>(INT32_MAX))
    return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": absurd merge count"));
  for (int32_t *id : {&vocab.bos, &vocab.eos, &vocab.unk})
    if (*id < -1 || *id >= static_cast<int64_t>(n))
      return absl::InvalidArgumentError(absl::StrCat(vocab.source, ": special token id ", *id,
                                                     " is outside the vocabulary of ", n));
  auto t = std::make_unique<BpeTokenizer>(std::move(vocab), std::move(opts));
  if (auto st = t->init(); !st.ok())
    return st;
  return std::unique_ptr<Tokenizer>(std::move(t));
}

} // namespace tessel::frontends::tok
