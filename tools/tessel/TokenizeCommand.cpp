//===- TokenizeCommand.cpp - `tessel tokenize` ----------------------------===//
//
// Runs any tokenizer Tessel supports from the shell, so it can be compared
// with llama.cpp or transformers line by line:
//   tessel tokenize MODEL_OR_VOCAB --text "Hello"     -> ids, space-separated
//   tessel tokenize MODEL_OR_VOCAB --file input.txt
//   tessel tokenize MODEL_OR_VOCAB --decode "1 15043"  -> text
// MODEL_OR_VOCAB is a .gguf (a model or a vocabulary-only file), a llama2.c
// model .bin (its tokenizer.bin is found beside it) or tokenizer.bin, a
// tokenizer.json, or a Hugging Face model directory.
//
//===----------------------------------------------------------------------===//
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "frontends/Gguf.h"
#include "frontends/ModelLoader.h"
#include "frontends/tokenizer/Tokenizer.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {
namespace {

namespace fs = std::filesystem;
using frontends::Tokenizer;

absl::StatusOr<std::unique_ptr<Tokenizer>> openTokenizer(const std::string &path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    fs::path json = fs::path(path) / "tokenizer.json";
    if (!fs::exists(json))
      return absl::NotFoundError(path + ": no tokenizer.json in this directory");
    return Tokenizer::fromHfJson(json.string());
  }
  if (fs::path(path).extension() == ".json")
    return Tokenizer::fromHfJson(path);
  if (fs::path(path).extension() == ".gguf") {
    auto gguf = frontends::GgufFile::open(path);
    if (!gguf.ok())
      return gguf.status();
    return Tokenizer::fromGguf(**gguf);
  }
  if (fs::path(path).extension() == ".bin") {
    // A llama2.c model (its header gives the vocabulary size) or, failing
    // that, a tokenizer.bin read to its end.
    auto model = frontends::loadModel(path);
    if (model.ok()) {
      if (model->tokenizerPath.empty())
        return absl::NotFoundError(path + ": no tokenizer.bin or tok*.bin beside the model");
      return Tokenizer::fromLlama2c(model->tokenizerPath,
                                    static_cast<int32_t>(model->config.vocabSize));
    }
    return Tokenizer::fromLlama2c(path, 0);
  }
  return absl::InvalidArgumentError(
      path + ": expected a .gguf, a llama2.c .bin, a tokenizer.json or a model directory");
}

} // namespace

int runTokenize(const std::vector<std::string> &args) {
  std::string text = absl::GetFlag(FLAGS_text), file = absl::GetFlag(FLAGS_file);
  std::string decode = absl::GetFlag(FLAGS_decode);
  int modes = !text.empty() + !file.empty() + !decode.empty();
  if (args.size() != 1 || modes != 1) {
    std::fprintf(stderr, "tessel tokenize: expected MODEL_OR_VOCAB and exactly one of --text, "
                         "--file, --decode (run 'tessel tokenize --help')\n");
    return 2;
  }
  auto fail = [](const absl::Status &st) {
    std::fprintf(stderr, "tessel tokenize: %s\n", std::string(st.message()).c_str());
    return 1;
  };
  auto tok = openTokenizer(args[0]);
  if (!tok.ok())
    return fail(tok.status());

  if (!decode.empty()) {
    std::vector<int32_t> ids;
    for (absl::string_view part :
         absl::StrSplit(decode, absl::ByAnyChar(" ,\t\n"), absl::SkipEmpty())) {
      int32_t id;
      if (!absl::SimpleAtoi(part, &id))
        return fail(
            absl::InvalidArgumentError("--decode: '" + std::string(part) + "' is not a token id"));
      ids.push_back(id);
    }
    auto out = (*tok)->decode(ids);
    if (!out.ok())
      return fail(out.status());
    std::fwrite(out->data(), 1, out->size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  std::string what = "--text";
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      return fail(absl::NotFoundError(file + ": cannot open"));
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    what = file;
  }
  std::vector<int32_t> ids;
  if (absl::GetFlag(FLAGS_bos) && (*tok)->bos() >= 0)
    ids.push_back((*tok)->bos());
  auto encoded = (*tok)->encode(text, what);
  if (!encoded.ok())
    return fail(encoded.status());
  ids.insert(ids.end(), encoded->begin(), encoded->end());
  for (size_t i = 0; i < ids.size(); ++i)
    std::printf(i ? " %d" : "%d", ids[i]);
  std::printf("\n");
  return 0;
}

} // namespace tessel::cli
