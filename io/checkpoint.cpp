// SPDX-License-Identifier: MIT
#include "checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "../nn/module.hpp"
#include "../optim/optimizer.hpp"
#include "../tensor/detail/tensor_impl.hpp"
#include "detail/atomic_file.hpp"
#include "detail/file.hpp"

namespace tapeflow::io {
namespace {

using nlohmann::json;

// Tensor bytes go to and from the file by memcpy, and safetensors data is little-endian.
static_assert(std::endian::native == std::endian::little, "io/checkpoint.cpp assumes a little-endian host");

constexpr const char* kSave = "save";
constexpr const char* kLoad = "load";
constexpr const char* kMetadataKey = "__metadata__";
// safetensors' own reader refuses longer headers; a corrupt length must not make us allocate.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Integer dtypes are widened through a buffer of this size.
constexpr std::size_t kChunk = std::size_t{1} << 20;

// A dtype a safetensors file may name, its size in bytes and the dtype it loads as.
struct FileDType {
  const char* name;
  std::size_t size;
  std::optional<DType> as;  ///< empty: in the spec, but no tapeflow dtype holds it exactly
};

constexpr FileDType kFileDTypes[] = {
    {"F32", 4, DType::Float32}, {"F64", 8, DType::Float64}, {"I64", 8, DType::Int64},
    {"BOOL", 1, DType::Bool},   {"I32", 4, DType::Int64},   {"I16", 2, DType::Int64},
    {"I8", 1, DType::Int64},    {"U8", 1, DType::Int64},    {"U16", 2, DType::Int64},
    {"U32", 4, DType::Int64},   {"U64", 8, DType::Int64},   {"F16", 2, std::nullopt},
    {"BF16", 2, std::nullopt},  {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt}, {"F4", 0, std::nullopt},  {"F6_E2M3", 0, std::nullopt},
    {"F6_E3M2", 0, std::nullopt}, {"C64", 8, std::nullopt},
};

const FileDType* find_file_dtype(const std::string& name) {
  for (const FileDType& d : kFileDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

[[noreturn]] void bad_argument(const std::string& path, const std::string& what) {
  throw ValueError(std::string(kSave) + ": " + path + ": " + what);
}

// JSON holds UTF-8 only (nlohmann refuses to write anything else): say which string is not.
void check_utf8(const std::string& path, const std::string& what, const std::string& s) {
  try {
    (void)json(s).dump();
  } catch (const json::exception&) {
    bad_argument(path, what + " is not valid UTF-8");
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

struct Entry {
  std::string name;
  const FileDType* dtype = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;  ///< in the order of their bytes in the file
  Metadata metadata;
  std::optional<uint64_t> buffer_size;  ///< bytes after the header; unknown for pipes
};

class Reader {
 public:
  Reader(const char* op, const std::string& path) : op_(op), file_(op, path) {}

  [[noreturn]] void fail(const std::string& what) const { detail::io_fail(op_, file_.path(), what); }

  Header read_header();
  StateDict read_tensors(const Header& header);

 private:
  json parse_json(const std::string& text) const;
  uint64_t non_negative(const json& v, const std::string& what) const;
  Entry parse_entry(const std::string& name, const json& v) const;
  void read_exact(void* dst, uint64_t n, const Entry& e, uint64_t done);

  const char* op_;
  detail::InputFile file_;
};

json Reader::parse_json(const std::string& text) const {
  // nlohmann keeps the last of repeated keys silently; a duplicate tensor name or field means
  // the file is not what it claims, so count the keys of each open object.
  std::vector<std::set<std::string>> open;
  std::optional<std::string> duplicate;
  bool duplicate_is_name = false;
  const json::parser_callback_t note_keys = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && !open.back().insert(parsed.get<std::string>()).second && !duplicate) {
          duplicate = parsed.get<std::string>();
          duplicate_is_name = open.size() == 1;
        }
        break;
      case json::parse_event_t::array_start:
      case json::parse_event_t::array_end:
      case json::parse_event_t::value: break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, note_keys);
  } catch (const json::exception& e) {
    std::string why = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep where and what.
    if (const auto close = why.find("] "); why.rfind("[json.exception.", 0) == 0 && close != std::string::npos)
      why = why.substr(close + 2);
    fail("the header is not valid JSON: " + why);
  }
  if (duplicate)
    fail(duplicate_is_name ? "duplicate tensor name " + in_quotes(*duplicate) + " in the header"
                           : "duplicate key " + in_quotes(*duplicate) + " in the header");
  return j;
}

uint64_t Reader::non_negative(const json& v, const std::string& what) const {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) fail(what + " is negative (" + v.dump() + ")");
  fail(what + " is not an integer (" + v.dump() + ")");
}

Entry Reader::parse_entry(const std::string& name, const json& v) const {
  const std::string who = "tensor " + in_quotes(name);
  if (!v.is_object()) fail(who + ": expected an object with dtype, shape and data_offsets, got " + v.dump());
  for (const auto& [key, value] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets") fail(who + ": unknown field " + in_quotes(key));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail(who + ": missing field '" + key + "'");

  Entry e;
  e.name = name;
  const json& dtype = v["dtype"];
  if (!dtype.is_string()) fail(who + ": dtype is not a string (" + dtype.dump() + ")");
  const std::string dtype_str = dtype.get<std::string>();
  e.dtype = find_file_dtype(dtype_str);
  if (!e.dtype)
    fail(who + ": unknown dtype " + in_quotes(dtype_str) + " (safetensors dtypes: F32, F64, I64, BOOL, I32, I16, I8, " +
         "U8, U16, U32, U64, F16, BF16, ...)");
  if (!e.dtype->as)
    fail(who + ": dtype " + dtype_str + " is not supported: tapeflow has no dtype that holds it exactly " +
         "(convert the tensor to F32 before saving)");

  const json& shape = v["shape"];
  if (!shape.is_array()) fail(who + ": shape is not an array (" + shape.dump() + ")");
  if (shape.size() > static_cast<std::size_t>(kMaxDims))
    fail(who + ": shape " + shape.dump() + " has " + std::to_string(shape.size()) + " dimensions, more than tapeflow's " +
         std::to_string(kMaxDims));
  // Every tensor's byte count must fit in int64, whatever its dtype (8 bytes at most).
  constexpr uint64_t kMaxNumel = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / 8;
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& size : shape) {
    const uint64_t s = non_negative(size, who + ": shape " + shape.dump() + ": size");
    if (s > kMaxNumel) overflow = true;
    e.shape.push_back(static_cast<int64_t>(std::min(s, kMaxNumel)));
  }
  // A zero anywhere makes the tensor empty, however large the other sizes.
  if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) {
    numel = 0;
  } else {
    for (int64_t s : e.shape)
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(s), &numel) || numel > kMaxNumel) overflow = true;
  }
  if (overflow) fail(who + ": shape " + shape.dump() + " overflows: more elements than a tensor can hold");

  const json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail(who + ": data_offsets is not an array [begin, end] (" + offsets.dump() + ")");
  e.begin = non_negative(offsets[0], who + ": data_offsets begin");
  e.end = non_negative(offsets[1], who + ": data_offsets end");
  if (e.end < e.begin) fail(who + ": data_offsets " + offsets.dump() + " end before they begin");
  const uint64_t need = numel * e.dtype->size;
  if (e.end - e.begin != need)
    fail(who + ": data_offsets " + offsets.dump() + " span " + std::to_string(e.end - e.begin) + " bytes, but " +
         dtype_str + " " + shape.dump() + " needs " + std::to_string(need));
  return e;
}

Header Reader::read_header() {
  unsigned char len[8];
  const std::size_t got = file_.read(len, 8);
  if (got < 8)
    fail("the file is " + (got == 0 ? std::string("empty") : "only " + std::to_string(got) + " bytes long") +
         ": a safetensors file starts with an 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n > kMaxHeaderBytes)
    fail("header length " + std::to_string(n) + " is absurd (more than safetensors' limit of " +
         std::to_string(kMaxHeaderBytes) + " bytes): not a safetensors file, or a corrupt one");
  const std::optional<uint64_t> size = file_.size();
  if (size && n > *size - 8)
    fail("header length " + std::to_string(n) + " is larger than the file: only " + std::to_string(*size - 8) +
         " bytes follow it");
  std::string text(static_cast<std::size_t>(n), '\0');
  const std::size_t got_text = file_.read(text.data(), text.size());
  if (got_text < text.size())
    fail("truncated header: the file ends after " + std::to_string(got_text) + " of its " + std::to_string(n) +
         " bytes");

  const json j = parse_json(text);
  if (!j.is_object()) fail("the header is not a JSON object but " + std::string(j.type_name()));
  Header h;
  if (size) h.buffer_size = *size - 8 - n;
  for (const auto& [name, value] : j.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) fail("\"__metadata__\" is not an object of strings (" + value.dump() + ")");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string())
          fail("metadata " + in_quotes(key) + " is not a string (" + text_value.dump() + ")");
        h.metadata.emplace(key, text_value.get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(name, value));
  }

  if (h.buffer_size)
    for (const Entry& e : h.entries)
      if (e.end > *h.buffer_size)
        fail("tensor " + in_quotes(e.name) + ": data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) +
             "] reach past the end of the data (" + std::to_string(*h.buffer_size) + " bytes after the header)");
  // The ranges must tile the buffer exactly: sorted by offset, each starts where the last ended.
  std::stable_sort(h.entries.begin(), h.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  const Entry* last = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin < pos)
      fail("tensors " + in_quotes(last->name) + " and " + in_quotes(e.name) + " overlap: bytes [" +
           std::to_string(last->begin) + "," + std::to_string(last->end) + ") and [" + std::to_string(e.begin) + "," +
           std::to_string(e.end) + ")");
    if (e.begin > pos)
      fail("hole in the data: bytes [" + std::to_string(pos) + "," + std::to_string(e.begin) +
           ") belong to no tensor");
    pos = e.end;
    last = &e;
  }
  if (h.buffer_size && pos < *h.buffer_size)
    fail("trailing bytes: " + std::to_string(*h.buffer_size - pos) + " bytes after the last tensor's data");
  return h;
}

void Reader::read_exact(void* dst, uint64_t n, const Entry& e, uint64_t done) {
  const std::size_t got = file_.read(dst, static_cast<std::size_t>(n));
  if (got < n)
    fail("truncated data: the file ends inside tensor " + in_quotes(e.name) + " (after " + std::to_string(done + got) +
         " of its " + std::to_string(e.end - e.begin) + " bytes)");
}

template <typename In>
void widen(const unsigned char* src, std::size_t n, int64_t* dst) {
  for (std::size_t i = 0; i < n; ++i) {
    In v;
    std::memcpy(&v, src + i * sizeof(In), sizeof(In));
    dst[i] = static_cast<int64_t>(v);
  }
}

StateDict Reader::read_tensors(const Header& h) {
  StateDict out;
  std::vector<unsigned char> stage;
  for (const Entry& e : h.entries) {  // in file order, so the reads go straight through
    const DType dtype = *e.dtype->as;
    Tensor t;
    try {
      t = empty(e.shape, {.dtype = dtype});
    } catch (const OutOfMemoryError& error) {
      detail::io_out_of_memory(op_, file_.path(),
                               "tensor " + in_quotes(e.name) + " " + shape_str(e.shape) + " of " + dtype_name(dtype),
                               error.what());
    }
    char* dst = t.impl()->data();
    const uint64_t bytes = e.end - e.begin;
    const std::string file_dtype = e.dtype->name;
    if (e.dtype->size == element_size(dtype) && file_dtype != "U64") {
      read_exact(dst, bytes, e, 0);
      if (dtype == DType::Bool) {
        // Any byte but 0 or 1 in a C++ bool is undefined behaviour: refuse it.
        const auto* b = reinterpret_cast<const unsigned char*>(dst);
        for (uint64_t i = 0; i < bytes; ++i)
          if (b[i] > 1)
            fail("tensor " + in_quotes(e.name) + ": BOOL element " + std::to_string(i) + " is the byte " +
                 std::to_string(b[i]) + ", not 0 or 1");
      }
    } else {
      // Integers of other widths become int64, a chunk at a time.
      const std::size_t in = e.dtype->size;
      const uint64_t numel = bytes / in;
      const uint64_t per_chunk = kChunk / in;
      stage.resize(static_cast<std::size_t>(std::min<uint64_t>(kChunk, bytes)));
      auto* out64 = reinterpret_cast<int64_t*>(dst);
      for (uint64_t first = 0; first < numel; first += per_chunk) {
        const std::size_t count = static_cast<std::size_t>(std::min(per_chunk, numel - first));
        read_exact(stage.data(), count * in, e, first * in);
        int64_t* d = out64 + first;
        if (file_dtype == "I32") widen<int32_t>(stage.data(), count, d);
        else if (file_dtype == "I16") widen<int16_t>(stage.data(), count, d);
        else if (file_dtype == "I8") widen<int8_t>(stage.data(), count, d);
        else if (file_dtype == "U32") widen<uint32_t>(stage.data(), count, d);
        else if (file_dtype == "U16") widen<uint16_t>(stage.data(), count, d);
        else if (file_dtype == "U8") widen<uint8_t>(stage.data(), count, d);
        else if (file_dtype == "U64") {
          for (std::size_t i = 0; i < count; ++i) {
            uint64_t v;
            std::memcpy(&v, stage.data() + i * 8, 8);
            if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
              fail("tensor " + in_quotes(e.name) + ": U64 element " + std::to_string(first + i) + " (" +
                   std::to_string(v) + ") does not fit int64");
            d[i] = static_cast<int64_t>(v);
          }
        } else {
          throw InternalError(std::string(op_) + ": no conversion from " + file_dtype);
        }
      }
    }
    out.emplace(e.name, std::move(t));
  }
  // The header check already matched the file's size; this catches pipes and files that grew.
  unsigned char extra;
  if (file_.read(&extra, 1) != 0) fail("trailing bytes after the last tensor's data");
  return out;
}

struct Checkpoint {
  StateDict tensors;
  Metadata metadata;
};

Checkpoint read_checkpoint(const std::string& path) {
  Reader reader(kLoad, path);
  Header h = reader.read_header();
  StateDict tensors = reader.read_tensors(h);
  return {std::move(tensors), std::move(h.metadata)};
}

// "state.<index>.<field>": the per-parameter names of Optimizer::state_dict().
bool split_state_key(const std::string& key, std::size_t& index, std::string& field) {
  const std::string prefix = "state.";
  if (key.rfind(prefix, 0) != 0) return false;
  const std::size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9) return false;
  index = 0;
  for (std::size_t i = prefix.size(); i < dot; ++i) {
    if (key[i] < '0' || key[i] > '9') return false;
    index = index * 10 + static_cast<std::size_t>(key[i] - '0');
  }
  field = key.substr(dot + 1);
  return true;
}

}  // namespace

void save(const StateDict& tensors, const std::string& path, const Metadata& metadata) {
  // Everything that can fail on the caller's input fails here, before the file is touched.
  json header = json::object();
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey) bad_argument(path, "the tensor name \"__metadata__\" is reserved for the header's metadata");
    check_utf8(path, "tensor name " + in_quotes(name), name);
    if (!t.defined()) bad_argument(path, "tensor " + in_quotes(name) + " is undefined");
    // detach(): contiguous() on a tensor that requires grad would record on the tape.
    Tensor c = t.detach().to(Device::cpu()).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * element_size(c.dtype());
    header[name] = {{"dtype", file_dtype_name(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", json::array({offset, offset + bytes})}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [key, value] : metadata) {
      check_utf8(path, "metadata key " + in_quotes(key), key);
      check_utf8(path, "metadata value of " + in_quotes(key), value);
      m[key] = value;
    }
    header[kMetadataKey] = std::move(m);
  }
  std::string text = header.dump();
  // Spaces (which the spec allows at the end of the header) align the data to 8 bytes, so a
  // reader may map the file and use the tensors in place, as safetensors' own writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));

  detail::AtomicFile file(kSave, path);
  file.write(len, sizeof len);
  file.write(text);
  for (const Tensor& c : data)
    file.write(c.impl()->data(), static_cast<std::size_t>(c.numel()) * element_size(c.dtype()));
  file.commit();
}

void save(const nn::Module& module, const std::string& path, const Metadata& metadata) {
  save(module.state_dict(), path, metadata);
}

void save(const optim::Optimizer& optimizer, const std::string& path, const Metadata& metadata) {
  Metadata m = metadata;
  m[kOptimizerMetadataKey] = optimizer.name();
  save(optimizer.state_dict(), path, m);
}

StateDict load(const std::string& path) { return read_checkpoint(path).tensors; }

Metadata load_metadata(const std::string& path) { return Reader("load_metadata", path).read_header().metadata; }

void load(nn::Module& module, const std::string& path, bool strict) {
  StateDict loaded = read_checkpoint(path).tensors;
  const StateDict current = module.state_dict();
  // load_state_dict converts dtypes silently; a checkpoint of another dtype is a mistake.
  for (const auto& [name, t] : loaded) {
    const auto it = current.find(name);
    if (it == current.end()) continue;  // load_state_dict decides, by `strict`
    if (t.dtype() != it->second.dtype())
      detail::io_fail(kLoad, path,
                      "does not fit " + module.type_name() + ": " + in_quotes(name) + " is " + dtype_name(t.dtype()) +
                          " in the file but " + dtype_name(it->second.dtype()) + " in the module");
  }
  // load_state_dict checks names and shapes before it copies anything.
  try {
    for (auto& [name, t] : loaded)
      if (const auto it = current.find(name); it != current.end()) t = t.to(it->second.device());
    module.load_state_dict(loaded, strict);
  } catch (const Error& e) {
    detail::io_fail(kLoad, path, "does not fit " + module.type_name() + ": " + e.what());
  }
}

void load(optim::Optimizer& optimizer, const std::string& path) {
  Checkpoint ckpt = read_checkpoint(path);
  const std::string& kind = optimizer.name();
  if (const auto it = ckpt.metadata.find(kOptimizerMetadataKey); it != ckpt.metadata.end() && it->second != kind)
    detail::io_fail(kLoad, path, "holds the state of a " + it->second + " optimizer, not " + kind);

  const StateDict current = optimizer.state_dict();
  const std::vector<Tensor>& params = optimizer.parameters();
  for (const auto& [key, t] : ckpt.tensors) {
    std::optional<DType> want;
    if (const auto it = current.find(key); it != current.end()) want = it->second.dtype();
    std::size_t index = 0;
    std::string field;
    if (split_state_key(key, index, field) && index < params.size()) {
      // An optimizer that has not stepped yet has no state to compare with: per-parameter
      // buffers take the parameter's dtype, step counts are Float64.
      if (!want) want = field == "step" ? DType::Float64 : params[index].dtype();
    }
    if (want && t.dtype() != *want)
      detail::io_fail(kLoad, path,
                      "does not fit " + kind + ": " + in_quotes(key) + " is " + dtype_name(t.dtype()) + " in the file but " +
                          dtype_name(*want) + " in the optimizer");
  }
  // load_state_dict checks everything before it changes anything.
  try {
    for (auto& [key, t] : ckpt.tensors) {
      std::size_t index = 0;
      std::string field;
      if (split_state_key(key, index, field) && index < params.size()) t = t.to(params[index].device());
    }
    optimizer.load_state_dict(ckpt.tensors);
  } catch (const Error& e) {
    detail::io_fail(kLoad, path, "does not fit " + kind + ": " + e.what());
  }
}

}  // namespace tapeflow::io
