//===- Utf8.cpp -----------------------------------------------------------===//
#include "frontends/tokenizer/Utf8.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessel::frontends::tok {

Utf8Check checkUtf8(std::string_view s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else if (c >= 0x80 && c <= 0xBF) {
      return {i, "continuation byte without a lead byte"};
    } else if (c == 0xC0 || c == 0xC1) {
      return {i, "overlong encoding"};
    } else {
      return {i, "byte that never appears in UTF-8"};
    }
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n)
        return {i, "sequence cut off by the end of the text"};
      if ((p[i + k] & 0xC0) != 0x80)
        return {i, "sequence cut off by a byte that is not a continuation byte"};
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min)
      return {i, "overlong encoding"};
    if (cp >= 0xD800 && cp <= 0xDFFF)
      return {i, "UTF-16 surrogate code point"};
    if (cp > 0x10FFFF)
      return {i, "code point above U+10FFFF"};
    i += len;
  }
  return {};
}

absl::Status validateUtf8(std::string_view s, std::string_view what) {
  Utf8Check c = checkUtf8(s);
  if (c.ok())
    return absl::OkStatus();
  std::string bytes;
  for (size_t k = c.offset; k < s.size() && k < c.offset + 4; ++k)
    absl::StrAppend(&bytes, k == c.offset ? "" : " ",
                    absl::StrFormat("0x%02X", static_cast<unsigned char>(s[k])));
  return absl::InvalidArgumentError(absl::StrCat(av(what), ": invalid UTF-8 at byte offset ",
                                                 c.offset, " (", bytes, "): ", c.reason));
}

size_t utf8SeqLen(unsigned char lead) {
  if (lead < 0xC0)
    return 1;
  if (lead < 0xE0)
    return 2;
  if (lead < 0xF0)
    return 3;
  if (lead < 0xF8)
    return 4;
  return 1;
}

uint32_t decodeUtf8(std::string_view s, size_t &i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = utf8SeqLen(c);
  if (len == 1) {
    ++i;
    return c < 0x80 ? c : (kRawByteFlag | c);
  }
  if (i + len > s.size()) {
    ++i;
    return kRawByteFlag | c;
  }
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return kRawByteFlag | c;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  i += len;
  return cp;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out = "'" + absl::Utf8SafeCHexEscape(av(s.substr(0, kMax))) + "'";
  if (s.size() > kMax)
    absl::StrAppend(&out, "...(", s.size(), " bytes)");
  return out;
}

} // namespace tessel::frontends::tok
