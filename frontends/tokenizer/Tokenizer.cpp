//===- Tokenizer.cpp - shared vocabulary machinery ------------------------===//
#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "frontends/tokenizer/TokenizerImpl.h"
#include "frontends/tokenizer/Utf8.h"

namespace tessel::frontends {

std::string Tokenizer::piece(int32_t id, int32_t prev) const {
  std::string p = piece(id);
  if (addsSpacePrefix() && (prev < 0 || prev == bos()) && !p.empty() && p[0] == ' ')
    p.erase(0, 1);
  return p;
}

namespace tok {

VocabTokenizer::VocabTokenizer(VocabData vocab) : vocab_(std::move(vocab)) {}

void VocabTokenizer::finishSetup() {
  const int32_t n = vocabSize();
  byText_.reserve(static_cast<size_t>(n) * 2);
  for (int32_t i = 0; i < n; ++i) {
    const std::string &t = vocab_.texts[i];
    if (t.empty())
      continue;
    byText_[std::string_view(t)] = i; // last wins, as in llama.cpp
  }
  for (int32_t i = 0; i < n; ++i) {
    if (vocab_.texts[i].empty())
      continue;
    TokenType ty = vocab_.types[i];
    if (ty == TokenType::UserDefined)
      userDefined_.push_back(i);
    if (ty == TokenType::UserDefined || ty == TokenType::Control || ty == TokenType::Unknown)
      allSpecial_.push_back(i);
  }
  auto longestFirst = [this](int32_t a, int32_t b) {
    return vocab_.texts[a].size() > vocab_.texts[b].size();
  };
  std::stable_sort(userDefined_.begin(), userDefined_.end(), longestFirst);
  std::stable_sort(allSpecial_.begin(), allSpecial_.end(), longestFirst);
}

int32_t VocabTokenizer::find(std::string_view text) const {
  auto it = byText_.find(text);
  return it == byText_.end() ? -1 : it->second;
}

absl::StatusOr<std::vector<int32_t>> VocabTokenizer::encode(std::string_view text,
                                                            std::string_view what) const {
  return encodeImpl(text, what, /*parseSpecial=*/false);
}

absl::StatusOr<std::vector<int32_t>>
VocabTokenizer::encodeWithSpecial(std::string_view text, std::string_view what) const {
  return encodeImpl(text, what, /*parseSpecial=*/true);
}

absl::StatusOr<std::vector<int32_t>>
VocabTokenizer::encodeImpl(std::string_view text, std::string_view what, bool parseSpecial) const {
  if (auto st = validateUtf8(text, what); !st.ok())
    return st;
  std::vector<int32_t> out;
  if (text.empty())
    return out;

  // Cut the text at every occurrence of a special token, longest tokens first
  // (each token splits what the longer ones left), as llama.cpp does.
  struct Fragment {
    int32_t token; // -1: plain text [offset, offset + length)
    size_t offset, length;
  };
  std::vector<Fragment> frags{{-1, 0, text.size()}}, next;
  // Vocabularies may carry thousands of such tokens: skip at once those whose
  // first byte the text does not even contain.
  std::array<bool, 256> present{};
  for (char c : text)
    present[static_cast<uint8_t>(c)] = true;
  for (int32_t id : parseSpecial ? allSpecial_ : userDefined_) {
    std::string_view tokText = vocab_.texts[id];
    if (!present[static_cast<uint8_t>(tokText[0])] || tokText.size() > text.size())
      continue;
    next.clear();
    for (const Fragment &f : frags) {
      if (f.token >= 0 || f.length < tokText.size()) {
        next.push_back(f);
        continue;
      }
      std::string_view body = text.substr(f.offset, f.length);
      size_t from = 0;
      for (size_t at; (at = body.find(tokText, from)) != std::string_view::npos;) {
        if (at > from)
          next.push_back({-1, f.offset + from, at - from});
        next.push_back({id, 0, 0});
        from = at + tokText.size();
      }
      if (from < body.size())
        next.push_back({-1, f.offset + from, body.size() - from});
    }
    frags.swap(next);
  }

  bool atStart = true;
  for (const Fragment &f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      atStart = true;
      continue;
    }
    if (auto st = encodeText(text.substr(f.offset, f.length), atStart, out); !st.ok())
      return absl::Status(st.code(), absl::StrCat(av(what), ": ", st.message()));
    atStart = false;
  }
  return out;
}

absl::StatusOr<std::string> VocabTokenizer::decode(const std::vector<int32_t> &ids) const {
  std::string out;
  const int32_t n = vocabSize();
  bool first = true; // no token has produced text yet
  for (size_t k = 0; k < ids.size(); ++k) {
    int32_t id = ids[k];
    if (id < 0 || id >= n)
      return absl::InvalidArgumentError(absl::StrCat("decode: token id ", id, " (position ", k,
                                                     ") is outside the vocabulary of ", n,
                                                     " tokens"));
    const std::string &p = pieces_[id];
    if (p.empty())
      continue;
    if (first && addsSpacePrefix() && p[0] == ' ')
      out.append(p, 1, std::string::npos);
    else
      out += p;
    first = false;
  }
  return out;
}

std::string VocabTokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocabSize())
    return {};
  return pieces_[id];
}

bool splitMerge(std::string_view line, std::string &left, std::string &right) {
  if (line.size() < 3)
    return false;
  size_t pos = line.find(' ', 1);
  if (pos == std::string_view::npos || pos + 1 >= line.size())
    return false;
  left.assign(line.substr(0, pos));
  right.assign(line.substr(pos + 1));
  return true;
}

} // namespace tok
} // namespace tessel::frontends
