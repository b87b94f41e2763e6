//===- FuzzCommon.h - shared helpers for the model-file fuzzers -*- C++ -*-===//
//
// Each fuzzer is a libFuzzer target (LLVMFuzzerTestOneInput) built by
// run_fuzzers.sh with clang -fsanitize=fuzzer,address,undefined. Besides
// "no crash, no leak, no UB", the targets check the loaders' contract:
//   * an error names the input (the file name we passed);
//   * whatever a parser accepts is usable: tensors lie inside the input,
//     their byte counts match their shapes, and every value can be read.
// A broken contract aborts (FUZZ_CHECK), which libFuzzer records as a crash.
//
// Seed corpora are not committed: started with TESSEL_FUZZ_SEEDS=<dir>, a
// target writes its seeds (small valid files made with the project's own
// writers, plus a few real files from ../shared when present) and exits.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_TESTS_FUZZ_FUZZCOMMON_H
#define TESSEL_TESTS_FUZZ_FUZZCOMMON_H

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tessel::fuzz {

#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
      std::fprintf(stderr, "  " __VA_ARGS__);                                                      \
      std::fprintf(stderr, "\n");                                                                  \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

inline std::string msgOf(const absl::Status &st) { return std::string(st.message()); }

/// An error from a loader names `source`. (Not checked: that it is one
/// line -- messages quote names from the file, which may hold newlines.)
inline void checkError(const absl::Status &st, std::string_view source) {
  std::string m = msgOf(st);
  FUZZ_CHECK(!st.ok(), "expected an error");
  FUZZ_CHECK(m.find(source) != std::string::npos, "error does not name '%.*s': %s",
             static_cast<int>(source.size()), source.data(), m.c_str());
}

inline std::string env(const char *name, const std::string &fallback = "") {
  const char *v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

/// The seed directory when this run only writes seeds, else "".
inline std::string seedDir() { return env("TESSEL_FUZZ_SEEDS"); }

/// Every fuzzer's LLVMFuzzerInitialize starts here: in seed mode
/// (TESSEL_FUZZ_SEEDS set) it calls `writeSeeds(dir)` and exits, otherwise
/// it returns and fuzzing goes on.
template <class WriteSeeds> void writeSeedsAndExitInSeedMode(const WriteSeeds &writeSeeds) {
  if (std::string dir = seedDir(); !dir.empty()) {
    writeSeeds(dir);
    std::exit(0);
  }
}

/// The project's source tree (examples/models/*.json) and ../shared.
inline std::string sourceDir() { return env("TESSEL_SOURCE_DIR", TESSEL_FUZZ_SOURCE_DIR); }
inline std::string sharedDir() { return env("TESSEL_SHARED_DIR", sourceDir() + "/../shared"); }

inline bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

inline void writeSeed(const std::string &dir, const std::string &name, std::string_view bytes) {
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
    std::exit(1);
  }
}
inline void writeSeed(const std::string &dir, const std::string &name,
                      const std::vector<uint8_t> &bytes) {
  writeSeed(dir, name,
            std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()));
}

/// A scratch directory for files the loaders must open by path. Removed
/// (with its files) at exit.
inline const std::string &scratchDir() {
  static const std::string dir = [] {
    std::string base = env("TMPDIR", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    std::string tmpl = base + "/tessel-fuzz.XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string copy = tmpl;
    std::atexit([] {
      std::string cmd = "rm -rf '" + copy + "'";
      if (std::system(cmd.c_str()) != 0) {
      }
    });
    return tmpl;
  }();
  return dir;
}

/// Writes `data` to scratchDir()/name (replacing it) and returns the path.
inline std::string scratchFile(const std::string &name, const uint8_t *data, size_t size) {
  std::string path = scratchDir() + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      std::perror("write");
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

} // namespace tessel::fuzz

#endif // TESSEL_TESTS_FUZZ_FUZZCOMMON_H
