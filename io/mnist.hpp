// SPDX-License-Identifier: MIT
// MNIST-style datasets (MNIST, Fashion-MNIST, KMNIST...): four IDX files in one folder.
#pragma once
#include <string>

#include "../tensor/tensor.hpp"
#include "dataset.hpp"

namespace tapeflow::io {

/// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
inline constexpr const char* kFashionMNISTDir = "/usr/share/datasets/fashion-mnist";
/// Fashion-MNIST's class names, by label.
inline constexpr const char* kFashionMNISTClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/// The training (60000 examples in MNIST) or test (10000) part.
enum class Split { Train, Test };

struct MNISTOptions {
  /// Images as [N, rows * cols] (what a linear layer takes) instead of [N, rows, cols].
  bool flatten = false;
};

/// Reads `{train,t10k}-images-idx3-ubyte` and `{train,t10k}-labels-idx1-ubyte` from `dir`, each
/// gzipped (`.gz`, tried first) or not. Inputs are the images, Float32 [N, rows, cols] in [0, 1]
/// (pixel / 255); targets the labels, Int64 [N]. Throws IOError naming the files when one is
/// missing or unreadable, the images are not 3-d ubyte, the labels not 1-d ubyte, or their
/// counts differ.
class MNIST : public TensorDataset {
 public:
  MNIST(const std::string& dir, Split split, const MNISTOptions& options = {});
  /// Float32 [N, rows, cols] (or [N, rows * cols] with flatten) in [0, 1].
  const Tensor& images() const;
  /// Int64 [N].
  const Tensor& labels() const;
};

}  // namespace tapeflow::io
