//===- TestPaths.h - where the unit tests find their inputs -----*- C++ -*-===//
//
// The example model descriptions in this repository and the real
// stories260K model in ../shared (tests read it there; it is never copied
// into the project). TESSEL_SOURCE_DIR comes from tests/unit/CMakeLists.txt.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TESTS_UNIT_TESTPATHS_H
#define TESSEL_TESTS_UNIT_TESTPATHS_H

#include <filesystem>

namespace tessel::testing {

inline const std::filesystem::path kExamples =
    std::filesystem::path(TESSEL_SOURCE_DIR) / "examples" / "models";
inline const std::filesystem::path kStories =
    std::filesystem::path(TESSEL_SOURCE_DIR).parent_path() / "shared" / "models" / "stories260K" /
    "stories260K.gguf";

} // namespace tessel::testing

#endif // TESSEL_TESTS_UNIT_TESTPATHS_H
