//===- NpyTest.cpp - support/Npy.h: .npy files in and out -----------------===//
//
// Files numpy 1.24 wrote (numpy.save, and format version 2.0) parse to the
// arrays they hold; what serializeNpy writes parses back to the same array;
// and every malformed file gets one error naming the file and, where there
// is one, the header field.
//
//===----------------------------------------------------------------------===//
#include "support/Npy.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessel::support {
namespace {

using ::testing::HasSubstr;

std::string bytes(const char *data, size_t size) { return std::string(data, size); }
#define BYTES(literal) bytes(literal, sizeof(literal) - 1)

// A .npy prefix around `dict` as numpy lays it out: magic, version, header
// length, the dict padded with spaces and a newline to 64 bytes.
std::string numpyHeader(const std::string &dict, int version = 1) {
  std::string header = dict;
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out = BYTES("\x93NUMPY");
  out += static_cast<char>(version);
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  if (version != 1)
    out += std::string(2, '\0');
  return out + header;
}

std::string floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values)
    out.append(reinterpret_cast<const char *>(&v), 4);
  return out;
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // Verbatim from numpy 1.24: np.save(f, np.arange(6, dtype=np.float32).reshape(2, 3)).
  std::string f32 = BYTES("\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': "
                          "(2, 3), }                                                          \n"
                          "\x00\x00\x00\x00\x00\x00\x80?\x00\x00\x00@\x00\x00@@\x00\x00\x80@\x00"
                          "\x00\xa0@");
  auto a = parseNpy(f32, "a.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->type, NpyType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->f32, (std::vector<float>{0, 1, 2, 3, 4, 5}));

  // np.array([1, -2, 3], dtype=np.int64)
  std::string i64 = BYTES("\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': "
                          "(3,), }                                                            \n"
                          "\x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\x03"
                          "\x00\x00\x00\x00\x00\x00\x00");
  auto b = parseNpy(i64, "b.npy");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->type, NpyType::I64);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(b->i64, (std::vector<int64_t>{1, -2, 3}));

  // np.array([[True, False]])
  std::string boolean = BYTES("\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, "
                              "'shape': (1, 2), }                                                  "
                              "        \n\x01\x00");
  auto c = parseNpy(boolean, "c.npy");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->type, NpyType::Bool);
  EXPECT_EQ(c->i64, (std::vector<int64_t>{1, 0}));

  // A scalar, and format version 2.0 (a 4-byte header length).
  auto d = parseNpy(numpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (), }") +
                        floats({1.5f}),
                    "d.npy");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->shape.empty());
  EXPECT_EQ(d->f32, (std::vector<float>{1.5f}));
  auto e = parseNpy(numpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 2) +
                        floats({0, 1}),
                    "e.npy");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->f32, (std::vector<float>{0, 1}));
}

TEST(Npy, AcceptsOtherSpellingsOfTheSameHeader) {
  // Keys in any order, double quotes, no trailing comma, a Python 2 long.
  auto a = parseNpy(numpyHeader(R"({"shape": (1L, 2), "fortran_order": False, "descr": "<f4"})") +
                        floats({1, 2}),
                    "a.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->shape, (std::vector<int64_t>{1, 2}));
  // A zero-size array has no data; fortran_order does not matter for rank 1.
  auto b = parseNpy(numpyHeader("{'descr': '<i8', 'fortran_order': True, 'shape': (0,), }"), "b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->numel(), 0);
}

TEST(Npy, RoundTrips) {
  NpyArray f;
  f.type = NpyType::F32;
  f.shape = {2, 1, 3};
  f.f32 = {0.5f, -1, 3.25f, 1e-30f, 7, -0.0f};
  NpyArray i;
  i.type = NpyType::I64;
  i.shape = {4};
  i.i64 = {0, -1, INT64_MAX, INT64_MIN};
  NpyArray b;
  b.type = NpyType::Bool;
  b.shape = {3};
  b.i64 = {1, 0, 1};
  NpyArray scalar;
  scalar.type = NpyType::I64;
  scalar.i64 = {42};
  for (const NpyArray &a : {f, i, b, scalar}) {
    auto text = serializeNpy(a);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ((text->find('\n') + 1) % 64, 0u) << "the data starts 64-byte aligned";
    auto back = parseNpy(*text, "x.npy");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->type, a.type);
    EXPECT_EQ(back->shape, a.shape);
    EXPECT_EQ(back->f32, a.f32);
    EXPECT_EQ(back->i64, a.i64);
  }
  // Through a file.
  const std::string path =
      (std::filesystem::temp_directory_path() / ("npy_test_" + std::to_string(::getpid()) + ".npy"))
          .string();
  ASSERT_TRUE(writeNpy(path, f).ok());
  auto read = readNpy(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->f32, f.f32);
}

TEST(Npy, RefusesArraysItCannotWrite) {
  NpyArray a;
  a.shape = {2, 2};
  a.f32 = {1, 2, 3};
  auto text = serializeNpy(a);
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("holds 3 elements instead of 4"));
  a.shape = {-1};
  EXPECT_FALSE(serializeNpy(a).ok());
}

// Each malformed file: one line naming the file, and the field if there is one.
struct BadCase {
  const char *what;
  std::string bytes;
  const char *message;
};

TEST(Npy, MalformedFilesGetOneErrorNamingFileAndField) {
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  std::string bigLength = BYTES("\x93NUMPY\x01\x00\xff\xff{");
  std::string hugeV2 = BYTES("\x93NUMPY\x02\x00\xff\xff\xff\x7f{");
  std::vector<BadCase> cases = {
      {"empty", "", "bad.npy: not a .npy file"},
      {"wrong magic", "PK\x03\x04 not numpy at all", "bad.npy: not a .npy file"},
      {"version 9", BYTES("\x93NUMPY\x09\x00\x10\x00"),
       "bad.npy: .npy version 9.0 is not supported"},
      {"truncated length", BYTES("\x93NUMPY\x02\x00\x10"), "ends inside the header length"},
      {"header past the end", bigLength, "header length 65535 runs past the end of the file"},
      {"header over the limit", hugeV2, "is over the limit"},
      {"descr f8", numpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"),
       "bad.npy: field 'descr': '<f8' is not supported (expected '<f4' float32, '<i8' int64 or "
       "'|b1' bool"},
      {"big-endian", numpyHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"),
       "field 'descr': '>f4' is not supported"},
      {"fortran", numpyHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"),
       "bad.npy: field 'fortran_order': True is not supported"},
      {"missing shape", numpyHeader("{'descr': '<f4', 'fortran_order': False}"),
       "bad.npy: .npy header: missing field 'shape'"},
      {"unknown field", numpyHeader("{'descr': '<f4', 'colour': 'red'}"),
       "bad.npy: .npy header: unknown field 'colour'"},
      {"duplicate field", numpyHeader("{'descr': '<f4', 'descr': '<f4'}"),
       "field 'descr' appears twice"},
      {"not a dict", numpyHeader("[1, 2]"), "bad.npy: .npy header: expected a dict"},
      {"negative dim", numpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"),
       "expected a non-negative integer in field 'shape'"},
      {"dim overflow",
       numpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"),
       "field 'shape': a dimension overflows int64"},
      {"larger than memory",
       numpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, "
                   "4294967296), }") +
           floats({1}),
       "bad.npy: field 'shape': (4294967296, 4294967296) of float32 is more than 2^64 bytes"},
      {"short data", numpyHeader(f4) + floats({1}),
       "bad.npy: data: 4 bytes, but field 'shape' (2,) of float32 needs 8 bytes"},
      {"long data", numpyHeader(f4) + floats({1, 2, 3}), "data: 12 bytes"},
      {"bool byte 2",
       numpyHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }") + "\x01\x02",
       "bad.npy: data: element 1 is byte 2, not a bool"},
      {"unterminated string", numpyHeader("{'descr: '<f4'"), "expected ':' after field"},
      {"fortran value", numpyHeader("{'fortran_order': maybe}"), "True or False"},
      {"bad shape tuple", numpyHeader("{'shape': (2; 3)}"), "',' or ')' in field 'shape'"},
      {"trailing junk", numpyHeader(f4 + " x"), "nothing but spaces after the dict"},
  };
  for (const BadCase &c : cases) {
    auto a = parseNpy(c.bytes, "bad.npy");
    ASSERT_FALSE(a.ok()) << c.what;
    std::string m(a.status().message());
    EXPECT_THAT(m, HasSubstr(c.message)) << c.what;
    EXPECT_EQ(m.rfind("bad.npy: ", 0), 0u) << c.what << ": " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << c.what << ": " << m;
  }
}

TEST(Npy, MissingFileIsNamed) {
  auto a = readNpy("/nonexistent/arg0.npy");
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(std::string(a.status().message()),
              HasSubstr("/nonexistent/arg0.npy: cannot open (No such file or directory)"));
}

} // namespace
} // namespace tessel::support
