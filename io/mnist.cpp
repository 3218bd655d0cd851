// SPDX-License-Identifier: MIT
#include "mnist.hpp"

#include <sys/stat.h>

#include <utility>

#include "../tensor/error.hpp"
#include "idx.hpp"

namespace tapeflow::io {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// dir/name.gz when it exists, else dir/name when that exists.
std::string find_file(const std::string& dir, const std::string& name) {
  const std::string base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  if (exists(base + ".gz")) return base + ".gz";
  if (exists(base)) return base;
  std::string msg = "MNIST: " + base + "[.gz]: no such file";
  if (dir == kFashionMNISTDir || dir + "/" == kFashionMNISTDir)
    msg += " (Debian and Ubuntu install Fashion-MNIST there with: apt-get install dataset-fashion-mnist)";
  throw IOError(msg);
}

TensorDataset load(const std::string& dir, Split split, const MNISTOptions& options) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  Tensor images = read_idx_images(images_path);
  Tensor labels = read_idx(labels_path, {.dtype = DType::Int64, .expected_type = IdxType::UByte});
  if (images.dim() != 3)
    throw IOError("MNIST: " + images_path + ": images have sizes " + shape_str(images.shape()) +
                  ", expected 3 (count, rows, columns)");
  if (labels.dim() != 1)
    throw IOError("MNIST: " + labels_path + ": labels have sizes " + shape_str(labels.shape()) + ", expected 1 (count)");
  if (images.size(0) != labels.size(0))
    throw IOError("MNIST: " + images_path + " holds " + std::to_string(images.size(0)) + " images but " +
                  labels_path + " holds " + std::to_string(labels.size(0)) + " labels");
  if (options.flatten) images = images.reshape({images.size(0), images.size(1) * images.size(2)});
  return TensorDataset(std::move(images), std::move(labels));
}

}  // namespace

MNIST::MNIST(const std::string& dir, Split split, const MNISTOptions& options)
    : TensorDataset(load(dir, split, options)) {}

const Tensor& MNIST::images() const { return inputs(); }
const Tensor& MNIST::labels() const { return targets(); }

}  // namespace tapeflow::io
