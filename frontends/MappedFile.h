//===- MappedFile.h - read-only mmap and a bounds-checked reader -*- C++ -*-===//
//
// Every model-file reader goes through these two classes: the file is mapped
// once (weights stay in the page cache, zero-copy), and every read of a
// header field goes through ByteReader, which refuses to step past the end
// and names the file, the field and the offset when it does.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_FRONTENDS_MAPPEDFILE_H
#define TESSEL_FRONTENDS_MAPPEDFILE_H

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tessel::frontends {

/// A read-only memory map of a whole file. Movable, not copyable.
class MappedFile {
public:
  static absl::StatusOr<std::shared_ptr<MappedFile>> open(const std::string &path);
  ~MappedFile();
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string &path() const { return path_; }

private:
  MappedFile(std::string path, const uint8_t *data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t *data_;
  uint64_t size_;
};

/// Sequential little-endian reads from a byte range, each bounds-checked.
/// `what` names the field being read so errors say which one was cut off.
class ByteReader {
public:
  ByteReader(std::string source, const uint8_t *data, uint64_t size)
      : source_(std::move(source)), data_(data), size_(size) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const uint8_t *here() const { return data_ + pos_; }
  const std::string &source() const { return source_; }

  template <typename T> absl::StatusOr<T> read(std::string_view what) {
    T value;
    if (auto st = need(sizeof(T), what); !st.ok())
      return st;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  /// Reads `n` bytes as a string (not NUL-terminated in the file).
  absl::StatusOr<std::string> readString(uint64_t n, std::string_view what);
  absl::Status skip(uint64_t n, std::string_view what);
  absl::Status seek(uint64_t offset, std::string_view what);

  /// An error that names the source and the current offset.
  absl::Status error(std::string_view message) const;

private:
  absl::Status need(uint64_t n, std::string_view what) const;
  std::string source_;
  const uint8_t *data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

} // namespace tessel::frontends

#endif // TESSEL_FRONTENDS_MAPPEDFILE_H
