//===- SafetensorsTest.cpp - safetensors reader/writer tests ---------------===//
//
// Round trips (single file and sharded, F32/F16/BF16, zero-copy), the byte
// layout checked by hand against the spec, and one test per kind of bad
// input, each asserting that the one error names the file and the tensor or
// field at fault.
//
//===----------------------------------------------------------------------===//
#include "frontends/Safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <sstream>

#include "frontends/MappedFile.h"
#include "nlohmann/json.hpp"
#include "tests/unit/ScratchDirTest.h"

namespace tessel::frontends {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

class SafetensorsTest : public ScratchDirTest {
protected:
};

// A safetensors image: 8-byte little-endian length, header, then `buffer`.
std::string image(const std::string &header, const std::string &buffer) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(n >> (8 * i)));
  return out + header + buffer;
}
std::string image(const std::string &header, size_t bufferBytes) {
  return image(header, std::string(bufferBytes, '\x5a'));
}
std::string withLength(uint64_t n, const std::string &rest) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(n >> (8 * i)));
  return out + rest;
}

// The status is an error whose single-line message contains every part.
void expectError(const absl::Status &st, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(st.ok()) << "expected an error containing '" << *parts.begin() << "'";
  const std::string msg(st.message());
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  for (const std::string &p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}
template <typename T>
void expectError(const absl::StatusOr<T> &s, std::initializer_list<std::string> parts) {
  expectError(s.status(), parts);
}

std::vector<uint8_t> bytesOf(const std::vector<float> &v) {
  std::vector<uint8_t> out(v.size() * 4);
  if (!v.empty())
    std::memcpy(out.data(), v.data(), out.size());
  return out;
}
std::vector<uint8_t> bytesOf16(const std::vector<uint16_t> &v) {
  std::vector<uint8_t> out(v.size() * 2);
  if (!v.empty())
    std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// The tensor's data lies inside the file mapping that owns it.
void expectZeroCopy(const WeightTensor &t) {
  auto mapped = std::static_pointer_cast<const MappedFile>(t.owner);
  ASSERT_NE(mapped, nullptr) << t.name;
  EXPECT_EQ(mapped->path(), t.source);
  EXPECT_GE(t.data, mapped->data()) << t.name;
  EXPECT_LE(t.data + t.bytes, mapped->data() + mapped->size()) << t.name;
}

struct Expected {
  std::string name;
  WeightType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// Three dtypes, a scalar, an empty tensor, and sizes that exercise alignment.
std::vector<Expected> sampleTensors() {
  std::vector<Expected> out;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  auto f32 = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = dist(rng);
    return v;
  };
  auto f16 = [&](size_t n) {
    std::vector<uint16_t> v(n);
    for (auto &x : v)
      x = floatToHalf(dist(rng));
    return v;
  };
  auto bf16 = [&](size_t n) {
    std::vector<uint16_t> v(n);
    for (auto &x : v)
      x = floatToBf16(dist(rng));
    return v;
  };
  out.push_back({"tok_embeddings.weight", WeightType::F32, {16, 8}, bytesOf(f32(128))});
  out.push_back({"layers.0.attention.wq.weight", WeightType::F16, {8, 8}, bytesOf16(f16(64))});
  out.push_back({"layers.0.attention.wk.weight", WeightType::BF16, {4, 8}, bytesOf16(bf16(32))});
  out.push_back({"layers.0.attention_norm.weight", WeightType::F32, {8}, bytesOf(f32(8))});
  out.push_back(
      {"odd.f16", WeightType::F16, {3}, bytesOf16(f16(3))}); // 6 bytes: misaligns what follows
  out.push_back({"odd.bf16", WeightType::BF16, {1, 5}, bytesOf16(bf16(5))});
  out.push_back({"scale", WeightType::F32, {}, bytesOf(f32(1))});
  out.push_back({"empty", WeightType::F32, {0, 4}, {}});
  out.push_back({"output.weight", WeightType::F32, {32, 8}, bytesOf(f32(256))});
  return out;
}

SafetensorsWriter writerFor(const std::vector<Expected> &tensors) {
  SafetensorsWriter w;
  for (const auto &t : tensors)
    w.addTensor(t.name, t.type, t.shape, t.data);
  return w;
}

void expectStoreMatches(const WeightStore &store, const std::vector<Expected> &tensors) {
  EXPECT_EQ(store.all().size(), tensors.size());
  for (const auto &e : tensors) {
    SCOPED_TRACE(e.name);
    auto t = store.get(e.name, e.shape);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ((*t)->type, e.type);
    ASSERT_EQ((*t)->bytes, e.data.size());
    if (!e.data.empty()) {
      EXPECT_EQ(std::memcmp((*t)->data, e.data.data(), e.data.size()), 0);
    }
    expectZeroCopy(**t);
  }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

TEST_F(SafetensorsTest, RoundTripSingleFile) {
  const auto tensors = sampleTensors();
  SafetensorsWriter w = writerFor(tensors);
  w.setMetadata("model", "tiny");
  ASSERT_TRUE(w.write(dir_).ok());
  EXPECT_TRUE(fs::exists(path("model.safetensors")));
  EXPECT_FALSE(fs::exists(path("model.safetensors.index.json")));
  EXPECT_FALSE(fs::exists(path("model.safetensors.tmp")));

  auto store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->source, path("model.safetensors"));
  expectStoreMatches(*store, tensors);
  // Values read back through the type conversions too.
  auto wq = store->get("layers.0.attention.wq.weight");
  ASSERT_TRUE(wq.ok());
  std::vector<float> values = (*wq)->toF32();
  const uint16_t *raw = reinterpret_cast<const uint16_t *>(tensors[1].data.data());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(values[i], halfToFloat(raw[i]));

  auto file = SafetensorsFile::open(path("model.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("model"), "tiny");
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->tensors().size(), tensors.size());
  for (const auto &t : (*file)->tensors())
    expectZeroCopy(t);

  // The same file opened directly by path.
  auto direct = loadSafetensors(path("model.safetensors"));
  ASSERT_TRUE(direct.ok()) << direct.status();
  expectStoreMatches(*direct, tensors);
}

TEST_F(SafetensorsTest, RoundTripSharded) {
  const auto tensors = sampleTensors();
  SafetensorsWriter w = writerFor(tensors);
  ASSERT_TRUE(w.write(dir_, /*maxShardBytes=*/600).ok());
  EXPECT_FALSE(fs::exists(path("model.safetensors")));
  ASSERT_TRUE(fs::exists(path("model.safetensors.index.json")));

  std::ifstream in(path("model.safetensors.index.json"));
  json index = json::parse(in);
  const json &map = index["weight_map"];
  EXPECT_EQ(map.size(), tensors.size());
  uint64_t total = 0;
  for (const auto &t : tensors)
    total += t.data.size();
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  std::set<std::string> shards;
  for (const auto &[tensor, shard] : map.items())
    shards.insert(shard.get<std::string>());
  ASSERT_GE(shards.size(), 3u);
  const size_t n = shards.size();
  size_t i = 1;
  for (const std::string &s : shards) {
    char expected[64];
    std::snprintf(expected, sizeof expected, "model-%05zu-of-%05zu.safetensors", i++, n);
    EXPECT_EQ(s, expected);
    // Each shard is a complete safetensors file within the size limit,
    // except a shard holding a single larger tensor.
    auto f = SafetensorsFile::open(path(s));
    ASSERT_TRUE(f.ok()) << f.status();
    uint64_t bytes = 0;
    for (const auto &t : (*f)->tensors())
      bytes += t.bytes;
    EXPECT_TRUE(bytes <= 600 || (*f)->tensors().size() == 1) << s;
  }

  for (const std::string &where : {dir_, path("model.safetensors.index.json")}) {
    auto store = loadSafetensors(where);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(store->source, path("model.safetensors.index.json"));
    expectStoreMatches(*store, tensors);
    for (const auto &[name, t] : store->all())
      EXPECT_EQ(t.source, path(map[name].get<std::string>())) << name;
  }

  auto model = SafetensorsModel::open(dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->sharded());
  EXPECT_EQ((*model)->files().size(), n);
  auto t = (*model)->weight("output.weight");
  ASSERT_TRUE(t.ok()) << t.status();
  expectZeroCopy(*t);
}

TEST_F(SafetensorsTest, ShardLimitAboveTotalWritesOneFile) {
  const auto tensors = sampleTensors();
  SafetensorsWriter w = writerFor(tensors);
  ASSERT_TRUE(w.write(dir_, /*maxShardBytes=*/1 << 20).ok());
  EXPECT_TRUE(fs::exists(path("model.safetensors")));
  EXPECT_FALSE(fs::exists(path("model.safetensors.index.json")));
}

TEST_F(SafetensorsTest, RewritingSwitchesLayoutCleanly) {
  auto tensors = sampleTensors();
  ASSERT_TRUE(writerFor(tensors).write(dir_).ok());
  ASSERT_TRUE(writerFor(tensors).write(dir_, 600).ok());
  EXPECT_FALSE(fs::exists(path("model.safetensors"))); // would shadow the index
  auto sharded = loadSafetensors(dir_);
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  EXPECT_EQ(sharded->source, path("model.safetensors.index.json"));

  tensors.pop_back();
  ASSERT_TRUE(writerFor(tensors).write(dir_).ok());
  EXPECT_FALSE(fs::exists(path("model.safetensors.index.json")));
  auto single = loadSafetensors(dir_);
  ASSERT_TRUE(single.ok()) << single.status();
  expectStoreMatches(*single, tensors);
}

TEST_F(SafetensorsTest, AddTensorFromF32ConvertsToEachType) {
  SafetensorsWriter w;
  std::vector<float> v = {1.0f, -2.5f, 0.333333f, 65504.0f};
  w.addTensorFromF32("a", WeightType::F32, {4}, v);
  w.addTensorFromF32("b", WeightType::F16, {2, 2}, v);
  w.addTensorFromF32("c", WeightType::BF16, {4, 1}, v);
  ASSERT_TRUE(w.write(dir_).ok());
  auto store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto a = (*store->get("a"))->toF32();
  auto b = (*store->get("b"))->toF32();
  auto c = (*store->get("c"))->toF32();
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(a[i], v[i]);
    EXPECT_EQ(b[i], halfToFloat(floatToHalf(v[i])));
    EXPECT_EQ(c[i], bf16ToFloat(floatToBf16(v[i])));
  }
}

TEST_F(SafetensorsTest, EmptyModelRoundTrips) {
  SafetensorsWriter w;
  ASSERT_TRUE(w.write(dir_).ok());
  auto store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(store->all().empty());
}

// ---------------------------------------------------------------------------
// The byte layout, checked by hand against the spec
// ---------------------------------------------------------------------------

TEST_F(SafetensorsTest, WrittenBytesFollowTheSpec) {
  const auto tensors = sampleTensors();
  SafetensorsWriter w = writerFor(tensors);
  w.setMetadata("format", "pt");
  w.setMetadata("note", "hand-checked");
  auto bytes = w.serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_TRUE(w.write(dir_).ok());
  {
    std::ifstream in(path("model.safetensors"), std::ios::binary);
    std::string onDisk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(onDisk, std::string(bytes->begin(), bytes->end()));
  }
  const std::vector<uint8_t> &b = *bytes;

  // 8-byte little-endian N, then N bytes of JSON.
  ASSERT_GE(b.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= uint64_t(b[i]) << (8 * i);
  ASSERT_LE(8 + n, b.size());
  EXPECT_EQ((8 + n) % 8, 0u) << "the byte buffer starts 8-byte aligned";
  std::string header(b.begin() + 8, b.begin() + 8 + n);
  EXPECT_EQ(header.front(), '{');
  // Padding is spaces only, after the closing brace.
  size_t close = header.find_last_of('}');
  for (size_t i = close + 1; i < header.size(); ++i)
    EXPECT_EQ(header[i], ' ');
  json h = json::parse(header);
  ASSERT_TRUE(h.is_object());
  EXPECT_EQ(h["__metadata__"], (json{{"format", "pt"}, {"note", "hand-checked"}}));

  // data_offsets are relative to the byte buffer, which they tile exactly.
  const uint64_t bufferStart = 8 + n, bufferSize = b.size() - bufferStart;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto &e : tensors) {
    SCOPED_TRACE(e.name);
    ASSERT_TRUE(h.contains(e.name));
    const json &entry = h[e.name];
    EXPECT_EQ(entry["dtype"], e.type == WeightType::F32   ? "F32"
                              : e.type == WeightType::F16 ? "F16"
                                                          : "BF16");
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), e.shape);
    uint64_t begin = entry["data_offsets"][0], end = entry["data_offsets"][1];
    ASSERT_EQ(end - begin, e.data.size());
    ASSERT_LE(end, bufferSize);
    if (!e.data.empty()) {
      EXPECT_EQ(std::memcmp(b.data() + bufferStart + begin, e.data.data(), e.data.size()), 0);
    }
    // Each tensor starts at a multiple of its element size.
    EXPECT_EQ(begin % (e.type == WeightType::F32 ? 4 : 2), 0u);
    ranges.push_back({begin, end});
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (auto [begin, end] : ranges) {
    EXPECT_EQ(begin, covered);
    covered = end;
  }
  EXPECT_EQ(covered, bufferSize);
}

TEST_F(SafetensorsTest, ReadsAHandWrittenFileWithPaddingAndOtherDtypes) {
  // Written by hand per the spec: header padded with spaces, tensors in any
  // header order, an I64 and a BOOL tensor, and __metadata__.
  std::string buffer;
  auto put = [&](const void *p, size_t n) { buffer.append(static_cast<const char *>(p), n); };
  const float w[2] = {1.5f, -3.25f};
  const int64_t ids[3] = {7, -1, 1ll << 40};
  const uint8_t mask[2] = {1, 0};
  const uint16_t h[2] = {floatToHalf(0.5f), floatToHalf(-8.0f)};
  put(w, sizeof w);       // [0, 8)
  put(ids, sizeof ids);   // [8, 32)
  put(h, sizeof h);       // [32, 36)
  put(mask, sizeof mask); // [36, 38)
  std::string header = R"({"position_ids":{"dtype":"I64","shape":[1,3],"data_offsets":[8,32]},)"
                       R"("mask":{"dtype":"BOOL","shape":[2],"data_offsets":[36,38]},)"
                       R"("__metadata__":{"format":"pt","origin":"by hand"},)"
                       R"("w":{"shape":[2],"data_offsets":[0,8],"dtype":"F32"},)"
                       R"("h":{"dtype":"F16","shape":[2,1],"data_offsets":[32,36]}})";
  header.append(5, ' ');
  std::string p = writeBytes("hand.safetensors", image(header, buffer));

  auto file = SafetensorsFile::open(p);
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsFile &f = **file;
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("origin"), "by hand");
  EXPECT_EQ(f.dataOffset(), 8 + header.size());
  ASSERT_EQ(f.entries().size(), 4u);
  EXPECT_EQ(f.entries()[0].name, "w"); // buffer order
  const SafetensorsEntry *e = f.find("position_ids");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dtype, "I64");
  EXPECT_EQ(e->shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(e->bytes(), 24u);
  int64_t got[3];
  std::memcpy(got, e->data, sizeof got);
  EXPECT_EQ(got[2], 1ll << 40);
  ASSERT_NE(f.find("mask"), nullptr);
  EXPECT_EQ(f.find("mask")->dtype, "BOOL");

  ASSERT_EQ(f.tensors().size(), 2u); // only the weight dtypes
  auto wt = f.weight("w");
  ASSERT_TRUE(wt.ok()) << wt.status();
  EXPECT_EQ(wt->toF32(), (std::vector<float>{1.5f, -3.25f}));
  auto ht = f.weight("h");
  ASSERT_TRUE(ht.ok()) << ht.status();
  EXPECT_EQ(ht->toF32(), (std::vector<float>{0.5f, -8.0f}));

  // Asking for an I64 tensor as a weight names the dtype, tensor and file.
  expectError(f.weight("position_ids"),
              {p, "'position_ids'", "dtype I64 is not supported for weights"});
  expectError(f.weight("nope"), {p, "'nope'"});

  // A model loads with them present; they are simply not weights.
  auto store = loadSafetensors(p);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->all().size(), 2u);
  auto model = SafetensorsModel::open(p);
  ASSERT_TRUE(model.ok());
  expectError((*model)->weight("mask"), {p, "'mask'", "dtype BOOL is not supported for weights"});
}

TEST_F(SafetensorsTest, ParsesEveryDtypeOfTheSpec) {
  struct D {
    const char *name;
    int bits;
  };
  const D dtypes[] = {{"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
                      {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
                      {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
                      {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64}};
  for (const D &d : dtypes) {
    SCOPED_TRACE(d.name);
    EXPECT_EQ(safetensorsDtypeBits(d.name), d.bits);
    const uint64_t bytes = 4 * d.bits / 8; // shape [4]
    std::string header = std::string(R"({"t":{"dtype":")") + d.name +
                         R"(","shape":[4],"data_offsets":[0,)" + std::to_string(bytes) + "]}}";
    const std::string img = image(header, bytes);
    auto f = SafetensorsFile::parse(nullptr, reinterpret_cast<const uint8_t *>(img.data()),
                                    img.size(), "mem");
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ((*f)->entries()[0].dtype, d.name);
  }
  // Sub-byte dtypes must fill whole bytes.
  std::string odd = image(R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1);
  expectError(SafetensorsFile::parse(nullptr, reinterpret_cast<const uint8_t *>(odd.data()),
                                     odd.size(), "f4.safetensors"),
              {"f4.safetensors", "'t'", "whole bytes"});
}

// ---------------------------------------------------------------------------
// Bad files: one clear error naming the file and the tensor or field
// ---------------------------------------------------------------------------

class BadSafetensorsTest : public SafetensorsTest {
protected:
  // Writes `bytes` to `name` and returns the error from opening it.
  absl::Status openBad(const std::string &name, const std::string &bytes) {
    std::string p = writeBytes(name, bytes);
    auto f = SafetensorsFile::open(p);
    EXPECT_FALSE(f.ok()) << name << " opened without error";
    if (f.ok())
      return absl::OkStatus();
    // The model-level loader reports the same error.
    auto store = loadSafetensors(p);
    EXPECT_FALSE(store.ok());
    if (!store.ok()) {
      EXPECT_EQ(store.status().message(), f.status().message());
    }
    return f.status();
  }
};

TEST_F(BadSafetensorsTest, TruncatedBeforeTheHeaderLength) {
  expectError(openBad("short.safetensors", std::string("\x10\x00\x00", 3)),
              {path("short.safetensors"), "truncated", "3 bytes"});
  expectError(openBad("zero.safetensors", ""), {path("zero.safetensors"), "truncated"});
}

TEST_F(BadSafetensorsTest, TruncatedInTheData) {
  auto bytes = writerFor(sampleTensors()).serialize();
  ASSERT_TRUE(bytes.ok());
  std::string s(bytes->begin(), bytes->end() - 10);
  // The last tensor in the buffer is one of the F16/BF16 ones.
  expectError(openBad("cut.safetensors", s), {path("cut.safetensors"), "tensor '", "data_offsets",
                                              "past the end of the byte buffer", "truncated"});
}

TEST_F(BadSafetensorsTest, TruncatedAtEveryLengthNeverCrashes) {
  auto bytes = writerFor(sampleTensors()).serialize();
  ASSERT_TRUE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); ++len) {
    auto f = SafetensorsFile::parse(nullptr, bytes->data(), len, "cut");
    ASSERT_FALSE(f.ok()) << "length " << len;
    EXPECT_EQ(f.status().message().rfind("cut: ", 0), 0u) << f.status();
  }
  EXPECT_TRUE(SafetensorsFile::parse(nullptr, bytes->data(), bytes->size(), "whole").ok());
}

TEST_F(BadSafetensorsTest, HeaderLengthLargerThanTheFile) {
  expectError(openBad("long.safetensors", withLength(1000, "{}")),
              {path("long.safetensors"), "header length 1000", "larger than the file"});
}

TEST_F(BadSafetensorsTest, AbsurdHeaderLength) {
  expectError(openBad("absurd.safetensors", withLength(uint64_t(1) << 40, "{}")),
              {path("absurd.safetensors"), "absurd header length 1099511627776"});
  expectError(openBad("max.safetensors", withLength(~uint64_t(0), "{}")),
              {path("max.safetensors"), "absurd header length"});
  expectError(openBad("just-over.safetensors", withLength(100'000'001, "{}")),
              {path("just-over.safetensors"), "absurd header length"});
}

TEST_F(BadSafetensorsTest, HeaderNotValidJson) {
  expectError(openBad("json.safetensors", image(R"({"a": {"dtype": "F32",)", 0)),
              {path("json.safetensors"), "header is not valid JSON"});
  expectError(openBad("empty-header.safetensors", image("", 0)),
              {path("empty-header.safetensors"), "header is not valid JSON"});
  expectError(openBad("nul-pad.safetensors", image(std::string("{}\0\0", 4), 0)),
              {path("nul-pad.safetensors"), "header is not valid JSON"});
  expectError(openBad("utf8.safetensors", image("{\"a\xff\":1}", 0)),
              {path("utf8.safetensors"), "header is not valid JSON"});
}

TEST_F(BadSafetensorsTest, HeaderNotAnObject) {
  expectError(openBad("array.safetensors", image("[1, 2]  ", 0)),
              {path("array.safetensors"), "header is not a JSON object", "an array"});
  expectError(openBad("string.safetensors", image("\"x\"", 0)),
              {path("string.safetensors"), "header is not a JSON object"});
  expectError(openBad("leading-space.safetensors", image(" {}", 0)),
              {path("leading-space.safetensors"), "header must start with '{'"});
}

TEST_F(BadSafetensorsTest, HeaderNestedTooDeep) {
  std::string deep = R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expectError(openBad("deep.safetensors", image(deep, 0)),
              {path("deep.safetensors"), "header", "nested more than"});
}

TEST_F(BadSafetensorsTest, DuplicateTensorInHeader) {
  expectError(
      openBad("dup.safetensors", image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                       R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                       8)),
      {path("dup.safetensors"), "'w'", "appears twice"});
}

TEST_F(BadSafetensorsTest, EntryNotAnObject) {
  expectError(openBad("entry.safetensors", image(R"({"w": [1, 2]})", 0)),
              {path("entry.safetensors"), "tensor 'w'", "an array", "expected an object"});
}

TEST_F(BadSafetensorsTest, MissingDtype) {
  expectError(openBad("nodtype.safetensors",
                      image(R"({"layers.0.w":{"shape":[1],"data_offsets":[0,4]}})", 4)),
              {path("nodtype.safetensors"), "tensor 'layers.0.w'", "missing field 'dtype'"});
}

TEST_F(BadSafetensorsTest, MissingShape) {
  expectError(openBad("noshape.safetensors",
                      image(R"({"layers.0.w":{"dtype":"F32","data_offsets":[0,4]}})", 4)),
              {path("noshape.safetensors"), "tensor 'layers.0.w'", "missing field 'shape'"});
}

TEST_F(BadSafetensorsTest, MissingDataOffsets) {
  expectError(
      openBad("nooffsets.safetensors", image(R"({"layers.0.w":{"dtype":"F32","shape":[1]}})", 4)),
      {path("nooffsets.safetensors"), "tensor 'layers.0.w'", "missing field 'data_offsets'"});
}

TEST_F(BadSafetensorsTest, FieldsOfTheWrongType) {
  expectError(openBad("dtype-int.safetensors",
                      image(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4)),
              {path("dtype-int.safetensors"), "tensor 'w'", "field 'dtype'", "expected a string"});
  expectError(openBad("shape-str.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4)),
              {path("shape-str.safetensors"), "tensor 'w'", "field 'shape'"});
  expectError(openBad("shape-frac.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}})", 4)),
              {path("shape-frac.safetensors"), "tensor 'w'", "dimension 0", "expected an integer"});
  expectError(openBad("offsets-one.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4)),
              {path("offsets-one.safetensors"), "tensor 'w'", "data_offsets"});
  expectError(openBad("offsets-neg.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4)),
              {path("offsets-neg.safetensors"), "tensor 'w'", "data_offsets", "non-negative"});
  expectError(openBad("offsets-str.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":"0-4"}})", 4)),
              {path("offsets-str.safetensors"), "tensor 'w'", "data_offsets"});
}

TEST_F(BadSafetensorsTest, MetadataNotStrings) {
  expectError(openBad("meta.safetensors", image(R"({"__metadata__":{"format":"pt","n":3}})", 0)),
              {path("meta.safetensors"), "__metadata__", "'n'", "expected a string"});
  expectError(openBad("meta2.safetensors", image(R"({"__metadata__":"pt"})", 0)),
              {path("meta2.safetensors"), "__metadata__", "expected an object"});
}

TEST_F(BadSafetensorsTest, UnknownDtype) {
  expectError(openBad("dtype.safetensors",
                      image(R"({"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}})", 4)),
              {path("dtype.safetensors"), "tensor 'w'", "unknown dtype 'Q4_K'", "BF16"});
  expectError(openBad("dtype-lower.safetensors",
                      image(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4)),
              {path("dtype-lower.safetensors"), "tensor 'w'", "unknown dtype 'f32'"});
}

TEST_F(BadSafetensorsTest, DataOffsetsOutOfRange) {
  expectError(openBad("range.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            8)),
              {path("range.safetensors"), "tensor 'b'", "data_offsets [4, 12]",
               "past the end of the byte buffer (8 bytes)"});
  expectError(
      openBad(
          "huge.safetensors",
          image(
              R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})",
              8)),
      {path("huge.safetensors"), "tensor 'a'", "past the end"});
}

TEST_F(BadSafetensorsTest, DataOffsetsReversed) {
  expectError(openBad("reversed.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4)),
              {path("reversed.safetensors"), "tensor 'a'", "data_offsets [4, 0]", "reversed"});
}

TEST_F(BadSafetensorsTest, DataOffsetsOverlapping) {
  expectError(openBad("overlap.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            12)),
              {path("overlap.safetensors"), "tensor 'b'", "overlap", "tensor 'a'"});
  // An empty tensor inside another one also overlaps it.
  expectError(openBad("overlap-empty.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                            8)),
              {path("overlap-empty.safetensors"), "tensor 'z'", "overlap", "tensor 'a'"});
  // The same range twice.
  expectError(openBad("overlap-same.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                            8)),
              {path("overlap-same.safetensors"), "overlap", "'a'", "'b'"});
}

TEST_F(BadSafetensorsTest, HolesAndTrailingBytes) {
  expectError(
      openBad("hole.safetensors", image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                        12)),
      {path("hole.safetensors"), "bytes [4, 8)", "tensor 'b'", "no tensor"});
  expectError(openBad("tail.safetensors",
                      image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9)),
              {path("tail.safetensors"), "5 bytes after the last tensor 'a'"});
}

TEST_F(BadSafetensorsTest, ByteCountDoesNotMatchShape) {
  expectError(
      openBad("count.safetensors",
              image(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 8)),
      {path("count.safetensors"), "tensor 'w'", "hold 8 bytes", "[2,3]", "BF16", "needs 12"});
}

TEST_F(BadSafetensorsTest, NegativeDimension) {
  expectError(openBad("neg.safetensors",
                      image(R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}})", 16)),
              {path("neg.safetensors"), "tensor 'w'", "shape [2,-2]", "dimension 1 is negative"});
}

TEST_F(BadSafetensorsTest, AbsurdShape) {
  // The product overflows 64 bits, though it might wrap to a small number.
  expectError(
      openBad(
          "product.safetensors",
          image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})",
                0)),
      {path("product.safetensors"), "tensor 'w'", "absurd number of elements"});
  expectError(
      openBad(
          "dim.safetensors",
          image(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", 4)),
      {path("dim.safetensors"), "tensor 'w'", "dimension 0 is absurd"});
  expectError(
      openBad(
          "bytes.safetensors",
          image(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0)),
      {path("bytes.safetensors"), "tensor 'w'", "absurd"});
  // A zero dimension makes the product zero: fine.
  std::string zero =
      image(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}})", 0);
  EXPECT_TRUE(SafetensorsFile::parse(nullptr, reinterpret_cast<const uint8_t *>(zero.data()),
                                     zero.size(), "zero")
                  .ok());
}

TEST_F(BadSafetensorsTest, HostileNamesAreEscapedAndShortened) {
  std::string header = "{\"" + std::string("\\u0001") + std::string(9999, 'x') +
                       R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})";
  auto st = openBad("name.safetensors", image(header, 8));
  expectError(st, {path("name.safetensors"), "tensor '\\x01xxx", "...(10000 bytes)"});
  EXPECT_LT(st.message().size(), 600u);
}

TEST_F(BadSafetensorsTest, RandomCorruptionNeverCrashes) {
  auto bytes = writerFor(sampleTensors()).serialize();
  ASSERT_TRUE(bytes.ok());
  std::mt19937 rng(1234);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= uint64_t((*bytes)[i]) << (8 * i);
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = *bytes;
    int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k) {
      // Mostly the header, where the structure is.
      size_t at = rng() % 4 ? rng() % (8 + n) : rng() % b.size();
      b[at] = static_cast<uint8_t>(rng());
    }
    auto f = SafetensorsFile::parse(nullptr, b.data(), b.size(), "fuzz");
    if (!f.ok()) {
      ++failures;
      EXPECT_EQ(f.status().message().rfind("fuzz: ", 0), 0u) << f.status();
      continue;
    }
    for (const auto &e : (*f)->entries()) {
      ASSERT_GE(e.data, b.data() + (*f)->dataOffset());
      ASSERT_LE(e.data + e.bytes(), b.data() + b.size());
    }
  }
  EXPECT_GT(failures, 100);
}

// ---------------------------------------------------------------------------
// Sharded models
// ---------------------------------------------------------------------------

class ShardedTest : public SafetensorsTest {
protected:
  // Two shards with tensors a, b (shard 1) and c (shard 2).
  void SetUp() override {
    SafetensorsTest::SetUp();
    writeShard("model-00001-of-00002.safetensors", {"a", "b"});
    writeShard("model-00002-of-00002.safetensors", {"c"});
  }
  void writeShard(const std::string &name, const std::vector<std::string> &tensors) {
    std::string header = "{";
    uint64_t offset = 0;
    for (const auto &t : tensors) {
      if (header.size() > 1)
        header += ",";
      header += "\"" + t + R"(":{"dtype":"F32","shape":[2],"data_offsets":[)" +
                std::to_string(offset) + "," + std::to_string(offset + 8) + "]}";
      offset += 8;
    }
    header += "}";
    writeBytes(name, image(header, offset));
  }
  std::string writeIndex(const std::string &weightMap) {
    return writeBytes("model.safetensors.index.json",
                      R"({"metadata":{"total_size":24},"weight_map":)" + weightMap + "}");
  }
  const std::string kGoodMap =
      R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
      R"("c":"model-00002-of-00002.safetensors"})";
};

TEST_F(ShardedTest, HandWrittenIndexLoads) {
  std::string index = writeIndex(kGoodMap);
  auto store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->source, index);
  EXPECT_EQ(store->all().size(), 3u);
  EXPECT_EQ((*store->get("c"))->source, path("model-00002-of-00002.safetensors"));
  for (const auto &[name, t] : store->all())
    expectZeroCopy(t);
  // A missing tensor names the index.
  expectError(store->get("zzz"), {index, "'zzz'"});
}

TEST_F(ShardedTest, IndexNamesAMissingShard) {
  std::string index = writeIndex(
      R"({"a":"model-00001-of-00002.safetensors","c":"model-00003-of-00003.safetensors"})");
  expectError(loadSafetensors(dir_),
              {index, "shard 'model-00003-of-00003.safetensors'", "tensor 'c'", "missing"});
}

TEST_F(ShardedTest, TensorMissingFromItsShard) {
  std::string index = writeIndex(
      R"({"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors",)"
      R"("d":"model-00002-of-00002.safetensors"})");
  expectError(loadSafetensors(dir_),
              {index, "tensor 'd'", "shard 'model-00002-of-00002.safetensors'", "no such tensor"});
  // Mapped to the wrong shard: the message says where it actually is.
  index = writeIndex(
      R"({"a":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"})");
  expectError(loadSafetensors(dir_), {index, "tensor 'a'", "model-00001-of-00002.safetensors"});
}

TEST_F(ShardedTest, DuplicateTensorAcrossShards) {
  writeShard("model-00002-of-00002.safetensors", {"c", "b"});
  std::string index = writeIndex(kGoodMap);
  expectError(loadSafetensors(dir_),
              {index, "tensor 'b'", "two shards", path("model-00001-of-00002.safetensors"),
               path("model-00002-of-00002.safetensors")});
}

TEST_F(ShardedTest, BadIndexFile) {
  std::string index = writeBytes("model.safetensors.index.json", R"({"weight_map": {"a": )");
  expectError(loadSafetensors(dir_), {index, "not valid JSON"});
  index = writeBytes("model.safetensors.index.json", R"([])");
  expectError(loadSafetensors(dir_), {index, "expected a JSON object"});
  index = writeBytes("model.safetensors.index.json", R"({"metadata":{}})");
  expectError(loadSafetensors(dir_), {index, "missing field 'weight_map'"});
  index = writeBytes("model.safetensors.index.json", R"({"weight_map":[]})");
  expectError(loadSafetensors(dir_), {index, "field 'weight_map'", "expected an object"});
  index = writeIndex(R"({})");
  expectError(loadSafetensors(dir_), {index, "'weight_map' is empty"});
  index = writeIndex(R"({"a":1})");
  expectError(loadSafetensors(dir_), {index, "weight_map", "tensor 'a'", "shard file name"});
  index = writeIndex(R"({"a":"../model-00001-of-00002.safetensors"})");
  expectError(loadSafetensors(dir_), {index, "tensor 'a'", "not a file name inside"});
  index = writeIndex(R"({"a":"/etc/passwd"})");
  expectError(loadSafetensors(dir_), {index, "tensor 'a'", "not a file name inside"});
  index = writeIndex(
      R"({"a":"model-00001-of-00002.safetensors","a":"model-00001-of-00002.safetensors"})");
  expectError(loadSafetensors(dir_), {index, "'a'", "appears twice"});
}

TEST_F(ShardedTest, BadShardIsReportedByItsOwnName) {
  writeIndex(kGoodMap);
  writeBytes("model-00002-of-00002.safetensors", withLength(5000, "{}"));
  expectError(loadSafetensors(dir_),
              {path("model-00002-of-00002.safetensors"), "larger than the file"});
}

// ---------------------------------------------------------------------------
// Directories, duplicates, the writer's own errors
// ---------------------------------------------------------------------------

TEST_F(SafetensorsTest, DirectoryResolution) {
  expectError(loadSafetensors(path("nowhere")), {path("nowhere"), "no such file"});
  expectError(loadSafetensors(dir_), {dir_, "no model.safetensors"});
  std::string one = image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  writeBytes("weights.safetensors", one);
  auto store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->source, path("weights.safetensors"));
  writeBytes("more.safetensors", one);
  expectError(loadSafetensors(dir_),
              {dir_, "2 .safetensors files", "no model.safetensors.index.json"});
  writeBytes("model.safetensors", one);
  store = loadSafetensors(dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->source, path("model.safetensors"));
}

TEST_F(SafetensorsTest, AddToRefusesDuplicateNames) {
  std::string one = image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  auto a = SafetensorsFile::open(writeBytes("a.safetensors", one));
  auto b = SafetensorsFile::open(writeBytes("b.safetensors", one));
  ASSERT_TRUE(a.ok() && b.ok());
  WeightStore store;
  ASSERT_TRUE((*a)->addTo(store).ok());
  expectError((*b)->addTo(store), {path("b.safetensors"), "tensor 'w'", path("a.safetensors")});
}

TEST_F(SafetensorsTest, WriterReportsItsInputErrors) {
  {
    SafetensorsWriter w;
    w.addTensor("w", WeightType::F32, {2, 3}, std::vector<uint8_t>(20));
    expectError(w.write(dir_), {dir_, "tensor 'w'", "20 bytes", "needs 24"});
  }
  {
    SafetensorsWriter w;
    w.addTensor("q", WeightType::Q8_0, {1, 32}, std::vector<uint8_t>(34));
    expectError(w.write(dir_), {"tensor 'q'", "q8_0", "no safetensors dtype"});
  }
  {
    SafetensorsWriter w;
    w.addTensor("w", WeightType::F32, {1}, std::vector<uint8_t>(4));
    w.addTensor("w", WeightType::F32, {1}, std::vector<uint8_t>(4));
    expectError(w.write(dir_), {"tensor 'w'", "added twice"});
  }
  {
    SafetensorsWriter w;
    w.addTensor("__metadata__", WeightType::F32, {1}, std::vector<uint8_t>(4));
    expectError(w.write(dir_), {"__metadata__", "reserved"});
  }
  {
    SafetensorsWriter w;
    w.addTensor("w", WeightType::F32, {-1}, {});
    expectError(w.write(dir_), {"tensor 'w'", "bad shape [-1]"});
  }
  {
    SafetensorsWriter w;
    w.addTensor("bad\xff", WeightType::F32, {1}, std::vector<uint8_t>(4));
    expectError(w.write(dir_), {"UTF-8"});
  }
  EXPECT_FALSE(fs::exists(path("model.safetensors")));
  // A directory that cannot be created.
  writeBytes("file", "x");
  SafetensorsWriter w;
  expectError(w.write(path("file/sub")), {path("file/sub"), "cannot create directory"});
}

} // namespace
} // namespace tessel::frontends
