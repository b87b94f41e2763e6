//===- StatusMacros.h - early returns on absl::Status errors ----*- C++ -*-===//
//
// Header-only; used by every layer that reports errors as absl::Status.
//
//===----------------------------------------------------------------------===//
#ifndef TESSEL_SUPPORT_STATUSMACROS_H
#define TESSEL_SUPPORT_STATUSMACROS_H

#include "absl/status/status.h"

/// Returns the status of `expr` if it is an error.
#define RETURN_IF_ERROR(expr)                                                                      \
  do {                                                                                             \
    absl::Status status_ = (expr);                                                                 \
    if (!status_.ok())                                                                             \
      return status_;                                                                              \
  } while (0)

/// Declares `lhs` holding the value of the StatusOr `expr`, or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr)                                                                \
  auto lhs##_or = (expr);                                                                          \
  if (!lhs##_or.ok())                                                                              \
    return lhs##_or.status();                                                                      \
  auto lhs = std::move(*lhs##_or)

#endif // TESSEL_SUPPORT_STATUSMACROS_H
