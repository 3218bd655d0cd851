// SPDX-License-Identifier: MIT
// A character-level LSTM language model (Karpathy's char-rnn, the tutorials' "recurrent
// networks on text"): it reads a text file, learns to predict each next byte from the ones
// before, and prints text it generates as it trains.
//
//   bytes → embedding(vocab → 64) → LSTM(64 → 256) → linear(256 → vocab) → next-byte logits
//
// Trained with Adam (lr 2e-3, gradients clipped to norm 5) on batches of 32 windows of 64
// bytes. The loss is in nats per character; a model that ignored context could do no better
// than the text's unigram entropy, printed for comparison. The program exits 1 unless the
// final loss is below 75% of it.
//
// Default text: the GNU GPL version 3, which Debian ships on every machine. Curves, generated
// samples, weight histograms and the graph go to --logdir (runs/char_rnn), as in the other
// samples (see samples/common/run_log.hpp). --device cuda trains on the GPU: the model is moved
// there once, and each batch (and each generated character fed back) as it comes.
#include <tapeflow/tapeflow.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "../common/cli.hpp"
#include "../common/run_log.hpp"

using namespace tapeflow;

namespace {

struct CharModel : nn::Module {
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;

  CharModel(int64_t vocab, int64_t hidden)
      : Module("CharModel"),
        embed(register_module("embed", nn::Embedding(vocab, 64))),
        lstm(register_module("lstm", nn::LSTM(64, hidden, {.batch_first = true}))),
        head(register_module("head", nn::Linear(hidden, vocab))) {}

  /// indices [B, T] → logits [B, T, vocab], and the LSTM state after the last step.
  std::pair<Tensor, nn::LSTMState> step(const Tensor& indices, const nn::LSTMState& state = {}) {
    // Name scopes group each layer's ops in errors and in the graph picture.
    Tensor x;
    {
      NameScope scope("embed");
      x = embed->forward(indices);
    }
    nn::LSTMOutput out;
    {
      NameScope scope("lstm");
      out = lstm->forward(x, state);
    }
    NameScope scope("head");
    return {head->forward(out.output), out.state()};
  }
};

/// Entropy in nats of the byte frequencies of `text`: the best loss without context.
double unigram_entropy(const std::string& text) {
  std::vector<double> count(256, 0.0);
  for (unsigned char c : text) count[c] += 1;
  double h = 0;
  for (double n : count)
    if (n > 0) h -= n / static_cast<double>(text.size()) * std::log(n / static_cast<double>(text.size()));
  return h;
}

/// Generates `length` bytes after `prime`, sampling each from softmax(logits / temperature).
/// The model runs on `device`; the sampling itself on the CPU.
std::string generate(CharModel& model, const io::CharDataset& data, const std::string& prime, int length,
                     double temperature, std::mt19937_64& rng, Device device) {
  NoGradGuard off;
  model.eval();
  auto [logits, state] = model.step(data.encode(prime).unsqueeze(0).to(device));
  std::string out;
  for (int i = 0; i < length; ++i) {
    Tensor last = logits.slice(1, logits.size(1) - 1, logits.size(1)).reshape({-1});
    const auto p = softmax(last / temperature).to_vector<double>();
    std::discrete_distribution<int64_t> pick(p.begin(), p.end());
    const int64_t next = pick(rng);
    out += data.index_to_char(next);
    std::tie(logits, state) = model.step(tensor(std::vector<int64_t>{next}, {1, 1}).to(device), state);
  }
  model.train();
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) try {
  const samples::Cli cli(argc, argv, "char_rnn", "character-level LSTM language model",
                         {{"text", "/usr/share/common-licenses/GPL-3", "the text file to learn"},
                          {"steps", "600", "training steps"},
                          {"hidden", "256", "LSTM hidden size"},
                          {"seq-len", "64", "characters per training window"},
                          {"batch-size", "32", "windows per step"},
                          {"lr", "0.002", "Adam learning rate"},
                          {"sample-every", "200", "steps between generated samples"},
                          {"seed", "0", "seeds initialisation, shuffling and sampling"},
                          {"logdir", "runs/char_rnn", "where curves, graph and TensorBoard events go"}});
  const Device device = cli.device();  // exits with the reason when a GPU was asked for and is not there
  const auto seed = static_cast<uint64_t>(cli.integer("seed", 0));
  manual_seed(seed);
  const io::CharDataset data = io::CharDataset::from_file(cli.str("text"), cli.integer("seq-len"));
  const double entropy = unigram_entropy(data.text());
  std::printf("%s: %zu bytes, %lld distinct, %lld windows of %lld; unigram entropy %.3f nats/char\n",
              cli.str("text").c_str(), data.text().size(), static_cast<long long>(data.vocab_size()),
              static_cast<long long>(data.size()), static_cast<long long>(data.seq_len()), entropy);

  CharModel model(data.vocab_size(), cli.integer("hidden"));
  model.to(device);  // before the optimizer: it keeps its state where the parameters are
  optim::Adam optimizer(model.parameters(), {.lr = cli.number("lr")});
  io::DataLoader loader(data, {.batch_size = cli.integer("batch-size"), .shuffle = true, .drop_last = true, .seed = seed});
  std::printf("%s\n", model.str().c_str());

  samples::RunLog log(cli.str("logdir"));
  {
    // The graph picture shows one step unrolled over 3 characters: over all 64 it would be
    // thousands of ops, more than Graphviz lays out in reasonable time.
    const io::Batch first = data.get_batch({0});
    Tensor logits = model.step(first.inputs.slice(1, 0, 3).to(device)).first;
    log.graph(cross_entropy(logits.reshape({-1, data.vocab_size()}),
                            first.targets.slice(1, 0, 3).reshape({-1}).to(device)),
              model);
  }
  std::mt19937_64 rng(seed);
  const long steps = cli.integer("steps"), sample_every = cli.integer("sample-every");
  long step = 0;
  double window_loss = 0, last_loss = 0;
  int window = 0;
  auto t_window = std::chrono::steady_clock::now();
  const auto t_start = t_window;
  while (step < steps) {
    for (const auto& batch : loader) {
      const Tensor x = batch.inputs.to(device), y = batch.targets.to(device);  // a no-op on the CPU
      auto [logits, state] = model.step(x);
      Tensor loss = cross_entropy(logits.reshape({-1, data.vocab_size()}), y.reshape({-1}));
      optimizer.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(model.parameters(), 5.0);
      optimizer.step();
      window_loss += loss.item<double>();
      ++window;
      ++step;
      if (step % 25 == 0 || step == steps) {
        last_loss = window_loss / window;
        log.scalar("loss/train", last_loss, step);
        std::printf("epoch %llu  step %4ld/%ld  loss %.3f (%.0f%% of unigram entropy)  %.0f chars/s\n",
                    static_cast<unsigned long long>(loader.epoch()), step, steps, last_loss,
                    100.0 * last_loss / entropy,
                    static_cast<double>(window * x.numel()) / seconds_since(t_window));
        std::fflush(stdout);
        window_loss = 0;
        window = 0;
        t_window = std::chrono::steady_clock::now();
      }
      if (step % sample_every == 0 || step == steps) {
        const std::string text = generate(model, data, "This License", 240, 0.8, rng, device);
        std::printf("--- sample at step %ld ---\n%s\n---\n", step, text.c_str());
        log.text("sample", text, step);
        log.histograms(model, step);
        log.flush();
      }
      if (step == steps) break;
    }
  }
  std::printf("final loss %.3f nats/char vs unigram entropy %.3f (%.0f%%), %.1f s\n", last_loss, entropy,
              100.0 * last_loss / entropy, seconds_since(t_start));
  log.print_where();
  return last_loss < 0.75 * entropy ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "char_rnn: %s\n", e.what());
  return 1;
}
