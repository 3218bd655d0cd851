// SPDX-License-Identifier: MIT
// Bad input throws a tapeflow::Error subclass whose message names the op (with its name scope)
// and the offending shapes or dtypes; nothing is left broken afterwards.
#include <tapeflow/tapeflow.hpp>

#include <catch2/catch.hpp>

#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

using namespace tapeflow;
using Catch::Contains;

namespace {

// Earlier tensors still work after an error: an op on them gives the hand-computed values.
void require_usable(const Tensor& t) {
  std::vector<double> before = t.to_vector<double>();
  Tensor twice = t + t;
  std::vector<double> after = twice.to_vector<double>();
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i] == 2 * before[i]);
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("errors: every error class derives from tapeflow::Error and std::exception", "[errors]") {
  static_assert(std::is_base_of_v<std::exception, Error>);
  static_assert(std::is_base_of_v<Error, ShapeError>);
  static_assert(std::is_base_of_v<Error, DTypeError>);
  static_assert(std::is_base_of_v<Error, DeviceError>);
  static_assert(std::is_base_of_v<Error, AutogradError>);
  static_assert(std::is_base_of_v<Error, IOError>);
  static_assert(std::is_base_of_v<Error, ValueError>);
  static_assert(std::is_base_of_v<Error, NotImplemented>);
  static_assert(std::is_base_of_v<Error, InternalError>);

  // A real failure is catchable through both bases.
  bool as_error = false, as_std = false;
  try {
    (void)(zeros({2, 3}) + zeros({4}));
  } catch (const Error& e) {
    as_error = std::string(e.what()).size() > 0;
  }
  try {
    (void)(zeros({2, 3}) + zeros({4}));
  } catch (const std::exception& e) {
    as_std = std::string(e.what()).size() > 0;
  }
  CHECK(as_error);
  CHECK(as_std);

  auto throws_as_bases = [](auto ex) {
    try {
      throw ex;
    } catch (const Error& e) {
      return std::string(e.what()) == "boom";
    } catch (...) {
      return false;
    }
  };
  CHECK(throws_as_bases(ShapeError("boom")));
  CHECK(throws_as_bases(DTypeError("boom")));
  CHECK(throws_as_bases(DeviceError("boom")));
  CHECK(throws_as_bases(AutogradError("boom")));
  CHECK(throws_as_bases(IOError("boom")));
  CHECK(throws_as_bases(ValueError("boom")));
  CHECK(throws_as_bases(NotImplemented("boom")));
  CHECK(throws_as_bases(InternalError("boom")));
}

// --- ShapeError ----------------------------------------------------------------------------

TEST_CASE("errors: add of non-broadcastable shapes names the op and both shapes", "[errors]") {
  Tensor a = ones({2, 3});
  Tensor b = ones({4});
  REQUIRE_THROWS_AS(a + b, ShapeError);
  REQUIRE_THROWS_WITH(a + b, Contains("add") && Contains("[2,3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(add(a, b), Contains("add") && Contains("[2,3]") && Contains("[4]"));
  REQUIRE_THROWS_AS(a * b, ShapeError);
  REQUIRE_THROWS_WITH(a * b, Contains("mul"));
  REQUIRE_THROWS_AS(a - b, ShapeError);
  REQUIRE_THROWS_AS(a / b, ShapeError);
  REQUIRE_THROWS_AS(a < b, ShapeError);
  REQUIRE_THROWS_AS(maximum(a, b), ShapeError);
  REQUIRE_THROWS_AS(where(ones({4}) > 0.0, a, a), ShapeError);
  require_usable(a);
  require_usable(b);
}

TEST_CASE("errors: matmul with mismatched inner dimensions", "[errors]") {
  Tensor a = ones({2, 3});
  Tensor b = ones({4, 5});
  REQUIRE_THROWS_AS(matmul(a, b), ShapeError);
  REQUIRE_THROWS_WITH(matmul(a, b), Contains("matmul") && Contains("[2,3]") && Contains("[4,5]"));
  REQUIRE_THROWS_WITH(a.matmul(b), Contains("matmul"));
  // Vectors and batches too.
  REQUIRE_THROWS_AS(matmul(ones({3}), ones({4})), ShapeError);
  REQUIRE_THROWS_AS(matmul(ones({2, 2, 3}), ones({3, 3, 4})), ShapeError);  // batch 2 vs 3
  REQUIRE_THROWS_AS(matmul(scalar_tensor(1.0), ones({2})), Error);
  require_usable(a);
  require_usable(b);
  CHECK(matmul(a, ones({3, 5})).shape() == Shape{2, 5});
}

TEST_CASE("errors: reshape and view to a wrong number of elements", "[errors]") {
  Tensor a = arange(6).reshape({2, 3});
  REQUIRE_THROWS_AS(a.reshape({4}), ShapeError);
  REQUIRE_THROWS_WITH(a.reshape({4}), Contains("reshape") && Contains("[4]"));
  REQUIRE_THROWS_AS(a.reshape({-1, 4}), ShapeError);
  REQUIRE_THROWS_AS(a.reshape({-1, -1}), ShapeError);
  REQUIRE_THROWS_AS(a.view({7}), ShapeError);
  REQUIRE_THROWS_AS(a.transpose(0, 1).view({6}), ShapeError);
  REQUIRE_THROWS_WITH(a.transpose(0, 1).view({6}), Contains("view"));
  REQUIRE_THROWS_AS(a.expand({4, 3}), ShapeError);
  REQUIRE_THROWS_AS(a.squeeze(0), Error);  // size 2, not 1
  require_usable(a);
}

TEST_CASE("errors: axis out of range names the op and the axis", "[errors]") {
  Tensor a = ones({2, 3});
  REQUIRE_THROWS_AS(a.sum(5), ShapeError);
  REQUIRE_THROWS_WITH(a.sum(5), Contains("sum") && Contains("5"));
  REQUIRE_THROWS_AS(a.sum(-3), ShapeError);
  REQUIRE_THROWS_WITH(a.sum(-3), Contains("sum") && Contains("-3"));
  REQUIRE_THROWS_AS(sum(a, {0, 7}), ShapeError);
  REQUIRE_THROWS_WITH(a.mean(9), Contains("mean") && Contains("9"));
  REQUIRE_THROWS_WITH(a.max(4), Contains("max") && Contains("4"));
  REQUIRE_THROWS_AS(a.argmax(2), ShapeError);
  REQUIRE_THROWS_AS(a.transpose(0, 2), ShapeError);
  REQUIRE_THROWS_AS(a.softmax(2), ShapeError);
  REQUIRE_THROWS_AS(a.unsqueeze(4), ShapeError);
  REQUIRE_THROWS_AS(a.slice(2, 0, 1), ShapeError);
  REQUIRE_THROWS_AS(a.permute({0, 0}), Error);
  REQUIRE_THROWS_AS(a.permute({0}), Error);
  require_usable(a);
}

TEST_CASE("errors: concat and stack of mismatched shapes", "[errors]") {
  Tensor a = ones({2, 3});
  Tensor b = ones({2, 4});
  REQUIRE_THROWS_AS(concat({a, b}, 0), ShapeError);
  REQUIRE_THROWS_WITH(concat({a, b}, 0), Contains("concat"));
  REQUIRE_THROWS_AS(concat({a, ones({3})}, 0), ShapeError);  // rank differs
  REQUIRE_THROWS_AS(concat({a, b}, 2), ShapeError);
  REQUIRE_THROWS_AS(stack({a, b}), ShapeError);
  REQUIRE_THROWS_WITH(stack({a, b}), Contains("stack"));
  REQUIRE_THROWS_AS(concat({}, 0), Error);
  require_usable(a);
  require_usable(b);
  CHECK(concat({a, b}, 1).shape() == Shape{2, 7});
}

TEST_CASE("errors: negative sizes and bad creation arguments", "[errors]") {
  REQUIRE_THROWS_AS(zeros({-1, 2}), ShapeError);
  REQUIRE_THROWS_AS(ones({2, -3}), ShapeError);
  REQUIRE_THROWS_AS(arange(0, 5, 0), Error);
  REQUIRE_THROWS_AS(linspace(0, 1, -2), Error);
  REQUIRE_THROWS_AS(randint(5, 5, {3}), Error);
  REQUIRE_THROWS_AS(uniform({3}, 1.0, 0.0), Error);
  REQUIRE_THROWS_AS(normal({3}, 0.0, -1.0), Error);
  CHECK(zeros({2}).numel() == 2);
}

TEST_CASE("errors: a failed in-place op leaves the tensor unchanged", "[errors]") {
  Tensor x = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  uint32_t v = x.version();
  REQUIRE_THROWS_AS(x.add_(ones({4})), ShapeError);
  REQUIRE_THROWS_AS(x.mul_(ones({2, 3, 2})), ShapeError);  // result would not fit in x
  REQUIRE_THROWS_AS(x.copy_(ones({3, 2})), ShapeError);
  CHECK(x.version() == v);
  CHECK(x.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  require_usable(x);
}

// --- DTypeError ----------------------------------------------------------------------------

TEST_CASE("errors: dtype errors name the op and the dtype", "[errors]") {
  Tensor ia = tensor({1, 2, 3, 4}, {2, 2});
  Tensor ib = tensor({1, 0, 0, 1}, {2, 2});
  REQUIRE_THROWS_AS(matmul(ia, ib), DTypeError);
  REQUIRE_THROWS_WITH(matmul(ia, ib), Contains("matmul") && Contains("int64"));

  Tensor logits = zeros({2, 3});
  Tensor ftargets = tensor({0.f, 1.f});
  REQUIRE_THROWS_AS(cross_entropy(logits, ftargets), DTypeError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, ftargets),
                      Contains("cross_entropy") && Contains("float32"));

  Tensor cond = tensor({1.f, 0.f});
  REQUIRE_THROWS_AS(where(cond, ones({2}), zeros({2})), DTypeError);
  REQUIRE_THROWS_WITH(where(cond, ones({2}), zeros({2})), Contains("where") && Contains("float32"));

  REQUIRE_THROWS_AS(ia.mean(), DTypeError);
  REQUIRE_THROWS_AS(ones({3}).index_select(0, tensor({0.f})), DTypeError);

  require_usable(ia);
  require_usable(logits);
  require_usable(cond);
  CHECK(cross_entropy(logits, tensor({0, 1})).item<double>() > 0);
}

// --- DeviceError ---------------------------------------------------------------------------

TEST_CASE("errors: asking a CPU-only build for CUDA throws DeviceError", "[errors]") {
  if (cuda_is_available()) {
    SUCCEED("this build has CUDA and a GPU; nothing to refuse");
    return;
  }
  Tensor x = tensor({1.f, 2.f});
  REQUIRE_THROWS_AS(x.to(Device::cuda(0)), DeviceError);
  REQUIRE_THROWS_WITH(x.to(Device::cuda(0)), Contains("cuda", Catch::CaseSensitive::No));
  REQUIRE_THROWS_AS(zeros({2}, {.dtype = std::nullopt, .device = Device::cuda(0)}), DeviceError);
  REQUIRE_THROWS_AS(randn({2}, {.dtype = std::nullopt, .device = Device::cuda(1)}), DeviceError);
  CHECK(cuda_device_count() == 0);
  CHECK(Device::cuda(0).str() == "cuda:0");
  CHECK(Device::cpu().str() == "cpu");
  require_usable(x);
  CHECK(x.to(Device::cpu()).to_vector<float>() == std::vector<float>{1.f, 2.f});
}

// --- AutogradError -------------------------------------------------------------------------

TEST_CASE("errors: autograd misuse throws AutogradError", "[errors]") {
  Tensor plain = ones({3});
  Tensor s = plain.sum();
  REQUIRE_THROWS_AS(s.backward(), AutogradError);

  Tensor leaf = ones({3}, {.dtype = std::nullopt, .requires_grad = true});
  Tensor y = leaf * 2.0;
  REQUIRE_FALSE(y.is_leaf());
  REQUIRE_THROWS_AS(y.requires_grad_(), AutogradError);
  REQUIRE_THROWS_AS(y.requires_grad_(false), AutogradError);

  // Backward twice without retain_graph.
  Tensor loss = (leaf * leaf).sum();
  loss.backward();
  REQUIRE_THROWS_AS(loss.backward(), AutogradError);

  // Earlier tensors still work, and a fresh graph still differentiates.
  require_usable(plain);
  leaf.set_grad(Tensor());
  Tensor loss2 = (leaf * 3.0).sum();
  loss2.backward();
  REQUIRE(leaf.grad().defined());
  CHECK(leaf.grad().to_vector<double>() == std::vector<double>{3, 3, 3});
}

// --- ValueError ----------------------------------------------------------------------------

TEST_CASE("errors: values out of their domain throw ValueError", "[errors]") {
  Tensor multi = tensor({1.f, 2.f, 3.f});
  REQUIRE_THROWS_AS(multi.item<float>(), ValueError);
  REQUIRE_THROWS_WITH(multi.item<float>(), Contains("item"));

  Tensor logits = zeros({2, 3});
  REQUIRE_THROWS_AS(cross_entropy(logits, tensor({0, 3})), ValueError);
  REQUIRE_THROWS_WITH(cross_entropy(logits, tensor({0, 3})), Contains("cross_entropy") && Contains("3"));
  REQUIRE_THROWS_AS(cross_entropy(logits, tensor({-1, 0})), ValueError);

  Tensor x = arange(12).reshape({3, 4});
  REQUIRE_THROWS_AS(x.index_select(0, tensor({0, 5})), ValueError);
  REQUIRE_THROWS_WITH(x.index_select(0, tensor({0, 5})), Contains("index_select") && Contains("5"));
  REQUIRE_THROWS_AS(x.index_select(1, tensor({4})), ValueError);

  REQUIRE_THROWS_AS(x.slice(0, 0, 2, 0), ValueError);
  REQUIRE_THROWS_WITH(x.slice(0, 0, 2, 0), Contains("slice"));

  REQUIRE_THROWS_AS(one_hot(tensor({0, 3}), 3), ValueError);

  require_usable(multi);
  require_usable(logits);
  require_usable(x);
}

// --- name scopes ---------------------------------------------------------------------------

TEST_CASE("errors: messages carry the name scope", "[errors]") {
  Tensor a = ones({2, 3});
  Tensor b = ones({4, 5});
  {
    NameScope s("layer1");
    REQUIRE_THROWS_AS(matmul(a, b), ShapeError);
    REQUIRE_THROWS_WITH(matmul(a, b), Contains("layer1/matmul"));
    REQUIRE_THROWS_WITH(a + ones({4}), Contains("layer1/add"));
    {
      NameScope inner("dense");
      REQUIRE_THROWS_WITH(matmul(a, b), Contains("layer1/dense/matmul"));
    }
    REQUIRE_THROWS_WITH(matmul(a, b), Contains("layer1/matmul") && !Contains("dense"));
  }
  // Out of the scope, the prefix is gone.
  std::string msg = message_of([&] { (void)matmul(a, b); });
  CHECK_THAT(msg, Contains("matmul") && !Contains("layer1"));
  require_usable(a);
}
