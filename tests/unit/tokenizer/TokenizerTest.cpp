//===- TokenizerTest.cpp - tokenizers against llama.cpp's vectors ---------===//
//
// ../shared/tokenizers holds vocab-only GGUF files from llama.cpp with test
// vectors: X.gguf.inp (texts, each followed by "\n__ggml_vocab_test__\n") and
// X.gguf.out (line i: the ids llama.cpp gives text i, no BOS). Every line is
// its own test, for encode and for decode, through GGUF and (byte-level
// vocabularies) through a tokenizer.json built from the same vocabulary.
// ../shared is provided by CI; when it is missing these tests fail, loudly.
//
//===----------------------------------------------------------------------===//
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "frontends/Gguf.h"
#include "frontends/tokenizer/RegexSplitter.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "frontends/tokenizer/TokenizerImpl.h"
#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace tessel::frontends {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kShared = TESSEL_SOURCE_DIR "/../shared";
const std::string kVectors = kShared + "/tokenizers";
const std::string kStories = kShared + "/models/stories260K";

std::string vocabPath(const std::string &name) {
  return kVectors + "/ggml-vocab-" + name + ".gguf";
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

void writeFile(const std::string &path, const std::string &data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string contains(const absl::Status &st, const std::string &needle) {
  std::string msg(st.message());
  return msg.find(needle) != std::string::npos ? "" : "message lacks '" + needle + "': " + msg;
}

//===----------------------------------------------------------------------===//
// Test vectors
//===----------------------------------------------------------------------===//

struct VectorCase {
  std::string vocab; // "llama-spm", "gpt-2", "qwen2"
  int index = 0;
  std::string text;
  std::vector<int32_t> ids;
  std::string error; // set when the vectors could not be read: the test fails with it
};

// Texts are written as text + "\n__ggml_vocab_test__\n" one after another, so
// splitting on that separator gives the texts exactly (an empty text is an
// empty piece; the newline before each separator belongs to it).
std::vector<VectorCase> loadVectors(const std::string &vocab) {
  const std::string inp = vocabPath(vocab) + ".inp", outp = vocabPath(vocab) + ".out";
  std::string in, out;
  if (!readFile(inp, in) || !readFile(outp, out)) {
    VectorCase c;
    c.vocab = vocab;
    c.error = "test vectors missing: cannot read " + inp + " / " + outp +
              " (../shared is provided by CI next to the repository; these tests need it)";
    return {c};
  }
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t from = 0;
  for (size_t at; (at = in.find(sep, from)) != std::string::npos; from = at + sep.size())
    texts.push_back(in.substr(from, at - from));
  std::vector<std::string> lines;
  std::istringstream os(out);
  for (std::string line; std::getline(os, line);)
    lines.push_back(line);

  std::vector<VectorCase> cases;
  if (from != in.size() || texts.size() != lines.size() || texts.empty()) {
    VectorCase c;
    c.vocab = vocab;
    c.error = inp + ": " + std::to_string(texts.size()) + " texts (" +
              std::to_string(in.size() - from) + " bytes after the last separator) but " +
              std::to_string(lines.size()) + " lines in " + outp;
    return {c};
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    VectorCase c;
    c.vocab = vocab;
    c.index = static_cast<int>(i);
    c.text = texts[i];
    std::istringstream ls(lines[i]);
    for (long v; ls >> v;)
      c.ids.push_back(static_cast<int32_t>(v));
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<VectorCase> casesFor(std::initializer_list<const char *> vocabs) {
  std::vector<VectorCase> all;
  for (const char *v : vocabs) {
    auto c = loadVectors(v);
    all.insert(all.end(), c.begin(), c.end());
  }
  return all;
}

// What gtest prints for a case (its default dumps the object's bytes).
void PrintTo(const VectorCase &c, std::ostream *os) {
  *os << c.vocab << " #" << c.index << (c.error.empty() ? "" : " (vectors missing)");
}

std::string caseName(const testing::TestParamInfo<VectorCase> &info) {
  std::string n = info.param.vocab + "_" + (info.param.index < 10 ? "0" : "") +
                  std::to_string(info.param.index);
  for (char &c : n)
    if (!isalnum(static_cast<unsigned char>(c)))
      c = '_';
  if (!info.param.error.empty())
    n += "_missing";
  return n;
}

std::string showIds(const std::vector<int32_t> &ids) {
  std::string s;
  for (int32_t id : ids)
    s += " " + std::to_string(id);
  return s;
}

// One tokenizer per GGUF per test process (ctest runs each test on its own).
const Tokenizer *ggufTokenizer(const std::string &vocab) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto &slot = cache[vocab];
  if (!slot) {
    auto file = GgufFile::open(vocabPath(vocab));
    if (!file.ok()) {
      ADD_FAILURE() << file.status();
      return nullptr;
    }
    auto t = Tokenizer::fromGguf(**file);
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      return nullptr;
    }
    slot = std::move(*t);
  }
  return slot.get();
}

//===----------------------------------------------------------------------===//
// tokenizer.json built from a GGUF vocabulary
//===----------------------------------------------------------------------===//

// What HF's files hold for these pre-tokenizers (tokenizer.json of Qwen2, Llama 3).
constexpr char kQwen2Split[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr char kLlama3Split[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Writes `vocab`'s GGUF vocabulary as a tokenizer.json in the style of the
// model family: GPT-2 (ByteLevel with its regex, merges as "a b", every token
// in model.vocab) or Qwen2 (NFC, Split + ByteLevel, merges as pairs, added
// tokens only in added_tokens).
absl::StatusOr<std::string> writeHfJson(const std::string &vocab, const std::string &dir) {
  auto file = GgufFile::open(vocabPath(vocab));
  if (!file.ok())
    return file.status();
  const GgufFile &g = **file;
  auto tokens = g.getStrings("tokenizer.ggml.tokens");
  auto types = g.getInts("tokenizer.ggml.token_type");
  auto merges = g.getStrings("tokenizer.ggml.merges");
  if (!tokens.ok())
    return tokens.status();
  if (!types.ok())
    return types.status();
  if (!merges.ok())
    return merges.status();
  const bool qwen = vocab == "qwen2";

  json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false}};
  json v = json::object(), added = json::array();
  for (size_t i = 0; i < (*tokens)->size(); ++i) {
    const std::string &t = (**tokens)[i];
    int64_t ty = (**types)[i];
    if (ty == 3 || ty == 4)
      added.push_back({{"id", i},
                       {"content", t},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", ty == 4},
                       {"special", ty == 3}});
    if (ty == 1 || !qwen)
      v[t] = i;
  }
  model["vocab"] = std::move(v);
  json m = json::array();
  for (const std::string &line : **merges) {
    if (!qwen) {
      m.push_back(line);
      continue;
    }
    size_t sp = line.find(' ', 1);
    m.push_back(json::array({line.substr(0, sp), line.substr(sp + 1)}));
  }
  model["merges"] = std::move(m);

  json root = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}};
  root["added_tokens"] = std::move(added);
  if (qwen) {
    root["normalizer"] = {{"type", "NFC"}};
    root["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers", json::array({{{"type", "Split"},
                                                             {"pattern", {{"Regex", kQwen2Split}}},
                                                             {"behavior", "Isolated"},
                                                             {"invert", false}},
                                                            {{"type", "ByteLevel"},
                                                             {"add_prefix_space", false},
                                                             {"trim_offsets", false},
                                                             {"use_regex", false}}})}};
  } else {
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = {{"type", "ByteLevel"},
                             {"add_prefix_space", false},
                             {"trim_offsets", true},
                             {"use_regex", true}};
  }
  root["post_processor"] = nullptr;
  root["decoder"] = {{"type", "ByteLevel"},
                     {"add_prefix_space", true},
                     {"trim_offsets", true},
                     {"use_regex", true}};
  root["model"] = std::move(model);

  fs::create_directories(dir);
  std::string path = dir + "/tokenizer.json";
  writeFile(path, root.dump());
  return path;
}

std::string tempDir(const std::string &name) {
  fs::path d =
      fs::path(testing::TempDir()) / ("tessel-tok-" + std::to_string(::getpid()) + "-" + name);
  fs::create_directories(d);
  return d.string();
}

// The tokenizer.json is written once per build tree (ctest runs every test in
// its own process) and renamed into place, so parallel tests never see half a
// file. Bump the version in the name when writeHfJson changes.
absl::StatusOr<std::string> cachedHfJson(const std::string &vocab) {
  const fs::path dir = fs::path(TESSEL_BINARY_DIR) / "tokenizer_test";
  const fs::path path = dir / (vocab + "-v1.tokenizer.json");
  std::error_code ec;
  if (fs::is_regular_file(path, ec))
    return path.string();
  std::string tmp = tempDir("hf-" + vocab);
  auto written = writeHfJson(vocab, tmp);
  if (!written.ok())
    return written.status();
  fs::create_directories(dir, ec);
  fs::path staged = dir / (vocab + "." + std::to_string(::getpid()) + ".tmp");
  fs::copy_file(*written, staged, fs::copy_options::overwrite_existing, ec);
  if (!ec)
    fs::rename(staged, path, ec);
  fs::remove_all(tmp);
  if (ec)
    return absl::InternalError("cannot place " + path.string() + ": " + ec.message());
  return path.string();
}

const Tokenizer *hfTokenizer(const std::string &vocab) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto &slot = cache[vocab];
  if (!slot) {
    auto path = cachedHfJson(vocab);
    if (!path.ok()) {
      ADD_FAILURE() << path.status();
      return nullptr;
    }
    auto t = Tokenizer::fromHfJson(*path);
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      return nullptr;
    }
    slot = std::move(*t);
  }
  return slot.get();
}

//===----------------------------------------------------------------------===//
// Every vector line: GGUF
//===----------------------------------------------------------------------===//

class GgufVectors : public testing::TestWithParam<VectorCase> {};

TEST_P(GgufVectors, Encode) {
  const VectorCase &c = GetParam();
  if (!c.error.empty())
    FAIL() << c.error;
  const Tokenizer *t = ggufTokenizer(c.vocab);
  ASSERT_NE(t, nullptr);
  auto ids = t->encode(c.text, "vector");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, c.ids) << "text #" << c.index << ": got" << showIds(*ids) << "\nwant"
                         << showIds(c.ids);
}

TEST_P(GgufVectors, Decode) {
  const VectorCase &c = GetParam();
  if (!c.error.empty())
    FAIL() << c.error;
  const Tokenizer *t = ggufTokenizer(c.vocab);
  ASSERT_NE(t, nullptr);
  auto text = t->decode(c.ids);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, c.text) << "ids" << showIds(c.ids);
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, GgufVectors,
                         testing::ValuesIn(casesFor({"llama-spm", "gpt-2", "qwen2"})), caseName);

//===----------------------------------------------------------------------===//
// Every vector line: tokenizer.json written from the byte-level vocabularies
//===----------------------------------------------------------------------===//

class HfJsonVectors : public testing::TestWithParam<VectorCase> {};

TEST_P(HfJsonVectors, Encode) {
  const VectorCase &c = GetParam();
  if (!c.error.empty())
    FAIL() << c.error;
  const Tokenizer *t = hfTokenizer(c.vocab);
  ASSERT_NE(t, nullptr);
  auto ids = t->encode(c.text, "vector");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, c.ids) << "text #" << c.index << ": got" << showIds(*ids) << "\nwant"
                         << showIds(c.ids);
}

TEST_P(HfJsonVectors, Decode) {
  const VectorCase &c = GetParam();
  if (!c.error.empty())
    FAIL() << c.error;
  const Tokenizer *t = hfTokenizer(c.vocab);
  ASSERT_NE(t, nullptr);
  auto text = t->decode(c.ids);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, c.text);
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, HfJsonVectors, testing::ValuesIn(casesFor({"gpt-2", "qwen2"})),
                         caseName);

TEST(HfJson, KindsAndSpecialTokensMatchTheGguf) {
  for (const char *v : {"gpt-2", "qwen2"}) {
    const Tokenizer *hf = hfTokenizer(v);
    const Tokenizer *gg = ggufTokenizer(v);
    ASSERT_NE(hf, nullptr);
    ASSERT_NE(gg, nullptr);
    EXPECT_EQ(hf->kind(), gg->kind()) << v;
    EXPECT_EQ(hf->vocabSize(), gg->vocabSize()) << v;
    EXPECT_EQ(hf->bos(), gg->bos()) << v;
    EXPECT_EQ(hf->eos(), gg->eos()) << v;
  }
}

//===----------------------------------------------------------------------===//
// The real llama2.c tokenizer (stories260K) against its GGUF twin
//===----------------------------------------------------------------------===//

const Tokenizer *llama2cTokenizer() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::fromLlama2c(kStories + "/tok512.bin", 512);
    if (!r.ok()) {
      ADD_FAILURE() << r.status();
      return std::unique_ptr<Tokenizer>();
    }
    return std::move(*r);
  }();
  return t.get();
}

const Tokenizer *stories260KGguf() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto f = GgufFile::open(kStories + "/stories260K.gguf");
    if (!f.ok()) {
      ADD_FAILURE() << f.status();
      return std::unique_ptr<Tokenizer>();
    }
    auto r = Tokenizer::fromGguf(**f);
    if (!r.ok()) {
      ADD_FAILURE() << r.status();
      return std::unique_ptr<Tokenizer>();
    }
    return std::move(*r);
  }();
  return t.get();
}

constexpr char kStory[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. \"Can I play?\" she asked her mom.\n\nHer mom "
    "said, \"Yes, but be careful!\" Lily's ball rolled far away... 3 dogs ran after it 😀.";

TEST(Llama2c, OnceUponATime) {
  const Tokenizer *t = llama2cTokenizer();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->kind(), "spm");
  EXPECT_EQ(t->vocabSize(), 512);
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  // Ids from llama2.c's own encode (run.c), by an independent reimplementation.
  auto ids = t->encode("Once upon a time");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{403, 407, 261, 378})) << showIds(*ids);
  EXPECT_EQ(t->piece(403), " Once");
  EXPECT_EQ(t->piece(403, /*prev=*/1), "Once"); // after BOS the space goes
  EXPECT_EQ(t->piece(407, 403), " upon");
  EXPECT_EQ(t->piece(13), "\n"); // <0x0A>
  EXPECT_EQ(t->piece(1), "");    // BOS
  EXPECT_EQ(t->piece(512), "");
  auto text = t->decode({1, 403, 407, 261, 378, 2});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "Once upon a time");
}

TEST(Llama2c, StoryMatchesGgufAndRoundTrips) {
  const Tokenizer *a = llama2cTokenizer();
  const Tokenizer *b = stories260KGguf();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->vocabSize(), 512);
  for (int32_t id = 0; id < 512; ++id)
    EXPECT_EQ(a->piece(id), b->piece(id)) << "id " << id;
  auto x = a->encode(kStory), y = b->encode(kStory);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(*x, *y);
  auto back = a->decode(*x);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, kStory);
  auto ids = a->encode("Once upon a time, there was a little girl named Lily.");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421,
                                        395, 317, 426}))
      << showIds(*ids);
}

class Llama2cVsGguf : public testing::TestWithParam<VectorCase> {};

TEST_P(Llama2cVsGguf, SameIds) {
  const VectorCase &c = GetParam();
  if (!c.error.empty())
    FAIL() << c.error;
  const Tokenizer *a = llama2cTokenizer();
  const Tokenizer *b = stories260KGguf();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto x = a->encode(c.text), y = b->encode(c.text);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(*x, *y) << "llama2.c" << showIds(*x) << "\ngguf   " << showIds(*y);
  auto back = a->decode(*x);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c.text);
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, Llama2cVsGguf, testing::ValuesIn(casesFor({"llama-spm"})),
                         caseName);

//===----------------------------------------------------------------------===//
// Behaviour beyond the vectors
//===----------------------------------------------------------------------===//

TEST(Gguf, KindsAndSpecialIds) {
  const Tokenizer *spm = ggufTokenizer("llama-spm");
  const Tokenizer *gpt2 = ggufTokenizer("gpt-2");
  const Tokenizer *qwen = ggufTokenizer("qwen2");
  ASSERT_TRUE(spm && gpt2 && qwen);
  EXPECT_EQ(spm->kind(), "spm");
  EXPECT_EQ(gpt2->kind(), "bpe:gpt-2");
  EXPECT_EQ(qwen->kind(), "bpe:qwen2");
  EXPECT_EQ(spm->vocabSize(), 32000);
  EXPECT_EQ(spm->bos(), 1);
  EXPECT_EQ(spm->eos(), 2);
  EXPECT_TRUE(spm->addsSpacePrefix());
  EXPECT_FALSE(gpt2->addsSpacePrefix());
  EXPECT_EQ(gpt2->bos(), 50256);
  EXPECT_EQ(gpt2->eos(), 50256);
  EXPECT_EQ(qwen->eos(), 151643);
  EXPECT_EQ(gpt2->piece(50256), ""); // control tokens decode to nothing
  EXPECT_EQ(gpt2->piece(220), " ");  // "Ġ"
}

TEST(Gguf, SpecialTokensOnlyWhenAsked) {
  const Tokenizer *qwen = ggufTokenizer("qwen2");
  ASSERT_NE(qwen, nullptr);
  const std::string chat = "<|im_start|>user\nhi<|im_end|>";
  auto plain = qwen->encode(chat), special = qwen->encodeWithSpecial(chat);
  ASSERT_TRUE(plain.ok() && special.ok());
  EXPECT_EQ(std::count(plain->begin(), plain->end(), 151644), 0);
  ASSERT_GE(special->size(), 3u);
  EXPECT_EQ(special->front(), 151644);
  EXPECT_EQ(special->back(), 151645);
  // User-defined tokens are always matched whole, as llama.cpp does.
  auto pad = qwen->encode("a[PAD151646]b");
  ASSERT_TRUE(pad.ok());
  EXPECT_EQ(std::count(pad->begin(), pad->end(), 151646), 1) << showIds(*pad);

  const Tokenizer *spm = ggufTokenizer("llama-spm");
  ASSERT_NE(spm, nullptr);
  auto s = spm->encodeWithSpecial("<s>Hello");
  ASSERT_TRUE(s.ok());
  ASSERT_FALSE(s->empty());
  EXPECT_EQ(s->front(), 1);
  auto decoded = spm->decode(*s);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "Hello");
}

// Random text of every script class the regexes care about round-trips, and
// encodes the same through GGUF and tokenizer.json.
std::string randomText(std::mt19937 &rng, size_t chars) {
  static const std::vector<uint32_t> pool = {
      ' ',    ' ',    ' ',     '\n',    '\t',   '\r',   'a',    'Z',    '0',    '7',    '\'',
      's',    '.',    '!',     '-',     0xA0,   0xE9,   0x416,  0x5D0,  0x627,  0x905,  0x3042,
      0x4E2D, 0xAC00, 0x1F600, 0x1F1FA, 0x200D, 0x2028, 0x3000, 0x0301, 0xFF10, 0x10348};
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::uniform_int_distribution<uint32_t> any(0x20, 0x2FFF);
  std::string s;
  for (size_t i = 0; i < chars; ++i) {
    uint32_t cp = (rng() % 5 == 0) ? any(rng) : pool[pick(rng)];
    // Surrogates are not text; U+2581 is SentencePiece's own space (SPM cannot
    // tell it from ' ', as in SentencePiece and llama.cpp).
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x2581)
      cp = 'x';
    std::string u;
    if (cp < 0x80)
      u = std::string(1, static_cast<char>(cp));
    else if (cp < 0x800)
      u = {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    else if (cp < 0x10000)
      u = {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    else
      u = {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)),
           char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    s += u;
  }
  return s;
}

TEST(RoundTrip, RandomTextEveryTokenizer) {
  std::mt19937 rng(1234);
  std::vector<std::pair<std::string, const Tokenizer *>> all = {
      {"llama-spm", ggufTokenizer("llama-spm")},
      {"gpt-2", ggufTokenizer("gpt-2")},
      {"qwen2", ggufTokenizer("qwen2")},
      {"llama2.c", llama2cTokenizer()}};
  for (int round = 0; round < 40; ++round) {
    std::string text = randomText(rng, 1 + rng() % 60);
    for (auto &[name, t] : all) {
      ASSERT_NE(t, nullptr) << name;
      auto ids = t->encode(text);
      ASSERT_TRUE(ids.ok()) << name << ": " << ids.status();
      auto back = t->decode(*ids);
      ASSERT_TRUE(back.ok()) << name;
      EXPECT_EQ(*back, text) << name << " ids" << showIds(*ids);
      // Streaming pieces concatenate to the same text.
      std::string streamed;
      int32_t prev = -1;
      for (int32_t id : *ids)
        streamed += t->piece(id, prev), prev = id;
      EXPECT_EQ(streamed, text) << name;
    }
  }
}

TEST(RoundTrip, GgufAndHfJsonAgreeOnRandomText) {
  std::mt19937 rng(99);
  for (const char *v : {"gpt-2", "qwen2"}) {
    const Tokenizer *a = ggufTokenizer(v);
    const Tokenizer *b = hfTokenizer(v);
    ASSERT_TRUE(a && b);
    for (int round = 0; round < 40; ++round) {
      std::string text = randomText(rng, 1 + rng() % 60);
      auto x = a->encode(text), y = b->encode(text);
      ASSERT_TRUE(x.ok() && y.ok());
      EXPECT_EQ(*x, *y) << v;
    }
  }
}

TEST(RoundTrip, LongInputs) {
  const Tokenizer *spm = ggufTokenizer("llama-spm");
  const Tokenizer *qwen = ggufTokenizer("qwen2");
  ASSERT_TRUE(spm && qwen);
  for (const std::string &text :
       {std::string(200000, ' '), std::string(200000, 'a'), std::string(100000, '\n') + "x", [] {
          std::string s;
          for (int i = 0; i < 20000; ++i)
            s += "hello, wörld 12345 ";
          return s;
        }()}) {
    for (const Tokenizer *t : {spm, qwen}) {
      auto ids = t->encode(text);
      ASSERT_TRUE(ids.ok()) << t->kind() << ": " << ids.status();
      auto back = t->decode(*ids);
      ASSERT_TRUE(back.ok());
      EXPECT_TRUE(*back == text) << t->kind();
    }
  }
}

//===----------------------------------------------------------------------===//
// Pre-tokenizer regexes (llama-bpe has no vector file here)
//===----------------------------------------------------------------------===//

std::vector<std::string> words(const std::vector<std::string> &regexes, const std::string &text) {
  auto s = tok::RegexSplitter::compile(regexes);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok())
    return {};
  std::vector<std::string_view> w;
  EXPECT_TRUE((*s)->split(text, w).ok());
  return std::vector<std::string>(w.begin(), w.end());
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  auto *pre = tok::findGgufPreTokenizer("gpt-2");
  ASSERT_NE(pre, nullptr);
  EXPECT_EQ(words(pre->regexes, "Hello world's 12345  x\n\n"),
            (Words{"Hello", " world", "'s", " 12345", " ", " x", "\n\n"}));
  EXPECT_FALSE(pre->ignoreMerges);
}

TEST(PreTokenizer, Llama3SplitsDigitsByThreeAndKeepsNewlines) {
  auto *pre = tok::findGgufPreTokenizer("llama-bpe");
  ASSERT_NE(pre, nullptr);
  EXPECT_TRUE(pre->ignoreMerges);
  EXPECT_EQ(words(pre->regexes, "I'M   here\n\n1234567 ok!!\n"),
            (Words{"I", "'M", "  ", " here", "\n\n", "123", "456", "7", " ok", "!!\n"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
  auto *pre = tok::findGgufPreTokenizer("qwen2");
  ASSERT_NE(pre, nullptr);
  EXPECT_EQ(words(pre->regexes, "abc 123"), (Words{"abc", " ", "1", "2", "3"}));
}

TEST(PreTokenizer, LlamaBpeTokenizerFromGpt2Vocab) {
  // The gpt-2 vocabulary under llama-bpe rules: a real GGUF, our writer.
  auto src = GgufFile::open(vocabPath("gpt-2"));
  ASSERT_TRUE(src.ok()) << src.status();
  GgufWriter w;
  w.addString("tokenizer.ggml.model", "gpt2");
  w.addString("tokenizer.ggml.pre", "llama-bpe");
  w.addStrings("tokenizer.ggml.tokens", **(*src)->getStrings("tokenizer.ggml.tokens"));
  w.addStrings("tokenizer.ggml.merges", **(*src)->getStrings("tokenizer.ggml.merges"));
  w.addU32("tokenizer.ggml.bos_token_id", 50256);
  std::string path = tempDir("llama-bpe") + "/vocab.gguf";
  ASSERT_TRUE(w.write(path).ok());
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto t = Tokenizer::fromGguf(**f);
  fs::remove_all(fs::path(path).parent_path());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->kind(), "bpe:llama-bpe");
  const Tokenizer *gpt2 = ggufTokenizer("gpt-2");
  ASSERT_NE(gpt2, nullptr);
  // Words that differ only in digit grouping: "1234567" -> "123" "456" "7".
  auto ids = (*t)->encode("1234567");
  ASSERT_TRUE(ids.ok());
  std::vector<int32_t> want;
  for (const char *part : {"123", "456", "7"}) {
    auto p = gpt2->encode(part);
    ASSERT_TRUE(p.ok());
    want.insert(want.end(), p->begin(), p->end());
  }
  EXPECT_EQ(*ids, want);
  for (const VectorCase &c : loadVectors("gpt-2")) {
    if (!c.error.empty())
      FAIL() << c.error;
    auto e = (*t)->encode(c.text);
    ASSERT_TRUE(e.ok());
    auto back = (*t)->decode(*e);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c.text);
  }
}

//===----------------------------------------------------------------------===//
// Hostile input: one clear error, never a crash
//===----------------------------------------------------------------------===//

TEST(Hostile, InvalidUtf8NamesInputAndOffset) {
  struct Bad {
    std::string text;
    size_t offset;
  };
  const std::vector<Bad> bad = {
      {"abc\xFF", 3},  {"\x80", 0},          {"ok\xC3", 2},
      {"\xC0\x80", 0}, {"\xED\xA0\x80", 0},  {"a\xF4\x90\x80\x80", 1},
      {"\xE2\x82", 0}, {"\xC3\xA9\xC3(", 2}, {std::string("x\0\xF8", 3), 2}};
  std::vector<const Tokenizer *> all = {ggufTokenizer("llama-spm"), ggufTokenizer("gpt-2"),
                                        ggufTokenizer("qwen2"), llama2cTokenizer()};
  for (const Tokenizer *t : all) {
    ASSERT_NE(t, nullptr);
    for (const Bad &b : bad) {
      for (bool special : {false, true}) {
        auto ids = special ? t->encodeWithSpecial(b.text, "--text") : t->encode(b.text, "--text");
        ASSERT_FALSE(ids.ok()) << t->kind();
        EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_EQ(contains(ids.status(), "--text"), "");
        EXPECT_EQ(contains(ids.status(), "byte offset " + std::to_string(b.offset)), "");
      }
    }
  }
}

TEST(Hostile, RandomBytesNeverCrash) {
  std::mt19937 rng(5);
  std::vector<const Tokenizer *> all = {ggufTokenizer("llama-spm"), ggufTokenizer("gpt-2"),
                                        ggufTokenizer("qwen2"), llama2cTokenizer()};
  for (int round = 0; round < 300; ++round) {
    std::string b(rng() % 40, '\0');
    for (char &c : b)
      c = static_cast<char>(round % 2 ? rng() : 0x80 | (rng() & 0x7F));
    for (const Tokenizer *t : all) {
      ASSERT_NE(t, nullptr);
      auto ids = t->encodeWithSpecial(b, "fuzz");
      if (ids.ok()) {
        auto back = t->decode(*ids);
        ASSERT_TRUE(back.ok());
      } else {
        EXPECT_EQ(contains(ids.status(), "fuzz: invalid UTF-8 at byte offset"), "");
      }
    }
  }
}

TEST(Hostile, DecodeOutOfRangeId) {
  const Tokenizer *t = ggufTokenizer("gpt-2");
  ASSERT_NE(t, nullptr);
  for (int32_t id : {-1, 50257, 1 << 30}) {
    auto s = t->decode({15496, id});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(contains(s.status(), std::to_string(id)), "");
  }
}

class Llama2cFiles : public testing::Test {
protected:
  void SetUp() override {
    dir_ = tempDir("l2c");
    ASSERT_TRUE(readFile(kStories + "/tok512.bin", good_)) << "missing " << kStories;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string put(const std::string &name, const std::string &bytes) {
    std::string p = dir_ + "/" + name;
    writeFile(p, bytes);
    return p;
  }
  static std::string i32(int32_t v) { return std::string(reinterpret_cast<char *>(&v), 4); }
  static std::string f32(float v) { return std::string(reinterpret_cast<char *>(&v), 4); }
  std::string dir_, good_;
};

TEST_F(Llama2cFiles, Truncated) {
  for (size_t cut : {size_t(0), size_t(2), size_t(4), size_t(9), size_t(100), good_.size() / 2,
                     good_.size() - 1}) {
    std::string p = put("cut.bin", good_.substr(0, cut));
    auto t = Tokenizer::fromLlama2c(p, 512);
    ASSERT_FALSE(t.ok()) << "cut at " << cut;
    EXPECT_EQ(contains(t.status(), p), "");
  }
}

TEST_F(Llama2cFiles, AbsurdAndNegativeLengths) {
  for (int32_t len : {-1, 0x7fffffff, 8}) { // 8 > max_token_length (7)
    std::string p = put("len.bin", i32(7) + f32(0) + i32(len) + "abcdefgh");
    auto t = Tokenizer::fromLlama2c(p, 1);
    ASSERT_FALSE(t.ok()) << len;
    EXPECT_EQ(contains(t.status(), "length"), "");
  }
  for (int32_t maxLen : {0, -5, 1 << 30}) {
    auto t = Tokenizer::fromLlama2c(put("max.bin", i32(maxLen) + f32(0) + i32(1) + "a"), 1);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(contains(t.status(), "max_token_length"), "");
  }
  float nan = std::numeric_limits<float>::quiet_NaN();
  auto t = Tokenizer::fromLlama2c(put("nan.bin", i32(4) + f32(nan) + i32(1) + "a"), 1);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(contains(t.status(), "NaN"), "");
}

TEST_F(Llama2cFiles, VocabSizeMustMatch) {
  std::string p = put("tok.bin", good_);
  for (int32_t n : {0, -3, 513, 1 << 30})
    EXPECT_FALSE(Tokenizer::fromLlama2c(p, n).ok()) << n;
  auto fewer = Tokenizer::fromLlama2c(p, 500);
  ASSERT_FALSE(fewer.ok());
  EXPECT_EQ(contains(fewer.status(), "more tokens"), "");
  auto missing = Tokenizer::fromLlama2c(dir_ + "/nope.bin", 512);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(contains(missing.status(), "nope.bin"), "");
}

TEST_F(Llama2cFiles, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(7);
  int loaded = 0;
  for (int round = 0; round < 300; ++round) {
    std::string b = good_;
    for (int k = 0; k < 1 + round % 8; ++k)
      b[rng() % b.size()] = static_cast<char>(rng());
    auto t = Tokenizer::fromLlama2c(put("fuzz.bin", b), 512);
    if (!t.ok())
      continue;
    ++loaded;
    auto ids = (*t)->encode("Once upon a time there was a zebra. 😀");
    if (ids.ok())
      (void)(*t)->decode(*ids);
  }
  EXPECT_GT(loaded, 0);
}

class GgufVocabs : public testing::Test {
protected:
  void SetUp() override { dir_ = tempDir("gguf"); }
  void TearDown() override { fs::remove_all(dir_); }
  // A small byte-level vocabulary: all 256 byte characters, then "he", "ll", "hell".
  static std::vector<std::string> byteVocab() {
    std::vector<std::string> toks;
    for (int b = 0; b < 256; ++b) {
      std::string s;
      uint32_t cp = tok::byteToCodepoint(static_cast<uint8_t>(b));
      if (cp < 0x80)
        s = std::string(1, static_cast<char>(cp));
      else
        s = {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
      toks.push_back(s);
    }
    for (const char *t : {"he", "ll", "hell"})
      toks.push_back(t);
    return toks;
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> load(const GgufWriter &w) {
    std::string p = dir_ + "/v.gguf";
    if (auto st = w.write(p); !st.ok())
      return st;
    auto f = GgufFile::open(p);
    if (!f.ok())
      return f.status();
    return Tokenizer::fromGguf(**f);
  }
  GgufWriter bpe(const std::vector<std::string> &merges, const std::string &pre = "gpt-2") {
    GgufWriter w;
    w.addString("tokenizer.ggml.model", "gpt2");
    w.addString("tokenizer.ggml.pre", pre);
    w.addStrings("tokenizer.ggml.tokens", byteVocab());
    w.addStrings("tokenizer.ggml.merges", merges);
    return w;
  }
  std::string dir_;
};

TEST_F(GgufVocabs, SmallBpeWorks) {
  auto t = load(bpe({"h e", "l l", "he ll"}));
  ASSERT_TRUE(t.ok()) << t.status();
  auto ids = (*t)->encode("hello");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{258, 'o'})); // "hell" + "o"
}

TEST_F(GgufVocabs, MergesNamingUnknownTokens) {
  for (const std::string &m : {std::string("h zz"), std::string("qq e"), std::string("l o")}) {
    auto t = load(bpe({"h e", m}));
    ASSERT_FALSE(t.ok()) << m;
    EXPECT_EQ(contains(t.status(), "merge #1"), "") << m;
    EXPECT_EQ(contains(t.status(), "not in the vocabulary"), "") << m;
    EXPECT_EQ(contains(t.status(), "v.gguf"), "") << m;
  }
  auto t = load(bpe({"hell"}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(contains(t.status(), "separated by a space"), "");
}

TEST_F(GgufVocabs, UnknownModelAndPreListSupported) {
  GgufWriter w;
  w.addString("tokenizer.ggml.model", "bert");
  w.addStrings("tokenizer.ggml.tokens", {"a"});
  auto t = load(w);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(contains(t.status(), "'bert'"), "");
  EXPECT_EQ(contains(t.status(), "llama"), "");
  EXPECT_EQ(contains(t.status(), "gpt2"), "");

  auto p = load(bpe({"h e"}, "deepseek-coder"));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(contains(p.status(), "'deepseek-coder'"), "");
  EXPECT_EQ(contains(p.status(), "llama-bpe"), "");
  EXPECT_EQ(contains(p.status(), "qwen2"), "");
}

TEST_F(GgufVocabs, InconsistentArrays) {
  GgufWriter w = bpe({"h e"});
  w.addI32s("tokenizer.ggml.token_type", {1, 1, 1});
  auto t = load(w);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(contains(t.status(), "token_type"), "");

  GgufWriter s;
  s.addString("tokenizer.ggml.model", "llama");
  s.addStrings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0xZZ>"});
  s.addF32s("tokenizer.ggml.scores", {0, 0, 0});
  auto u = load(s);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(contains(u.status(), "scores"), "");

  GgufWriter b;
  b.addString("tokenizer.ggml.model", "llama");
  b.addStrings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0xZZ>"});
  b.addI32s("tokenizer.ggml.token_type", {2, 3, 3, 6});
  auto v = load(b);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(contains(v.status(), "<0xZZ>"), "");

  GgufWriter m;
  m.addString("tokenizer.ggml.model", "gpt2");
  m.addString("tokenizer.ggml.pre", "qwen2");
  m.addStrings("tokenizer.ggml.tokens", byteVocab());
  auto x = load(m);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(contains(x.status(), "tokenizer.ggml.merges"), "");
}

TEST_F(GgufVocabs, SpmWithoutByteTokensUsesUnknown) {
  GgufWriter w;
  w.addString("tokenizer.ggml.model", "llama");
  w.addStrings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a",
                                         "\xE2\x96\x81"
                                         "a"});
  w.addF32s("tokenizer.ggml.scores", {0, 0, 0, -1, -1, -2});
  w.addI32s("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1});
  auto t = load(w);
  ASSERT_TRUE(t.ok()) << t.status();
  auto ids = (*t)->encode("a b");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{5, 3, 0})); // "▁a" "▁" <unk>
}

class HfFiles : public testing::Test {
protected:
  void SetUp() override { dir_ = tempDir("hf"); }
  void TearDown() override { fs::remove_all(dir_); }
  absl::StatusOr<std::unique_ptr<Tokenizer>> load(const std::string &text) {
    std::string p = dir_ + "/tokenizer.json";
    writeFile(p, text);
    return Tokenizer::fromHfJson(p);
  }
  static json minimal() {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = tok::byteToCodepoint(static_cast<uint8_t>(b));
      std::string s = cp < 0x80 ? std::string(1, static_cast<char>(cp))
                                : std::string{char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
      vocab[s] = b;
    }
    vocab["he"] = 256;
    return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"h e"})}}},
            {"pre_tokenizer",
             {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}}}};
  }
  std::string dir_;
};

TEST_F(HfFiles, MinimalWorks) {
  auto t = load(minimal().dump());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->kind(), "bpe:gpt-2");
  auto ids = (*t)->encode("he h");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{256, tok::byteFromCodepoint(0x120), 'h'}));
  auto prefixed = minimal();
  prefixed["pre_tokenizer"]["add_prefix_space"] = true;
  auto p = load(prefixed.dump());
  ASSERT_TRUE(p.ok()) << p.status();
  auto pids = (*p)->encode("he");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, (std::vector<int32_t>{tok::byteFromCodepoint(0x120), 256})); // "Ġ" "he"
}

TEST_F(HfFiles, ErrorsSayWhatIsUnsupported) {
  auto notJson = load("{\"model\": ");
  ASSERT_FALSE(notJson.ok());
  EXPECT_EQ(contains(notJson.status(), "not valid JSON"), "");

  auto deep = load(std::string(10000, '[') + std::string(10000, ']'));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(contains(deep.status(), "nested"), "");

  struct Change {
    std::function<void(json &)> apply;
    std::string needle;
  };
  const std::vector<Change> changes = {
      {[](json &j) { j["model"]["type"] = "WordPiece"; }, "WordPiece"},
      {[](json &j) { j["model"]["type"] = "Unigram"; }, "Unigram"},
      {[](json &j) { j["model"]["byte_fallback"] = true; }, "byte_fallback"},
      {[](json &j) {
         j["pre_tokenizer"] = {{"type", "Metaspace"}};
       },
       "Metaspace"},
      {[](json &j) { j["pre_tokenizer"] = nullptr; }, "pre_tokenizer"},
      {[](json &j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       },
       "Lowercase"},
      {[](json &j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "decoder"},
      {[](json &j) { j["model"]["merges"] = json::array({"h zz"}); }, "not in the vocabulary"},
      {[](json &j) { j["model"]["merges"] = json::array({json::array({"h"})}); }, "merges[0]"},
      {[](json &j) { j["model"]["merges"] = 5; }, "model.merges"},
      {[](json &j) { j["model"]["vocab"]["zz"] = 256; }, "256"},
      {[](json &j) { j["model"]["vocab"]["zz"] = 5000000; }, "5000000"},
      {[](json &j) { j["model"]["vocab"]["zz"] = -2; }, "-2"},
      {[](json &j) { j["model"]["vocab"]["zz"] = "x"; }, "zz"},
      {[](json &j) {
         j["added_tokens"] = json::array({{{"id", "x"}, {"content", "a"}}});
       },
       "added_tokens[0]"},
      {[](json &j) {
         j["pre_tokenizer"] = {
             {"type", "Sequence"},
             {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", "(("}}}},
                                            {{"type", "ByteLevel"}, {"use_regex", false}}})}};
       },
       "does not compile"},
      {[](json &j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Removed"}};
       },
       "Removed"},
      {[](json &j) { j.erase("model"); }, "model"},
  };
  for (const Change &c : changes) {
    json j = minimal();
    c.apply(j);
    auto t = load(j.dump());
    ASSERT_FALSE(t.ok()) << c.needle;
    EXPECT_EQ(contains(t.status(), c.needle), "");
    EXPECT_EQ(contains(t.status(), "tokenizer.json"), "");
  }
  auto missing = Tokenizer::fromHfJson(dir_ + "/absent.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(contains(missing.status(), "absent.json"), "");
}

TEST_F(HfFiles, RandomCorruptionNeverCrashes) {
  const std::string good = minimal().dump();
  std::mt19937 rng(11);
  int loaded = 0;
  for (int round = 0; round < 300; ++round) {
    std::string b = good;
    static const std::string junk = "{}[]\":,0 -ab\\";
    for (int k = 0; k < 1 + round % 4; ++k)
      b[rng() % b.size()] = junk[rng() % junk.size()];
    auto t = load(b);
    if (!t.ok())
      continue;
    ++loaded;
    auto ids = (*t)->encode("hello there");
    if (ids.ok())
      (void)(*t)->decode(*ids);
  }
  EXPECT_GT(loaded, 0);
}

TEST_F(HfFiles, BosEosFromTokenizerConfig) {
  json j = minimal();
  j["added_tokens"] = json::array({{{"id", 300}, {"content", "<|begin|>"}, {"special", true}},
                                   {{"id", 301}, {"content", "<|end|>"}, {"special", true}}});
  writeFile(dir_ + "/tokenizer_config.json",
            R"({"bos_token": "<|begin|>", "eos_token": {"content": "<|end|>"}})");
  auto t = load(j.dump());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->bos(), 300);
  EXPECT_EQ((*t)->eos(), 301);
  EXPECT_EQ((*t)->vocabSize(), 302);
  EXPECT_EQ((*t)->piece(280), ""); // a gap in the ids: an unused token
  auto d = (*t)->decode({300, 'h', 301});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, "h");
}

} // namespace
} // namespace tessel::frontends
