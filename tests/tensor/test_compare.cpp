// SPDX-License-Identifier: MIT
// allclose and describe_mismatch (tensor/compare.hpp): the tolerance rule, NaN and infinity,
// the per-dtype defaults, shapes that must match exactly, views by logical index, integers,
// and the exact text of the report.
#include <tapeflow/tapeflow.hpp>
#include <tapeflow/tensor/compare.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

using namespace tapeflow;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Tensor f32(std::vector<double> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Float32}); }
Tensor f64(std::vector<double> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Float64}); }
Tensor i64(std::vector<int64_t> v, Shape shape = {}) { return tensor(v, shape, {.dtype = Int64}); }

bool close(const Tensor& a, const Tensor& e, const CloseOptions& o = {}) { return describe_mismatch(a, e, o).empty(); }

}  // namespace

TEST_CASE("compare: the report of a small float32 case, word for word", "[compare]") {
  Tensor expected = arange(12.0).reshape({3, 4});  // float32 0..11
  Tensor actual = f32({0, 1.5, 2, 3, 4, 5, 6.25, 7, 8, 9, 10, 11.125}, {3, 4});
  CHECK(describe_mismatch(actual, expected) ==
        "Tensors are not close: 3 of 12 elements (25.0%) differ\n"
        "  allowed: |actual - expected| <= atol 1e-05 + rtol 1.3e-06 * |expected|\n"
        "  greatest absolute difference 0.5 at [0, 1] (allowed 1.13e-05)\n"
        "  greatest relative difference 0.5 at [0, 1] (rtol 1.3e-06)\n"
        "  first mismatches:\n"
        "    [0, 1]: actual 1.5, expected 1 (diff 0.5)\n"
        "    [1, 2]: actual 6.25, expected 6 (diff 0.25)\n"
        "    [2, 3]: actual 11.125, expected 11 (diff 0.125)");
  CHECK(describe_mismatch(expected, expected).empty());
  CHECK_FALSE(allclose(actual, expected));
  CHECK(allclose(actual, expected, 0.0, 0.5));
}

TEST_CASE("compare: the greatest differences are ranked apart; long lists are cut", "[compare]") {
  // Element [0] has the greatest absolute difference, element [2] (expected 0) the greatest relative one.
  Tensor expected = f64({1000, 1, 0, 5, 6, 7, 8, 9});
  Tensor actual = f64({1010, 2, 0.5, 6, 7, 8, 9, 10});
  CloseOptions o;
  o.max_reported = 2;
  CHECK(describe_mismatch(actual, expected, o) ==
        "Tensors are not close: 8 of 8 elements (100.0%) differ\n"
        "  allowed: |actual - expected| <= atol 1e-07 + rtol 1e-07 * |expected|\n"
        "  greatest absolute difference 10 at [0] (allowed 0.0001001)\n"
        "  greatest relative difference inf at [2] (rtol 1e-07)\n"
        "  first mismatches:\n"
        "    [0]: actual 1010, expected 1000 (diff 10)\n"
        "    [1]: actual 2, expected 1 (diff 1)\n"
        "    ... and 6 more");
}

TEST_CASE("compare: values print in full precision, small shares with two digits", "[compare]") {
  // 0.1 + 0.2 and 0.3 differ in the last bit: both must print differently.
  Tensor a = f64({0.1 + 0.2}), e = f64({0.3});
  const std::string r = describe_mismatch(a, e, {.rtol = 0.0, .atol = 0.0});
  CHECK(r.find("actual 0.30000000000000004, expected 0.3 (diff 5.55112e-17)") != std::string::npos);
  // float32 values print as floats (shortest text that reads back), not as widened doubles.
  const std::string r32 = describe_mismatch(f32({1.1}), f32({1.2}));
  CHECK(r32.find("actual 1.1, expected 1.2") != std::string::npos);
  // One mismatch in 2000 elements.
  Tensor big = zeros({2000}, {.dtype = Float64});
  Tensor other = big.clone();
  other.slice(0, 1999, 2000).fill_(1.0);
  CHECK(describe_mismatch(other, big).rfind("Tensors are not close: 1 of 2000 elements (0.05%) differ\n", 0) == 0);
}

TEST_CASE("compare: the tolerance rule is |a - e| <= atol + rtol * |e|, as torch.allclose", "[compare]") {
  // Asymmetric: the expected value scales rtol.
  CHECK(allclose(f64({0.0}), f64({1.0}), 1.0, 0.0));
  CHECK_FALSE(allclose(f64({1.0}), f64({0.0}), 1.0, 0.0));
  // Boundaries: exactly representable sums.
  CHECK(allclose(f64({1.5}), f64({1.0}), 0.25, 0.25));
  CHECK_FALSE(allclose(f64({1.5625}), f64({1.0}), 0.25, 0.25));
  // torch's defaults rtol 1e-5, atol 1e-8.
  CHECK(allclose(f64({1000.0 + 0.009}), f64({1000.0})));
  CHECK_FALSE(allclose(f64({1000.0 + 0.011}), f64({1000.0})));
  CHECK(allclose(f64({5e-9}), f64({0.0})));
  CHECK_FALSE(allclose(f64({2e-8}), f64({0.0})));
  // allclose compares values across dtypes.
  CHECK(allclose(f32({1, 2, 3}), f64({1, 2, 3})));
}

TEST_CASE("compare: NaN and infinity", "[compare]") {
  CHECK_FALSE(allclose(f64({kNaN}), f64({kNaN})));
  CHECK(allclose(f64({kNaN}), f64({kNaN}), 1e-5, 1e-8, true));
  CHECK_FALSE(allclose(f64({kNaN}), f64({1.0}), 1e-5, 1e-8, true));
  CHECK_FALSE(allclose(f64({1.0}), f64({kNaN}), 1e-5, 1e-8, true));
  CHECK(allclose(f64({kInf, -kInf}), f64({kInf, -kInf})));
  CHECK_FALSE(allclose(f64({kInf}), f64({-kInf})));
  CHECK_FALSE(allclose(f64({kInf}), f64({1e308}), 1.0, 1.0));  // a huge tolerance does not reach infinity
  CHECK_FALSE(allclose(f64({1e308}), f64({kInf}), 1.0, 1.0));
  CHECK(close(f32({kNaN, 1}), f32({kNaN, 1}), {.equal_nan = true}));
  CHECK_FALSE(close(f32({kNaN, 1}), f32({kNaN, 1})));

  // Non-finite mismatches are listed, never ranked as "greatest".
  Tensor a = f64({kNaN, 1, kInf}), e = f64({kNaN, 1, 2});
  CHECK(describe_mismatch(a, e) ==
        "Tensors are not close: 2 of 3 elements (66.7%) differ\n"
        "  allowed: |actual - expected| <= atol 1e-07 + rtol 1e-07 * |expected|\n"
        "  first mismatches:\n"
        "    [0]: actual nan, expected nan (diff nan)\n"
        "    [2]: actual inf, expected 2 (diff inf)");
  // ...while finite ones next to them are.
  const std::string r = describe_mismatch(f64({kNaN, 3}), f64({1, 1}));
  CHECK(r.find("greatest absolute difference 2 at [1]") != std::string::npos);
}

TEST_CASE("compare: default tolerances by dtype, as torch.testing.assert_close", "[compare]") {
  // float32: rtol 1.3e-6, atol 1e-5.
  CHECK(close(f32({9e-6}), f32({0})));
  CHECK_FALSE(close(f32({2e-5}), f32({0})));
  CHECK(close(f32({1e6 + 1.0}), f32({1e6})));   // 1 <= 1e-5 + 1.3
  CHECK_FALSE(close(f32({1e6 + 2.0}), f32({1e6})));
  // float64: rtol 1e-7, atol 1e-7.
  CHECK(close(f64({9e-8}), f64({0})));
  CHECK_FALSE(close(f64({2e-7}), f64({0})));
  CHECK(close(f64({1e6 + 0.09}), f64({1e6})));
  CHECK_FALSE(close(f64({1e6 + 0.2}), f64({1e6})));
  // int64 and bool: exact, unless tolerances are given.
  CHECK(close(i64({1, 2, 3}), i64({1, 2, 3})));
  CHECK_FALSE(close(i64({1, 2, 4}), i64({1, 2, 3})));
  CHECK(close(i64({1, 2, 4}), i64({1, 2, 3}), {.atol = 1.0}));
  Tensor t = tensor({true, false}), f = tensor({true, true});
  CHECK(close(t, t));
  CHECK_FALSE(close(t, f));
  // Given tolerances win over the defaults; one given, the other stays the default.
  CHECK(close(f64({1.5}), f64({1.0}), {.rtol = 0.0, .atol = 0.5}));
  CHECK_FALSE(close(f64({1.5}), f64({1.0}), {.rtol = 0.0}));
  CHECK(close(f64({1.0 + 1e-8}), f64({1.0}), {.rtol = 0.0}));  // atol stays 1e-7
}

TEST_CASE("compare: integers compare exactly and print as integers", "[compare]") {
  const int64_t big = int64_t{1} << 53;  // big + 1 is not a double
  CHECK_FALSE(close(i64({big + 1}), i64({big})));
  CHECK(describe_mismatch(i64({1, 5, 3}, {3}), i64({1, 2, 3}, {3})) ==
        "Tensors are not close: 1 of 3 elements (33.3%) differ\n"
        "  compared exactly\n"
        "  greatest absolute difference 3 at [1] (allowed 0)\n"
        "  greatest relative difference 1.5 at [1] (rtol 0)\n"
        "  first mismatches:\n"
        "    [1]: actual 5, expected 2 (diff 3)");
  const std::string r = describe_mismatch(tensor({true, false}), tensor({true, true}));
  CHECK(r.find("[1]: actual false, expected true (diff 1)") != std::string::npos);
  // Extreme values: the difference is computed without overflow.
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  CHECK(describe_mismatch(i64({lo}), i64({hi})).find("(diff 1.84467e+19)") != std::string::npos);
}

TEST_CASE("compare: shapes must match exactly; dtypes unless check_dtype is off", "[compare]") {
  Tensor a = zeros({2, 3}), b = zeros({3, 2});
  CHECK(describe_mismatch(a, b) == "Tensors are not close: shapes differ: actual [2,3], expected [3,2] (no broadcasting)");
  CHECK_FALSE(allclose(a, b));
  // Broadcastable is still a mismatch, and so is the same numel.
  CHECK_FALSE(allclose(zeros({3}), zeros({1, 3})));
  CHECK_FALSE(close(zeros({3}), zeros({1, 3})));
  CHECK_FALSE(allclose(zeros({1}), zeros({})));
  CHECK(describe_mismatch(zeros({2}), zeros({2}, {.dtype = Float64})) ==
        "Tensors are not close: dtypes differ: actual float32, expected float64 (check_dtype = false compares the values)");
  CHECK(describe_mismatch(zeros({2}), zeros({3}, {.dtype = Float64})) ==
        "Tensors are not close: shapes differ: actual [2], expected [3] (no broadcasting)\n"
        "  and dtypes differ: actual float32, expected float64 (check_dtype = false compares the values)");
  // Without the dtype check, the looser tolerance of the two applies (float32's here).
  CloseOptions values_only;
  values_only.check_dtype = false;
  CHECK(close(f32({1.0}), f64({1.0 + 5e-6}), values_only));
  CHECK_FALSE(close(f32({1.0}), f64({1.0 + 5e-5}), values_only));
  CHECK(close(i64({1, 2}), f64({1, 2}), values_only));
  // Undefined tensors.
  CHECK(describe_mismatch(Tensor(), zeros({1})) == "Tensors are not close: actual is an undefined tensor");
  CHECK(describe_mismatch(zeros({1}), Tensor()) == "Tensors are not close: expected is an undefined tensor");
  CHECK(describe_mismatch(Tensor(), Tensor()).empty());
  CHECK_FALSE(allclose(Tensor(), zeros({1})));
}

TEST_CASE("compare: views and non-contiguous tensors compare by logical index", "[compare]") {
  Tensor m = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor mt = m.t();  // [[1, 4], [2, 5], [3, 6]], strides (1, 3)
  REQUIRE_FALSE(mt.is_contiguous());
  CHECK(close(mt, f64({1, 4, 2, 5, 3, 6}, {3, 2})));
  CHECK(allclose(mt, f64({1, 4, 2, 5, 3, 6}, {3, 2})));
  CHECK_FALSE(close(mt, f64({1, 2, 3, 4, 5, 6}, {3, 2})));  // same storage order is not the same tensor
  // A mismatch inside a transposed view is reported at its logical index.
  const std::string r = describe_mismatch(mt, f64({1, 4, 2, 5, 3, 7}, {3, 2}));
  CHECK(r.find("[2, 1]: actual 6, expected 7 (diff 1)") != std::string::npos);
  // Stepped slices, offsets and expanded (stride 0) views.
  Tensor row = arange(10.0, {.dtype = Float64}).slice(0, 1, 9, 3);  // 1, 4, 7
  CHECK(close(row, f64({1, 4, 7})));
  CHECK(close(f64({2}).expand({2, 2}), f64({2, 2, 2, 2}, {2, 2})));
  CHECK(close(f64({1, 4, 7}), row));
  // 0-d and empty tensors.
  CHECK(close(scalar_tensor(1.0), scalar_tensor(1.0)));
  CHECK(describe_mismatch(scalar_tensor(2.0), scalar_tensor(1.0)).find("    []: actual 2, expected 1") !=
        std::string::npos);
  CHECK(close(zeros({0, 3}), zeros({0, 3})));
  CHECK(allclose(zeros({0}), zeros({0})));
  // Tensors on the tape compare by value.
  Tensor w = f64({1, 2}).requires_grad_();
  CHECK(close(w * 2.0, f64({2, 4})));
}
