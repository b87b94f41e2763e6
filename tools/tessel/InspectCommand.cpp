//===- InspectCommand.cpp - `tessel inspect` ------------------------------===//
//
// What a model costs before running it: architecture, parameters, weight
// bytes per type, KV cache bytes per token, approximate FLOPs and weight
// traffic per token for decode and prefill, the CPU pass pipeline and the
// memory plan tessel-plan-memory makes for the compiled @step.
//
// The estimates and their formulas are runtime/ModelCost.h's (stated in the
// output too).
//
//===----------------------------------------------------------------------===//
#include <cstdio>
#include <map>
#include <string>

#include "absl/flags/flag.h"
#include "codegen/Emit.h"
#include "codegen/Pipeline.h"
#include "frontends/ModelLoader.h"
#include "frontends/ModelToIR.h"
#include "nlohmann/json.hpp"
#include "runtime/ModelCost.h"
#include "tools/tessel/Commands.h"
#include "tools/tessel/Flags.h"

namespace tessel::cli {

namespace {

/// End of the bracketed text opening at `open` (one past the closer), skipping strings.
size_t matchBrackets(const std::string &text, size_t open) {
  int depth = 0;
  bool inString = false;
  for (size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    else if (c == '{' || c == '[' || c == '(' || c == '<')
      ++depth;
    else if (c == '}' || c == ']' || c == ')' || c == '>') {
      if (--depth == 0)
        return i + 1;
    }
  }
  return std::string::npos;
}

/// `key = value` at the top level of a dictionary attribute's text.
nlohmann::json attrField(const std::string &dict, const std::string &key) {
  size_t at = 0;
  while ((at = dict.find(key + " = ", at)) != std::string::npos) {
    char before = at > 0 ? dict[at - 1] : ' ';
    if (before != ' ' && before != '{' && before != ',') {
      at += key.size();
      continue;
    }
    size_t begin = at + key.size() + 3, end = begin;
    while (end < dict.size() && dict[end] != ',' && dict[end] != '}') {
      if (dict[end] == '"' || dict[end] == '[' || dict[end] == '{' || dict[end] == '<') {
        size_t close = dict[end] == '"' ? dict.find('"', end + 1) + 1 : matchBrackets(dict, end);
        if (close == std::string::npos || close == 0)
          break;
        end = close;
      } else {
        ++end;
      }
    }
    std::string value = dict.substr(begin, end - begin);
    size_t colon = value.find(" : ");
    std::string number = colon == std::string::npos ? value : value.substr(0, colon);
    try {
      size_t used = 0;
      long long v = std::stoll(number, &used);
      if (used == number.size())
        return v;
    } catch (...) {
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      return value.substr(1, value.size() - 2);
    return value;
  }
  return nullptr;
}

/// Each function's `tessel.memory_plan = {...}` in kernel-stage IR.
nlohmann::json memoryPlans(const std::string &ir) {
  nlohmann::json plans = nlohmann::json::array();
  const std::string marker = "tessel.memory_plan = ";
  for (size_t at = ir.find(marker); at != std::string::npos; at = ir.find(marker, at + 1)) {
    size_t open = at + marker.size();
    size_t close = matchBrackets(ir, open);
    if (close == std::string::npos)
      break;
    std::string dict = ir.substr(open, close - open);
    std::string function;
    size_t fn = ir.rfind("func.func ", at);
    if (fn != std::string::npos) {
      size_t sym = ir.find('@', fn);
      size_t symEnd = ir.find('(', sym);
      if (sym != std::string::npos && symEnd != std::string::npos && sym < at)
        function = ir.substr(sym + 1, symEnd - sym - 1);
    }
    nlohmann::json plan = {{"function", function}, {"attribute", dict}};
    for (const char *key : {"buffers", "planned", "reused", "bytes_before", "bytes_after"})
      plan[key] = attrField(dict, key);
    plans.push_back(plan);
  }
  return plans;
}

std::string human(double v) {
  const char *units[] = {"", "K", "M", "G", "T", "P"};
  int u = 0;
  while (v >= 1000 && u < 5) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", v, units[u]);
  return buf;
}

} // namespace

int runInspect(const std::vector<std::string> &args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "tessel inspect: expected one MODEL, got %zu arguments. Example: tessel "
                         "inspect model.gguf --json\n",
                 args.size());
    return 2;
  }
  int64_t tokens = absl::GetFlag(FLAGS_tokens);
  if (tokens <= 0) {
    std::fprintf(stderr, "tessel inspect: --tokens must be positive\n");
    return 2;
  }
  auto model = frontends::loadModel(args[0]);
  if (!model.ok()) {
    std::fprintf(stderr, "tessel inspect: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const frontends::ModelConfig &c = model->config;

  const runtime::ModelCost cost = runtime::estimateCost(*model);
  const auto &byType = cost.byType;
  const int64_t params = cost.params, kvPerToken = cost.kvBytesPerToken;
  const double activeParams = cost.activeParams, activeBytes = cost.activeWeightBytes;
  const bool hasKv = frontends::supportsKvCache(c);
  const double decodeFlops = 2 * activeParams;
  const double attention = runtime::attentionFlops(c, tokens);
  const double prefillFlops = runtime::prefillFlops(cost, c, tokens);

  std::string pipeline = codegen::pipelineText(codegen::cpuPipeline());

  // The memory plan of the compiled @step (kernel stage).
  nlohmann::json plans = nlohmann::json::array();
  std::string planError;
  if (hasKv) {
    frontends::EntryPoints entries;
    entries.forward = false;
    entries.cacheLength = absl::GetFlag(FLAGS_context);
    auto ir = frontends::modelToMlir(c, args[0], false, entries);
    auto kernel = ir.ok() ? codegen::emitStage(*ir, args[0], "kernel") : ir;
    if (kernel.ok())
      plans = memoryPlans(*kernel);
    else
      planError = std::string(kernel.status().message());
  } else {
    planError = "the model has no @step (KV cache) entry point";
  }
  if (!planError.empty()) {
    std::fprintf(stderr, "tessel inspect: cannot compile @step: %s\n", planError.c_str());
    return 1;
  }

  const char *formula = runtime::kCostFormula;

  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j;
    j["model"] = args[0];
    j["architecture"] = frontends::archName(c.arch);
    j["config"] = {{"layers", c.numLayers},        {"dim", c.dim},
                   {"heads", c.numHeads},          {"kv_heads", c.numKvHeads},
                   {"head_dim", c.headDim},        {"ffn_hidden", c.ffnHidden},
                   {"vocab", c.vocabSize},         {"context_length", c.contextLength},
                   {"experts", c.numExperts},      {"experts_per_token", c.expertsPerToken},
                   {"shared_experts", c.numSharedExperts}};
    j["parameters"] = params;
    j["weights_by_type"] = nlohmann::json::object();
    for (const auto &[type, t] : byType)
      j["weights_by_type"][type] = {{"tensors", t.count}, {"params", t.params}, {"bytes", t.bytes}};
    j["kv_cache_bytes_per_token"] = kvPerToken;
    j["active_parameters_per_token"] = static_cast<int64_t>(activeParams);
    j["decode"] = {{"flops_per_token", decodeFlops}, {"weight_bytes_per_token", activeBytes}};
    j["prefill"] = {{"tokens", tokens},
                    {"flops", prefillFlops},
                    {"attention_flops", attention},
                    {"weight_bytes", activeBytes}};
    j["formula"] = formula;
    j["pipeline"] = pipeline;
    j["memory_plan"] = plans;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  std::printf("model:         %s\n", args[0].c_str());
  std::printf("architecture:  %s\n", frontends::archName(c.arch));
  std::printf("config:        %lld layers, dim %lld, %lld heads (%lld kv) x %lld, ffn %lld, "
              "vocab %lld, context %lld",
              (long long)c.numLayers, (long long)c.dim, (long long)c.numHeads,
              (long long)c.numKvHeads, (long long)c.headDim, (long long)c.ffnHidden,
              (long long)c.vocabSize, (long long)c.contextLength);
  if (c.numExperts > 0)
    std::printf(", %lld experts (top %lld, %lld shared)", (long long)c.numExperts,
                (long long)c.expertsPerToken, (long long)c.numSharedExperts);
  std::printf("\nparameters:    %lld (%s)\n", (long long)params, human(double(params)).c_str());
  std::printf("weights by type:\n");
  for (const auto &[type, t] : byType)
    std::printf("  %-6s %5lld tensors %12lld params %12llu bytes\n", type.c_str(),
                (long long)t.count, (long long)t.params, (unsigned long long)t.bytes);
  std::printf("KV cache:      %lld bytes per token (f32 caches)\n", (long long)kvPerToken);
  std::printf("decode:        ~%sFLOP/token, ~%sB of weights/token (%lld active params)\n",
              human(decodeFlops).c_str(), human(activeBytes).c_str(), (long long)activeParams);
  std::printf("prefill %lld:   ~%sFLOP (%sFLOP attention), ~%sB of weights\n", (long long)tokens,
              human(prefillFlops).c_str(), human(attention).c_str(), human(activeBytes).c_str());
  std::printf("formula:       %s\n", formula);
  std::printf("pipeline:      %s\n", pipeline.c_str());
  std::printf("memory plan (@step, kernel stage):\n");
  if (plans.empty())
    std::printf("  (none)\n");
  for (const auto &p : plans) {
    std::printf("  @%s: buffers %s, planned %s, reused %s, bytes_before %s, bytes_after %s\n",
                p["function"].get<std::string>().c_str(), p["buffers"].dump().c_str(),
                p["planned"].dump().c_str(), p["reused"].dump().c_str(),
                p["bytes_before"].dump().c_str(), p["bytes_after"].dump().c_str());
    std::printf("    %s\n", p["attribute"].get<std::string>().c_str());
  }
  return 0;
}

} // namespace tessel::cli
