//===- tokenizer_fuzzer.cpp - encode/decode arbitrary bytes -----------------===//
//
// Input: arbitrary bytes, encoded by a byte-level BPE tokenizer (GPT-2's
// vocabulary from ../shared/tokenizers/ggml-vocab-gpt-2.gguf) and a
// SentencePiece one (stories260K's tok512.bin). The contract:
//   * valid UTF-8 encodes to ids inside the vocabulary, and decodes back to
//     the same text (SPM: unless the text holds U+2581, SentencePiece's own
//     space marker, which decodes as a space by design);
//   * invalid UTF-8 (checked here independently, RFC 3629) is an
//     InvalidArgument error naming the input and "UTF-8";
//   * encodeWithSpecial obeys the same UTF-8 rule;
//   * the bytes read as int32 ids decode without crashing, and an id outside
//     the vocabulary is an error.
// Without ../shared the SPM side falls back to a small synthetic vocabulary.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "FuzzCommon.h"
#include "frontends/Gguf.h"
#include "frontends/tokenizer/Tokenizer.h"

using namespace tessel::frontends;
using namespace tessel::fuzz;

namespace {

struct Loaded {
  std::unique_ptr<Tokenizer> tok;
  bool exactRoundTrip; // BPE: always; SPM: unless the text holds U+2581
};
std::vector<Loaded> &tokenizers() {
  static std::vector<Loaded> t;
  return t;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
bool validUtf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07, min = 0x10000;
    else
      return false;
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::unique_ptr<Tokenizer> syntheticSpm() {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf), scores.push_back(0), types.push_back(6);
  }
  int i = 0;
  for (const char *p :
       {"\xe2\x96\x81", "e", "t", "a", "\xe2\x96\x81t", "he", "\xe2\x96\x81the", "in",
        "\xe2\x96\x81"
        "a",
        "er", "\xc3\xa9", "\xe4\xbd\xa0"})
    tokens.push_back(p), scores.push_back(-static_cast<float>(i++)), types.push_back(1);
  GgufWriter w;
  w.addString("tokenizer.ggml.model", "llama");
  w.addStrings("tokenizer.ggml.tokens", tokens);
  w.addF32s("tokenizer.ggml.scores", scores);
  w.addI32s("tokenizer.ggml.token_type", types);
  std::string path = scratchDir() + "/synthetic-spm.gguf";
  if (!w.write(path).ok())
    std::abort();
  auto f = GgufFile::open(path);
  if (!f.ok())
    std::abort();
  auto t = Tokenizer::fromGguf(**f);
  if (!t.ok()) {
    std::fprintf(stderr, "synthetic SPM vocab: %s\n", msgOf(t.status()).c_str());
    std::abort();
  }
  return std::move(*t);
}

void load() {
  std::string shared = sharedDir();
  std::string gpt2 = shared + "/tokenizers/ggml-vocab-gpt-2.gguf";
  if (access(gpt2.c_str(), R_OK) == 0) {
    auto f = GgufFile::open(gpt2);
    if (!f.ok()) {
      std::fprintf(stderr, "%s\n", msgOf(f.status()).c_str());
      std::abort();
    }
    auto t = Tokenizer::fromGguf(**f);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", msgOf(t.status()).c_str());
      std::abort();
    }
    tokenizers().push_back({std::move(*t), true});
  } else {
    std::fprintf(stderr, "tokenizer_fuzzer: %s not found; fuzzing without a BPE vocabulary\n",
                 gpt2.c_str());
  }
  std::string spm = shared + "/models/stories260K/tok512.bin";
  if (access(spm.c_str(), R_OK) == 0) {
    auto t = Tokenizer::fromLlama2c(spm, 512);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", msgOf(t.status()).c_str());
      std::abort();
    }
    tokenizers().push_back({std::move(*t), false});
  } else {
    std::fprintf(stderr, "tokenizer_fuzzer: %s not found; using a synthetic SPM vocabulary\n",
                 spm.c_str());
    tokenizers().push_back({syntheticSpm(), false});
  }
}

void writeSeeds(const std::string &dir) {
  int n = 0;
  for (const char *name : {"gpt-2", "llama-spm", "qwen2"}) {
    std::string text;
    if (!readFile(sharedDir() + "/tokenizers/ggml-vocab-" + name + ".gguf.inp", text))
      continue;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0; pos < text.size();) {
      size_t end = text.find(sep, pos);
      if (end == std::string::npos)
        end = text.size();
      writeSeed(dir, "inp-" + std::to_string(n++), text.substr(pos, end - pos));
      pos = end + sep.size();
    }
  }
  const char *extra[] = {"Once upon a time, there was a little girl named Lily.",
                         "h\xc3\xa9llo w\xc3\xb6rld \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\xa6\x99",
                         "<s>hi</s><|endoftext|>",
                         "  \t\n\r\n 123456 ...!!! 's 't 'RE",
                         "\xe2\x96\x81leading marker",
                         "abc\xff",
                         "\xc0\x80",
                         "\xed\xa0\x80",
                         "ok\xc3",
                         "\xf4\x90\x80\x80"};
  for (const char *e : extra)
    writeSeed(dir, "extra-" + std::to_string(n++), e);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  load();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  const bool valid = validUtf8(data, size);
  const bool hasMarker = text.find("\xe2\x96\x81") != std::string_view::npos;

  for (const Loaded &l : tokenizers()) {
    const Tokenizer &t = *l.tok;
    const std::string kindName = t.kind();
    const char *kind = kindName.c_str();
    for (bool special : {false, true}) {
      auto ids = special ? t.encodeWithSpecial(text, "fuzz-input") : t.encode(text, "fuzz-input");
      if (!valid) {
        FUZZ_CHECK(!ids.ok(), "%s: invalid UTF-8 was encoded", kind);
        FUZZ_CHECK(ids.status().code() == absl::StatusCode::kInvalidArgument, "%s: code", kind);
        checkError(ids.status(), "fuzz-input");
        checkError(ids.status(), "UTF-8");
        continue;
      }
      FUZZ_CHECK(ids.ok(), "%s: valid UTF-8 failed to encode: %s", kind,
                 msgOf(ids.status()).c_str());
      for (int32_t id : *ids) {
        FUZZ_CHECK(id >= 0 && id < t.vocabSize(), "%s: id %d outside the vocabulary", kind, id);
        (void)t.piece(id);
      }
      auto back = t.decode(*ids);
      FUZZ_CHECK(back.ok(), "%s: decode of encode failed: %s", kind, msgOf(back.status()).c_str());
      if (!special && (l.exactRoundTrip || !hasMarker))
        FUZZ_CHECK(*back == text, "%s: decode(encode(text)) != text (%zu vs %zu bytes)", kind,
                   back->size(), text.size());
    }

    // The bytes as ids.
    std::vector<int32_t> raw(size / 4);
    if (!raw.empty())
      std::memcpy(raw.data(), data, raw.size() * 4);
    bool inRange = true;
    for (size_t i = 0; i < raw.size(); ++i) {
      inRange &= raw[i] >= 0 && raw[i] < t.vocabSize();
      (void)t.piece(raw[i], i ? raw[i - 1] : -1);
    }
    auto s = t.decode(raw);
    FUZZ_CHECK(s.ok() == inRange, "%s: decode of %s ids %s", kind,
               inRange ? "in-range" : "out-of-range", s.ok() ? "succeeded" : "failed");
  }
  return 0;
}
