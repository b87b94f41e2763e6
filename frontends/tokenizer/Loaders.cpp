//===- Loaders.cpp - GGUF, llama2.c and tokenizer.json vocabularies -------===//
//
// Each loader reads its format into a VocabData (+ options), checking every
// length, id and type on the way, then hands it to makeSpmTokenizer /
// makeBpeTokenizer. Every error names the file.
//
//===----------------------------------------------------------------------===//
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "frontends/Gguf.h"
#include "frontends/MappedFile.h"
#include "frontends/tokenizer/TokenizerImpl.h"
#include "frontends/tokenizer/Utf8.h"
#include "nlohmann/json.hpp"

namespace tessel::frontends {
namespace {

using tok::TokenType;
using tok::VocabData;
using json = nlohmann::json;

#define TOK_ASSIGN(lhs, expr)                                                                      \
  auto lhs##_or = (expr);                                                                          \
  if (!lhs##_or.ok())                                                                              \
    return lhs##_or.status();                                                                      \
  auto lhs = std::move(*lhs##_or)

absl::Status checkScore(const std::string &source, size_t i, double s) {
  if (std::isnan(s))
    return absl::InvalidArgumentError(absl::StrCat(source, ": token ", i, " has a NaN score"));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// GGUF
//===----------------------------------------------------------------------===//

// A special-token id from metadata. Absent, or outside the vocabulary (files
// write 0xFFFFFFFF for "none"), keeps `fallback`, as llama.cpp does.
absl::StatusOr<int32_t> ggufTokenId(const GgufFile &f, const std::string &key, int32_t fallback,
                                    size_t n) {
  if (!f.has(key))
    return fallback;
  TOK_ASSIGN(v, f.getInt(key));
  if (v < 0 || static_cast<uint64_t>(v) >= n)
    return fallback;
  return static_cast<int32_t>(v);
}

} // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromGguf(const GgufFile &file) {
  const std::string &path = file.path();
  TOK_ASSIGN(model, file.getString("tokenizer.ggml.model"));
  const bool spm = model == "llama", bpe = model == "gpt2";
  if (!spm && !bpe)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tokenizer model ", tok::printable(model),
        " (tokenizer.ggml.model) is not supported; supported: llama (SentencePiece BPE), gpt2 "
        "(byte-level BPE)"));

  VocabData v;
  v.source = path;
  TOK_ASSIGN(tokens, file.getStrings("tokenizer.ggml.tokens"));
  const size_t n = tokens->size();
  if (n == 0)
    return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.tokens is empty"));
  if (static_cast<int64_t>(n) > tok::kMaxVocab)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": tokenizer.ggml.tokens holds an absurd ", n, " tokens"));
  v.texts = *tokens;

  v.types.assign(n, TokenType::Normal);
  if (file.has("tokenizer.ggml.token_type")) {
    TOK_ASSIGN(types, file.getInts("tokenizer.ggml.token_type"));
    if (types->size() != n)
      return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.token_type has ",
                                                     types->size(), " entries for ", n, " tokens"));
    for (size_t i = 0; i < n; ++i) {
      int64_t t = (*types)[i];
      // llama.cpp reads values it does not know as "undefined"; so do we.
      v.types[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
  }
  if (file.has("tokenizer.ggml.scores")) {
    TOK_ASSIGN(scores, file.getFloats("tokenizer.ggml.scores"));
    if (scores->size() != n)
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tokenizer.ggml.scores has ", scores->size(), " entries for ", n, " tokens"));
    v.scores.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (auto st = checkScore(path, i, (*scores)[i]); !st.ok())
        return st;
      v.scores[i] = static_cast<float>((*scores)[i]);
    }
  }

  if (spm) {
    auto inRange = [n](int32_t id) { return static_cast<size_t>(id) < n ? id : -1; };
    TOK_ASSIGN(bos, ggufTokenId(file, "tokenizer.ggml.bos_token_id", inRange(1), n));
    TOK_ASSIGN(eos, ggufTokenId(file, "tokenizer.ggml.eos_token_id", inRange(2), n));
    TOK_ASSIGN(unk, ggufTokenId(file, "tokenizer.ggml.unknown_token_id", inRange(0), n));
    v.bos = bos, v.eos = eos, v.unk = unk;
    tok::SpmOptions opts;
    if (file.has("tokenizer.ggml.add_space_prefix")) {
      TOK_ASSIGN(prefix, file.getBool("tokenizer.ggml.add_space_prefix"));
      opts.addSpacePrefix = prefix;
    }
    return tok::makeSpmTokenizer(std::move(v), opts);
  }

  std::string pre;
  if (file.has("tokenizer.ggml.pre")) {
    TOK_ASSIGN(p, file.getString("tokenizer.ggml.pre"));
    pre = std::move(p);
  }
  const tok::PreTokenizerInfo *info = tok::findGgufPreTokenizer(pre);
  if (!info)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": pre-tokenizer ",
        pre.empty() ? "(none: tokenizer.ggml.pre is missing)" : tok::printable(pre),
        " of this gpt2 tokenizer is not supported; supported tokenizer.ggml.pre values: ",
        tok::supportedGgufPreTokenizers()));
  TOK_ASSIGN(bos, ggufTokenId(file, "tokenizer.ggml.bos_token_id", -1, n));
  TOK_ASSIGN(eos, ggufTokenId(file, "tokenizer.ggml.eos_token_id", -1, n));
  TOK_ASSIGN(unk, ggufTokenId(file, "tokenizer.ggml.unknown_token_id", -1, n));
  v.bos = bos, v.eos = eos, v.unk = unk;

  tok::BpeOptions opts;
  opts.kind = "bpe:" + pre;
  opts.regexes = info->regexes;
  opts.ignoreMerges = info->ignoreMerges;
  TOK_ASSIGN(merges, file.getStrings("tokenizer.ggml.merges"));
  opts.merges.resize(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    auto &[l, r] = opts.merges[i];
    if (!tok::splitMerge((*merges)[i], l, r))
      return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer.ggml.merges #", i, " ",
                                                     tok::printable((*merges)[i]),
                                                     " is not two tokens separated by a space"));
  }
  return tok::makeBpeTokenizer(std::move(v), std::move(opts));
}

//===----------------------------------------------------------------------===//
// llama2.c tokenizer.bin
//===----------------------------------------------------------------------===//

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromLlama2c(const std::string &path,
                                                                  int32_t vocabSize) {
  if (vocabSize <= 0 || vocabSize > tok::kMaxVocab)
    return absl::InvalidArgumentError(absl::StrCat(path, ": vocabulary size ", vocabSize,
                                                   " is not usable (1..", tok::kMaxVocab, ")"));
  TOK_ASSIGN(mapped, MappedFile::open(path));
  ByteReader r(path, mapped->data(), mapped->size());
  TOK_ASSIGN(maxLen, r.read<int32_t>("max_token_length"));
  // llama2.c sizes its merge buffer from this; real files hold small values.
  if (maxLen <= 0 || maxLen > (1 << 16))
    return r.error(absl::StrCat("max_token_length ", maxLen, " is absurd (expected 1..65536)"));
  // Each token takes at least 8 bytes (score + length): refuse before reading
  // a vocabulary the file cannot hold.
  if (static_cast<uint64_t>(vocabSize) > r.remaining() / 8)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": truncated, or not for this model: ", vocabSize, " tokens need at least ",
        uint64_t(vocabSize) * 8, " bytes after the header but the file has ", r.remaining()));

  VocabData v;
  v.source = path;
  v.texts.resize(vocabSize);
  v.scores.resize(vocabSize);
  v.types.assign(vocabSize, TokenType::Normal);
  for (int32_t i = 0; i < vocabSize; ++i) {
    std::string what = absl::StrCat("token ", i);
    TOK_ASSIGN(score, r.read<float>(what + " score"));
    TOK_ASSIGN(len, r.read<int32_t>(what + " length"));
    if (len < 0 || len > maxLen)
      return r.error(
          absl::StrCat(what, ": length ", len, " is outside 0..max_token_length (", maxLen, ")"));
    TOK_ASSIGN(text, r.readString(static_cast<uint64_t>(len), what + " text"));
    if (auto st = checkScore(path, i, score); !st.ok())
      return st;
    v.scores[i] = score;
    v.texts[i] = std::move(text);
  }
  if (r.remaining() != 0)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", r.remaining(), " bytes follow token ", vocabSize - 1,
                     ": the file holds more tokens than the model's vocabulary size ", vocabSize));

  // llama2.c's export wrote SentencePiece's "▁" as ' ' and BOS/EOS as
  // "\n<s>\n"/"\n</s>\n"; undo both so the vocabulary reads as the GGUF one.
  for (int32_t i = 0; i < vocabSize; ++i) {
    std::string &t = v.texts[i];
    if (i == 0) {
      v.types[i] = TokenType::Unknown;
    } else if (i == 1 || i == 2) {
      v.types[i] = TokenType::Control;
      if (t == "\n<s>\n")
        t = "<s>";
      if (t == "\n</s>\n")
        t = "</s>";
    } else if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
               std::isxdigit(static_cast<unsigned char>(t[3])) &&
               std::isxdigit(static_cast<unsigned char>(t[4]))) {
      v.types[i] = TokenType::Byte;
    } else {
      std::string s;
      for (char c : t)
        s += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
      t = std::move(s);
    }
  }
  v.unk = 0;
  v.bos = vocabSize > 1 ? 1 : -1;
  v.eos = vocabSize > 2 ? 2 : -1;
  return tok::makeSpmTokenizer(std::move(v), tok::SpmOptions{});
}

//===----------------------------------------------------------------------===//
// HF tokenizer.json
//===----------------------------------------------------------------------===//

namespace {

constexpr int kMaxJsonDepth = 64;

// Deepest bracket nesting outside strings (stops counting past `limit`).
int jsonDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

absl::StatusOr<json> readJson(const std::string &path) {
  TOK_ASSIGN(mapped, MappedFile::open(path));
  std::string_view text(reinterpret_cast<const char *>(mapped->data()), mapped->size());
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not valid JSON: NUL byte at offset ", nul));
  if (jsonDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a tokenizer file: JSON nested more than ", kMaxJsonDepth, " deep"));
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception &e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON: ", e.what()));
  }
}

// Typed access that reports the JSON path of what is wrong.
class HfReader {
public:
  explicit HfReader(std::string path) : path_(std::move(path)) {}

  absl::Status error(absl::string_view where, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", where, ": ", msg));
  }
  absl::Status unsupported(absl::string_view where, absl::string_view msg) const {
    return absl::UnimplementedError(absl::StrCat(
        path_, ": ", where, ": ", msg,
        " (supported: a BPE model with a byte-level pre-tokenizer, as GPT-2, Llama 3 and Qwen2 "
        "ship)"));
  }
  absl::StatusOr<std::string> str(const json &j, absl::string_view where) const {
    if (!j.is_string())
      return error(where, absl::StrCat("expected a string, found ", j.type_name()));
    return j.get<std::string>();
  }
  // Optional bool: `fallback` when absent or null.
  absl::StatusOr<bool> flag(const json &obj, const char *key, bool fallback,
                            absl::string_view where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
      return fallback;
    if (!it->is_boolean())
      return error(absl::StrCat(where, ".", key),
                   absl::StrCat("expected a bool, found ", it->type_name()));
    return it->get<bool>();
  }
  absl::StatusOr<int32_t> id(const json &j, absl::string_view where) const {
    if (!j.is_number_integer())
      return error(where, absl::StrCat("expected a token id, found ", j.type_name()));
    int64_t v = j.get<int64_t>();
    if (v < 0 || v >= tok::kMaxVocab)
      return error(where, absl::StrCat("token id ", v, " is outside 0..", tok::kMaxVocab - 1));
    return static_cast<int32_t>(v);
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

// Escapes `s` so that PCRE2 matches it literally (HF's Split "String" pattern).
std::string regexLiteral(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\^$.|?*+()[]{}-/#", c) && c != '\0')
      out += '\\';
    out += c;
  }
  return out;
}

struct PreTokenizerSpec {
  std::vector<std::string> regexes;
  bool byteLevel = false;
  bool addPrefixSpace = false;
};

absl::Status readPreTokenizer(const HfReader &rd, const json &pt, std::string where,
                              PreTokenizerSpec &spec) {
  if (!pt.is_object())
    return rd.error(where, "expected an object");
  auto typeIt = pt.find("type");
  if (typeIt == pt.end())
    return rd.error(where, "has no \"type\"");
  TOK_ASSIGN(type, rd.str(*typeIt, where + ".type"));
  if (type == "Sequence") {
    auto list = pt.find("pretokenizers");
    if (list == pt.end() || !list->is_array())
      return rd.error(where, "Sequence without a \"pretokenizers\" array");
    for (size_t i = 0; i < list->size(); ++i)
      if (auto st = readPreTokenizer(rd, (*list)[i], absl::StrCat(where, ".pretokenizers[", i, "]"),
                                     spec);
          !st.ok())
        return st;
    return absl::OkStatus();
  }
  if (spec.byteLevel)
    return rd.unsupported(where, absl::StrCat("pre-tokenizer '", type,
                                              "' after ByteLevel (it would see byte-level text)"));
  if (type == "ByteLevel") {
    spec.byteLevel = true;
    TOK_ASSIGN(useRegex, rd.flag(pt, "use_regex", true, where));
    TOK_ASSIGN(prefix, rd.flag(pt, "add_prefix_space", true, where));
    if (useRegex)
      spec.regexes.push_back(tok::kHfRegexGpt2);
    spec.addPrefixSpace = prefix;
    return absl::OkStatus();
  }
  if (type == "Split") {
    auto pat = pt.find("pattern");
    if (pat == pt.end() || !pat->is_object())
      return rd.error(where, "Split without a \"pattern\" object");
    if (auto re = pat->find("Regex"); re != pat->end()) {
      TOK_ASSIGN(s, rd.str(*re, where + ".pattern.Regex"));
      spec.regexes.push_back(s);
    } else if (auto lit = pat->find("String"); lit != pat->end()) {
      TOK_ASSIGN(s, rd.str(*lit, where + ".pattern.String"));
      if (s.empty())
        return rd.error(where + ".pattern.String", "empty split string");
      spec.regexes.push_back(regexLiteral(s));
    } else {
      return rd.error(where + ".pattern", "neither \"Regex\" nor \"String\"");
    }
    std::string behavior = "Isolated";
    if (auto b = pt.find("behavior"); b != pt.end()) {
      TOK_ASSIGN(s, rd.str(*b, where + ".behavior"));
      behavior = s;
    }
    if (behavior != "Isolated")
      return rd.unsupported(where, absl::StrCat("Split behavior '", behavior, "' (only Isolated)"));
    TOK_ASSIGN(invert, rd.flag(pt, "invert", false, where));
    if (invert)
      return rd.unsupported(where, "Split with invert = true");
    return absl::OkStatus();
  }
  if (type == "Digits") {
    TOK_ASSIGN(single, rd.flag(pt, "individual_digits", false, where));
    spec.regexes.push_back(single ? R"(\p{N})" : R"(\p{N}+)");
    return absl::OkStatus();
  }
  return rd.unsupported(where, absl::StrCat("pre-tokenizer '", type, "'"));
}

absl::Status checkNormalizer(const HfReader &rd, const json &n, const std::string &where) {
  if (n.is_null())
    return absl::OkStatus();
  if (!n.is_object())
    return rd.error(where, "expected an object or null");
  auto typeIt = n.find("type");
  if (typeIt == n.end())
    return rd.error(where, "has no \"type\"");
  TOK_ASSIGN(type, rd.str(*typeIt, where + ".type"));
  if (type == "Sequence") {
    auto list = n.find("normalizers");
    if (list == n.end() || !list->is_array())
      return rd.error(where, "Sequence without a \"normalizers\" array");
    for (size_t i = 0; i < list->size(); ++i)
      if (auto st = checkNormalizer(rd, (*list)[i], absl::StrCat(where, ".normalizers[", i, "]"));
          !st.ok())
        return st;
    return absl::OkStatus();
  }
  // NFC is accepted but not applied, as llama.cpp does for the same models:
  // ids then equal llama.cpp's, and HF's for text already in NFC.
  if (type == "NFC")
    return absl::OkStatus();
  return rd.unsupported(where, absl::StrCat("normalizer '", type, "'"));
}

// bos_token / eos_token of a tokenizer_config.json: a string or {"content": ...}.
std::string configToken(const json &cfg, const char *key) {
  auto it = cfg.find(key);
  if (it == cfg.end())
    return {};
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string())
      return c->get<std::string>();
  }
  return {};
}

absl::StatusOr<std::unique_ptr<Tokenizer>> loadHfJson(const std::string &path) {
  TOK_ASSIGN(root, readJson(path));
  HfReader rd(path);
  if (!root.is_object())
    return rd.error("top level", "expected an object");
  auto modelIt = root.find("model");
  if (modelIt == root.end() || !modelIt->is_object())
    return rd.error("model", "missing or not an object");
  const json &model = *modelIt;

  std::string type = "BPE"; // old files omit it; the fields say what it is
  if (auto t = model.find("type"); t != model.end()) {
    TOK_ASSIGN(s, rd.str(*t, "model.type"));
    type = s;
  } else if (!model.contains("merges")) {
    return rd.error("model", "has neither \"type\" nor \"merges\"");
  }
  if (type != "BPE")
    return rd.unsupported("model.type", absl::StrCat("model '", type, "'"));
  TOK_ASSIGN(byteFallback, rd.flag(model, "byte_fallback", false, "model"));
  if (byteFallback)
    return rd.unsupported("model.byte_fallback",
                          "SentencePiece-style BPE with byte fallback (load the GGUF instead)");
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      return rd.unsupported(absl::StrCat("model.", key), "a non-empty subword affix");
  }
  if (auto d = model.find("dropout");
      d != model.end() && !d->is_null() && !(d->is_number() && d->get<double>() == 0.0))
    return rd.unsupported("model.dropout", "BPE dropout (encoding would be random)");
  TOK_ASSIGN(ignoreMerges, rd.flag(model, "ignore_merges", false, "model"));

  // Vocabulary: model.vocab {text: id} plus added_tokens [{id, content, special}].
  auto vocabIt = model.find("vocab");
  if (vocabIt == model.end() || !vocabIt->is_object())
    return rd.error("model.vocab", "missing or not an object");
  VocabData v;
  v.source = path;
  std::vector<bool> seen;
  // Ids may leave gaps, but not absurd ones: a hostile id must not make us
  // allocate millions of empty tokens.
  auto addedIt = root.find("added_tokens");
  const size_t entries =
      vocabIt->size() + (addedIt != root.end() && addedIt->is_array() ? addedIt->size() : 0);
  const size_t maxId = 2 * entries + 65536;
  auto place = [&](int32_t id, const std::string &text, TokenType ty,
                   const std::string &where) -> absl::Status {
    if (static_cast<size_t>(id) > maxId)
      return rd.error(where, absl::StrCat("token id ", id, " is far beyond the ", entries,
                                          " tokens the file defines"));
    if (static_cast<size_t>(id) >= v.texts.size()) {
      v.texts.resize(id + 1);
      v.types.resize(id + 1, TokenType::Unused);
      seen.resize(id + 1, false);
    }
    if (seen[id] && v.texts[id] != text)
      return rd.error(where,
                      absl::StrCat("token id ", id, " is given to both ",
                                   tok::printable(v.texts[id]), " and ", tok::printable(text)));
    if (text.empty())
      return rd.error(where, absl::StrCat("token ", id, " has empty text"));
    v.texts[id] = text;
    if (!seen[id] || ty != TokenType::Normal)
      v.types[id] = ty;
    seen[id] = true;
    return absl::OkStatus();
  };
  for (auto it = vocabIt->begin(); it != vocabIt->end(); ++it) {
    std::string where = absl::StrCat("model.vocab[", tok::printable(it.key()), "]");
    TOK_ASSIGN(id, rd.id(it.value(), where));
    if (auto st = place(id, it.key(), TokenType::Normal, where); !st.ok())
      return st;
  }
  if (auto added = root.find("added_tokens"); added != root.end() && !added->is_null()) {
    if (!added->is_array())
      return rd.error("added_tokens", "expected an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json &a = (*added)[i];
      std::string where = absl::StrCat("added_tokens[", i, "]");
      if (!a.is_object() || !a.contains("id") || !a.contains("content"))
        return rd.error(where, "expected an object with \"id\" and \"content\"");
      TOK_ASSIGN(id, rd.id(a["id"], where + ".id"));
      TOK_ASSIGN(content, rd.str(a["content"], where + ".content"));
      TOK_ASSIGN(special, rd.flag(a, "special", false, where));
      // As llama.cpp's converter: special added tokens are control tokens,
      // the others user-defined (always matched whole in the text).
      if (auto st =
              place(id, content, special ? TokenType::Control : TokenType::UserDefined, where);
          !st.ok())
        return st;
    }
  }
  if (v.texts.empty())
    return rd.error("model.vocab", "empty vocabulary");
  // Ids nobody claims stay as unused tokens with no text.

  // Merges: "left right" strings (older files) or [left, right] pairs.
  auto mergesIt = model.find("merges");
  if (mergesIt == model.end() || !mergesIt->is_array())
    return rd.error("model.merges", "missing or not an array");
  tok::BpeOptions opts;
  opts.merges.resize(mergesIt->size());
  for (size_t i = 0; i < mergesIt->size(); ++i) {
    const json &m = (*mergesIt)[i];
    auto &[l, r] = opts.merges[i];
    std::string where = absl::StrCat("model.merges[", i, "]");
    if (m.is_string()) {
      if (!tok::splitMerge(m.get_ref<const std::string &>(), l, r))
        return rd.error(where, absl::StrCat(tok::printable(m.get<std::string>()),
                                            " is not two tokens separated by a space"));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      l = m[0].get<std::string>();
      r = m[1].get<std::string>();
    } else {
      return rd.error(where, "expected \"left right\" or [\"left\", \"right\"]");
    }
  }

  if (auto n = root.find("normalizer"); n != root.end())
    if (auto st = checkNormalizer(rd, *n, "normalizer"); !st.ok())
      return st;
  PreTokenizerSpec spec;
  auto ptIt = root.find("pre_tokenizer");
  if (ptIt == root.end() || ptIt->is_null())
    return rd.unsupported("pre_tokenizer", "no pre-tokenizer (byte-level BPE needs ByteLevel)");
  if (auto st = readPreTokenizer(rd, *ptIt, "pre_tokenizer", spec); !st.ok())
    return st;
  if (!spec.byteLevel)
    return rd.unsupported("pre_tokenizer", "no ByteLevel step (not a byte-level BPE)");
  if (auto d = root.find("decoder"); d != root.end() && !d->is_null()) {
    auto t = d->is_object() ? d->find("type") : d->end();
    if (t == d->end() || !t->is_string() || t->get<std::string>() != "ByteLevel")
      return rd.unsupported("decoder",
                            absl::StrCat("decoder ", t != d->end() ? t->dump() : d->dump(),
                                         " (byte-level BPE decodes with ByteLevel)"));
  }

  auto is = [&](std::initializer_list<const char *> regexes) {
    return spec.regexes == std::vector<std::string>(regexes.begin(), regexes.end());
  };
  if (is({tok::kHfRegexGpt2}) || is({tok::kRegexGpt2}))
    opts.kind = "bpe:gpt-2";
  else if (is({tok::kHfRegexLlama3}) || is({tok::kRegexLlama3}))
    opts.kind = "bpe:llama-bpe";
  else if (is({tok::kHfRegexQwen2}) || is({tok::kRegexQwen2}))
    opts.kind = "bpe:qwen2";
  else
    opts.kind = "bpe:custom";
  opts.regexes = std::move(spec.regexes);
  opts.addPrefixSpace = spec.addPrefixSpace;
  opts.ignoreMerges = ignoreMerges;

  // Name -> id over the final vocabulary (last wins, as in the tokenizer).
  auto idOf = [&](const std::string &text) -> int32_t {
    if (text.empty())
      return -1;
    for (size_t i = v.texts.size(); i-- > 0;)
      if (v.texts[i] == text)
        return static_cast<int32_t>(i);
    return -1;
  };
  if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    TOK_ASSIGN(s, rd.str(*u, "model.unk_token"));
    v.unk = idOf(s);
    if (v.unk < 0)
      return rd.error("model.unk_token",
                      absl::StrCat(tok::printable(s), " is not in the vocabulary"));
  }

  // BOS/EOS: tokenizer.json does not say; tokenizer_config.json beside it does.
  std::string bosText, eosText;
  std::filesystem::path cfgPath =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::is_regular_file(cfgPath, ec)) {
    TOK_ASSIGN(cfg, readJson(cfgPath.string()));
    if (cfg.is_object()) {
      bosText = configToken(cfg, "bos_token");
      eosText = configToken(cfg, "eos_token");
    }
  }
  v.bos = idOf(bosText);
  v.eos = idOf(eosText);
  // Without a config, the usual names - among the special (control) tokens
  // only: ordinary vocabularies may hold "<s>" as plain text.
  auto controlId = [&](const char *text) {
    int32_t id = idOf(text);
    return id >= 0 && v.types[id] == TokenType::Control ? id : -1;
  };
  if (v.bos < 0)
    for (const char *t : {"<|begin_of_text|>", "<s>", "<|startoftext|>", "<|endoftext|>"})
      if ((v.bos = controlId(t)) >= 0)
        break;
  if (v.eos < 0)
    for (const char *t : {"<|end_of_text|>", "</s>", "<|endoftext|>"})
      if ((v.eos = controlId(t)) >= 0)
        break;

  return tok::makeBpeTokenizer(std::move(v), std::move(opts));
}

} // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromHfJson(const std::string &path) {
  try {
    return loadHfJson(path);
  } catch (const std::exception &e) { // a JSON type surprise we did not check for
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed tokenizer file: ", e.what()));
  }
}

} // namespace tessel::frontends
