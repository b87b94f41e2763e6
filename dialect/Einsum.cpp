//===- Einsum.cpp - parse and check einsum equations ------------------------===//
#include "dialect/Einsum.h"

#include <map>

namespace tessel {
namespace {
bool isLabel(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Validates one term's labels; `what` names the term in messages.
bool checkTerm(const std::string &term, const std::string &what, std::string &error) {
  for (size_t i = 0; i < term.size(); ++i) {
    char c = term[i];
    if (c == '.') {
      error = "ellipsis ('...') in " + what + " is not supported";
      return false;
    }
    if (!isLabel(c)) {
      error =
          std::string("invalid character '") + c + "' in " + what + "; labels are letters a-z, A-Z";
      return false;
    }
    if (term.find(c, i + 1) != std::string::npos) {
      error = std::string("label '") + c + "' repeats in " + what +
              "; repeated labels (diagonals) are not supported";
      return false;
    }
  }
  return true;
}
} // namespace

bool parseEinsumEquation(const std::string &text, EinsumEquation &eq, std::string &error) {
  std::string s;
  for (char c : text)
    if (c != ' ')
      s.push_back(c);
  size_t arrow = s.find("->");
  if (arrow == std::string::npos) {
    error = "equation '" + text + "' must be explicit: 'inputs->output'";
    return false;
  }
  std::string lhs = s.substr(0, arrow), rhs = s.substr(arrow + 2);
  eq = EinsumEquation();
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    eq.inputs.push_back(
        lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  for (size_t i = 0; i < eq.inputs.size(); ++i)
    if (!checkTerm(eq.inputs[i], "input term " + std::to_string(i), error))
      return false;
  if (!checkTerm(rhs, "the output term", error))
    return false;
  for (char c : rhs) {
    bool found = false;
    for (const auto &in : eq.inputs)
      found |= in.find(c) != std::string::npos;
    if (!found) {
      error = std::string("output label '") + c + "' does not appear in any input";
      return false;
    }
  }
  eq.output = rhs;
  return true;
}

bool inferEinsumShape(const EinsumEquation &eq,
                      const std::vector<std::vector<int64_t>> &inputShapes,
                      std::vector<int64_t> &resultShape, std::string &error) {
  if (inputShapes.size() != eq.inputs.size()) {
    error = "equation has " + std::to_string(eq.inputs.size()) + " input terms but " +
            std::to_string(inputShapes.size()) + " operands were given";
    return false;
  }
  std::map<char, int64_t> extent;
  for (size_t i = 0; i < eq.inputs.size(); ++i) {
    const std::string &term = eq.inputs[i];
    if (term.size() != inputShapes[i].size()) {
      error = "input term " + std::to_string(i) + " '" + term + "' has " +
              std::to_string(term.size()) + " labels but operand " + std::to_string(i) +
              " has rank " + std::to_string(inputShapes[i].size());
      return false;
    }
    for (size_t d = 0; d < term.size(); ++d) {
      int64_t dim = inputShapes[i][d];
      auto it = extent.find(term[d]);
      if (it == extent.end() || it->second == kEinsumDynamic) {
        extent[term[d]] = dim;
      } else if (dim != kEinsumDynamic && dim != it->second) {
        error = std::string("label '") + term[d] + "' has extent " + std::to_string(it->second) +
                " in one place and " + std::to_string(dim) + " in operand " + std::to_string(i);
        return false;
      }
    }
  }
  resultShape.clear();
  for (char c : eq.output)
    resultShape.push_back(extent[c]);
  return true;
}

bool classifyContraction(const EinsumEquation &eq, ContractionLabels &labels) {
  if (eq.inputs.size() != 2)
    return false;
  const std::string &a = eq.inputs[0], &b = eq.inputs[1], &out = eq.output;
  auto in = [](const std::string &s, char c) { return s.find(c) != std::string::npos; };
  labels = {};
  for (char c : a) {
    if (in(b, c) && in(out, c))
      labels.batch.push_back(c);
    else if (in(out, c))
      labels.m.push_back(c);
    else if (in(b, c))
      labels.k.push_back(c);
    else
      return false; // summed inside the first input alone
  }
  for (char c : b) {
    if (!in(a, c) && in(out, c))
      labels.n.push_back(c);
    else if (!in(a, c))
      return false; // summed inside the second input alone
  }
  return true;
}

} // namespace tessel
