//===- Npy.cpp - NumPy .npy arrays: read and write ------------------------===//
#include "support/Npy.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessel::support {
namespace {

static_assert(sizeof(float) == 4, "float32 data is copied as float");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader copies little-endian data as it is: port it to this host"
#endif

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;

size_t elementBytes(NpyType type) {
  switch (type) {
  case NpyType::F32:
    return 4;
  case NpyType::I64:
    return 8;
  case NpyType::Bool:
    return 1;
  }
  return 1;
}

const char *descrOf(NpyType type) {
  switch (type) {
  case NpyType::F32:
    return "<f4";
  case NpyType::I64:
    return "<i8";
  case NpyType::Bool:
    return "|b1";
  }
  return "?";
}

std::string shapeText(const std::vector<int64_t> &shape) {
  if (shape.size() == 1)
    return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

/// A quoted excerpt of header text for an error (printable ASCII only).
std::string excerpt(std::string_view text) {
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text.substr(0, 24)) {
    const uint8_t b = static_cast<uint8_t>(c);
    if (b >= 0x20 && b < 0x7f && c != '\\')
      out += c;
    else
      out += {'\\', 'x', kHex[b >> 4], kHex[b & 15]};
  }
  return "'" + out + (text.size() > 24 ? "...'" : "'");
}

/// The header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
/// A Python literal, parsed (never evaluated) with only what numpy writes:
/// string keys, string / True / False / tuple-of-integers values.
class HeaderParser {
public:
  HeaderParser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  absl::Status parse(std::string &descr, bool &fortran, std::vector<int64_t> &shape) {
    bool seenDescr = false, seenFortran = false, seenShape = false;
    skipSpace();
    if (!consume('{'))
      return syntax("a dict starting with '{'");
    skipSpace();
    while (!consume('}')) {
      std::string key;
      if (absl::Status st = parseString(key, "a quoted field name"); !st.ok())
        return st;
      skipSpace();
      if (!consume(':'))
        return syntax("':' after field '" + key + "'");
      skipSpace();
      bool *seen = key == "descr"           ? &seenDescr
                   : key == "fortran_order" ? &seenFortran
                   : key == "shape"         ? &seenShape
                                            : nullptr;
      if (!seen)
        return error("unknown field '" + key + "' (expected descr, fortran_order and shape)");
      if (*seen)
        return error("field '" + key + "' appears twice");
      *seen = true;
      absl::Status st = key == "descr"           ? parseString(descr, "a quoted type such as '<f4'")
                        : key == "fortran_order" ? parseBool(fortran)
                                                 : parseShape(shape);
      if (!st.ok())
        return st;
      skipSpace();
      if (consume(',')) {
        skipSpace();
        continue;
      }
      skipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '}')
        return syntax("',' or '}' after field '" + key + "'");
    }
    skipSpace();
    if (pos_ != text_.size())
      return syntax("nothing but spaces after the dict");
    for (auto [seen, name] :
         {std::pair{seenDescr, "descr"}, std::pair{seenFortran, "fortran_order"},
          std::pair{seenShape, "shape"}})
      if (!seen)
        return error(std::string("missing field '") + name + "'");
    return absl::OkStatus();
  }

private:
  std::string_view text_;
  std::string source_;
  size_t pos_ = 0;

  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": .npy header: ", what));
  }
  absl::Status syntax(const std::string &expected) const {
    std::string_view rest = text_.substr(std::min(pos_, text_.size()));
    return error(absl::StrCat("expected ", expected, " at byte ", pos_, ", found ",
                              rest.empty() ? "the end" : excerpt(rest)));
  }
  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::Status parseString(std::string &out, const char *what) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return syntax(what);
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos)
      return syntax(std::string("a closing ") + quote);
    out.assign(text_.substr(pos_, end - pos_));
    if (out.find('\\') != std::string::npos)
      return error("escapes in strings are not supported: " + excerpt(out));
    pos_ = end + 1;
    return absl::OkStatus();
  }
  absl::Status parseBool(bool &out) {
    if (text_.substr(pos_, 4) == "True") {
      out = true;
      pos_ += 4;
    } else if (text_.substr(pos_, 5) == "False") {
      out = false;
      pos_ += 5;
    } else {
      return syntax("True or False for field 'fortran_order'");
    }
    return absl::OkStatus();
  }
  absl::Status parseShape(std::vector<int64_t> &shape) {
    if (!consume('('))
      return syntax("a tuple of integers for field 'shape'");
    skipSpace();
    while (!consume(')')) {
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9')
        return syntax("a non-negative integer in field 'shape'");
      int64_t value = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        int digit = text_[pos_++] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10)
          return error("field 'shape': a dimension overflows int64");
        value = value * 10 + digit;
      }
      consume('L'); // Python 2's long literal
      if (shape.size() == kNpyMaxRank)
        return error(absl::StrCat("field 'shape': more than ", kNpyMaxRank, " dimensions"));
      shape.push_back(value);
      skipSpace();
      if (consume(',')) {
        skipSpace();
        continue;
      }
      if (pos_ >= text_.size() || text_[pos_] != ')')
        return syntax("',' or ')' in field 'shape'");
    }
    return absl::OkStatus();
  }
};

uint32_t readLittle(std::string_view bytes, size_t at, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

} // namespace

const char *npyTypeName(NpyType type) {
  switch (type) {
  case NpyType::F32:
    return "float32";
  case NpyType::I64:
    return "int64";
  case NpyType::Bool:
    return "bool";
  }
  return "?";
}

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

absl::StatusOr<NpyArray> parseNpy(std::string_view bytes, std::string_view sourceName) {
  const std::string source(sourceName);
  auto fail = [&](const std::string &what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  if (bytes.size() < kMagicBytes + 2 || bytes.substr(0, kMagicBytes) != kMagic)
    return fail(absl::StrCat("not a .npy file (it does not start with \\x93NUMPY; ", bytes.size(),
                             " bytes)"));
  const int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if (minor != 0 || major < 1 || major > 3)
    return fail(absl::StrCat(".npy version ", major, ".", minor,
                             " is not supported (expected 1.0, 2.0 or 3.0)"));
  const size_t lengthBytes = major == 1 ? 2 : 4, headerStart = 8 + lengthBytes;
  if (bytes.size() < headerStart)
    return fail(absl::StrCat("the file ends inside the header length (", bytes.size(), " bytes)"));
  const size_t headerBytes = readLittle(bytes, 8, lengthBytes);
  if (headerBytes > kNpyMaxHeaderBytes)
    return fail(absl::StrCat("header length ", headerBytes, " is over the limit of ",
                             kNpyMaxHeaderBytes, " bytes"));
  if (headerBytes > bytes.size() - headerStart)
    return fail(absl::StrCat("header length ", headerBytes, " runs past the end of the file (",
                             bytes.size(), " bytes)"));

  std::string descr;
  bool fortran = false;
  NpyArray array;
  HeaderParser header(bytes.substr(headerStart, headerBytes), source);
  if (absl::Status st = header.parse(descr, fortran, array.shape); !st.ok())
    return st;
  if (descr == "<f4")
    array.type = NpyType::F32;
  else if (descr == "<i8")
    array.type = NpyType::I64;
  else if (descr == "|b1")
    array.type = NpyType::Bool;
  else
    return fail("field 'descr': '" + descr +
                "' is not supported (expected '<f4' float32, '<i8' int64 or '|b1' bool; "
                "convert with numpy's astype)");
  if (fortran && array.shape.size() > 1)
    return fail("field 'fortran_order': True is not supported (save a C-order array, e.g. "
                "numpy.ascontiguousarray)");

  // Elements and bytes, without overflow: the data must be in the file.
  const size_t dataBytes = bytes.size() - headerStart - headerBytes;
  const uint64_t width = elementBytes(array.type);
  uint64_t count = 1, needed = 0;
  bool overflow = false;
  for (int64_t d : array.shape)
    overflow |= __builtin_mul_overflow(count, static_cast<uint64_t>(d), &count);
  overflow |= __builtin_mul_overflow(count, width, &needed);
  if (overflow)
    return fail(absl::StrCat("field 'shape': ", shapeText(array.shape), " of ",
                             npyTypeName(array.type), " is more than 2^64 bytes"));
  if (needed != dataBytes)
    return fail(absl::StrCat("data: ", dataBytes, " bytes, but field 'shape' ",
                             shapeText(array.shape), " of ", npyTypeName(array.type), " needs ",
                             needed, " bytes"));

  const char *data = bytes.data() + headerStart + headerBytes;
  if (array.type == NpyType::F32) {
    array.f32.resize(count);
    if (count)
      std::memcpy(array.f32.data(), data, count * 4);
  } else if (array.type == NpyType::I64) {
    array.i64.resize(count);
    if (count)
      std::memcpy(array.i64.data(), data, count * 8);
  } else {
    array.i64.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint8_t b = static_cast<uint8_t>(data[i]);
      if (b > 1)
        return fail(absl::StrCat("data: element ", i, " is byte ", b, ", not a bool (0 or 1)"));
      array.i64[i] = b;
    }
  }
  return array;
}

absl::StatusOr<NpyArray> readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat(path, ": read error"));
  return parseNpy(contents.str(), path);
}

absl::StatusOr<std::string> serializeNpy(const NpyArray &array) {
  for (int64_t d : array.shape)
    if (d < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("a .npy array has a negative dimension: ", shapeText(array.shape)));
  if (array.shape.size() > kNpyMaxRank)
    return absl::InvalidArgumentError(
        absl::StrCat("a .npy array has more than ", kNpyMaxRank, " dimensions"));
  const uint64_t n = static_cast<uint64_t>(array.numel());
  const uint64_t held = array.type == NpyType::F32 ? array.f32.size() : array.i64.size();
  if (held != n)
    return absl::InvalidArgumentError(absl::StrCat("a .npy array of shape ", shapeText(array.shape),
                                                   " holds ", held, " elements instead of ", n));
  std::string header =
      absl::StrCat("{'descr': '", descrOf(array.type),
                   "', 'fortran_order': False, 'shape': ", shapeText(array.shape), ", }");
  // numpy pads the header with spaces and a newline so that the data starts
  // at a multiple of 64 bytes.
  const size_t unpadded = kMagicBytes + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 0xffff)
    return absl::InvalidArgumentError("a .npy header over 65535 bytes");
  std::string out(kMagic, kMagicBytes);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  if (array.type == NpyType::F32) {
    out.append(reinterpret_cast<const char *>(array.f32.data()), n * 4);
  } else if (array.type == NpyType::I64) {
    out.append(reinterpret_cast<const char *>(array.i64.data()), n * 8);
  } else {
    for (int64_t v : array.i64)
      out += static_cast<char>(v != 0);
  }
  return out;
}

absl::Status writeNpy(const std::string &path, const NpyArray &array) {
  auto bytes = serializeNpy(array);
  if (!bytes.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write (", std::strerror(errno), ")"));
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out)
    return absl::DataLossError(absl::StrCat(path, ": write error"));
  return absl::OkStatus();
}

} // namespace tessel::support
