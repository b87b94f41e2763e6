//===- RegexSplitter.cpp --------------------------------------------------===//
#define PCRE2_CODE_UNIT_WIDTH 8
#include "frontends/tokenizer/RegexSplitter.h"

#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "frontends/tokenizer/Utf8.h"

namespace tessel::frontends::tok {
namespace {

std::string pcre2Message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof(buf));
  if (n < 0)
    return absl::StrCat("PCRE2 error ", code);
  return std::string(reinterpret_cast<const char *>(buf), static_cast<size_t>(n));
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data *m) const { pcre2_match_data_free(m); }
};

} // namespace

absl::StatusOr<std::unique_ptr<RegexSplitter>>
RegexSplitter::compile(std::vector<std::string> patterns) {
  std::unique_ptr<RegexSplitter> s(new RegexSplitter());
  s->patterns_ = std::move(patterns);
  for (const std::string &p : s->patterns_) {
    int err = 0;
    PCRE2_SIZE errOffset = 0;
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                                     PCRE2_UTF | PCRE2_UCP, &err, &errOffset, nullptr);
    if (!code)
      return absl::InvalidArgumentError(absl::StrCat("pre-tokenizer regex ", printable(p),
                                                     " does not compile at offset ", errOffset,
                                                     ": ", pcre2Message(err)));
    s->codes_.push_back(code);
    // JIT is an optimisation only: where it is unavailable the interpreter runs.
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  return s;
}

RegexSplitter::~RegexSplitter() {
  for (pcre2_code *c : codes_)
    pcre2_code_free(c);
}

absl::Status RegexSplitter::split(std::string_view text,
                                  std::vector<std::string_view> &words) const {
  if (codes_.empty()) {
    if (!text.empty())
      words.push_back(text);
    return absl::OkStatus();
  }
  std::vector<std::string_view> cur{text}, next;
  for (size_t r = 0; r < codes_.size(); ++r) {
    next.clear();
    for (std::string_view piece : cur)
      if (auto st = splitOne(r, piece, next); !st.ok())
        return st;
    cur.swap(next);
  }
  words.insert(words.end(), cur.begin(), cur.end());
  return absl::OkStatus();
}

absl::Status RegexSplitter::splitOne(size_t which, std::string_view text,
                                     std::vector<std::string_view> &out) const {
  pcre2_code *code = codes_[which];
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
      pcre2_match_data_create_from_pattern(code, nullptr));
  if (!md)
    return absl::ResourceExhaustedError("pre-tokenizer: out of memory");
  const auto *subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t pos = 0;  // where the next search starts
  size_t done = 0; // end of the last word emitted
  while (pos < n) {
    // The text was validated once up front, so PCRE2 need not check it again.
    int rc = pcre2_match(code, subject, n, pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) // the interpreter keeps its stack on the heap
      rc = pcre2_match(code, subject, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH)
      break;
    if (rc < 0)
      return absl::ResourceExhaustedError(
          absl::StrCat("pre-tokenizer regex ", printable(patterns_[which]), " failed at byte ", pos,
                       " of a ", n, "-byte piece: ", pcre2Message(rc)));
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md.get());
    size_t start = ov[0], end = ov[1];
    if (end <= start) {
      // An empty match carries no word; step over one character and go on.
      pos = start + utf8SeqLen(static_cast<unsigned char>(text[start < n ? start : n - 1]));
      continue;
    }
    if (start > done)
      out.push_back(text.substr(done, start - done));
    out.push_back(text.substr(start, end - start));
    done = pos = end;
  }
  if (done < n)
    out.push_back(text.substr(done));
  return absl::OkStatus();
}

} // namespace tessel::frontends::tok
