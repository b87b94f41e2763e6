//===- ScratchDirTest.h - a fresh directory per test ------------*- C++ -*-===//
//
// Tests that write real files and read them back derive from this fixture:
// each test gets its own directory under ::testing::TempDir(), removed
// afterwards.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TESTS_UNIT_SCRATCHDIRTEST_H
#define TESSEL_TESTS_UNIT_SCRATCHDIRTEST_H

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace tessel {

class ScratchDirTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::path(::testing::TempDir()) / "tessel_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string path(const std::string &name) const {
    return (std::filesystem::path(dir_) / name).string();
  }

  /// Writes `bytes` to `name` (creating directories) and returns its path.
  std::string writeBytes(const std::string &name, const std::string &bytes) const {
    std::string p = path(name);
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  std::string dir_;
};

} // namespace tessel

#endif // TESSEL_TESTS_UNIT_SCRATCHDIRTEST_H
