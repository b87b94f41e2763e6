//===- Interpreter.h - run a tessel function on host tensors ----*- C++ -*-===//
//
// Parses a module of `tessel` (+ func, tensor reshape, arith.constant) IR
// and evaluates one function with the reference semantics of reference/Ops.h.
// No MLIR header here: callers (the CLI, tests) stay cheap to compile.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_REFERENCE_INTERPRETER_H
#define TESSEL_REFERENCE_INTERPRETER_H

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "reference/Tensor.h"

namespace tessel::ref {

/// What a function expects for one argument; dynamic dims are -1.
struct ArgumentSpec {
  DType dtype;
  std::vector<int64_t> shape;
  bool isScalar = false; // an i64/index value rather than a tensor
};

/// Resolves `tessel.weight` ops: name and expected shape -> values.
using WeightProvider = std::function<absl::StatusOr<Tensor>(const std::string &name,
                                                            const std::vector<int64_t> &shape)>;

class ReferenceProgram {
public:
  /// Parses and verifies `text`; `sourceName` names it in diagnostics.
  static absl::StatusOr<std::unique_ptr<ReferenceProgram>> parse(std::string_view text,
                                                                 std::string_view sourceName);
  static absl::StatusOr<std::unique_ptr<ReferenceProgram>> load(const std::string &path);
  ~ReferenceProgram();

  /// The argument types of function `entry`.
  absl::StatusOr<std::vector<ArgumentSpec>> arguments(std::string_view entry = "main") const;

  /// Evaluates `entry` on `args` (checked against its signature).
  /// `weights` resolves `tessel.weight` ops; without it they are an error.
  absl::StatusOr<std::vector<Tensor>> run(const std::vector<Tensor> &args,
                                          std::string_view entry = "main",
                                          const WeightProvider &weights = nullptr) const;

private:
  struct Impl;
  explicit ReferenceProgram(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace tessel::ref

#endif // TESSEL_REFERENCE_INTERPRETER_H
