// Saving and loading checkpoints: a versioned binary with a CRC, written atomically.
#include "nn/checkpoint.h"

#include <zlib.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include "nn/device.h"

namespace flopslab::nn {
namespace {

constexpr char kMagic[8] = {'F', 'L', 'O', 'P', 'S', 'L', 'A', 'B'};
constexpr std::uint32_t kVersion = 2;

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little endian on every platform this builds for
  out.append(bytes, sizeof(T));
}
void put_string(std::string& out, const std::string& s) {
  put(out, std::uint32_t(s.size()));
  out += s;
}

// Stored floats into a tensor on either device (a checkpoint written on one device resumes
// on the other). The bytes may be unaligned: memcpy on the host, a staged copy to the GPU.
void load_into(Tensor& t, const char* stored) {
  if (!t.on_cuda()) {
    std::memcpy(t.data(), stored, std::size_t(t.size()) * sizeof(float));
    return;
  }
  Tensor host = Tensor::uninitialized(t.shape());
  std::memcpy(host.data(), stored, std::size_t(t.size()) * sizeof(float));
  copy_floats(CopyDirection::host_to_device, t.data(), host.data(), t.size());
}

// Every named tensor of the state, in a fixed order: parameters, buffers, optimizer state.
std::vector<std::pair<std::string, Tensor*>> named_state(Module& model, Optimizer& optimizer) {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (Parameter* p : model.parameters()) out.emplace_back("model." + p->name, &p->value);
  for (const Buffer& b : model.buffers()) out.emplace_back("model." + b.name, b.value);
  for (auto& [name, t] : optimizer.state_tensors()) out.emplace_back("optimizer." + name, t);
  return out;
}

class Reader {
 public:
  Reader(const std::string& bytes, std::size_t end, const std::string& what) : bytes_(bytes), end_(end), what_(what) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  std::string get_string() {
    const std::uint32_t n = get<std::uint32_t>();
    need(n);
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  const char* take(std::size_t n) {
    need(n);
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  bool done() const { return at_ == end_; }

 private:
  void need(std::size_t n) const {
    if (n > end_ - at_) throw std::runtime_error(what_ + ": truncated checkpoint");
  }
  const std::string& bytes_;
  std::size_t at_ = 0, end_;
  const std::string& what_;
};

}  // namespace

std::string serialize_checkpoint(Module& model, Optimizer& optimizer, const CheckpointInfo& info) {
  std::string out(kMagic, sizeof(kMagic));
  put(out, kVersion);
  put(out, std::int64_t(info.epoch));
  put(out, std::int64_t(optimizer.steps()));
  put_string(out, info.model);
  put_string(out, info.state);
  const auto state = named_state(model, optimizer);
  put(out, std::uint32_t(state.size()));
  for (const auto& [name, t] : state) {
    put_string(out, name);
    put(out, std::uint32_t(t->rank()));
    for (std::int64_t d : t->shape()) put(out, d);
    const Tensor host = t->to(DeviceTag::cpu);  // checkpoints do not depend on the device
    out.append(reinterpret_cast<const char*>(host.data()), std::size_t(t->size()) * sizeof(float));
  }
  put(out, std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(out.data()), uInt(out.size()))));
  return out;
}

namespace {

struct Parsed {
  CheckpointInfo info;
  std::int64_t steps = 0;
  std::map<std::string, std::pair<std::vector<std::int64_t>, const char*>> tensors;
};

Parsed parse(const std::string& bytes, const std::string& what) {
  if (bytes.size() < sizeof(kMagic) + 4 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    throw std::runtime_error(what + ": not a flopslab checkpoint (bad magic number)");
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  const std::uint32_t crc = std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), uInt(bytes.size() - 4)));
  Reader in(bytes, bytes.size() - 4, what);
  in.take(sizeof(kMagic));
  const std::uint32_t version = in.get<std::uint32_t>();
  if (version != kVersion)
    throw std::runtime_error(what + ": checkpoint version " + std::to_string(version) + ", this build reads version " +
                             std::to_string(kVersion));
  if (crc != stored_crc) throw std::runtime_error(what + ": checksum mismatch (the file is corrupt)");
  Parsed p;
  p.info.epoch = in.get<std::int64_t>();
  p.steps = in.get<std::int64_t>();
  p.info.model = in.get_string();
  p.info.state = in.get_string();
  const std::uint32_t count = in.get<std::uint32_t>();
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string name = in.get_string();
    const std::uint32_t rank = in.get<std::uint32_t>();
    if (rank > 8) throw std::runtime_error(what + ": tensor " + name + " has rank " + std::to_string(rank));
    std::vector<std::int64_t> dims;
    std::int64_t elements = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      dims.push_back(in.get<std::int64_t>());
      if (dims.back() < 0 || dims.back() > (std::int64_t(1) << 32))
        throw std::runtime_error(what + ": tensor " + name + " has dimension " + std::to_string(dims.back()));
      elements *= dims.back();
      if (elements > (std::int64_t(1) << 32)) throw std::runtime_error(what + ": tensor " + name + " is too large");
    }
    const char* data = in.take(std::size_t(elements) * sizeof(float));
    p.tensors[name] = {dims, data};
  }
  if (!in.done()) throw std::runtime_error(what + ": unexpected bytes after the last tensor");
  return p;
}

std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? "x" : "") + std::to_string(dims[i]);
  return out;
}

}  // namespace

CheckpointInfo read_checkpoint_info(const std::string& bytes, const std::string& what) { return parse(bytes, what).info; }

CheckpointInfo restore_checkpoint(const std::string& bytes, const std::string& what, const std::string& model_name,
                                  Module& model, Optimizer& optimizer) {
  // Read everything into staging first; the model changes only when all of it matches.
  const Parsed parsed = parse(bytes, what);
  if (parsed.info.model != model_name)
    throw std::runtime_error(what + ": holds a '" + parsed.info.model + "' model, not '" + model_name + "'");
  const auto& found = parsed.tensors;
  const auto state = named_state(model, optimizer);
  if (found.size() != state.size())
    throw std::runtime_error(what + ": holds " + std::to_string(found.size()) + " tensors, the model and optimizer have " +
                             std::to_string(state.size()) + " (another model or optimizer?)");
  for (const auto& [name, t] : state) {
    auto it = found.find(name);
    if (it == found.end()) throw std::runtime_error(what + ": no tensor named " + name + " (another model or optimizer?)");
    if (it->second.first != t->shape())
      throw std::runtime_error(what + ": " + name + " has another shape than the model's " + t->shape_string());
  }
  for (const auto& [name, t] : state) load_into(*t, found.at(name).second);
  optimizer.set_steps(long(parsed.steps));
  return parsed.info;
}

std::vector<std::string> load_matching_parameters(const std::string& bytes, const std::string& what, Module& model,
                                                  const std::vector<std::string>& skip_prefixes) {
  const Parsed parsed = parse(bytes, what);
  std::vector<std::string> skipped;
  std::vector<std::pair<Tensor*, const char*>> copies;
  std::vector<std::pair<std::string, Tensor*>> tensors;
  for (Parameter* p : model.parameters()) tensors.emplace_back(p->name, &p->value);
  for (const Buffer& b : model.buffers()) tensors.emplace_back(b.name, b.value);
  for (const auto& [name, t] : tensors) {
    bool skip = false;
    for (const std::string& prefix : skip_prefixes) skip = skip || name.rfind(prefix, 0) == 0;
    auto it = parsed.tensors.find("model." + name);
    if (skip)
      skipped.push_back(name + ": skipped (left as initialised)");
    else if (it == parsed.tensors.end())
      skipped.push_back(name + ": not in the checkpoint");
    else if (it->second.first != t->shape())
      skipped.push_back(name + ": " + dims_string(it->second.first) + " in the checkpoint, " + t->shape_string() + " here");
    else
      copies.emplace_back(t, it->second.second);
  }
  for (const auto& [t, data] : copies) load_into(*t, data);
  return skipped;
}

}  // namespace flopslab::nn
