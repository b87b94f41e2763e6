//===- Safetensors.cpp - safetensors reader and writer --------------------===//
#include "frontends/Safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <string_view>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "frontends/MappedFile.h"
#include "nlohmann/json.hpp"

namespace tessel::frontends {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char *kSingleName = "model.safetensors";
constexpr const char *kIndexName = "model.safetensors.index.json";
constexpr const char *kIndexSuffix = ".safetensors.index.json";
constexpr const char *kFileSuffix = ".safetensors";
// Deeper JSON than this is not a safetensors header (tensor entries are two
// levels down); refusing it early bounds the parser's work on hostile input.
constexpr int kMaxJsonDepth = 32;
// Largest element count a shape may describe (2^62); more overflows byte counts.
constexpr uint64_t kMaxElems = uint64_t(1) << 62;

struct DtypeInfo {
  const char *name;
  int bits;
};
// Every dtype of the safetensors spec, smallest first.
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
};

std::string knownDtypes() {
  std::vector<std::string> names;
  for (const auto &d : kDtypes)
    names.push_back(d.name);
  return absl::StrJoin(names, ", ");
}

// A name or value fit for a message: printable, and not megabytes long.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 160;
  std::string_view head = s.substr(0, kMax);
  std::string out = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  if (s.size() > kMax)
    absl::StrAppend(&out, "...(", s.size(), " bytes)");
  return absl::StrCat("'", out, "'");
}

// A JSON value for a message, shortened.
std::string shortDump(const json &j) {
  std::string s;
  try {
    s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (...) {
    s = "?";
  }
  if (s.size() > 120)
    s = s.substr(0, 120) + "...";
  return s;
}

const char *kindOf(const json &j) {
  if (j.is_object())
    return "an object";
  if (j.is_array())
    return "an array";
  if (j.is_string())
    return "a string";
  if (j.is_boolean())
    return "a boolean";
  if (j.is_null())
    return "null";
  if (j.is_number_float())
    return "a fractional number";
  if (j.is_number())
    return "a number";
  return "something else";
}

// Deepest nesting of [ and { outside strings, stopping once past `limit`.
int jsonDepth(std::string_view s, int limit) {
  bool inString = false, escaped = false;
  int depth = 0, deepest = 0;
  for (char c : s) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Parses `text` as JSON. Duplicate keys in any object are an error (the
// first one found is reported), as is nesting deeper than kMaxJsonDepth.
// `where` prefixes every message ("file: header").
absl::StatusOr<json> parseJson(std::string_view text, const std::string &where) {
  // nlohmann's lexer takes a NUL byte for the end of input; JSON never holds one.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat(where, " is not valid JSON: NUL byte at offset ",
                                                   nul, " (pad with spaces, not NULs)"));
  if (jsonDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return absl::InvalidArgumentError(absl::StrCat(where, " is not valid: JSON nested more than ",
                                                   kMaxJsonDepth, " levels deep"));
  std::vector<std::set<std::string>> keys; // one set per open object
  std::string duplicate;
  int duplicateDepth = 0;
  auto callback = [&](int depth, json::parse_event_t event, json &parsed) -> bool {
    switch (event) {
    case json::parse_event_t::object_start:
      keys.emplace_back();
      break;
    case json::parse_event_t::object_end:
      if (!keys.empty())
        keys.pop_back();
      break;
    case json::parse_event_t::key:
      if (!keys.empty() && parsed.is_string() &&
          !keys.back().insert(parsed.get_ref<const std::string &>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
        duplicateDepth = depth;
      }
      break;
    default:
      break;
    }
    return true;
  };
  json value;
  try {
    value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                        /*ignore_comments=*/false);
  } catch (const json::exception &e) {
    std::string message = e.what();
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
    if (auto close = message.find("] ");
        message.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      message = message.substr(close + 2);
    return absl::InvalidArgumentError(absl::StrCat(where, " is not valid JSON: ", message));
  }
  if (!duplicate.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", duplicateDepth <= 1 ? "top-level key " : "key ", quote(duplicate),
                     " appears twice", duplicateDepth <= 1 ? "" : " in the same object"));
  return value;
}

absl::StatusOr<uint64_t> nonNegative(const json &j) {
  if (j.is_number_unsigned())
    return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0)
    return static_cast<uint64_t>(j.get<int64_t>());
  return absl::InvalidArgumentError("");
}

} // namespace

//===----------------------------------------------------------------------===//
// dtypes
//===----------------------------------------------------------------------===//

int safetensorsDtypeBits(const std::string &dtype) {
  for (const auto &d : kDtypes)
    if (dtype == d.name)
      return d.bits;
  return 0;
}

absl::StatusOr<WeightType> weightTypeFromSafetensorsDtype(const std::string &dtype) {
  if (dtype == "F32")
    return WeightType::F32;
  if (dtype == "F16")
    return WeightType::F16;
  if (dtype == "BF16")
    return WeightType::BF16;
  return absl::UnimplementedError(
      absl::StrCat("dtype ", dtype, " is not supported for weights (supported: F32, F16, BF16)"));
}

absl::StatusOr<std::string> safetensorsDtypeFromWeightType(WeightType type) {
  switch (type) {
  case WeightType::F32:
    return std::string("F32");
  case WeightType::F16:
    return std::string("F16");
  case WeightType::BF16:
    return std::string("BF16");
  default:
    break;
  }
  return absl::InvalidArgumentError(absl::StrCat("weight type ", weightTypeInfo(type).name,
                                                 " has no safetensors dtype (F32, F16, BF16 do)"));
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  std::shared_ptr<MappedFile> mapped = *file;
  return parse(mapped, mapped->data(), mapped->size(), path);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::parse(std::shared_ptr<const void> owner, const uint8_t *data, uint64_t size,
                       const std::string &name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  f->owner_ = std::move(owner);
  if (data == nullptr)
    size = 0;
  if (auto st = f->parseAll(data, size); !st.ok())
    return st;
  return f;
}

absl::Status SafetensorsFile::parseAll(const uint8_t *data, uint64_t size) {
  auto fail = [&](auto &&...parts) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", parts...));
  };

  // 8-byte little-endian header length.
  if (size < 8)
    return fail("truncated: the file is ", size,
                " bytes, too short for the 8-byte header length of a safetensors file");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | data[i];
  if (n > kSafetensorsMaxHeaderBytes)
    return fail("absurd header length ", n, " (the limit is ", kSafetensorsMaxHeaderBytes,
                " bytes): corrupt, or not a safetensors file");
  if (n > size - 8)
    return fail("header length ", n, " is larger than the file (", size - 8,
                " bytes follow the 8-byte length): truncated or corrupt");
  dataOffset_ = 8 + n;
  const uint64_t bufferSize = size - dataOffset_;
  const uint8_t *buffer = data + dataOffset_;

  // The JSON header.
  std::string_view text(reinterpret_cast<const char *>(data + 8), n);
  auto parsed = parseJson(text, absl::StrCat(path_, ": header"));
  if (!parsed.ok())
    return parsed.status();
  const json &header = *parsed;
  if (!header.is_object())
    return fail("header is not a JSON object (it is ", kindOf(header), ")");
  if (text.empty() || text.front() != '{')
    return fail("header must start with '{' (it starts with whitespace)");

  for (const auto &[key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object())
        return fail("header: __metadata__ is ", kindOf(value), ", expected an object of strings");
      for (const auto &[mk, mv] : value.items()) {
        if (!mv.is_string())
          return fail("header: __metadata__ ", quote(mk), " is ", kindOf(mv),
                      ", expected a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string tensor = absl::StrCat("tensor ", quote(key), ": ");
    if (!value.is_object())
      return fail(tensor, "entry is ", kindOf(value), ", expected an object");
    for (const char *field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field))
        return fail(tensor, "missing field '", field, "'");

    SafetensorsEntry e;
    e.name = key;

    const json &dtype = value["dtype"];
    if (!dtype.is_string())
      return fail(tensor, "field 'dtype' is ", kindOf(dtype), ", expected a string");
    e.dtype = dtype.get<std::string>();
    const int bits = safetensorsDtypeBits(e.dtype);
    if (bits == 0)
      return fail(tensor, "unknown dtype ", quote(e.dtype), " (known: ", knownDtypes(), ")");

    const json &shape = value["shape"];
    if (!shape.is_array())
      return fail(tensor, "field 'shape' is ", kindOf(shape), ", expected an array of integers");
    uint64_t elems = 1;
    bool overflow = false, hasZero = false;
    for (size_t d = 0; d < shape.size(); ++d) {
      const json &dim = shape[d];
      if (!dim.is_number_integer())
        return fail(tensor, "shape ", shortDump(shape), ": dimension ", d, " is ", kindOf(dim),
                    ", expected an integer");
      if (!dim.is_number_unsigned() && dim.get<int64_t>() < 0)
        return fail(tensor, "shape ", shortDump(shape), ": dimension ", d, " is negative");
      const uint64_t v = dim.get<uint64_t>();
      if (v > kMaxElems)
        return fail(tensor, "shape ", shortDump(shape), ": dimension ", d, " is absurd (", v,
                    " > 2^62)");
      if (v == 0)
        hasZero = true;
      else if (elems > kMaxElems / v)
        overflow = true;
      else
        elems *= v;
      e.shape.push_back(static_cast<int64_t>(v));
    }
    // With a zero dimension the product is 0 however large the others are.
    if (hasZero)
      elems = 0;
    else if (overflow)
      return fail(tensor, "shape ", shortDump(shape),
                  " has an absurd number of elements (more than 2^62)");

    const json &offsets = value["data_offsets"];
    auto begin = offsets.is_array() && offsets.size() == 2 ? nonNegative(offsets[0])
                                                           : absl::InvalidArgumentError("");
    auto end = offsets.is_array() && offsets.size() == 2 ? nonNegative(offsets[1])
                                                         : absl::InvalidArgumentError("");
    if (!begin.ok() || !end.ok())
      return fail(tensor, "field 'data_offsets' is ", shortDump(offsets),
                  ", expected [begin, end] as two non-negative integers");
    e.begin = *begin;
    e.end = *end;
    if (e.begin > e.end)
      return fail(tensor, "data_offsets [", e.begin, ", ", e.end, "] are reversed (begin > end)");
    if (e.end > bufferSize)
      return fail(tensor, "data_offsets [", e.begin, ", ", e.end,
                  "] reach past the end of the byte buffer (", bufferSize,
                  " bytes): the file is truncated or the offsets are wrong");

    const uint64_t ubits = static_cast<uint64_t>(bits);
    if (elems > std::numeric_limits<uint64_t>::max() / ubits)
      return fail(tensor, "shape ", shortDump(shape), " of ", e.dtype,
                  " has an absurd number of elements");
    if (elems * ubits % 8 != 0)
      return fail(tensor, "shape ", shortDump(shape), ": ", elems, " elements of ", e.dtype, " (",
                  bits, " bits each) do not fill whole bytes");
    const uint64_t needed = elems * ubits / 8;
    if (needed != e.bytes())
      return fail(tensor, "data_offsets [", e.begin, ", ", e.end, "] hold ", e.bytes(),
                  " bytes, but shape ", shortDump(shape), " of ", e.dtype, " needs ", needed);
    e.data = buffer + e.begin;
    entries_.push_back(std::move(e));
  }

  // The tensors must tile the byte buffer: no overlaps, no holes, no tail.
  // (Stable: entries arrive in name order, which breaks ties.)
  std::stable_sort(entries_.begin(), entries_.end(), [](const auto &a, const auto &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry *previous = nullptr;
  for (const SafetensorsEntry &e : entries_) {
    if (e.begin < covered)
      return fail("tensor ", quote(e.name), ": data_offsets [", e.begin, ", ", e.end,
                  "] overlap tensor ", quote(previous->name), " at [", previous->begin, ", ",
                  previous->end, "]");
    if (e.begin > covered)
      return fail("byte buffer: bytes [", covered, ", ", e.begin, ") before tensor ", quote(e.name),
                  " belong to no tensor (the format allows no holes)");
    if (e.end > covered || previous == nullptr) {
      covered = e.end;
      previous = &e;
    }
  }
  if (covered != bufferSize)
    return fail("byte buffer: ", bufferSize - covered, " bytes after ",
                previous ? absl::StrCat("the last tensor ", quote(previous->name))
                         : std::string("the header"),
                " belong to no tensor (the buffer is ", bufferSize,
                " bytes): the header or the file length is wrong");

  for (size_t i = 0; i < entries_.size(); ++i)
    byName_[entries_[i].name] = i;
  for (const SafetensorsEntry &e : entries_)
    if (weightTypeFromSafetensorsDtype(e.dtype).ok())
      tensors_.push_back(*weight(e.name));
  return absl::OkStatus();
}

const SafetensorsEntry *SafetensorsFile::find(const std::string &name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &entries_[it->second];
}

absl::StatusOr<WeightTensor> SafetensorsFile::weight(const std::string &name) const {
  const SafetensorsEntry *e = find(name);
  if (!e)
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", quote(name)));
  auto type = weightTypeFromSafetensorsDtype(e->dtype);
  if (!type.ok())
    return absl::UnimplementedError(
        absl::StrCat(path_, ": tensor ", quote(name), ": ", type.status().message()));
  WeightTensor w;
  w.name = e->name;
  w.type = *type;
  w.shape = e->shape;
  w.data = e->data;
  w.bytes = e->bytes();
  w.owner = owner_;
  w.source = path_;
  return w;
}

absl::Status SafetensorsFile::addTo(WeightStore &store) const {
  for (const WeightTensor &t : tensors_)
    if (store.contains(t.name)) {
      auto other = store.get(t.name);
      return absl::AlreadyExistsError(
          absl::StrCat(path_, ": tensor ", quote(t.name), " is already loaded from ",
                       other.ok() ? (*other)->source : std::string("another file")));
    }
  for (const WeightTensor &t : tensors_)
    store.add(t);
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// SafetensorsModel
//===----------------------------------------------------------------------===//

namespace {

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isRegularFile(const fs::path &p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Resolves a directory to the file to open; errors say what was found.
absl::StatusOr<std::string> resolveDirectory(const std::string &dir) {
  fs::path d(dir);
  if (isRegularFile(d / kSingleName))
    return (d / kSingleName).string();
  if (isRegularFile(d / kIndexName))
    return (d / kIndexName).string();
  std::vector<std::string> indexes, files;
  std::error_code ec;
  fs::directory_iterator it(d, ec), endIt;
  if (ec)
    return absl::NotFoundError(absl::StrCat(dir, ": cannot list directory: ", ec.message()));
  for (; it != endIt; it.increment(ec)) {
    if (ec)
      return absl::NotFoundError(absl::StrCat(dir, ": cannot list directory: ", ec.message()));
    std::string name = it->path().filename().string();
    if (!isRegularFile(it->path()))
      continue;
    if (endsWith(name, kIndexSuffix))
      indexes.push_back(name);
    else if (endsWith(name, kFileSuffix))
      files.push_back(name);
  }
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  if (indexes.size() == 1)
    return (d / indexes[0]).string();
  if (indexes.size() > 1)
    return absl::InvalidArgumentError(absl::StrCat(dir, ": several safetensors index files (",
                                                   absl::StrJoin(indexes, ", "),
                                                   "); name the one to load"));
  if (files.size() == 1)
    return (d / files[0]).string();
  if (files.empty())
    return absl::NotFoundError(absl::StrCat(dir, ": no ", kSingleName, ", ", kIndexName,
                                            " or other .safetensors file in this directory"));
  return absl::InvalidArgumentError(absl::StrCat(dir, ": ", files.size(), " .safetensors files (",
                                                 files.front(), ", ...) but no ", kIndexName,
                                                 " saying how they form one model"));
}

// A shard name from an index: a relative path that stays inside the directory.
bool safeShardName(const std::string &name) {
  if (name.empty())
    return false;
  fs::path p(name);
  if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
    return false;
  for (const auto &part : p)
    if (part == "..")
      return false;
  return true;
}

} // namespace

absl::StatusOr<std::unique_ptr<SafetensorsModel>>
SafetensorsModel::open(const std::string &pathOrDir) {
  std::unique_ptr<SafetensorsModel> m(new SafetensorsModel());
  std::error_code ec;
  fs::file_status st = fs::status(pathOrDir, ec);
  if (ec || !fs::exists(st))
    return absl::NotFoundError(absl::StrCat(pathOrDir, ": no such file or directory"));
  std::string path = pathOrDir;
  if (fs::is_directory(st)) {
    auto resolved = resolveDirectory(pathOrDir);
    if (!resolved.ok())
      return resolved.status();
    path = *resolved;
  }
  m->source_ = path;
  if (endsWith(path, ".json")) {
    if (auto s = m->openIndex(path); !s.ok())
      return s;
    return m;
  }
  auto file = SafetensorsFile::open(path);
  if (!file.ok())
    return file.status();
  for (const auto &e : (*file)->entries())
    m->fileOf_[e.name] = 0;
  m->files_.push_back(std::move(*file));
  return m;
}

absl::Status SafetensorsModel::openIndex(const std::string &indexPath) {
  sharded_ = true;
  auto fail = [&](auto &&...parts) {
    return absl::InvalidArgumentError(absl::StrCat(indexPath, ": ", parts...));
  };
  auto mapped = MappedFile::open(indexPath);
  if (!mapped.ok())
    return mapped.status();
  if ((*mapped)->size() > kSafetensorsMaxHeaderBytes)
    return fail("absurd index size ", (*mapped)->size(), " bytes (the limit is ",
                kSafetensorsMaxHeaderBytes, ")");
  std::string_view text(reinterpret_cast<const char *>((*mapped)->data()), (*mapped)->size());
  auto parsed = parseJson(text, indexPath);
  if (!parsed.ok())
    return parsed.status();
  const json &index = *parsed;
  if (!index.is_object())
    return fail("the index is ", kindOf(index), ", expected a JSON object");
  if (!index.contains("weight_map"))
    return fail("missing field 'weight_map'");
  const json &map = index["weight_map"];
  if (!map.is_object())
    return fail("field 'weight_map' is ", kindOf(map), ", expected an object {tensor: shard file}");

  std::map<std::string, std::string> firstTensorOf; // shard -> a tensor naming it
  for (const auto &[tensor, shard] : map.items()) {
    if (!shard.is_string())
      return fail("weight_map: tensor ", quote(tensor), " maps to ", kindOf(shard),
                  ", expected a shard file name");
    std::string name = shard.get<std::string>();
    if (!safeShardName(name))
      return fail("weight_map: tensor ", quote(tensor), " maps to ", quote(name),
                  ", which is not a file name inside the model directory");
    weightMap_[tensor] = name;
    firstTensorOf.emplace(name, tensor);
  }
  if (weightMap_.empty())
    return fail("'weight_map' is empty: the index names no tensors");

  const fs::path dir = fs::path(indexPath).parent_path();
  std::map<std::string, size_t> shardIndex;
  for (const auto &[shard, tensor] : firstTensorOf) {
    const std::string shardPath = (dir / shard).string();
    if (!isRegularFile(shardPath))
      return absl::NotFoundError(absl::StrCat(indexPath, ": shard ", quote(shard),
                                              " (holding tensor ", quote(tensor),
                                              ") is missing: no file ", shardPath));
    auto file = SafetensorsFile::open(shardPath);
    if (!file.ok())
      return file.status();
    shardIndex[shard] = files_.size();
    files_.push_back(std::move(*file));
  }

  // Every tensor of every shard, once.
  for (size_t i = 0; i < files_.size(); ++i)
    for (const SafetensorsEntry &e : files_[i]->entries()) {
      auto [it, inserted] = fileOf_.emplace(e.name, i);
      if (!inserted)
        return fail("tensor ", quote(e.name), " is in two shards: ", files_[it->second]->path(),
                    " and ", files_[i]->path());
    }
  // Every tensor of the index, in the shard it names.
  for (const auto &[tensor, shard] : weightMap_) {
    const SafetensorsFile &file = *files_[shardIndex.at(shard)];
    if (!file.find(tensor)) {
      auto actual = fileOf_.find(tensor);
      return fail("tensor ", quote(tensor), " is mapped to shard ", quote(shard),
                  ", but that file has no such tensor",
                  actual == fileOf_.end()
                      ? std::string()
                      : absl::StrCat(" (it is in ", files_[actual->second]->path(), ")"));
    }
  }
  return absl::OkStatus();
}

const SafetensorsFile *SafetensorsModel::fileOf(const std::string &name) const {
  auto it = fileOf_.find(name);
  return it == fileOf_.end() ? nullptr : files_[it->second].get();
}

absl::StatusOr<WeightTensor> SafetensorsModel::weight(const std::string &name) const {
  const SafetensorsFile *file = fileOf(name);
  if (!file)
    return absl::NotFoundError(absl::StrCat(source_, ": no tensor ", quote(name)));
  return file->weight(name);
}

absl::Status SafetensorsModel::addTo(WeightStore &store) const {
  for (const auto &file : files_)
    if (auto st = file->addTo(store); !st.ok())
      return st;
  return absl::OkStatus();
}

absl::StatusOr<WeightStore> loadSafetensors(const std::string &pathOrDir) {
  auto model = SafetensorsModel::open(pathOrDir);
  if (!model.ok())
    return model.status();
  WeightStore store;
  store.source = (*model)->source();
  if (auto st = (*model)->addTo(store); !st.ok())
    return st;
  return store;
}

//===----------------------------------------------------------------------===//
// SafetensorsWriter
//===----------------------------------------------------------------------===//

void SafetensorsWriter::addTensor(const std::string &name, WeightType type,
                                  const std::vector<int64_t> &shape, std::vector<uint8_t> data) {
  auto dtype = safetensorsDtypeFromWeightType(type);
  if (!dtype.ok()) {
    errors_.push_back(absl::StrCat("tensor ", quote(name), ": ", dtype.status().message()));
    return;
  }
  uint64_t elems = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && elems > kMaxElems / static_cast<uint64_t>(d))) {
      errors_.push_back(
          absl::StrCat("tensor ", quote(name), ": bad shape [", absl::StrJoin(shape, ", "), "]"));
      return;
    }
    elems *= static_cast<uint64_t>(d);
  }
  const uint64_t needed = elems * weightTypeInfo(type).blockBytes;
  if (data.size() != needed) {
    errors_.push_back(absl::StrCat("tensor ", quote(name), ": ", data.size(),
                                   " bytes of data, but shape [", absl::StrJoin(shape, ", "),
                                   "] of ", *dtype, " needs ", needed));
    return;
  }
  tensors_.push_back({name, type, shape, std::move(data)});
}

void SafetensorsWriter::addTensorFromF32(const std::string &name, WeightType type,
                                         const std::vector<int64_t> &shape,
                                         const std::vector<float> &values) {
  if (!safetensorsDtypeFromWeightType(type).ok()) {
    addTensor(name, type, shape, {}); // records the error
    return;
  }
  std::vector<uint8_t> data(values.size() * weightTypeInfo(type).blockBytes);
  if (!values.empty())
    quantizeRow(type, values.data(), data.data(), static_cast<int64_t>(values.size()));
  addTensor(name, type, shape, std::move(data));
}

void SafetensorsWriter::setMetadata(const std::string &key, const std::string &value) {
  metadata_[key] = value;
}

absl::Status SafetensorsWriter::validate() const {
  if (!errors_.empty())
    return absl::InvalidArgumentError(errors_.front());
  std::set<std::string> names;
  for (const Tensor &t : tensors_) {
    if (t.name == "__metadata__")
      return absl::InvalidArgumentError("tensor name '__metadata__' is reserved by the format");
    if (!names.insert(t.name).second)
      return absl::InvalidArgumentError(absl::StrCat("tensor ", quote(t.name), " was added twice"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SafetensorsWriter::layout(std::vector<const Tensor *> &tensors) const {
  // Largest elements first, so every tensor starts at a multiple of its
  // element size (the buffer itself starts at a multiple of 8).
  std::stable_sort(tensors.begin(), tensors.end(), [](const Tensor *a, const Tensor *b) {
    return weightTypeInfo(a->type).blockBytes > weightTypeInfo(b->type).blockBytes;
  });
  ordered_json header = ordered_json::object();
  ordered_json meta = ordered_json::object();
  if (!metadata_.count("format"))
    meta["format"] = "pt";
  for (const auto &[k, v] : metadata_)
    meta[k] = v;
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const Tensor *t : tensors) {
    ordered_json entry = ordered_json::object();
    entry["dtype"] = *safetensorsDtypeFromWeightType(t->type);
    entry["shape"] = t->shape;
    entry["data_offsets"] = {offset, offset + t->data.size()};
    offset += t->data.size();
    header[t->name] = std::move(entry);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ordered_json::exception &e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot write the header (tensor names and metadata must be UTF-8): ", e.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

namespace {

// Writes `parts` to `path` through a temporary file renamed into place.
template <typename Fn> absl::Status writeAtomically(const std::string &path, Fn &&writeBody) {
  const std::string tmp = path + ".tmp";
  std::FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    return absl::PermissionDeniedError(
        absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  bool ok = writeBody(f);
  ok = std::fflush(f) == 0 && ok && !std::ferror(f);
  int savedErrno = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return absl::InternalError(
        absl::StrCat(path, ": write failed: ", std::strerror(savedErrno ? savedErrno : errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": cannot rename ", tmp, ": ", std::strerror(e)));
  }
  return absl::OkStatus();
}

void appendLength(std::vector<uint8_t> &out, uint64_t n) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<uint8_t>(n >> (8 * i)));
}

} // namespace

absl::Status SafetensorsWriter::writeFile(const std::string &path,
                                          std::vector<const Tensor *> tensors) const {
  auto header = layout(tensors);
  if (!header.ok())
    return absl::Status(header.status().code(),
                        absl::StrCat(path, ": ", header.status().message()));
  std::vector<uint8_t> prefix;
  appendLength(prefix, header->size());
  return writeAtomically(path, [&](std::FILE *f) {
    if (std::fwrite(prefix.data(), 1, prefix.size(), f) != prefix.size())
      return false;
    if (std::fwrite(header->data(), 1, header->size(), f) != header->size())
      return false;
    for (const Tensor *t : tensors)
      if (!t->data.empty() && std::fwrite(t->data.data(), 1, t->data.size(), f) != t->data.size())
        return false;
    return true;
  });
}

absl::StatusOr<std::vector<uint8_t>> SafetensorsWriter::serialize() const {
  if (auto st = validate(); !st.ok())
    return st;
  std::vector<const Tensor *> tensors;
  for (const Tensor &t : tensors_)
    tensors.push_back(&t);
  auto header = layout(tensors);
  if (!header.ok())
    return header.status();
  std::vector<uint8_t> out;
  appendLength(out, header->size());
  out.insert(out.end(), header->begin(), header->end());
  for (const Tensor *t : tensors)
    out.insert(out.end(), t->data.begin(), t->data.end());
  return out;
}

absl::Status SafetensorsWriter::write(const std::string &dir, uint64_t maxShardBytes) const {
  if (auto st = validate(); !st.ok())
    return absl::Status(st.code(), absl::StrCat(dir, ": ", st.message()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir, ec))
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot create directory: ", ec ? ec.message() : "not a directory"));
  const fs::path d(dir);

  // Split into shards in the order added.
  uint64_t total = 0;
  std::vector<std::vector<const Tensor *>> shards(1);
  uint64_t current = 0;
  for (const Tensor &t : tensors_) {
    const uint64_t bytes = t.data.size();
    if (maxShardBytes > 0 && !shards.back().empty() && current + bytes > maxShardBytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(&t);
    current += bytes;
    total += bytes;
  }

  if (shards.size() == 1) {
    if (auto st = writeFile((d / kSingleName).string(), shards[0]); !st.ok())
      return st;
    fs::remove(d / kIndexName, ec); // stale: it would describe other files
    return absl::OkStatus();
  }

  json weightMap = json::object();
  const size_t n = shards.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string name = absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, n);
    if (auto st = writeFile((d / name).string(), shards[i]); !st.ok())
      return st;
    for (const Tensor *t : shards[i])
      weightMap[t->name] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", std::move(weightMap)}};
  std::string text;
  try {
    text = index.dump(2) + "\n";
  } catch (const json::exception &e) {
    return absl::InvalidArgumentError(
        absl::StrCat((d / kIndexName).string(), ": cannot write: ", e.what()));
  }
  if (auto st = writeAtomically(
          (d / kIndexName).string(),
          [&](std::FILE *f) { return std::fwrite(text.data(), 1, text.size(), f) == text.size(); });
      !st.ok())
    return st;
  fs::remove(d / kSingleName, ec); // it would be loaded instead of the index
  return absl::OkStatus();
}

} // namespace tessel::frontends
