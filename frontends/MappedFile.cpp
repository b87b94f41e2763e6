//===- MappedFile.cpp -----------------------------------------------------===//
#include "frontends/MappedFile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tessel::frontends {

absl::StatusOr<std::shared_ptr<MappedFile>> MappedFile::open(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint8_t *data = nullptr;
  if (size > 0) {
    void *p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
    }
    data = static_cast<const uint8_t *>(p);
  }
  ::close(fd); // the mapping keeps the file alive
  return std::shared_ptr<MappedFile>(new MappedFile(path, data, size));
}

MappedFile::~MappedFile() {
  if (data_)
    munmap(const_cast<uint8_t *>(data_), size_);
}

absl::Status ByteReader::need(uint64_t n, std::string_view what) const {
  if (n <= size_ - pos_)
    return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(source_, ": truncated: ", std::string(what),
                                                 " needs ", n, " bytes at offset ", pos_,
                                                 " but only ", size_ - pos_, " remain"));
}

absl::StatusOr<std::string> ByteReader::readString(uint64_t n, std::string_view what) {
  if (auto st = need(n, what); !st.ok())
    return st;
  std::string s(reinterpret_cast<const char *>(data_ + pos_), n);
  pos_ += n;
  return s;
}

absl::Status ByteReader::skip(uint64_t n, std::string_view what) {
  if (auto st = need(n, what); !st.ok())
    return st;
  pos_ += n;
  return absl::OkStatus();
}

absl::Status ByteReader::seek(uint64_t offset, std::string_view what) {
  if (offset > size_)
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", std::string(what), " offset ",
                                                   offset, " is past the end (", size_, " bytes)"));
  pos_ = offset;
  return absl::OkStatus();
}

absl::Status ByteReader::error(std::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": ", std::string(message), " (at offset ", pos_, ")"));
}

} // namespace tessel::frontends
