//===- tokenizer_vocab_fuzzer.cpp - tokenizer vocabulary loaders -----------===//
//
// Input: a vocabulary file. An input starting with "GGUF" is parsed as a
// GGUF and loaded with Tokenizer::fromGguf (SPM "llama" or byte-level BPE
// "gpt2" + pre-tokenizer); anything else is written to a scratch file and
// loaded as a llama2.c tokenizer.bin of 512 tokens (Tokenizer::fromLlama2c).
// A loader must answer with an error naming the file, or a tokenizer that
// encodes and decodes sample text without crashing, with ids inside its
// vocabulary.
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

const char kGguf[] = "fuzz-vocab.gguf";
constexpr int32_t kLlama2cVocab = 512;

const char *const kSamples[] = {
    "Hello world",
    " Hello  World!\n\n\ttabs 123456789 's 'll",
    "h\xc3\xa9llo w\xc3\xb6rld \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\xa6\x99",
    "<s><unk></s><|endoftext|><|im_start|>",
    "",
    " ",
    "\xe2\x96\x81the"};

void exercise(const Tokenizer &t) {
  const int32_t n = t.vocabSize();
  FUZZ_CHECK(n > 0, "empty vocabulary accepted");
  for (int32_t id = 0; id < n && id < 4096; ++id)
    (void)t.piece(id);
  (void)t.piece(-1), (void)t.piece(n), (void)t.bos(), (void)t.eos(), (void)t.kind();
  for (const char *s : kSamples) {
    for (bool special : {false, true}) {
      auto ids = special ? t.encodeWithSpecial(s, "sample") : t.encode(s, "sample");
      if (!ids.ok()) {
        checkError(ids.status(), "sample");
        continue;
      }
      for (int32_t id : *ids)
        FUZZ_CHECK(id >= 0 && id < n, "id %d outside the vocabulary", id);
      auto back = t.decode(*ids);
      FUZZ_CHECK(back.ok(), "decode of encode failed: %s", msgOf(back.status()).c_str());
    }
  }
}

std::string gguf(GgufWriter &w) {
  std::string path = scratchDir() + "/seed.gguf", bytes;
  if (!w.write(path).ok() || !readFile(path, bytes))
    std::abort();
  return bytes;
}

// GPT-2's byte -> printable code point map (bytes_to_unicode).
std::string byteToken(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int k = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
        ++k;
    cp = 256 + k;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

void writeSeeds(const std::string &dir) {
  // SPM in GGUF.
  {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
    std::vector<float> scores = {0, 0, 0};
    std::vector<int32_t> types = {2, 3, 3};
    char buf[8];
    for (int b = 0; b < 256; ++b) {
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      tokens.push_back(buf), scores.push_back(0), types.push_back(6);
    }
    int i = 0;
    for (const char *p : {"\xe2\x96\x81", "e", "l", "o", "\xe2\x96\x81H", "He", "ll", "llo",
                          "\xe2\x96\x81Hello", "\xe2\x96\x81w", "or", "ld", "\xe2\x96\x81world"})
      tokens.push_back(p), scores.push_back(-static_cast<float>(i++)), types.push_back(1);
    GgufWriter w;
    w.addString("tokenizer.ggml.model", "llama");
    w.addStrings("tokenizer.ggml.tokens", tokens);
    w.addF32s("tokenizer.ggml.scores", scores);
    w.addI32s("tokenizer.ggml.token_type", types);
    w.addU32("tokenizer.ggml.bos_token_id", 1);
    w.addU32("tokenizer.ggml.eos_token_id", 2);
    w.addU32("tokenizer.ggml.unknown_token_id", 0);
    w.addBool("tokenizer.ggml.add_space_prefix", true);
    writeSeed(dir, "spm.gguf", gguf(w));
  }
  // Byte-level BPE in GGUF, for a few pre-tokenizers.
  for (const char *pre : {"gpt-2", "llama-bpe", "qwen2"}) {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b)
      tokens.push_back(byteToken(b));
    const std::string G = "\xc4\xa0"; // the byte-level space
    std::vector<std::string> merges = {G + " t", "h e", G + "t he", "i n", "e r",
                                       G + " a", "l l", "ll o",     "H e", "He llo",
                                       G + " w", "o r", "or ld"};
    for (const std::string &m : merges) {
      std::string joined = m;
      joined.erase(joined.find(' '), 1);
      tokens.push_back(joined);
    }
    tokens.push_back("<|endoftext|>");
    std::vector<int32_t> types(tokens.size(), 1);
    types.back() = 3;
    GgufWriter w;
    w.addString("tokenizer.ggml.model", "gpt2");
    w.addString("tokenizer.ggml.pre", pre);
    w.addStrings("tokenizer.ggml.tokens", tokens);
    w.addI32s("tokenizer.ggml.token_type", types);
    w.addStrings("tokenizer.ggml.merges", merges);
    w.addU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokens.size() - 1));
    w.addU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokens.size() - 1));
    writeSeed(dir, std::string("bpe-") + pre + ".gguf", gguf(w));
  }
  // llama2.c tokenizer.bin: the real one, and a synthetic one.
  std::string real;
  if (readFile(sharedDir() + "/models/stories260K/tok512.bin", real))
    writeSeed(dir, "tok512.bin", real);
  std::string bin;
  auto put = [&](const void *p, size_t n) { bin.append(static_cast<const char *>(p), n); };
  int32_t maxLen = 8;
  put(&maxLen, 4);
  for (int32_t i = 0; i < kLlama2cVocab; ++i) {
    char text[16];
    if (i == 0)
      std::snprintf(text, sizeof text, "<unk>");
    else if (i == 1)
      std::snprintf(text, sizeof text, "\n<s>\n");
    else if (i == 2)
      std::snprintf(text, sizeof text, "\n</s>\n");
    else if (i < 259)
      std::snprintf(text, sizeof text, "<0x%02X>", i - 3);
    else
      std::snprintf(text, sizeof text, " t%d", i);
    float score = -static_cast<float>(i);
    int32_t len = static_cast<int32_t>(std::strlen(text));
    put(&score, 4), put(&len, 4), put(text, len);
  }
  writeSeed(dir, "synthetic.bin", bin);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  writeSeedsAndExitInSeedMode(writeSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) {
    auto f = GgufFile::parse(nullptr, data, size, kGguf);
    if (!f.ok())
      return 0; // gguf_fuzzer covers the GGUF reader
    auto t = Tokenizer::fromGguf(**f);
    if (!t.ok()) {
      checkError(t.status(), kGguf);
      return 0;
    }
    exercise(**t);
    return 0;
  }
  std::string path = scratchFile("tokenizer.bin", data, size);
  auto t = Tokenizer::fromLlama2c(path, kLlama2cVocab);
  if (!t.ok()) {
    checkError(t.status(), path);
    return 0;
  }
  FUZZ_CHECK((*t)->vocabSize() == kLlama2cVocab, "vocabulary size %d", (*t)->vocabSize());
  exercise(**t);
  return 0;
}
