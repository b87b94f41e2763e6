//===- Gguf.cpp - GGUF v2/v3 reader and writer ----------------------------===//
#include "frontends/Gguf.h"

#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "support/StatusMacros.h"

namespace tessel::frontends {
namespace {

constexpr uint32_t kMagic = 0x46554747; // "GGUF" little-endian
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4; // GGML_MAX_DIMS

const char *typeName(GgufType t) {
  switch (t) {
  case GgufType::U8:
    return "uint8";
  case GgufType::I8:
    return "int8";
  case GgufType::U16:
    return "uint16";
  case GgufType::I16:
    return "int16";
  case GgufType::U32:
    return "uint32";
  case GgufType::I32:
    return "int32";
  case GgufType::F32:
    return "float32";
  case GgufType::Bool:
    return "bool";
  case GgufType::String:
    return "string";
  case GgufType::Array:
    return "array";
  case GgufType::U64:
    return "uint64";
  case GgufType::I64:
    return "int64";
  case GgufType::F64:
    return "float64";
  }
  return "?";
}

// Smallest encoding of one value, used to bound array counts before any
// allocation: a hostile count cannot make us reserve more than the file.
uint64_t minBytes(GgufType t) {
  switch (t) {
  case GgufType::U8:
  case GgufType::I8:
  case GgufType::Bool:
    return 1;
  case GgufType::U16:
  case GgufType::I16:
    return 2;
  case GgufType::U32:
  case GgufType::I32:
  case GgufType::F32:
    return 4;
  case GgufType::String:
  case GgufType::U64:
  case GgufType::I64:
  case GgufType::F64:
    return 8;
  case GgufType::Array:
    return 12;
  }
  return 1;
}

bool isInteger(GgufType t) {
  return t == GgufType::U8 || t == GgufType::I8 || t == GgufType::U16 || t == GgufType::I16 ||
         t == GgufType::U32 || t == GgufType::I32 || t == GgufType::U64 || t == GgufType::I64;
}
bool isFloat(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }

absl::StatusOr<std::string> readGgufString(ByteReader &r, std::string_view what) {
  ASSIGN_OR_RETURN(len, r.read<uint64_t>(what));
  if (len > r.remaining())
    return r.error(absl::StrCat(std::string(what), ": string length ", len,
                                " exceeds the remaining ", r.remaining(), " bytes"));
  return r.readString(len, what);
}

// Reads one scalar of type `t` into `v` (its i/f/b/s field).
absl::Status readScalar(ByteReader &r, GgufType t, GgufValue &v, const std::string &key) {
  std::string what = "value of '" + key + "'";
  switch (t) {
#define INT_CASE(TAG, CTYPE)                                                                       \
  case GgufType::TAG: {                                                                            \
    ASSIGN_OR_RETURN(x, r.read<CTYPE>(what));                                                      \
    v.i = static_cast<int64_t>(x);                                                                 \
    return absl::OkStatus();                                                                       \
  }
    INT_CASE(U8, uint8_t)
    INT_CASE(I8, int8_t)
    INT_CASE(U16, uint16_t)
    INT_CASE(I16, int16_t)
    INT_CASE(U32, uint32_t)
    INT_CASE(I32, int32_t)
    INT_CASE(I64, int64_t)
#undef INT_CASE
  case GgufType::U64: {
    ASSIGN_OR_RETURN(x, r.read<uint64_t>(what));
    v.i = static_cast<int64_t>(x);
    return absl::OkStatus();
  }
  case GgufType::F32: {
    ASSIGN_OR_RETURN(x, r.read<float>(what));
    v.f = x;
    return absl::OkStatus();
  }
  case GgufType::F64: {
    ASSIGN_OR_RETURN(x, r.read<double>(what));
    v.f = x;
    return absl::OkStatus();
  }
  case GgufType::Bool: {
    ASSIGN_OR_RETURN(x, r.read<uint8_t>(what));
    if (x > 1)
      return r.error(absl::StrCat("key '", key, "': bool value ", int(x), " is not 0 or 1"));
    v.b = x != 0;
    return absl::OkStatus();
  }
  case GgufType::String: {
    ASSIGN_OR_RETURN(s, readGgufString(r, what));
    v.s = std::move(s);
    return absl::OkStatus();
  }
  case GgufType::Array:
    break;
  }
  return r.error(absl::StrCat("key '", key, "': unexpected value type"));
}

absl::StatusOr<GgufType> readType(ByteReader &r, const std::string &key) {
  ASSIGN_OR_RETURN(t, r.read<uint32_t>("value type of '" + key + "'"));
  if (t > static_cast<uint32_t>(GgufType::F64))
    return r.error(absl::StrCat("key '", key, "': unknown value type ", t));
  return static_cast<GgufType>(t);
}

} // namespace

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::open(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file.ok())
    return file.status();
  std::shared_ptr<MappedFile> mapped = *file;
  return parse(mapped, mapped->data(), mapped->size(), path);
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::parse(std::shared_ptr<const void> owner,
                                                          const uint8_t *data, uint64_t size,
                                                          const std::string &name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->owner_ = std::move(owner);
  if (auto st = f->parseAll(data, size); !st.ok())
    return st;
  return f;
}

absl::Status GgufFile::parseAll(const uint8_t *data, uint64_t size) {
  ByteReader r(path_, data, size);
  ASSIGN_OR_RETURN(magic, r.read<uint32_t>("magic"));
  if (magic != kMagic)
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: bad magic 0x%08x: not a GGUF file (expected \"GGUF\")", path_, magic));
  ASSIGN_OR_RETURN(version, r.read<uint32_t>("version"));
  if (version != 2 && version != 3)
    return r.error(absl::StrCat("GGUF version ", version, " is not supported (2 and 3 are)"));
  version_ = version;
  ASSIGN_OR_RETURN(tensorCount, r.read<uint64_t>("tensor count"));
  ASSIGN_OR_RETURN(kvCount, r.read<uint64_t>("metadata count"));
  // Each entry takes at least 12 (metadata) or 24 (tensor info) bytes.
  if (kvCount > r.remaining() / 12)
    return r.error(
        absl::StrCat("absurd metadata count ", kvCount, " for a file of ", size, " bytes"));
  if (tensorCount > r.remaining() / 24)
    return r.error(
        absl::StrCat("absurd tensor count ", tensorCount, " for a file of ", size, " bytes"));

  for (uint64_t k = 0; k < kvCount; ++k) {
    ASSIGN_OR_RETURN(key, readGgufString(r, absl::StrCat("metadata key #", k)));
    if (metadata_.count(key))
      return r.error(absl::StrCat("duplicate metadata key '", key, "'"));
    ASSIGN_OR_RETURN(type, readType(r, key));
    GgufValue v;
    v.type = type;
    if (type == GgufType::Array) {
      ASSIGN_OR_RETURN(elem, readType(r, key));
      if (elem == GgufType::Array)
        return r.error(absl::StrCat("key '", key, "': arrays of arrays are not supported"));
      ASSIGN_OR_RETURN(count, r.read<uint64_t>("array length of '" + key + "'"));
      if (count > r.remaining() / minBytes(elem))
        return r.error(absl::StrCat("key '", key, "': absurd array length ", count, " of ",
                                    typeName(elem), " with ", r.remaining(), " bytes left"));
      v.elemType = elem;
      GgufValue item;
      for (uint64_t i = 0; i < count; ++i) {
        if (auto st = readScalar(r, elem, item, key); !st.ok())
          return st;
        if (elem == GgufType::String)
          v.strings.push_back(std::move(item.s));
        else if (isFloat(elem))
          v.floats.push_back(item.f);
        else if (elem == GgufType::Bool)
          v.ints.push_back(item.b);
        else
          v.ints.push_back(item.i);
      }
    } else if (auto st = readScalar(r, type, v, key); !st.ok()) {
      return st;
    }
    metadata_.emplace(std::move(key), std::move(v));
  }

  uint64_t alignment = kDefaultAlignment;
  if (has("general.alignment")) {
    ASSIGN_OR_RETURN(a, getInt("general.alignment"));
    if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 20))
      return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata 'general.alignment' = ", a,
                                                     " is not a power of two up to 1 MiB"));
    alignment = static_cast<uint64_t>(a);
  }

  struct Info {
    std::string name;
    std::vector<int64_t> shape;
    WeightTypeInfo type;
    uint64_t offset, bytes;
  };
  std::vector<Info> infos;
  std::set<std::string> names;
  for (uint64_t t = 0; t < tensorCount; ++t) {
    ASSIGN_OR_RETURN(name, readGgufString(r, absl::StrCat("name of tensor #", t)));
    if (!names.insert(name).second)
      return r.error(absl::StrCat("duplicate tensor '", name, "'"));
    ASSIGN_OR_RETURN(nDims, r.read<uint32_t>("dims of tensor '" + name + "'"));
    if (nDims == 0 || nDims > kMaxDims)
      return r.error(absl::StrCat("tensor '", name, "': ", nDims, " dimensions (1 to 4 allowed)"));
    std::vector<int64_t> shape(nDims);
    uint64_t elems = 1;
    for (uint32_t d = 0; d < nDims; ++d) {
      ASSIGN_OR_RETURN(dim, r.read<uint64_t>("shape of tensor '" + name + "'"));
      if (dim == 0 || dim > (uint64_t(1) << 40) || elems > (uint64_t(1) << 48) / dim)
        return r.error(absl::StrCat("tensor '", name, "': absurd dimension ", dim));
      elems *= dim;
      shape[nDims - 1 - d] = static_cast<int64_t>(dim); // GGUF is fastest-first
    }
    ASSIGN_OR_RETURN(rawType, r.read<uint32_t>("type of tensor '" + name + "'"));
    auto type = weightTypeInfo(rawType);
    if (!type.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": tensor '", name, "': ", type.status().message()));
    if (shape.back() % type->blockElems != 0)
      return r.error(absl::StrCat("tensor '", name, "': row length ", shape.back(),
                                  " is not a multiple of the ", type->name, " block size ",
                                  type->blockElems));
    ASSIGN_OR_RETURN(offset, r.read<uint64_t>("offset of tensor '" + name + "'"));
    if (offset % alignment != 0)
      return r.error(
          absl::StrCat("tensor '", name, "': offset ", offset, " is not aligned to ", alignment));
    infos.push_back({name, shape, *type, offset, elems / type->blockElems * type->blockBytes});
  }

  uint64_t dataStart = (r.offset() + alignment - 1) / alignment * alignment;
  if (dataStart > size && !infos.empty())
    return r.error("tensor data would start past the end of the file");
  uint64_t dataSize = dataStart <= size ? size - dataStart : 0;
  for (const Info &info : infos) {
    if (info.offset > dataSize || info.bytes > dataSize - info.offset)
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": tensor '", info.name, "': data [", info.offset, ", ", info.offset + info.bytes,
          ") is out of range: the data section holds ", dataSize, " bytes"));
    WeightTensor w;
    w.name = info.name;
    w.type = info.type.type;
    w.shape = info.shape;
    w.data = data + dataStart + info.offset;
    w.bytes = info.bytes;
    w.owner = owner_;
    w.source = path_;
    tensors_.push_back(std::move(w));
  }
  return absl::OkStatus();
}

absl::StatusOr<const GgufValue *> GgufFile::find(const std::string &key,
                                                 const char *expected) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end())
    return absl::NotFoundError(
        absl::StrCat(path_, ": missing metadata '", key, "' (", expected, ")"));
  return &it->second;
}

#define TYPED_GETTER(RET, NAME, EXPECTED, OK, VALUE)                                               \
  absl::StatusOr<RET> GgufFile::NAME(const std::string &key) const {                               \
    ASSIGN_OR_RETURN(v, find(key, EXPECTED));                                                      \
    if (!(OK))                                                                                     \
      return absl::InvalidArgumentError(absl::StrCat(                                              \
          path_, ": metadata '", key, "' is ", typeName(v->type),                                  \
          v->type == GgufType::Array ? " of " : "",                                                \
          v->type == GgufType::Array ? typeName(v->elemType) : "", ", expected ", EXPECTED));      \
    return VALUE;                                                                                  \
  }

TYPED_GETTER(std::string, getString, "a string", v->type == GgufType::String, v->s)
TYPED_GETTER(int64_t, getInt, "an integer", isInteger(v->type), v->i)
TYPED_GETTER(double, getFloat, "a number", isFloat(v->type) || isInteger(v->type),
             isFloat(v->type) ? v->f : static_cast<double>(v->i))
TYPED_GETTER(bool, getBool, "a bool", v->type == GgufType::Bool, v->b)
TYPED_GETTER(const std::vector<std::string> *, getStrings, "an array of strings",
             v->type == GgufType::Array && v->elemType == GgufType::String, &v->strings)
TYPED_GETTER(const std::vector<int64_t> *, getInts, "an array of integers",
             v->type == GgufType::Array &&
                 (isInteger(v->elemType) || v->elemType == GgufType::Bool),
             &v->ints)
TYPED_GETTER(const std::vector<double> *, getFloats, "an array of floats",
             v->type == GgufType::Array && isFloat(v->elemType), &v->floats)
#undef TYPED_GETTER

int64_t GgufFile::getIntOr(const std::string &key, int64_t fallback) const {
  auto v = getInt(key);
  return v.ok() ? *v : fallback;
}

double GgufFile::getFloatOr(const std::string &key, double fallback) const {
  auto v = getFloat(key);
  return v.ok() ? *v : fallback;
}

void GgufFile::addTo(WeightStore &store) const {
  for (const WeightTensor &t : tensors_)
    store.add(t);
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

namespace {
template <typename T> void put(std::vector<uint8_t> &out, T v) {
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
void putString(std::vector<uint8_t> &out, const std::string &s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}
void putKey(std::vector<uint8_t> &out, const std::string &key, GgufType t) {
  putString(out, key);
  put<uint32_t>(out, static_cast<uint32_t>(t));
}
} // namespace

void GgufWriter::addString(const std::string &key, const std::string &v) {
  putKey(kv_, key, GgufType::String);
  putString(kv_, v);
  ++kvCount_;
}
void GgufWriter::addU32(const std::string &key, uint32_t v) {
  putKey(kv_, key, GgufType::U32);
  put(kv_, v);
  ++kvCount_;
}
void GgufWriter::addI32(const std::string &key, int32_t v) {
  putKey(kv_, key, GgufType::I32);
  put(kv_, v);
  ++kvCount_;
}
void GgufWriter::addF32(const std::string &key, float v) {
  putKey(kv_, key, GgufType::F32);
  put(kv_, v);
  ++kvCount_;
}
void GgufWriter::addBool(const std::string &key, bool v) {
  putKey(kv_, key, GgufType::Bool);
  put<uint8_t>(kv_, v ? 1 : 0);
  ++kvCount_;
}
void GgufWriter::addStrings(const std::string &key, const std::vector<std::string> &v) {
  putKey(kv_, key, GgufType::Array);
  put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::String));
  put<uint64_t>(kv_, v.size());
  for (const auto &s : v)
    putString(kv_, s);
  ++kvCount_;
}
void GgufWriter::addF32s(const std::string &key, const std::vector<float> &v) {
  putKey(kv_, key, GgufType::Array);
  put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::F32));
  put<uint64_t>(kv_, v.size());
  for (float x : v)
    put(kv_, x);
  ++kvCount_;
}
void GgufWriter::addI32s(const std::string &key, const std::vector<int32_t> &v) {
  putKey(kv_, key, GgufType::Array);
  put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::I32));
  put<uint64_t>(kv_, v.size());
  for (int32_t x : v)
    put(kv_, x);
  ++kvCount_;
}

namespace {
// One scalar of type `t`, taken from the field of `v` that holds it.
void putScalar(std::vector<uint8_t> &out, GgufType t, int64_t i, double f, bool b,
               const std::string &s) {
  switch (t) {
  case GgufType::U8:
    put<uint8_t>(out, static_cast<uint8_t>(i));
    break;
  case GgufType::I8:
    put<int8_t>(out, static_cast<int8_t>(i));
    break;
  case GgufType::U16:
    put<uint16_t>(out, static_cast<uint16_t>(i));
    break;
  case GgufType::I16:
    put<int16_t>(out, static_cast<int16_t>(i));
    break;
  case GgufType::U32:
    put<uint32_t>(out, static_cast<uint32_t>(i));
    break;
  case GgufType::I32:
    put<int32_t>(out, static_cast<int32_t>(i));
    break;
  case GgufType::U64:
    put<uint64_t>(out, static_cast<uint64_t>(i));
    break;
  case GgufType::I64:
    put<int64_t>(out, i);
    break;
  case GgufType::F32:
    put<float>(out, static_cast<float>(f));
    break;
  case GgufType::F64:
    put<double>(out, f);
    break;
  case GgufType::Bool:
    put<uint8_t>(out, b ? 1 : 0);
    break;
  case GgufType::String:
    putString(out, s);
    break;
  case GgufType::Array:
    break; // the reader rejects arrays of arrays
  }
}
} // namespace

void GgufWriter::addValue(const std::string &key, const GgufValue &v) {
  putKey(kv_, key, v.type);
  if (v.type != GgufType::Array) {
    putScalar(kv_, v.type, v.i, v.f, v.b, v.s);
  } else {
    put<uint32_t>(kv_, static_cast<uint32_t>(v.elemType));
    bool strings = v.elemType == GgufType::String;
    bool floats = v.elemType == GgufType::F32 || v.elemType == GgufType::F64;
    size_t n = strings ? v.strings.size() : floats ? v.floats.size() : v.ints.size();
    put<uint64_t>(kv_, n);
    for (size_t k = 0; k < n; ++k)
      putScalar(kv_, v.elemType, strings || floats ? 0 : v.ints[k], floats ? v.floats[k] : 0,
                !strings && !floats && v.ints[k] != 0, strings ? v.strings[k] : std::string());
  }
  ++kvCount_;
}

void GgufWriter::addTensor(const std::string &name, WeightType type,
                           const std::vector<int64_t> &shape, std::vector<uint8_t> data) {
  tensors_.push_back({name, type, shape, std::move(data)});
}

absl::Status GgufWriter::write(const std::string &path) const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, kMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kvCount_);
  out.insert(out.end(), kv_.begin(), kv_.end());
  uint64_t offset = 0;
  for (const Tensor &t : tensors_) {
    putString(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it)
      put<uint64_t>(out, *it);
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset += (t.data.size() + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
  }
  out.resize((out.size() + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment, 0);
  for (const Tensor &t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize((out.size() + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment, 0);
  }
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write"));
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  ok = std::fclose(f) == 0 && ok;
  return ok ? absl::OkStatus() : absl::DataLossError(absl::StrCat(path, ": short write"));
}

} // namespace tessel::frontends
