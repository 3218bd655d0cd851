// SPDX-License-Identifier: MIT
// Helpers for unit tests of code built on tapeflow: `#include <tapeflow/testing.hpp>`.
//
//   testing::assert_close(y, expected);          // throws testing::AssertionError with a readable diff
//   testing::allclose(y, expected, 1e-5, 1e-8);  // torch.allclose
//   testing::gradcheck(fn, {x});                 // a function's gradients, float64 central differences
//   testing::gradcheck(model, {x});              // a module's, w.r.t. its inputs AND its parameters
//   { testing::SeedGuard seed(7); ... }          // seeded draws inside, the generator's state back after
//   REQUIRE_THAT(y, testing::IsCloseTo(expected));  // Catch2 matcher
//
// The Catch2 rule: IsCloseTo exists only when Catch2 was included BEFORE this header (v2's
// <catch2/catch.hpp>, or v3's <catch2/catch_test_macros.hpp> or <catch2/catch_all.hpp>), so a
// program that does not use Catch2 never pulls it in. Including this header again after Catch2
// also works: the matcher part has its own include guard, separate from the rest.
#ifndef TAPEFLOW_TESTING_HPP_INCLUDED
#define TAPEFLOW_TESTING_HPP_INCLUDED

#include <cstdint>
#include <string>
#include <utility>

#include "autograd/gradcheck.hpp"
#include "nn/gradcheck.hpp"
#include "tensor/compare.hpp"
#include "tensor/error.hpp"
#include "tensor/tensor.hpp"

namespace tapeflow::testing {

using tapeflow::allclose;
using tapeflow::CloseOptions;
using tapeflow::describe_mismatch;
using tapeflow::GradcheckFn;
using tapeflow::GradcheckOptions;
// Both forms: gradcheck(fn, inputs) and gradcheck(module, inputs) / gradcheck(module, fn, inputs).
using tapeflow::gradcheck;
using tapeflow::gradgradcheck;
using tapeflow::nn::gradcheck;
using tapeflow::nn::gradgradcheck;

/// What assert_close throws: the message is describe_mismatch's report.
class AssertionError : public Error {
  using Error::Error;
};

/// Throws AssertionError with the mismatch report unless `actual` is close to `expected`
/// (same shape, dtype and device; tolerances by dtype unless `options` sets them).
inline void assert_close(const Tensor& actual, const Tensor& expected, const CloseOptions& options = {}) {
  std::string report = describe_mismatch(actual, expected, options);
  if (!report.empty()) throw AssertionError(report);
}

/// Seeds the random generator for its scope and restores the exact previous state when it ends,
/// so a seeded test neither depends on nor disturbs the draws around it:
///   { SeedGuard seed(42); nn::Linear a(4, 2); }  // the same parameters on every run
class SeedGuard {
 public:
  explicit SeedGuard(uint64_t seed) : saved_(get_rng_state()) { manual_seed(seed); }
  ~SeedGuard() {
    try {
      set_rng_state(saved_);
    } catch (...) {
      // NOTE: cannot fail for a state get_rng_state returned; a destructor must not throw anyway.
    }
  }
  SeedGuard(const SeedGuard&) = delete;
  SeedGuard& operator=(const SeedGuard&) = delete;

 private:
  std::string saved_;
};

}  // namespace tapeflow::testing

#endif  // TAPEFLOW_TESTING_HPP_INCLUDED

// --- Catch2 matcher: only when Catch2 came first ------------------------------------------------
#if !defined(TAPEFLOW_TESTING_CATCH2_MATCHER_INCLUDED) &&                                     \
    (defined(CATCH_VERSION_MAJOR) || defined(TWOBLUECUBES_SINGLE_INCLUDE_CATCH_HPP_INCLUDED) || \
     defined(CATCH_TEST_MACROS_HPP_INCLUDED) || defined(CATCH_MATCHERS_HPP_INCLUDED))
#define TAPEFLOW_TESTING_CATCH2_MATCHER_INCLUDED

#if defined(TWOBLUECUBES_SINGLE_INCLUDE_CATCH_HPP_INCLUDED) || \
    (defined(CATCH_VERSION_MAJOR) && CATCH_VERSION_MAJOR < 3)
#define TAPEFLOW_TESTING_CATCH_MATCHER_BASE Catch::MatcherBase<::tapeflow::Tensor>
#else
// Catch2 v3 keeps matchers in their own header; REQUIRE_THAT needs it anyway.
#include <catch2/matchers/catch_matchers.hpp>
#define TAPEFLOW_TESTING_CATCH_MATCHER_BASE Catch::Matchers::MatcherBase<::tapeflow::Tensor>
#endif

namespace tapeflow::testing {

/// Catch2 matcher behind IsCloseTo; describe() carries the mismatch report of the last match().
class IsCloseToMatcher : public TAPEFLOW_TESTING_CATCH_MATCHER_BASE {
 public:
  IsCloseToMatcher(Tensor expected, CloseOptions options)
      : expected_(std::move(expected)), options_(options) {}

  bool match(const Tensor& actual) const override {
    report_ = describe_mismatch(actual, expected_, options_);
    return report_.empty();
  }

  std::string describe() const override {
    std::string text = "is close to the expected tensor";
    if (expected_.defined())
      text += std::string(" (shape ") + shape_str(expected_.shape()) + ", " + dtype_name(expected_.dtype()) + ")";
    if (!report_.empty()) text += "\n" + report_;
    return text;
  }

 private:
  Tensor expected_;
  CloseOptions options_;
  mutable std::string report_;
};

/// `REQUIRE_THAT(actual, IsCloseTo(expected))`: passes when describe_mismatch finds nothing; on
/// failure Catch2 prints the report (counts, greatest differences, first mismatching elements).
inline IsCloseToMatcher IsCloseTo(const Tensor& expected, const CloseOptions& options = {}) {
  return IsCloseToMatcher(expected, options);
}

}  // namespace tapeflow::testing

#undef TAPEFLOW_TESTING_CATCH_MATCHER_BASE
#endif  // Catch2 matcher
