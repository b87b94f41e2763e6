//===- ErrorsTest.cpp - malformed model files give one clear error ---------===//
//
// One test per kind of bad input (GGUF, llama2.c, Tessel model descriptions,
// HF config.json). Each test writes a real file into a temp dir, hands it to
// the real loader, and checks that the answer is one error line naming the
// file and the tensor or field at fault.
//
// Every loader call runs in a forked child (see `isolated`), so a loader that
// crashes, throws or hangs on hostile input fails that one test with a
// message saying how it died instead of taking the whole suite down.
//
// Corrupt GGUFs are made by byte-editing valid files written with
// frontends::GgufWriter / writeGgufModel: the edit points are found by
// searching for the key or tensor name (with its length prefix) in the bytes.
//
// Safetensors errors are covered by tests/unit/safetensors.
//
//===----------------------------------------------------------------------===//
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "frontends/Gguf.h"
#include "frontends/Llama2c.h"
#include "frontends/ModelConfig.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelWriter.h"
#include "frontends/Safetensors.h"
#include "nlohmann/json.hpp"
#include "tests/unit/ScratchDirTest.h"

namespace tessel::frontends {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Running a loader in a child process
// ---------------------------------------------------------------------------

struct Outcome {
  bool crashed = false;
  std::string how; // how the child died, if it did
  bool ok = false;
  std::string message;
};

// Runs `fn` in a forked child with a time limit and brings back its status.
// A signal, an uncaught exception, a non-zero exit or a hang is a crash.
Outcome isolated(const std::function<absl::Status()> &fn, unsigned timeoutSeconds = 60) {
  Outcome out;
  int fds[2];
  if (pipe(fds) != 0) {
    out.crashed = true;
    out.how = std::string("pipe failed: ") + std::strerror(errno);
    return out;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(timeoutSeconds);
    std::string reply;
    try {
      absl::Status st = fn();
      reply = (st.ok() ? "O" : "E") + std::string(st.message());
    } catch (const std::exception &e) {
      reply = std::string("X") + e.what();
    } catch (...) {
      reply = "Xa non-std exception";
    }
    const char *p = reply.data();
    size_t left = reply.size();
    while (left > 0) {
      ssize_t n = write(fds[1], p, left);
      if (n <= 0)
        break;
      p += n;
      left -= static_cast<size_t>(n);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    out.crashed = true;
    int sig = WTERMSIG(status);
    out.how = sig == SIGALRM ? "timed out (hang)"
                             : std::string("killed by signal ") + std::to_string(sig) + " (" +
                                   strsignal(sig) + ")";
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out.crashed = true;
    out.how = "exited with status " + std::to_string(WEXITSTATUS(status));
  } else if (reply.empty()) {
    out.crashed = true;
    out.how = "died without a reply";
  } else if (reply[0] == 'X') {
    out.crashed = true;
    out.how = "threw an uncaught exception: " + reply.substr(1);
  } else {
    out.ok = reply[0] == 'O';
    out.message = reply.substr(1);
  }
  return out;
}

// The loader neither crashed nor accepted the input, and its one-line error
// contains every part (the file, the tensor or field, what is wrong).
// With TESSEL_ERRORS_VERBOSE=1 every message is printed, for review.
void expectError(const Outcome &o, std::initializer_list<std::string> parts) {
  if (std::getenv("TESSEL_ERRORS_VERBOSE"))
    std::printf("    message: %s\n", o.crashed ? ("CRASH: " + o.how).c_str() : o.message.c_str());
  ASSERT_FALSE(o.crashed) << "the loader crashed: " << o.how;
  ASSERT_FALSE(o.ok) << "the loader accepted the malformed input";
  EXPECT_EQ(o.message.find('\n'), std::string::npos) << o.message;
  for (const std::string &p : parts)
    EXPECT_NE(o.message.find(p), std::string::npos) << "'" << p << "' not in: " << o.message;
}

// Reads every weight (one byte per cache line, into a volatile so the reads
// stay): a loader that accepted a file must have handed out tensors that
// really lie in memory it owns.
void touchWeights(const WeightStore &store) {
  volatile uint8_t sink = 0;
  for (const auto &[name, t] : store.all()) {
    for (uint64_t i = 0; i < t.bytes; i += 64)
      sink = sink ^ t.data[i];
    if (t.bytes)
      sink = sink ^ t.data[t.bytes - 1];
  }
}

// The message names the field one way or another (the GGUF key or the
// config field it sets, e.g. "llama.block_count" or "layer count").
void expectMentionsOneOf(const Outcome &o, std::initializer_list<std::string> names) {
  bool any = false;
  for (const std::string &n : names)
    any |= o.message.find(n) != std::string::npos;
  EXPECT_TRUE(any) << "no field name in: " << o.message;
}

Outcome loadIsolated(const std::string &path) {
  return isolated([&] {
    auto m = loadModel(path);
    if (!m.ok())
      return m.status();
    touchWeights(m->weights);
    return absl::OkStatus();
  });
}
Outcome ggufIsolated(const std::string &path) {
  return isolated([&] { return GgufFile::open(path).status(); });
}
Outcome llama2cIsolated(const std::string &path) {
  return isolated([&] {
    auto m = loadLlama2c(path);
    if (!m.ok())
      return m.status();
    touchWeights(m->weights);
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}
void put32(std::string &b, size_t pos, uint32_t v) { std::memcpy(&b[pos], &v, 4); }
void put64(std::string &b, size_t pos, uint64_t v) { std::memcpy(&b[pos], &v, 8); }
uint32_t get32(const std::string &b, size_t pos) {
  uint32_t v;
  std::memcpy(&v, &b[pos], 4);
  return v;
}
uint64_t get64(const std::string &b, size_t pos) {
  uint64_t v;
  std::memcpy(&v, &b[pos], 8);
  return v;
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Offset of the GGUF string `s` (its u64 length prefix) in `bytes`; it must
// occur exactly once.
size_t stringPos(const std::string &bytes, const std::string &s) {
  std::string needle = le64(s.size()) + s;
  size_t pos = bytes.find(needle);
  if (pos == std::string::npos) {
    ADD_FAILURE() << "'" << s << "' not found in the GGUF image";
    return pos;
  }
  if (bytes.find(needle, pos + 1) != std::string::npos)
    ADD_FAILURE() << "'" << s << "' occurs twice in the GGUF image";
  return pos;
}

// Where the fields of one metadata entry lie.
struct KeyAt {
  size_t key, type, value;
};
KeyAt keyAt(const std::string &bytes, const std::string &key) {
  size_t p = stringPos(bytes, key);
  return {p, p + 8 + key.size(), p + 8 + key.size() + 4};
}

// Where the fields of one tensor-table entry lie.
struct TensorAt {
  size_t name, nDims, dims, type, offset;
};
TensorAt tensorAt(const std::string &bytes, const std::string &name) {
  size_t p = stringPos(bytes, name);
  size_t nDims = p + 8 + name.size();
  size_t dims = nDims + 4;
  size_t type = dims + 8 * get32(bytes, nDims);
  return {p, nDims, dims, type, type + 4};
}

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

class ErrorsTest : public ScratchDirTest {
protected:
  std::string writeJson(const std::string &name, const json &j) const {
    return writeBytes(name, j.dump(2));
  }

  // A small GGUF exercising strings, arrays, a bool and two f32 tensors:
  //   a.weight [4, 8] at data offset 0 (128 bytes), b.weight [8] at 128.
  std::string structuralGguf() const {
    GgufWriter w;
    w.addString("general.architecture", "llama");
    w.addString("general.name", "errors-test");
    w.addBool("general.flag", true);
    w.addU32("llama.block_count", 1);
    w.addStrings("tokenizer.ggml.tokens", {"alpha", "beta", "gamma"});
    w.addF32s("tokenizer.ggml.scores", {0.f, -1.f, -2.f});
    w.addTensor("a.weight", WeightType::F32, {4, 8}, std::vector<uint8_t>(128, 0x11));
    w.addTensor("b.weight", WeightType::F32, {8}, std::vector<uint8_t>(32, 0x22));
    std::string p = path("structural.gguf");
    EXPECT_TRUE(w.write(p).ok());
    return readBytes(p);
  }

  // A tiny LLaMA (2 layers, dim 32, GQA 4/2, vocab 260) and random weights.
  static ModelConfig tinyConfig() {
    json j = {{"model_type", "llama"},         {"hidden_size", 32},
              {"num_hidden_layers", 2},        {"num_attention_heads", 4},
              {"num_key_value_heads", 2},      {"intermediate_size", 64},
              {"max_position_embeddings", 64}, {"vocab_size", 260}};
    auto c = configFromHfJson(j, "tiny", true);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : ModelConfig{};
  }
  static json tinyDescription() {
    return {{"model_type", "llama"},
            {"hidden_size", 32},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 2},
            {"intermediate_size", 64},
            {"max_position_embeddings", 64},
            {"vocab_size", 260},
            {"weights", {{"random", {{"seed", 1}}}}}};
  }

  // Writes the tiny model as GGUF (with `edit` applied to its weights first).
  std::string tinyGguf(const std::string &name,
                       const std::function<void(WeightStore &)> &edit = nullptr) const {
    ModelConfig c = tinyConfig();
    WeightStore w = randomWeights(c, 1, WeightType::F32, "random");
    if (edit)
      edit(w);
    std::string p = path(name);
    absl::Status st = writeGgufModel(c, w, p);
    EXPECT_TRUE(st.ok()) << st;
    return p;
  }

  // Copies GGUF `from` to `name`, leaving out the listed keys and tensors and
  // then calling `addKeys` / `addTensors` for replacements and extras.
  struct Rewrite {
    std::set<std::string> dropKeys, dropTensors;
    std::function<void(GgufWriter &)> addKeys, addTensors;
  };
  std::string rewriteGguf(const std::string &from, const std::string &name,
                          const Rewrite &rw) const {
    auto f = GgufFile::open(from);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok())
      return "";
    GgufWriter w;
    for (const auto &[key, v] : (*f)->metadata()) {
      if (rw.dropKeys.count(key))
        continue;
      w.addValue(key, v);
    }
    if (rw.addKeys)
      rw.addKeys(w);
    for (const WeightTensor &t : (*f)->tensors()) {
      if (rw.dropTensors.count(t.name))
        continue;
      w.addTensor(t.name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.bytes));
    }
    if (rw.addTensors)
      rw.addTensors(w);
    std::string p = path(name);
    absl::Status st = w.write(p);
    EXPECT_TRUE(st.ok()) << st;
    return p;
  }
};

// ---------------------------------------------------------------------------
// The valid files the corruptions start from load (otherwise every test
// below would pass for the wrong reason).
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, ValidFilesLoad) {
  std::string bytes = structuralGguf();
  auto g = GgufFile::open(writeBytes("ok.gguf", bytes));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ((*g)->tensors().size(), 2u);
  EXPECT_EQ((*g)->tensors()[1].name, "b.weight");
  EXPECT_EQ(*(*g)->getString("general.name"), "errors-test");

  auto m = loadModel(tinyGguf("tiny.gguf"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->config.numLayers, 2);
  EXPECT_EQ(m->config.numKvHeads, 2);

  auto rewritten = loadModel(rewriteGguf(tinyGguf("tiny2.gguf"), "copy.gguf", {}));
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();

  auto d = loadModel(writeJson("tiny.json", tinyDescription()));
  ASSERT_TRUE(d.ok()) << d.status();
}

// ---------------------------------------------------------------------------
// GGUF: structure
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, GgufEmptyFile) {
  std::string p = writeBytes("empty.gguf", "");
  expectError(ggufIsolated(p), {p, "truncated", "magic"});
}

TEST_F(ErrorsTest, GgufTruncatedInHeader) {
  std::string p = writeBytes("cut.gguf", structuralGguf().substr(0, 12));
  expectError(ggufIsolated(p), {p, "truncated", "tensor count"});
  expectError(loadIsolated(p), {p, "truncated", "tensor count"});
}

TEST_F(ErrorsTest, GgufTruncatedInMetadata) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "llama.block_count");
  std::string p = writeBytes("cut.gguf", b.substr(0, k.value + 2)); // half of its u32
  expectError(ggufIsolated(p), {p, "truncated", "value of 'llama.block_count'"});
}

TEST_F(ErrorsTest, GgufTruncatedInMetadataArray) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "tokenizer.ggml.tokens");
  // Array: elem type (4), count (8), then "alpha" (8+5), "beta" (8+4),
  // "gamma" (8+5). Cut after gamma's length, before its text.
  size_t cut = k.value + 12 + 13 + 12 + 8;
  std::string p = writeBytes("cut.gguf", b.substr(0, cut));
  expectError(ggufIsolated(p), {p, "'tokenizer.ggml.tokens'", "string length 5 exceeds"});
}

TEST_F(ErrorsTest, GgufTruncatedInTensorTable) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "b.weight");
  std::string p = writeBytes("cut.gguf", b.substr(0, t.dims + 3));
  expectError(ggufIsolated(p), {p, "truncated", "shape of tensor 'b.weight'"});
}

TEST_F(ErrorsTest, GgufTruncatedInData) {
  std::string b = structuralGguf();
  std::string p = writeBytes("cut.gguf", b.substr(0, b.size() - 16));
  expectError(ggufIsolated(p), {p, "tensor 'b.weight'", "out of range"});
}

TEST_F(ErrorsTest, GgufBadMagic) {
  std::string b = structuralGguf();
  b.replace(0, 4, "GGML");
  std::string p = writeBytes("bad.gguf", b);
  expectError(ggufIsolated(p), {p, "bad magic", "not a GGUF file"});
}

// Regression (found by this suite, since fixed): loadModel sniffed the magic
// and, when it was not "GGUF", ignored the .gguf extension and answered
// "unknown model format; expected a .gguf file, ..." for a file that *is*
// named .gguf. The GGUF parser's "bad magic" message is the one a user needs.
TEST_F(ErrorsTest, GgufBadMagicThroughLoadModel) {
  std::string b = structuralGguf();
  b.replace(0, 4, "GGML");
  std::string p = writeBytes("bad.gguf", b);
  expectError(loadIsolated(p), {p, "bad magic", "not a GGUF file"});
}

TEST_F(ErrorsTest, GgufUnsupportedVersion) {
  for (uint32_t version : {1u, 4u, 0xffffffffu}) {
    SCOPED_TRACE(version);
    std::string b = structuralGguf();
    put32(b, 4, version);
    std::string p = writeBytes("version.gguf", b);
    expectError(ggufIsolated(p),
                {p, "GGUF version " + std::to_string(version) + " is not supported"});
  }
}

TEST_F(ErrorsTest, GgufTensorOffsetOutOfRange) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "b.weight");
  put64(b, t.offset, 1 << 20); // aligned, far past the end
  std::string p = writeBytes("offset.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'b.weight'", "out of range"});
}

TEST_F(ErrorsTest, GgufTensorOffsetHuge) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "b.weight");
  put64(b, t.offset, ~uint64_t(31)); // aligned; offset + bytes wraps around
  std::string p = writeBytes("offset.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'b.weight'", "out of range"});
}

TEST_F(ErrorsTest, GgufMisalignedOffset) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "b.weight");
  ASSERT_EQ(get64(b, t.offset), 128u);
  put64(b, t.offset, 132);
  std::string p = writeBytes("misaligned.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'b.weight'", "offset 132 is not aligned to 32"});
}

TEST_F(ErrorsTest, GgufAlignmentNotPowerOfTwo) {
  GgufWriter w;
  w.addU32("general.alignment", 48);
  w.addTensor("a.weight", WeightType::F32, {8}, std::vector<uint8_t>(32, 0));
  std::string p = path("align.gguf");
  ASSERT_TRUE(w.write(p).ok());
  expectError(ggufIsolated(p), {p, "general.alignment", "power of two"});
}

TEST_F(ErrorsTest, GgufAbsurdTensorCount) {
  std::string b = structuralGguf();
  put64(b, 8, uint64_t(1) << 40);
  std::string p = writeBytes("count.gguf", b);
  expectError(ggufIsolated(p), {p, "absurd tensor count"});
}

TEST_F(ErrorsTest, GgufAbsurdMetadataCount) {
  std::string b = structuralGguf();
  put64(b, 16, ~uint64_t(0));
  std::string p = writeBytes("count.gguf", b);
  expectError(ggufIsolated(p), {p, "absurd metadata count"});
}

TEST_F(ErrorsTest, GgufAbsurdArrayLength) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "tokenizer.ggml.tokens");
  put64(b, k.value + 4, uint64_t(1) << 60);
  std::string p = writeBytes("array.gguf", b);
  expectError(ggufIsolated(p), {p, "'tokenizer.ggml.tokens'", "absurd array length"});
}

TEST_F(ErrorsTest, GgufAbsurdStringLength) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "general.name");
  put64(b, k.value, uint64_t(1) << 62);
  std::string p = writeBytes("string.gguf", b);
  expectError(ggufIsolated(p), {p, "'general.name'", "string length"});
}

TEST_F(ErrorsTest, GgufAbsurdKeyLength) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "general.name"); // metadata key #1
  put64(b, k.key, ~uint64_t(0));
  std::string p = writeBytes("key.gguf", b);
  expectError(ggufIsolated(p), {p, "metadata key #1", "string length"});
}

TEST_F(ErrorsTest, GgufAbsurdTensorNameLength) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "b.weight"); // tensor #1
  put64(b, t.name, uint64_t(1) << 50);
  std::string p = writeBytes("name.gguf", b);
  expectError(ggufIsolated(p), {p, "name of tensor #1", "string length"});
}

TEST_F(ErrorsTest, GgufAbsurdDimension) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "a.weight");
  put64(b, t.dims + 8, uint64_t(1) << 41);
  std::string p = writeBytes("dim.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "absurd dimension"});
}

TEST_F(ErrorsTest, GgufDimensionProductOverflows) {
  // Each dimension alone is allowed (2^40); their product is not.
  GgufWriter w;
  w.addTensor("big.weight", WeightType::F32, {1, 1, 1, 1}, std::vector<uint8_t>(4, 0));
  std::string p0 = path("big0.gguf");
  ASSERT_TRUE(w.write(p0).ok());
  std::string b = readBytes(p0);
  TensorAt t = tensorAt(b, "big.weight");
  for (int d = 0; d < 4; ++d)
    put64(b, t.dims + 8 * d, uint64_t(1) << 40);
  std::string p = writeBytes("big.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'big.weight'", "absurd dimension"});
}

TEST_F(ErrorsTest, GgufZeroDimension) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "a.weight");
  put64(b, t.dims, 0);
  std::string p = writeBytes("dim.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "dimension 0"});
}

TEST_F(ErrorsTest, GgufTooManyDimensions) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "a.weight");
  put32(b, t.nDims, 5);
  std::string p = writeBytes("dims.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "5 dimensions"});
}

TEST_F(ErrorsTest, GgufUnsupportedTensorType) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "a.weight");
  put32(b, t.type, 12); // GGML Q4_K
  std::string p = writeBytes("type.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "type 12 is not supported", "q8_0"});
  put32(b, t.type, 0xdeadbeef);
  p = writeBytes("type2.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "not supported"});
}

TEST_F(ErrorsTest, GgufRowNotWholeBlocks) {
  std::string b = structuralGguf();
  TensorAt t = tensorAt(b, "a.weight");
  put32(b, t.type, static_cast<uint32_t>(WeightType::Q8_0)); // rows of 8, blocks of 32
  std::string p = writeBytes("block.gguf", b);
  expectError(ggufIsolated(p), {p, "tensor 'a.weight'", "block size 32"});
}

TEST_F(ErrorsTest, GgufUnknownValueType) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "general.name");
  put32(b, k.type, 13);
  std::string p = writeBytes("vtype.gguf", b);
  expectError(ggufIsolated(p), {p, "'general.name'", "unknown value type 13"});
}

TEST_F(ErrorsTest, GgufBadBool) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "general.flag");
  b[k.value] = 7;
  std::string p = writeBytes("bool.gguf", b);
  expectError(ggufIsolated(p), {p, "'general.flag'", "bool value 7"});
}

TEST_F(ErrorsTest, GgufNestedArray) {
  std::string b = structuralGguf();
  KeyAt k = keyAt(b, "tokenizer.ggml.tokens");
  put32(b, k.value, static_cast<uint32_t>(GgufType::Array));
  std::string p = writeBytes("nested.gguf", b);
  expectError(ggufIsolated(p), {p, "'tokenizer.ggml.tokens'", "arrays of arrays"});
}

TEST_F(ErrorsTest, GgufDuplicateKey) {
  GgufWriter w;
  w.addString("general.architecture", "llama");
  w.addU32("llama.block_count", 1);
  w.addU32("llama.block_count", 2);
  std::string p = path("dupkey.gguf");
  ASSERT_TRUE(w.write(p).ok());
  expectError(ggufIsolated(p), {p, "duplicate metadata key 'llama.block_count'"});
}

TEST_F(ErrorsTest, GgufDuplicateTensor) {
  GgufWriter w;
  w.addString("general.architecture", "llama");
  w.addTensor("a.weight", WeightType::F32, {8}, std::vector<uint8_t>(32, 0));
  w.addTensor("a.weight", WeightType::F32, {8}, std::vector<uint8_t>(32, 0));
  std::string p = path("duptensor.gguf");
  ASSERT_TRUE(w.write(p).ok());
  expectError(ggufIsolated(p), {p, "duplicate tensor 'a.weight'"});
}

// ---------------------------------------------------------------------------
// GGUF: the model the file describes
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, GgufShapeMismatch) {
  // attn_q is [32, 32]; relabel it [16, 64] (same bytes, wrong shape).
  std::string b = readBytes(tinyGguf("tiny.gguf"));
  TensorAt t = tensorAt(b, "blk.0.attn_q.weight");
  ASSERT_EQ(get64(b, t.dims), 32u);
  ASSERT_EQ(get64(b, t.dims + 8), 32u);
  put64(b, t.dims, 64);     // ne[0], the row length
  put64(b, t.dims + 8, 16); // ne[1]
  std::string p = writeBytes("shape.gguf", b);
  expectError(loadIsolated(p), {p, "tensor 'blk.0.attn_q.weight'", "[16, 64]", "[32, 32]"});
}

TEST_F(ErrorsTest, GgufDtypeMismatchQuantizedNorm) {
  std::string p = tinyGguf("q8norm.gguf", [](WeightStore &w) {
    WeightTensor t = *w.get("blk.1.ffn_norm.weight").value();
    std::vector<float> ones(32, 1.0f);
    auto bytes = std::make_shared<std::vector<uint8_t>>(storageBytes(WeightType::Q8_0, 32).value());
    quantizeRow(WeightType::Q8_0, ones.data(), bytes->data(), 32);
    t.type = WeightType::Q8_0;
    t.data = bytes->data();
    t.bytes = bytes->size();
    t.owner = bytes;
    w.add(t);
  });
  expectError(loadIsolated(p), {p, "tensor 'blk.1.ffn_norm.weight'", "q8_0", "must be f32"});
}

TEST_F(ErrorsTest, GgufMissingTensor) {
  std::string p =
      rewriteGguf(tinyGguf("tiny.gguf"), "missing.gguf", {{}, {"blk.1.ffn_down.weight"}});
  expectError(loadIsolated(p), {p, "missing tensor 'blk.1.ffn_down.weight'"});
}

TEST_F(ErrorsTest, GgufUnexpectedExtraTensor) {
  Rewrite rw;
  rw.addTensors = [](GgufWriter &w) {
    w.addTensor("blk.2.attn_q.weight", WeightType::F32, {32, 32}, std::vector<uint8_t>(4096, 0));
  };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "extra.gguf", rw);
  expectError(loadIsolated(p), {p, "unexpected tensor 'blk.2.attn_q.weight'", "2 layers"});
}

TEST_F(ErrorsTest, GgufUnknownArchitecture) {
  std::string b = readBytes(tinyGguf("tiny.gguf"));
  KeyAt k = keyAt(b, "general.architecture");
  ASSERT_EQ(b.substr(k.value + 8, 5), "llama");
  b.replace(k.value + 8, 5, "mamba");
  std::string p = writeBytes("mamba.gguf", b);
  expectError(loadIsolated(p), {p, "general.architecture", "'mamba'", "supported", "llama", "qwen2",
                                "deepseek2", "gpt2", "gemma"});
}

TEST_F(ErrorsTest, GgufMissingArchitecture) {
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "noarch.gguf", {{"general.architecture"}, {}});
  expectError(loadIsolated(p), {p, "missing metadata 'general.architecture'"});
}

TEST_F(ErrorsTest, GgufMissingRequiredMetadata) {
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "noblocks.gguf", {{"llama.block_count"}, {}});
  expectError(loadIsolated(p), {p, "missing metadata 'llama.block_count'"});
}

TEST_F(ErrorsTest, GgufWrongTypedMetadata) {
  Rewrite rw;
  rw.dropKeys = {"llama.embedding_length"};
  rw.addKeys = [](GgufWriter &w) { w.addString("llama.embedding_length", "32"); };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "strdim.gguf", rw);
  expectError(loadIsolated(p), {p, "'llama.embedding_length'", "is string", "integer"});
}

TEST_F(ErrorsTest, GgufInconsistentHeads) {
  Rewrite rw;
  rw.dropKeys = {"llama.attention.head_count_kv"};
  rw.addKeys = [](GgufWriter &w) { w.addU32("llama.attention.head_count_kv", 3); };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "kv3.gguf", rw);
  expectError(loadIsolated(p), {p, "key/value heads", "3 does not divide"});
}

// Regression (found by this suite and gguf_fuzzer, since fixed):
// configFromGguf resized ModelConfig::layers to block_count before
// validating it, so a GGUF claiming 4 billion layers made it allocate
// ~64 GiB (std::bad_alloc -> abort).
TEST_F(ErrorsTest, GgufAbsurdBlockCount) {
  Rewrite rw;
  rw.dropKeys = {"llama.block_count"};
  rw.addKeys = [](GgufWriter &w) { w.addU32("llama.block_count", 0xffffffffu); };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "blocks.gguf", rw);
  expectError(loadIsolated(p), {p, "llama.block_count", "4294967295"});
}

TEST_F(ErrorsTest, GgufNegativeBlockCount) {
  Rewrite rw;
  rw.dropKeys = {"llama.block_count"};
  rw.addKeys = [](GgufWriter &w) { w.addI32("llama.block_count", -2); };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "blocks.gguf", rw);
  Outcome o = loadIsolated(p);
  expectError(o, {p, "-2"});
  expectMentionsOneOf(o, {"llama.block_count", "layer count"});
}

// Regression (found by this suite, since fixed): configFromGguf marked
// layers [dense, n) as MoE with `leading_dense_block_count` unchecked; a
// negative value wrote before the layers vector (heap-buffer-overflow).
TEST_F(ErrorsTest, GgufNegativeLeadingDenseBlockCount) {
  Rewrite rw;
  rw.addKeys = [](GgufWriter &w) {
    w.addU32("llama.expert_count", 2);
    w.addU32("llama.expert_used_count", 1);
    w.addI32("llama.leading_dense_block_count", -4);
  };
  std::string p = rewriteGguf(tinyGguf("tiny.gguf"), "dense.gguf", rw);
  expectError(loadIsolated(p), {p, "leading_dense_block_count", "-4"});
}

// ---------------------------------------------------------------------------
// llama2.c checkpoints
// ---------------------------------------------------------------------------

struct L2cHeader {
  int32_t dim = 16, hidden = 32, layers = 2, heads = 4, kvHeads = 2, vocab = 32, seq = 8;
};

// Header + exactly the f32 payload it implies (+ `extraBytes` of junk).
std::string llama2c(const L2cHeader &h, int64_t extraBytes = 0) {
  int64_t d = h.dim, f = h.hidden, L = h.layers, hd = h.dim / h.heads, kv = h.kvHeads * hd;
  int64_t v = h.vocab < 0 ? -h.vocab : h.vocab;
  int64_t floats = v * d + L * (d + d * d + 2 * kv * d + d * d + d + 3 * f * d) + d + h.seq * hd +
                   (h.vocab < 0 ? v * d : 0);
  std::string out(28, '\0');
  int32_t fields[7] = {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seq};
  std::memcpy(out.data(), fields, 28);
  std::string payload(static_cast<size_t>(floats * 4), '\0');
  for (size_t i = 0; i < payload.size(); i += 4) {
    float x = 0.01f * static_cast<float>((i / 4) % 17);
    std::memcpy(&payload[i], &x, 4);
  }
  return out + payload + std::string(static_cast<size_t>(extraBytes), 'x');
}

TEST_F(ErrorsTest, Llama2cValidLoads) {
  std::string p = writeBytes("model/model.bin", llama2c({}));
  auto m = loadModel(p);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->format, ModelFormat::Llama2c);
  EXPECT_EQ(m->config.dim, 16);
  EXPECT_TRUE(m->config.tiedEmbeddings);
  L2cHeader untied;
  untied.vocab = -32;
  auto m2 = loadLlama2c(writeBytes("untied.bin", llama2c(untied)));
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_FALSE(m2->config.tiedEmbeddings);
}

TEST_F(ErrorsTest, Llama2cTruncatedHeader) {
  std::string p = writeBytes("cut.bin", llama2c({}).substr(0, 10));
  expectError(llama2cIsolated(p), {p, "truncated", "header field n_layers"});
  expectError(loadIsolated(p), {p, "truncated", "header field n_layers"});
}

TEST_F(ErrorsTest, Llama2cTruncatedWeights) {
  std::string b = llama2c({});
  std::string p = writeBytes("cut.bin", b.substr(0, b.size() - 4));
  expectError(llama2cIsolated(p), {p, "truncated", std::to_string(b.size() - 4)});
}

TEST_F(ErrorsTest, Llama2cHeaderOnly) {
  std::string p = writeBytes("header.bin", llama2c({}).substr(0, 28));
  expectError(llama2cIsolated(p), {p, "truncated"});
}

TEST_F(ErrorsTest, Llama2cTrailingBytes) {
  std::string p = writeBytes("trailing.bin", llama2c({}, 12));
  expectError(llama2cIsolated(p), {p, "unexpected trailing data"});
}

TEST_F(ErrorsTest, Llama2cAbsurdHeaderField) {
  L2cHeader h;
  std::string b = llama2c(h);
  int32_t layers = 1 << 30;
  std::memcpy(&b[8], &layers, 4);
  std::string p = writeBytes("layers.bin", b);
  expectError(llama2cIsolated(p), {p, "header field n_layers", "1073741824", "absurd"});
  int32_t dim = -7;
  std::memcpy(&b[0], &dim, 4);
  p = writeBytes("dim.bin", b);
  expectError(llama2cIsolated(p), {p, "header field dim", "-7"});
  int32_t seq = 0;
  b = llama2c(h);
  std::memcpy(&b[24], &seq, 4);
  p = writeBytes("seq.bin", b);
  expectError(llama2cIsolated(p), {p, "header field seq_len", "0"});
}

TEST_F(ErrorsTest, Llama2cMostNegativeVocab) {
  // -INT32_MIN does not fit an int32; the reader widens first.
  std::string b = llama2c({});
  int32_t vocab = INT32_MIN;
  std::memcpy(&b[20], &vocab, 4);
  std::string p = writeBytes("vocab.bin", b);
  expectError(llama2cIsolated(p), {p, "header field vocab_size", "absurd"});
}

TEST_F(ErrorsTest, Llama2cDimNotMultipleOfHeads) {
  L2cHeader h;
  h.heads = 5;
  h.kvHeads = 5;
  std::string b = llama2c({});
  std::memcpy(&b[12], &h.heads, 4);
  std::memcpy(&b[16], &h.kvHeads, 4);
  std::string p = writeBytes("heads.bin", b);
  expectError(llama2cIsolated(p), {p, "dim 16", "n_heads 5"});
}

TEST_F(ErrorsTest, Llama2cKvHeadsDoNotDivideHeads) {
  std::string b = llama2c({});
  int32_t kv = 3;
  std::memcpy(&b[16], &kv, 4);
  std::string p = writeBytes("kv.bin", b);
  expectError(llama2cIsolated(p), {p, "key/value heads", "3 does not divide"});
}

// Regression (found by this suite, since fixed): Llama2c.cpp computed the
// expected file size as `28 + floats * 4` in uint64 without an overflow
// check. Every field is within the 2^20 bound, but for this header
// floats * 4 is exactly 2^66, so the size wrapped to 28: a 28-byte file
// passed the size check and the loader handed out tensors pointing far past
// the end of the mapping (reading them segfaulted).
TEST_F(ErrorsTest, Llama2cSizeComputationWraps) {
  L2cHeader h;
  h.dim = 1 << 20;
  h.hidden = 349526;
  h.layers = (1 << 20) - 1;
  h.heads = 2;
  h.kvHeads = 1;
  h.vocab = 1;
  h.seq = 4;
  std::string b(28, '\0');
  int32_t fields[7] = {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seq};
  std::memcpy(b.data(), fields, 28);
  std::string p = writeBytes("wrap.bin", b);
  expectError(llama2cIsolated(p), {p, "truncated", "the file has 28"});
}

// ---------------------------------------------------------------------------
// Tessel model descriptions (.json, strict)
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, DescriptionNotJson) {
  std::string p = writeBytes("bad.json", "{\"model_type\": \"llama\",");
  expectError(loadIsolated(p), {p, "not valid JSON"});
}

TEST_F(ErrorsTest, DescriptionNotAnObject) {
  std::string p = writeJson("array.json", json::array({1, 2}));
  expectError(loadIsolated(p), {p, "expected a JSON object"});
}

TEST_F(ErrorsTest, DescriptionUnknownKey) {
  json j = tinyDescription();
  j["hiden_size"] = 64; // typo
  std::string p = writeJson("typo.json", j);
  expectError(loadIsolated(p), {p, "unknown key 'hiden_size'"});
}

TEST_F(ErrorsTest, DescriptionUnknownKeyInLayer) {
  json j = tinyDescription();
  j["layers"] = json::array({json::object(), {{"sliding_windw", 16}}});
  std::string p = writeJson("layer.json", j);
  expectError(loadIsolated(p), {p, "layers[1]", "unknown key 'sliding_windw'"});
}

TEST_F(ErrorsTest, DescriptionWrongTypedField) {
  json j = tinyDescription();
  j["hidden_size"] = "32";
  std::string p = writeJson("type.json", j);
  expectError(loadIsolated(p), {p, "field 'hidden_size'", "must be an integer", "\"32\""});
}

TEST_F(ErrorsTest, DescriptionWrongTypedFloatField) {
  json j = tinyDescription();
  j["rope_theta"] = json::array({10000});
  std::string p = writeJson("type.json", j);
  expectError(loadIsolated(p), {p, "field 'rope_theta'", "must be a number"});
}

TEST_F(ErrorsTest, DescriptionWrongTypedLayerField) {
  json j = tinyDescription();
  j["layers"] = json::array({json::object(), {{"moe", "yes"}}});
  std::string p = writeJson("type.json", j);
  expectError(loadIsolated(p), {p, "layers[1]", "field 'moe'", "true or false"});
}

// A hostile description: a field nested 200000 arrays deep.
// Regression (found by this suite, since fixed): the "field 'hidden_size'
// must be an integer, got ..." message quoted the value with nlohmann's
// dump(), which recurses once per level and overflowed the stack (SIGSEGV);
// parsing and destroying the value are fine.
TEST_F(ErrorsTest, DescriptionDeeplyNestedValue) {
  std::string text = tinyDescription().dump();
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  size_t at = text.find("\"hidden_size\":32");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 16, "\"hidden_size\":" + deep);
  std::string p = writeBytes("deep.json", text);
  Outcome o = loadIsolated(p);
  expectError(o, {p, "hidden_size"});
  EXPECT_LT(o.message.size(), 1000u) << "the error quotes the whole value";
}

TEST_F(ErrorsTest, DescriptionLayersWrongLength) {
  json j = tinyDescription();
  j["layers"] = json::array({json::object()});
  std::string p = writeJson("layers.json", j);
  expectError(loadIsolated(p), {p, "field 'layers'", "one object per layer (2)"});
}

TEST_F(ErrorsTest, DescriptionMissingRequiredField) {
  json j = tinyDescription();
  j.erase("num_hidden_layers");
  std::string p = writeJson("missing.json", j);
  expectError(loadIsolated(p), {p, "missing field 'num_hidden_layers'"});
}

TEST_F(ErrorsTest, DescriptionMissingModelType) {
  json j = tinyDescription();
  j.erase("model_type");
  std::string p = writeJson("missing.json", j);
  expectError(loadIsolated(p), {p, "missing field 'model_type'"});
}

TEST_F(ErrorsTest, DescriptionUnknownModelType) {
  json j = tinyDescription();
  j["model_type"] = "mamba";
  std::string p = writeJson("mamba.json", j);
  expectError(loadIsolated(p), {p, "model_type 'mamba' is not supported", "llama", "gemma"});
}

TEST_F(ErrorsTest, DescriptionInconsistentHeads) {
  json j = tinyDescription();
  j["num_key_value_heads"] = 3;
  std::string p = writeJson("heads.json", j);
  expectError(loadIsolated(p), {p, "key/value heads", "3 does not divide"});
}

TEST_F(ErrorsTest, DescriptionNonPositiveSize) {
  json j = tinyDescription();
  j["vocab_size"] = 0;
  std::string p = writeJson("vocab.json", j);
  Outcome o = loadIsolated(p);
  expectError(o, {p, "0"});
  expectMentionsOneOf(o, {"vocab_size", "vocab size"});
}

TEST_F(ErrorsTest, DescriptionMissingWeights) {
  json j = tinyDescription();
  j.erase("weights");
  std::string p = writeJson("noweights.json", j);
  expectError(loadIsolated(p), {p, "missing field 'weights'"});
}

TEST_F(ErrorsTest, DescriptionBadWeightsField) {
  json j = tinyDescription();
  j["weights"] = 42;
  std::string p = writeJson("weights.json", j);
  expectError(loadIsolated(p), {p, "field 'weights'", "42"});
  j["weights"] = {{"randm", {{"seed", 1}}}};
  p = writeJson("weights2.json", j);
  expectError(loadIsolated(p), {p, "field 'weights'", "randm"});
}

TEST_F(ErrorsTest, DescriptionWeightsFileMissing) {
  json j = tinyDescription();
  j["weights"] = "nope.gguf";
  std::string p = writeJson("weights.json", j);
  expectError(loadIsolated(p), {path("nope.gguf"), "no such file"});
}

TEST_F(ErrorsTest, DescriptionWeightsDoNotMatch) {
  // The description says 3 layers; the GGUF it points at has 2.
  tinyGguf("tiny.gguf");
  json j = tinyDescription();
  j["num_hidden_layers"] = 3;
  j["weights"] = "tiny.gguf";
  std::string p = writeJson("weights.json", j);
  expectError(loadIsolated(p), {path("tiny.gguf"), "missing tensor 'blk.2."});
}

TEST_F(ErrorsTest, DescriptionUnknownWeightDtype) {
  json j = tinyDescription();
  j["weights"]["random"]["dtype"] = "q5_k";
  std::string p = writeJson("dtype.json", j);
  expectError(loadIsolated(p), {p, "weights.random.dtype", "'q5_k'", "q8_0"});
}

// Regression (found by this suite, since fixed): ModelLoader.cpp read
// weights.random with nlohmann's `value("dtype", std::string(...))`, which
// throws json::type_error for another type; the exception escaped loadModel
// (std::terminate).
TEST_F(ErrorsTest, DescriptionWrongTypedWeightDtype) {
  json j = tinyDescription();
  j["weights"]["random"]["dtype"] = 8;
  std::string p = writeJson("dtype.json", j);
  expectError(loadIsolated(p), {p, "weights.random.dtype"});
}

// Regression (since fixed): as above, `value("seed", 0)` threw
// json::type_error for a non-numeric seed.
TEST_F(ErrorsTest, DescriptionWrongTypedWeightSeed) {
  json j = tinyDescription();
  j["weights"]["random"]["seed"] = "one";
  std::string p = writeJson("seed.json", j);
  expectError(loadIsolated(p), {p, "weights.random.seed"});
}

// Regression (since fixed): `{"random": 7}` -- value() on a number threw
// json::type_error (uncaught).
TEST_F(ErrorsTest, DescriptionWeightsRandomNotAnObject) {
  json j = tinyDescription();
  j["weights"] = {{"random", 7}};
  std::string p = writeJson("random.json", j);
  expectError(loadIsolated(p), {p, "weights", "'random'", "7"});
}

// Regression (found by this suite, since fixed): a description whose
// "weights" named itself made loadModel recurse until the stack overflowed
// (SIGSEGV).
TEST_F(ErrorsTest, DescriptionWeightsNameItself) {
  json j = tinyDescription();
  j["weights"] = "self.json";
  std::string p = writeJson("self.json", j);
  expectError(loadIsolated(p), {p, "field 'weights'"});
}

// A cycle through two descriptions.
TEST_F(ErrorsTest, DescriptionWeightsCycle) {
  json a = tinyDescription(), b = tinyDescription();
  a["weights"] = "b.json";
  b["weights"] = "a.json";
  writeJson("b.json", b);
  std::string p = writeJson("a.json", a);
  expectError(loadIsolated(p), {"field 'weights'"});
}

// Regression (found by this suite, since fixed): configFromHfJson (via
// finishDefaults) resized ModelConfig::layers to num_hidden_layers before
// validate(), so 10^12 layers was a ~16 TB allocation (std::bad_alloc).
TEST_F(ErrorsTest, DescriptionAbsurdLayerCount) {
  json j = tinyDescription();
  j["num_hidden_layers"] = int64_t(1000000000000);
  std::string p = writeJson("layers.json", j);
  expectError(loadIsolated(p), {p, "num_hidden_layers", "1000000000000"});
}

// ---------------------------------------------------------------------------
// Hugging Face config.json
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, HfUnsupportedModelType) {
  json j = tinyDescription();
  j.erase("weights");
  j["model_type"] = "mamba";
  j["architectures"] = json::array({"MambaForCausalLM"});
  writeJson("hf/config.json", j);
  std::string dir = path("hf");
  expectError(loadIsolated(dir),
              {path("hf/config.json"), "model_type 'mamba' is not supported", "llama", "mistral",
               "qwen2", "mixtral", "deepseek_v2", "gpt2", "gemma"});
}

// A tiny GPT-2 as a Hugging Face directory, with tensor `name` replaced by
// an f32 tensor of `shape` (the file itself stays a valid safetensors file).
std::string hfGpt2WithTensor(const std::string &dir, const std::string &name,
                             const std::vector<int64_t> &shape) {
  json j = {{"model_type", "gpt2"}, {"n_embd", 16},  {"n_layer", 1},    {"n_head", 2},
            {"n_positions", 8},     {"n_inner", 32}, {"vocab_size", 24}};
  auto c = configFromHfJson(j, "gpt2", true);
  EXPECT_TRUE(c.ok()) << c.status();
  WeightStore w = randomWeights(*c, 2, WeightType::F32, "random");
  EXPECT_TRUE(writeHfModel(*c, w, dir).ok());
  std::string file = (fs::path(dir) / "model.safetensors").string();
  auto in = SafetensorsFile::open(file);
  EXPECT_TRUE(in.ok()) << in.status();
  SafetensorsWriter out;
  bool found = false;
  for (const WeightTensor &t : (*in)->tensors()) {
    if (t.name == name) {
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      out.addTensorFromF32(name, WeightType::F32, shape, std::vector<float>(n, 0.5f));
      found = true;
    } else {
      out.addTensor(t.name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.bytes));
    }
  }
  EXPECT_TRUE(found) << name << " is not in " << file;
  in->reset();
  EXPECT_TRUE(out.write(dir).ok());
  return file;
}

TEST_F(ErrorsTest, HfValidGpt2Loads) {
  std::string dir = path("gpt2");
  hfGpt2WithTensor(dir, "transformer.h.0.attn.c_proj.weight", {16, 16});
  auto m = loadModel(dir);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->config.arch, ModelArch::Gpt2);
}

// GPT-2's Conv1D weights are transposed by the loader; one with the wrong
// rank or size must be an error naming it.
// Regression (found by this suite, since fixed): ModelLoader.cpp
// transposedF32() read in.shape[1] without checking the rank; for a 1-D
// c_proj.weight that was past the end of the shape vector
// (heap-buffer-overflow), and the garbage column count made it allocate
// absurdly (std::bad_alloc).
TEST_F(ErrorsTest, HfGpt2Conv1DWrongRank) {
  std::string dir = path("gpt2");
  std::string file = hfGpt2WithTensor(dir, "transformer.h.0.attn.c_proj.weight", {256});
  expectError(loadIsolated(dir), {file, "transformer.h.0.attn.c_proj.weight"});
}

TEST_F(ErrorsTest, HfGpt2Conv1DWrongShape) {
  std::string dir = path("gpt2");
  std::string file = hfGpt2WithTensor(dir, "transformer.h.0.mlp.c_fc.weight", {16, 8});
  expectError(loadIsolated(dir), {file, "blk.0.ffn_up.weight", "[8, 16]", "[32, 16]"});
}

// Regression (found by this suite, since fixed): canonicalizeHf() read
// full.shape[0] of the fused c_attn tensor without checking its rank; a 0-d
// c_attn.bias indexed an empty shape vector (SIGSEGV).
TEST_F(ErrorsTest, HfGpt2FusedQkvWrongRank) {
  std::string dir = path("gpt2");
  std::string file = hfGpt2WithTensor(dir, "transformer.h.0.attn.c_attn.bias", {});
  expectError(loadIsolated(dir), {file, "transformer.h.0.attn.c_attn.bias"});
}

TEST_F(ErrorsTest, HfGpt2FusedQkvWrongSize) {
  std::string dir = path("gpt2");
  std::string file = hfGpt2WithTensor(dir, "transformer.h.0.attn.c_attn.weight", {16, 40});
  expectError(loadIsolated(dir), {file, "transformer.h.0.attn.c_attn.weight"});
}

TEST_F(ErrorsTest, HfDirectoryWithoutConfig) {
  fs::create_directories(path("hf"));
  std::string dir = path("hf");
  expectError(loadIsolated(dir), {dir, "config.json"});
}

TEST_F(ErrorsTest, HfConfigNotJson) {
  writeBytes("hf/config.json", "model_type: llama\n");
  std::string dir = path("hf");
  expectError(loadIsolated(dir), {path("hf/config.json"), "not valid JSON"});
}

// ---------------------------------------------------------------------------
// Files that are not models at all
// ---------------------------------------------------------------------------

TEST_F(ErrorsTest, UnknownFormat) {
  std::string p = writeBytes("notes.txt", "hello");
  expectError(loadIsolated(p), {p, "unknown model format"});
}

TEST_F(ErrorsTest, NoSuchFile) {
  std::string p = path("absent.gguf");
  expectError(loadIsolated(p), {p, "no such file"});
}

} // namespace
} // namespace tessel::frontends
