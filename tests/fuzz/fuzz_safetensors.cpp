// SPDX-License-Identifier: MIT
// Fuzzes io::load and io::load_metadata on safetensors files: every input loads or throws a
// tapeflow::Error. What loads must be self-consistent, and must survive io::save and a second
// io::load bit for bit, metadata included.
#include <tapeflow/tapeflow.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "fuzz_util.hpp"

using namespace tapeflow;

namespace {

std::string bytes_of(const Tensor& t) {
  std::string out(static_cast<std::size_t>(t.numel()) * element_size(t.dtype()), '\0');
  t.copy_to_host(out.data(), t.dtype());
  return out;
}

void check_tensor(const std::string& name, const Tensor& t) {
  FUZZ_CHECK(t.defined(), "tensor '%s' is undefined", name.c_str());
  FUZZ_CHECK(t.numel() == shape_numel(t.shape()), "tensor '%s': numel %lld for shape %s", name.c_str(),
             static_cast<long long>(t.numel()), shape_str(t.shape()).c_str());
  FUZZ_CHECK(t.is_contiguous() && t.device() == Device::cpu() && !t.requires_grad(), "tensor '%s': layout",
             name.c_str());
  const std::string raw = bytes_of(t);
  if (t.dtype() == Bool)
    for (char b : raw) FUZZ_CHECK(b == 0 || b == 1, "tensor '%s': bool byte %d", name.c_str(), b);
  FUZZ_CHECK(t.to_vector<double>().size() == static_cast<std::size_t>(t.numel()), "tensor '%s': values",
             name.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("fuzz_safetensors");
  static fuzz::ScratchDir dir("fuzz_safetensors");
  const std::string& path = file.write(std::string_view(reinterpret_cast<const char*>(data), size));

  std::optional<io::Metadata> metadata;
  try {
    metadata = io::load_metadata(path);
  } catch (const Error&) {
  }
  StateDict loaded;
  try {
    loaded = io::load(path);
  } catch (const Error&) {
    return 0;
  }
  FUZZ_CHECK(metadata.has_value(), "load accepted a file whose header load_metadata refused");
  for (const auto& [name, t] : loaded) check_tensor(name, t);

  // Names and metadata came out of JSON, so they are UTF-8 and save must take them.
  const std::string copy = (dir.path() / "copy.safetensors").string();
  io::save(loaded, copy, *metadata);
  const StateDict again = io::load(copy);
  FUZZ_CHECK(io::load_metadata(copy) == *metadata, "metadata changed through save and load");
  FUZZ_CHECK(again.size() == loaded.size(), "%zu tensors saved, %zu loaded", loaded.size(), again.size());
  for (const auto& [name, t] : loaded) {
    const auto it = again.find(name);
    FUZZ_CHECK(it != again.end(), "tensor '%s' lost through save and load", name.c_str());
    FUZZ_CHECK(it->second.dtype() == t.dtype() && it->second.shape() == t.shape() && bytes_of(it->second) == bytes_of(t),
               "tensor '%s' changed through save and load", name.c_str());
  }
  return 0;
}
