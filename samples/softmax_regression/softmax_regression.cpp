// SPDX-License-Identifier: MIT
// Softmax regression on Fashion-MNIST: TensorFlow's "MNIST for ML beginners" model on the
// harder, drop-in Fashion-MNIST data (Zalando's 28x28 grey clothing images, 10 classes).
//
//   logits = X·W + b        X [batch, 784] pixels in [0, 1], W [784, 10], b [10], both zeros
//   loss   = cross_entropy(logits, labels)      (fused log-softmax + negative log-likelihood)
//
// trained with plain SGD on shuffled mini-batches of 100. A linear model tops out around 84%
// test accuracy here (PyTorch's equivalent reaches 83.5% after 5 epochs).
//
// Data: Debian's dataset-fashion-mnist package installs the four gzipped IDX files in
// /usr/share/datasets/fashion-mnist; `--data DIR` reads them from elsewhere.
//
// Usage: softmax_regression [--epochs N] [--lr X] [--data DIR]
#include <tapeflow/tapeflow.hpp>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

// --- IDX files ----------------------------------------------------------------------------
// A small reader for the gzipped IDX files (big-endian header, then raw unsigned bytes).
// NOTE: a stopgap for this sample only: tapeflow's io::read_idx will replace it.

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dims
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dim
// A header claiming more than this is corrupt, not big: refuse it before allocating.
constexpr uint64_t kIdxMaxBytes = uint64_t{1} << 32;

struct Idx {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

[[noreturn]] void idx_fail(const fs::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

// zlib's message for the last error on f, without the file name it puts in front.
std::string gz_error_text(gzFile f, const fs::path& path) {
  int errnum = 0;
  std::string msg = gzerror(f, &errnum);
  if (errnum == Z_ERRNO) return std::strerror(errno);
  const std::string prefix = path.string() + ": ";
  if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
  return msg;
}

// Reads exactly n bytes or throws naming the file and what was being read.
void read_exact(gzFile f, const fs::path& path, void* dst, uint64_t n, const char* what) {
  auto* out = static_cast<unsigned char*>(dst);
  uint64_t done = 0;
  while (done < n) {
    // gzread takes an unsigned count and returns an int: stay well inside both.
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) idx_fail(path, std::string("read error in ") + what + ": " + gz_error_text(f, path));
    if (got == 0)
      idx_fail(path, std::string("truncated: ") + what + " ends after " + std::to_string(done) +
                         " of " + std::to_string(n) + " bytes");
    done += static_cast<uint64_t>(got);
  }
}

uint32_t read_be32(gzFile f, const fs::path& path, const char* what) {
  unsigned char b[4];
  read_exact(f, path, b, 4, what);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// Reads a (gzipped or plain) IDX file of unsigned bytes with the given magic number.
Idx read_idx(const fs::path& path, uint32_t expected_magic) {
  errno = 0;
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) idx_fail(path, std::string("cannot open: ") + (errno ? std::strerror(errno) : "out of memory"));
  gzFile f = file.get();

  const uint32_t magic = read_be32(f, path, "the magic number");
  if (magic != expected_magic) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "bad magic number 0x%08x (expected 0x%08x): not an IDX file of this kind",
                  magic, expected_magic);
    idx_fail(path, msg);
  }

  Idx idx;
  const uint32_t ndims = magic & 0xff;
  uint64_t total = 1;
  for (uint32_t d = 0; d < ndims; ++d) {
    const uint32_t size = read_be32(f, path, "the header's dimensions");
    if (size == 0) idx_fail(path, "dimension " + std::to_string(d) + " has size 0");
    total *= size;  // no overflow: total <= 2^32 before, size < 2^32
    if (total > kIdxMaxBytes)
      idx_fail(path, "header claims more than " + std::to_string(kIdxMaxBytes) + " bytes of data");
    idx.dims.push_back(size);
  }

  idx.data.resize(static_cast<std::size_t>(total));
  read_exact(f, path, idx.data.data(), total, "the data");
  // Reading on to the end also makes zlib verify the stream's CRC, which catches corruption
  // that still inflated to the right number of bytes.
  unsigned char extra;
  const int more = gzread(f, &extra, 1);
  if (more < 0) idx_fail(path, "corrupt or unreadable: " + gz_error_text(f, path));
  if (more > 0) idx_fail(path, "trailing bytes after the data the header describes");
  return idx;
}

struct Split {
  std::vector<float> pixels;   // [n, 784], scaled to [0, 1]
  std::vector<int64_t> labels; // [n], in [0, 10)
  int64_t n = 0;
};

constexpr int64_t kPixels = 28 * 28;
constexpr int64_t kClasses = 10;

Split load_split(const fs::path& images_path, const fs::path& labels_path) {
  const Idx images = read_idx(images_path, kIdxImagesMagic);
  const Idx labels = read_idx(labels_path, kIdxLabelsMagic);
  if (images.dims[1] != 28 || images.dims[2] != 28)
    idx_fail(images_path, "images are " + std::to_string(images.dims[1]) + "x" +
                              std::to_string(images.dims[2]) + ", expected 28x28");
  if (images.dims[0] != labels.dims[0])
    idx_fail(labels_path, std::to_string(labels.dims[0]) + " labels for " +
                              std::to_string(images.dims[0]) + " images in " + images_path.string());

  Split s;
  s.n = images.dims[0];
  s.pixels.resize(images.data.size());
  std::transform(images.data.begin(), images.data.end(), s.pixels.begin(),
                 [](uint8_t p) { return static_cast<float>(p) / 255.0f; });
  s.labels.resize(labels.data.size());
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses)
      idx_fail(labels_path, "label " + std::to_string(labels.data[i]) + " at index " +
                                std::to_string(i) + " is not a class in [0, 10)");
    s.labels[i] = labels.data[i];
  }
  return s;
}

// --- command line -------------------------------------------------------------------------

struct Args {
  int epochs = 5;
  // Tried 0.05 to 0.5: from 0.1 to 0.2 all reach about 83.5% in 5 epochs; 0.5 overshoots (the
  // training loss stalls near 0.85 and test accuracy swings by 3 points between epochs).
  double lr = 0.1;
  fs::path data = "/usr/share/datasets/fashion-mnist";
};

[[noreturn]] void usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: softmax_regression [--epochs N] [--lr X] [--data DIR]\n"
               "  --epochs N   passes over the 60000 training images (default 5)\n"
               "  --lr X       SGD learning rate (default 0.1)\n"
               "  --data DIR   folder with Fashion-MNIST's {train,t10k}-*-ubyte.gz files\n"
               "               (default /usr/share/datasets/fashion-mnist)\n");
  std::exit(status);
}

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage(0);
    if (i + 1 >= argc || (a != "--epochs" && a != "--lr" && a != "--data")) {
      std::fprintf(stderr, "softmax_regression: unknown or incomplete option '%s'\n", a.c_str());
      usage(2);
    }
    const std::string v = argv[++i];
    char* end = nullptr;
    errno = 0;
    if (a == "--epochs") {
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || errno || n < 1 || n > INT_MAX) {
        std::fprintf(stderr, "softmax_regression: --epochs wants a positive integer, got '%s'\n", v.c_str());
        usage(2);
      }
      args.epochs = static_cast<int>(n);
    } else if (a == "--lr") {
      args.lr = std::strtod(v.c_str(), &end);
      if (*end != '\0' || errno || !(args.lr > 0)) {
        std::fprintf(stderr, "softmax_regression: --lr wants a positive number, got '%s'\n", v.c_str());
        usage(2);
      }
    } else {
      args.data = v;
    }
  }
  return args;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Fraction of rows of x whose largest logit is the label; also fills per-class hit counts.
double accuracy(const Tensor& x, const Tensor& labels, const Tensor& w, const Tensor& b,
                std::vector<int64_t>* hits_per_class = nullptr) {
  NoGradGuard off;  // evaluation needs no tape
  Tensor predicted = argmax(matmul(x, w) + b, 1);
  Tensor hit = predicted == labels;
  if (hits_per_class) {
    const auto p = predicted.to_vector<int64_t>();
    const auto y = labels.to_vector<int64_t>();
    hits_per_class->assign(kClasses, 0);
    for (std::size_t i = 0; i < p.size(); ++i)
      if (p[i] == y[i]) ++(*hits_per_class)[y[i]];
  }
  return static_cast<double>(hit.sum().item<int64_t>()) / static_cast<double>(labels.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);

  const char* files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  std::string missing;
  for (const char* name : files)
    if (!fs::exists(args.data / name)) missing += std::string("\n  ") + (args.data / name).string();
  if (!missing.empty()) {
    std::fprintf(stderr,
                 "softmax_regression: Fashion-MNIST is not where it was looked for; missing:%s\n"
                 "Install it (Debian/Ubuntu, as root):  apt-get install dataset-fashion-mnist\n"
                 "or pass --data DIR, a folder holding the four files above.\n",
                 missing.c_str());
    return 1;
  }

  auto t_load = std::chrono::steady_clock::now();
  const Split train = load_split(args.data / files[0], args.data / files[1]);
  const Split test = load_split(args.data / files[2], args.data / files[3]);
  Tensor x_train = from_blob(train.pixels.data(), {train.n, kPixels}, Float32);
  Tensor y_train = tensor(train.labels, {train.n});
  Tensor x_test = from_blob(test.pixels.data(), {test.n, kPixels}, Float32);
  Tensor y_test = tensor(test.labels, {test.n});
  std::printf("Fashion-MNIST from %s: %lld train, %lld test images (%.2f s to load)\n",
              args.data.c_str(), static_cast<long long>(train.n), static_cast<long long>(test.n),
              seconds_since(t_load));

  Tensor w = zeros({kPixels, kClasses}).requires_grad_();
  Tensor b = zeros({kClasses}).requires_grad_();
  optim::SGD sgd({w, b}, {.lr = args.lr});

  const int64_t batch_size = 100;
  const int64_t batches = (train.n + batch_size - 1) / batch_size;
  const int report_every = 100;
  std::printf("softmax regression 784 -> 10, SGD lr %g, batch %lld, %d epochs\n", args.lr,
              static_cast<long long>(batch_size), args.epochs);
  std::printf("epoch 0: test accuracy %.2f%%\n", 100.0 * accuracy(x_test, y_test, w, b));

  std::mt19937_64 rng(0);  // seeded: the same shuffles, hence the same numbers, every run
  std::vector<int64_t> order(static_cast<std::size_t>(train.n));
  std::iota(order.begin(), order.end(), int64_t{0});
  double total_train_s = 0;
  double test_accuracy = 0;

  for (int epoch = 1; epoch <= args.epochs; ++epoch) {
    const auto t_epoch = std::chrono::steady_clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    double epoch_loss = 0, running_loss = 0;
    int running_count = 0;

    for (int64_t batch = 0; batch < batches; ++batch) {
      const int64_t begin = batch * batch_size;
      const int64_t end = std::min(begin + batch_size, train.n);
      Tensor index = tensor(std::vector<int64_t>(order.begin() + begin, order.begin() + end));
      Tensor x = x_train.index_select(0, index);
      Tensor y = y_train.index_select(0, index);

      Tensor loss = cross_entropy(matmul(x, w) + b, y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();

      const double l = loss.item<double>();
      epoch_loss += l;
      running_loss += l;
      if (++running_count == report_every || batch + 1 == batches) {
        std::printf("  epoch %d  batch %4lld/%lld  loss %.4f\n", epoch,
                    static_cast<long long>(batch + 1), static_cast<long long>(batches),
                    running_loss / running_count);
        running_loss = 0;
        running_count = 0;
      }
    }
    const double train_s = seconds_since(t_epoch);
    total_train_s += train_s;

    const auto t_test = std::chrono::steady_clock::now();
    test_accuracy = accuracy(x_test, y_test, w, b);
    std::printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.2f s training (+ %.3f s test)\n",
                epoch, epoch_loss / static_cast<double>(batches), 100.0 * test_accuracy, train_s,
                seconds_since(t_test));
    std::fflush(stdout);
  }

  std::vector<int64_t> hits;
  test_accuracy = accuracy(x_test, y_test, w, b, &hits);
  std::vector<int64_t> count(kClasses, 0);
  for (int64_t label : test.labels) ++count[static_cast<std::size_t>(label)];
  const char* names[kClasses] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::printf("per-class test accuracy:");
  for (int64_t c = 0; c < kClasses; ++c)
    std::printf("%s %s %.1f%%", c % 5 == 0 ? "\n " : ",", names[c],
                100.0 * static_cast<double>(hits[c]) / static_cast<double>(std::max<int64_t>(count[c], 1)));
  std::printf("\nfinal test accuracy: %.2f%% after %d epochs (%.2f s training, %.3f s per epoch)\n",
              100.0 * test_accuracy, args.epochs, total_train_s, total_train_s / args.epochs);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "softmax_regression: %s\n", e.what());
  return 1;
}
