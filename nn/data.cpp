// Reading IDX files (gzip or not), finding Fashion-MNIST, and the batching loader with its workers.
#include "nn/data.h"
#include "nn/distributed.h"
#include "kernels/cpu/multiversion.h"

#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>

namespace flopslab::nn {

IdxArray parse_idx(const std::vector<std::uint8_t>& data, const std::string& what) {
  // Header: two zero bytes, a type byte (0x08: unsigned byte), the number of dimensions, then
  // each dimension as a big-endian 32-bit integer.
  if (data.size() < 4 || data[0] != 0 || data[1] != 0)
    throw std::runtime_error(what + ": not an IDX file (bad magic number)");
  if (data[2] != 0x08)
    throw std::runtime_error(what + ": IDX element type " + std::to_string(data[2]) + " is not unsigned byte (8)");
  const int rank = data[3];
  if (rank < 1 || rank > 4) throw std::runtime_error(what + ": IDX rank " + std::to_string(rank) + " is not 1 to 4");
  if (data.size() < 4 + 4 * std::size_t(rank)) throw std::runtime_error(what + ": truncated IDX header");
  IdxArray out;
  std::int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const std::uint8_t* p = data.data() + 4 + 4 * i;
    const std::int64_t d = (std::int64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    if (d <= 0 || d > (std::int64_t(1) << 30))
      throw std::runtime_error(what + ": IDX dimension " + std::to_string(i) + " is " + std::to_string(d));
    out.dims.push_back(d);
    count *= d;
    if (count > (std::int64_t(1) << 32)) throw std::runtime_error(what + ": IDX array larger than 4 GiB");
  }
  const std::size_t header = 4 + 4 * std::size_t(rank);
  if (data.size() - header < std::size_t(count))
    throw std::runtime_error(what + ": truncated: the header promises " + std::to_string(count) + " bytes, the file has " +
                             std::to_string(data.size() - header));
  if (data.size() - header > std::size_t(count))
    throw std::runtime_error(what + ": " + std::to_string(data.size() - header - std::size_t(count)) +
                             " bytes after the array");
  out.bytes.assign(data.begin() + std::ptrdiff_t(header), data.end());
  return out;
}

IdxArray read_idx(const std::string& path) {
  // gzread reads plain files as they are, so one path serves .gz and uncompressed files.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error(path + ": cannot open");
  std::vector<std::uint8_t> data;
  std::vector<std::uint8_t> chunk(1 << 20);
  for (;;) {
    const int got = gzread(file, chunk.data(), unsigned(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      throw std::runtime_error(path + ": corrupt gzip data (" + message + ")");
    }
    if (got == 0) break;
    data.insert(data.end(), chunk.begin(), chunk.begin() + got);
    if (data.size() > (std::size_t(1) << 33)) {
      gzclose(file);
      throw std::runtime_error(path + ": more than 8 GiB uncompressed");
    }
  }
  gzclose(file);
  return parse_idx(data, path);
}

namespace {
// The file of an MNIST-format split, gzipped or not; empty when neither is there.
std::string split_file(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem})
    if (std::filesystem::is_regular_file(dir + "/" + name)) return dir + "/" + name;
  return {};
}

// Why a split cannot be read from `dir`: no directory, or one of its two files missing.
std::string split_problem(const std::string& dir, const std::string& split) {
  if (!std::filesystem::is_directory(dir))
    return "no dataset at " + dir +
           ": install Debian's dataset-fashion-mnist package (sudo apt-get install dataset-fashion-mnist) or point "
           "--data at a directory of MNIST-format files";
  for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"})
    if (split_file(dir, split + kind).empty())
      return dir + ": " + split + kind + "(.gz) is missing (a complete MNIST-format dataset has train- and t10k- "
             "images and labels; dataset-fashion-mnist installs them)";
  return {};
}
}  // namespace

// The batch plan's two halves, defined below beside the augmentations they draw and apply.
static SampleAugment draw_augment(const Transforms& t, std::mt19937_64& rng);
static void apply_plan(Batch& b, BatchPlan& p, std::int64_t classes);

std::string mnist_format_problem(const std::string& dir) {
  const std::string train = split_problem(dir, "train");
  return train.empty() ? split_problem(dir, "t10k") : train;
}

Dataset load_mnist_format(const std::string& dir, const std::string& split) {
  if (const std::string problem = split_problem(dir, split); !problem.empty()) throw std::runtime_error(problem);
  const std::string images_file = split_file(dir, split + "-images-idx3-ubyte");
  const std::string labels_file = split_file(dir, split + "-labels-idx1-ubyte");
  const IdxArray images = read_idx(images_file);
  const IdxArray labels = read_idx(labels_file);
  if (images.dims.size() != 3) throw std::runtime_error(images_file + ": expected 3 dimensions (N x H x W)");
  if (labels.dims.size() != 1) throw std::runtime_error(labels_file + ": expected 1 dimension");
  if (labels.dims[0] != images.dims[0])
    throw std::runtime_error(split + ": " + std::to_string(images.dims[0]) + " images in " + images_file + " but " +
                             std::to_string(labels.dims[0]) + " labels in " + labels_file);
  Dataset d;
  const std::int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  d.images = Tensor({n, 1, h, w});
  for (std::int64_t i = 0; i < n * h * w; ++i) d.images[i] = float(images.bytes[std::size_t(i)]) / 255.0f;
  d.labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t label = labels.bytes[std::size_t(i)];
    if (label >= d.classes)
      throw std::runtime_error(labels_file + ": label " + std::to_string(label) + " of sample " + std::to_string(i) +
                               " is outside [0, " + std::to_string(d.classes) + ")");
    d.labels[std::size_t(i)] = label;
  }
  return d;
}

Dataset take(const Dataset& data, std::int64_t count) {
  count = std::min(count, data.size());
  Dataset d;
  d.classes = data.classes;
  std::vector<std::int64_t> shape = data.images.shape();
  const std::int64_t per = data.images.size() / std::max<std::int64_t>(data.size(), 1);
  shape[0] = count;
  d.images = Tensor(shape);
  std::copy(data.images.data(), data.images.data() + count * per, d.images.data());
  d.labels.assign(data.labels.begin(), data.labels.begin() + count);
  return d;
}

DataLoader::DataLoader(const Dataset& data, std::int64_t batch, bool shuffle, bool drop_last, std::uint64_t seed,
                       Transforms transforms)
    : data_(data), batch_(batch), shuffle_(shuffle), drop_last_(drop_last), seed_(seed), transforms_(transforms) {
  if (batch <= 0) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(batch));
  // A shuffled batch reads its images from anywhere in the set: a set of 8-bit pixels is read
  // from a copy in bytes, a quarter of the cache lines, in 2 MiB pages. Gathering a batch of
  // 64 from Fashion-MNIST's 188 MB of floats took the MLP's training thread 72-83 us (a
  // tenth of its step on a Zen 4 VM); from the bytes, 34-37 us. Sequential batches
  // (evaluation) stream, and the hardware prefetchers keep up: no copy for them.
  if (shuffle) bytes_ = as_bytes(data.images);
  start_epoch(0);
}

void DataLoader::start_epoch(int epoch) {
  epoch_ = epoch;
  order_.resize(std::size_t(data_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    std::mt19937_64 rng(seed_ * 1000003 + std::uint64_t(epoch));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  if (world_ > 1) order_ = shard_of(order_, rank_, world_);
}

void DataLoader::set_shard(int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw std::invalid_argument("set_shard: rank " + std::to_string(rank) + " outside a world of " + std::to_string(world));
  rank_ = rank, world_ = world;
  start_epoch(epoch_);
}

std::int64_t DataLoader::batches() const {
  const std::int64_t n = samples();
  return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
}

BatchPlan DataLoader::plan(std::int64_t index) const {
  const std::int64_t begin = index * batch_, end = std::min(begin + batch_, samples());
  BatchPlan plan;
  plan.samples.assign(order_.begin() + begin, order_.begin() + end);
  plan.transforms = transforms_of_ ? transforms_of_(index) : transforms_;
  std::mt19937_64 rng(seed_ * 1000003 + std::uint64_t(epoch_) * 100003 + std::uint64_t(index) + 17);
  for (std::size_t i = 0; i < plan.samples.size(); ++i) plan.augments.push_back(draw_augment(plan.transforms, rng));
  plan.mixup_rng = rng;  // mixup's draws follow the per-sample ones
  return plan;
}

namespace {
// One sample of a batch without augmentation, just copied (and in L1): normalised in place
// ((x - mean) / stddev, as normalize() computes it, so the values are the same) and checked for
// a NaN or infinity in the same pass, not in two more passes over the whole batch.
FLOPSLAB_MULTIVERSION(bool, normalise_and_check, (float* x, std::int64_t count, float mean, float stddev),
                      (x, count, mean, stddev)) {
  bool finite = true;
  for (std::int64_t i = 0; i < count; ++i) {
    const float v = (x[i] - mean) / stddev;
    x[i] = v;
    finite &= std::abs(v) <= std::numeric_limits<float>::max();  // false for NaN and both infinities
  }
  return finite;
}

// bytes[i] = k where v[i] is k / 255 for a byte k: exactly the float load_mnist_format
// computes (tolerance 0), or k within `tolerance` of v[i] * 255. False if any value is not.
FLOPSLAB_MULTIVERSION(bool, block_as_bytes, (const float* v, std::int64_t count, float tolerance, std::uint8_t* bytes),
                      (v, count, tolerance, bytes)) {
  bool all = true;
  for (std::int64_t i = 0; i < count; ++i) {
    const bool in_range = v[i] >= 0.0f && v[i] <= 1.0f;  // false for NaN
    const float level = (in_range ? v[i] : 0.0f) * 255.0f;
    const int k = int(level + 0.5f);
    const bool exact = std::bit_cast<std::uint32_t>(float(k) / 255.0f) == std::bit_cast<std::uint32_t>(v[i]);
    all &= in_range && (tolerance > 0 ? std::abs(level - float(k)) <= tolerance : exact);
    bytes[i] = std::uint8_t(k);
  }
  return all;
}

FLOPSLAB_MULTIVERSION(void, gather_bytes, (const std::uint8_t* bytes, std::int64_t count, const float* table, float* out),
                      (bytes, count, table, out)) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = table[bytes[i]];
}

bool leaves_pixels_alone(const SampleAugment& a) { return !a.flip && a.dy == 0 && a.dx == 0 && !a.jitter; }
}  // namespace

std::shared_ptr<const std::uint8_t[]> DataLoader::as_bytes(const Tensor& images) {
  // In 2 MiB pages where the kernel gives them (transparent huge pages on request): a batch
  // touches a page per sample, and with 4 KiB pages each was a TLB miss whose page walk (two
  // levels of tables under a hypervisor) cost more than the sample's cache lines.
  constexpr std::size_t kHugePage = std::size_t(2) << 20;
  const std::size_t count = std::size_t(std::max<std::int64_t>(images.size(), 1));
  const std::size_t align = count >= kHugePage ? kHugePage : 64;
  const std::size_t size = (count + align - 1) / align * align;
  std::uint8_t* bytes = static_cast<std::uint8_t*>(std::aligned_alloc(align, size));
  if (bytes == nullptr) return {};
#if defined(MADV_HUGEPAGE)
  // A request: without it the pages are 4 KiB, and that is all.
  if (align == kHugePage) madvise(bytes, size, MADV_HUGEPAGE);
#endif
  std::shared_ptr<const std::uint8_t[]> owned(bytes, std::free);
  return pixels_as_bytes(images, 0, bytes) < 0 ? owned : nullptr;
}

std::int64_t pixels_as_bytes(const Tensor& images, float tolerance, std::uint8_t* out) {
  constexpr std::int64_t kBlock = 4096;  // a set of other values fails in its first block
  for (std::int64_t i = 0; i < images.size(); i += kBlock) {
    const std::int64_t count = std::min(kBlock, images.size() - i);
    if (!block_as_bytes(images.data() + i, count, tolerance, out + i)) {
      std::uint8_t byte = 0;
      for (std::int64_t j = i;; ++j)
        if (!block_as_bytes(images.data() + j, 1, tolerance, &byte)) return j;
    }
  }
  return -1;
}

Batch DataLoader::batch(std::int64_t index) const {
  BatchPlan p = plan(index);
  std::vector<std::int64_t> shape = data_.images.shape();
  const std::int64_t per = data_.images.size() / data_.size();
  shape[0] = std::int64_t(p.samples.size());
  Batch b{Tensor::uninitialized(shape), {}};  // every value is copied in below
  const Transforms& t = p.transforms;
  const bool plain = !(t.mixup_alpha > 0) && std::all_of(p.augments.begin(), p.augments.end(), leaves_pixels_alone);
  bool finite = true;
  // From bytes: each byte's value looked up, k / 255 as loaded and, without augmentation,
  // normalised as normalize() does it: the same floats as from the float images.
  float table[256];
  if (bytes_ != nullptr)
    for (int k = 0; k < 256; ++k) {
      table[k] = float(k) / 255.0f;
      if (plain) table[k] = (table[k] - t.mean) / t.stddev, finite &= std::isfinite(table[k]);
    }
  // The samples lie at random: each one's lines are requested kAhead samples before it is
  // read, so that the misses of several samples overlap.
  constexpr std::size_t kAhead = 4;
  auto request = [&](std::size_t i) {
    if (bytes_ != nullptr && i < p.samples.size())
      for (std::int64_t e = 0; e < per; e += 64) __builtin_prefetch(bytes_.get() + p.samples[i] * per + e);
  };
  for (std::size_t i = 0; i < kAhead; ++i) request(i);
  for (std::size_t i = 0; i < p.samples.size(); ++i) {
    float* dst = b.x.data() + std::int64_t(i) * per;
    if (bytes_ != nullptr) {
      request(i + kAhead);
      gather_bytes(bytes_.get() + p.samples[i] * per, per, table, dst);
    } else {
      const float* src = data_.images.data() + p.samples[i] * per;
      std::copy(src, src + per, dst);
      if (plain) finite &= normalise_and_check(dst, per, t.mean, t.stddev);
    }
    b.y.push_back(data_.labels[std::size_t(p.samples[i])]);
  }
  if (!plain) apply_plan(b, p, data_.classes);
  b.first_non_finite = plain && finite ? -1 : flopslab::nn::first_non_finite(b.x);
  return b;
}

void DataLoader::set_batch_transforms(std::function<Transforms(std::int64_t index)> transforms_of) {
  transforms_of_ = std::move(transforms_of);
}

static SampleAugment draw_augment(const Transforms& t, std::mt19937_64& rng) {
  SampleAugment a;
  std::uniform_real_distribution<float> unit(0, 1), jitter(t.jitter_low, t.jitter_high);
  if (t.flip) a.flip = unit(rng) < 0.5f;
  if (t.crop_padding > 0) {
    std::uniform_int_distribution<std::int64_t> offset(0, 2 * t.crop_padding);
    a.dy = offset(rng) - t.crop_padding;
    a.dx = offset(rng) - t.crop_padding;
  }
  if (t.jitter_low != 1 || t.jitter_high != 1) {
    a.brightness = jitter(rng);
    a.contrast = jitter(rng);
    a.jitter = true;
  }
  return a;
}

void apply_augment(float* x, std::int64_t channels, std::int64_t h, std::int64_t w, const SampleAugment& a) {
  const std::int64_t image = channels * h * w;
  if (a.flip)
    for (std::int64_t row = 0; row < channels * h; ++row) std::reverse(x + row * w, x + (row + 1) * w);
  if (a.dy != 0 || a.dx != 0) {  // the window of a zero-padded image, offset by (dy, dx)
    std::vector<float> scratch(static_cast<std::size_t>(image));
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t q = 0; q < w; ++q) {
          const std::int64_t sr = r + a.dy, sq = q + a.dx;
          scratch[std::size_t((c * h + r) * w + q)] = sr >= 0 && sr < h && sq >= 0 && sq < w ? x[(c * h + sr) * w + sq] : 0.0f;
        }
    std::copy(scratch.begin(), scratch.end(), x);
  }
  if (a.jitter) {  // brightness, then contrast about the image's mean
    double mean = 0;
    for (std::int64_t j = 0; j < image; ++j) mean += x[j] * a.brightness;
    mean /= double(image);
    for (std::int64_t j = 0; j < image; ++j)
      x[j] = std::clamp(float((x[j] * a.brightness - mean) * a.contrast + mean), 0.0f, 1.0f);
  }
}

// A batch's augmentation with the choices already drawn (the batch holds plan.samples' images
// and labels).
static void apply_plan(Batch& b, BatchPlan& p, std::int64_t classes) {
  const Transforms& t = p.transforms;
  const std::int64_t n = b.x.dim(0), channels = b.x.dim(1), h = b.x.dim(2), w = b.x.dim(3), image = channels * h * w;
  for (std::int64_t i = 0; i < n; ++i) apply_augment(b.x.data() + i * image, channels, h, w, p.augments[std::size_t(i)]);
  if (t.mixup_alpha > 0) {  // each sample blended with a partner from the same batch
    std::mt19937_64& rng = p.mixup_rng;
    std::gamma_distribution<float> gamma(t.mixup_alpha, 1.0f);
    const float a = gamma(rng), c = gamma(rng), lambda = a / (a + c);
    std::vector<std::int64_t> partner(static_cast<std::size_t>(n));
    std::iota(partner.begin(), partner.end(), 0);
    std::shuffle(partner.begin(), partner.end(), rng);
    const Tensor original = b.x.clone();
    b.soft_targets = Tensor({n, classes});
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t j = partner[std::size_t(i)];
      for (std::int64_t e = 0; e < image; ++e)
        b.x[i * image + e] = lambda * original[i * image + e] + (1 - lambda) * original[j * image + e];
      b.soft_targets[i * classes + b.y[std::size_t(i)]] += lambda;
      b.soft_targets[i * classes + b.y[std::size_t(j)]] += 1 - lambda;
    }
  }
  if (t.mean != 0 || t.stddev != 1) normalize(b.x, t.mean, t.stddev);
}

void apply_transforms(Batch& b, const Transforms& t, std::int64_t classes, std::mt19937_64& rng) {
  BatchPlan p;
  p.transforms = t;
  for (std::int64_t i = 0; i < b.x.dim(0); ++i) p.augments.push_back(draw_augment(t, rng));
  p.mixup_rng = rng;
  apply_plan(b, p, classes);
  rng = p.mixup_rng;
}

struct BatchPrefetcher::State {
  const DataLoader& loader;
  std::int64_t total = 0, next_to_make = 0, next_to_take = 0;
  int ahead = 4;
  std::map<std::int64_t, Batch> ready;
  std::exception_ptr failure;
  bool stopping = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::thread> workers;
  explicit State(const DataLoader& l) : loader(l) {}
};

BatchPrefetcher::BatchPrefetcher(const DataLoader& loader, int workers, int ahead)
    : state_(std::make_unique<State>(loader)) {
  State& s = *state_;
  s.total = loader.batches();
  s.ahead = std::max(ahead, 1);
  for (int w = 0; w < workers; ++w)
    s.workers.emplace_back([&s] {
      for (;;) {
        std::int64_t index;
        {
          std::unique_lock lock(s.mutex);
          s.changed.wait(lock, [&] { return s.stopping || (s.next_to_make < s.total && s.next_to_make < s.next_to_take + s.ahead); });
          if (s.stopping) return;
          index = s.next_to_make++;
        }
        Batch b;
        std::exception_ptr failure;
        try {
          b = s.loader.batch(index);
        } catch (...) {
          failure = std::current_exception();
        }
        std::lock_guard lock(s.mutex);
        if (failure) s.failure = failure;
        s.ready.emplace(index, std::move(b));
        s.changed.notify_all();
      }
    });
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  for (std::thread& t : state_->workers) t.join();
}

Batch BatchPrefetcher::next() {
  State& s = *state_;
  if (s.workers.empty()) return s.loader.batch(s.next_to_take++);
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return s.failure || s.ready.count(s.next_to_take) > 0; });
  if (s.failure) std::rethrow_exception(s.failure);
  Batch b = std::move(s.ready.at(s.next_to_take));
  s.ready.erase(s.next_to_take++);
  s.changed.notify_all();
  return b;
}

void normalize(Tensor& x, float mean, float stddev) {
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = (x[i] - mean) / stddev;
}

}  // namespace flopslab::nn
