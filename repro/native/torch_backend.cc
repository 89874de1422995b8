// repro_torch: a native Triton backend that serves a family's engine as a TorchScript module through libtorch,
// with no Python in the request path. The module is written by the family's Python engine code on the host
// that serves it (repro/native/modules.py), so the python-backend flavour and this one run the same engine.
// A DLRM module written with native_engine: kernels calls the operators of triton_ops.cc (the engine's
// Triton-language kernels, compiled on this host), which this library registers with libtorch.
//
// The model's version folder holds engine.pt and native.txt (one setting per line, written by
// repro/native/repository.py):
//   module engine.pt                              the TorchScript file; its method prepare() runs once at load
//   package engine.pt2                            optional: an AOTInductor package (compiled on this host by its
//                                                 PyTorch) that runs the forward instead of the module's
//   state table offsets                           the module's attributes passed to the package after the inputs
//                                                 (read after prepare(): large tables are not compiled in)
//   device cuda | cpu
//   input <name> <int32|float32|float16> <dims>   in the order forward() takes them
//   output <name> <float32|float16> <dims>
//   graph_batches 256 1024 ...                    CUDA graphs captured at load (cuda only)
//   chunk_rows 16384                              larger batches run in chunks of it: the copy of one chunk
//                                                 overlaps the compute of the one before (0: off)
//   join_requests 1                               a dynamic batch's requests run as one batch, in the smallest
//                                                 captured graph that holds them, padded (its config has
//                                                 dynamic batching); every graph batch is then captured whole
//   tf32 0 | 1                                    FP32 matmuls and convolutions on TF32 tensor cores or not
//                                                 (optional: libtorch's defaults otherwise; process-wide, as in
//                                                 PyTorch: every model a server holds must agree)
//   cudnn_benchmark 1                             cuDNN picks each convolution's algorithm by timing it (as the
//                                                 python flavour's torch.backends.cudnn.benchmark)
//   stats stats.json                              the backend's own timings, written at unload (model folder)
//
// CUDA path (built with -DREPRO_WITH_CUDA): inputs are copied to static device buffers straight from the
// client's shared-memory region, page-locked with cudaHostRegister for the region's lifetime (a mapping is
// known by its address range and its file's inode; a new region at an old address is registered anew and the
// stale registration dropped), then one CUDA graph per batch size is replayed.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#ifdef REPRO_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

#include "backend_common.h"

namespace repro {
void define_triton_ops();   // triton_ops.cc: the engine's kernels as operators, defined once per process
}

namespace {

using repro::now_ns;

TRITONSERVER_Error* error(const std::string& message) {
  return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INVALID_ARG, ("repro_torch: " + message).c_str());
}

void log_info(const std::string& message) {
  if (auto* err = TRITONSERVER_LogMessage(TRITONSERVER_LOG_INFO, __FILE__, __LINE__, ("repro_torch: " + message).c_str()))
    TRITONSERVER_ErrorDelete(err);
}

struct TensorSpec {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> dims;   // without the batch dimension
  int64_t row_bytes() const {
    int64_t n = static_cast<int64_t>(c10::elementSize(dtype));
    for (auto d : dims) n *= d;
    return n;
  }
  std::vector<int64_t> shape(int64_t batch) const {
    std::vector<int64_t> s{batch};
    s.insert(s.end(), dims.begin(), dims.end());
    return s;
  }
};

struct Settings {
  std::string module = "engine.pt", device = "cpu", stats = "stats.json", package;
  std::vector<std::string> state;
  std::vector<TensorSpec> inputs;
  TensorSpec output;
  std::vector<int64_t> graph_batches;
  int64_t chunk_rows = 0;
  bool join_requests = false;
  int tf32 = -1;                 // -1: libtorch's defaults
  bool cudnn_benchmark = false;
};

at::ScalarType dtype_of(const std::string& name, const std::string& where) {
  if (name == "int32") return at::kInt;
  if (name == "float32") return at::kFloat;
  if (name == "float16") return at::kHalf;
  throw std::runtime_error(where + ": unknown dtype '" + name + "' (int32, float32 or float16)");
}

TRITONSERVER_DataType triton_type(at::ScalarType t) {
  if (t == at::kInt) return TRITONSERVER_TYPE_INT32;
  if (t == at::kHalf) return TRITONSERVER_TYPE_FP16;
  return TRITONSERVER_TYPE_FP32;
}

Settings read_settings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path + " (written with the repository: rewrite it)");
  Settings s;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key[0] == '#') continue;
    if (key == "module") words >> s.module;
    else if (key == "device") words >> s.device;
    else if (key == "package") words >> s.package;
    else if (key == "state") { std::string name; while (words >> name) s.state.push_back(name); }
    else if (key == "stats") words >> s.stats;
    else if (key == "chunk_rows") words >> s.chunk_rows;
    else if (key == "join_requests") words >> s.join_requests;
    else if (key == "tf32") words >> s.tf32;
    else if (key == "cudnn_benchmark") words >> s.cudnn_benchmark;
    else if (key == "graph_batches") { int64_t b; while (words >> b) s.graph_batches.push_back(b); }
    else if (key == "input" || key == "output") {
      TensorSpec t;
      std::string dtype;
      words >> t.name >> dtype;
      t.dtype = dtype_of(dtype, path + " '" + key + " " + t.name + "'");
      int64_t d;
      while (words >> d) t.dims.push_back(d);
      if (key == "input") s.inputs.push_back(t); else s.output = t;
    } else {
      throw std::runtime_error(path + ": unknown setting '" + key + "'");
    }
  }
  if (s.inputs.empty() || s.output.name.empty()) throw std::runtime_error(path + ": needs input and output lines");
  if (s.device != "cpu" && s.device != "cuda") throw std::runtime_error(path + ": device must be cpu or cuda");
  if (s.package.empty() && !s.state.empty()) throw std::runtime_error(path + ": 'state' needs a 'package' line");
  return s;
}

// Mean of each phase per executed batch size, over the executions that ran it (the chunked and the joined paths
// can both run one batch size): written to stats.json at unload as "<phase>" (mean) and "<phase>_n" (executions).
struct PhaseTimes {
  std::map<int64_t, std::map<std::string, std::pair<double, int64_t>>> totals;
  std::map<int64_t, int64_t> counts;
  void add(int64_t batch, const std::string& phase, double value) {
    auto& entry = totals[batch][phase];
    entry.first += value;
    entry.second += 1;
  }
  std::string json() const {
    std::ostringstream o;
    o << "{";
    bool first = true;
    for (const auto& [batch, phases] : totals) {
      o << (first ? "" : ",") << "\n    \"" << batch << "\": {\"requests\": " << counts.at(batch);
      for (const auto& [name, entry] : phases)
        o << ", \"" << name << "\": " << entry.first / entry.second << ", \"" << name << "_n\": " << entry.second;
      o << "}";
      first = false;
    }
    o << "\n  }";
    return o.str();
  }
};

#ifdef REPRO_WITH_CUDA
void check(cudaError_t code, const char* what) {
  if (code != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(code));
}

// Page-locked client shared-memory regions, one registration per mapping lifetime.
class Registrations {
 public:
  ~Registrations() { for (auto& [lo, m] : maps_) cudaHostUnregister(reinterpret_cast<void*>(lo)); }

  // Whether [p, p + bytes) lies in a registered (page-locked) mapping; registers a /dev/shm mapping on first sight.
  bool registered(const void* p, uint64_t bytes) {
    const auto at = reinterpret_cast<uintptr_t>(p);
    auto it = maps_.upper_bound(at);
    if (it != maps_.begin()) {
      --it;
      if (at >= it->second.lo && at + bytes <= it->second.hi) {
        if (still_mapped(it->second)) return it->second.locked;
        drop(it);                                   // unmapped, or a new region at an old address
      }
    }
    sweep();
    Mapping m;
    if (!find_mapping(at, &m) || at + bytes > m.hi) return false;
    m.locked = m.path.rfind("/dev/shm/", 0) == 0 &&
               cudaHostRegister(reinterpret_cast<void*>(m.lo), m.hi - m.lo, cudaHostRegisterDefault) == cudaSuccess;
    if (!m.locked) cudaGetLastError();             // clear a failed registration's error
    else ++registrations;
    maps_[m.lo] = m;
    return m.locked;
  }

  int64_t registrations = 0, stale = 0;

 private:
  struct Mapping { uintptr_t lo = 0, hi = 0; unsigned long inode = 0; std::string path; bool locked = false; };
  std::map<uintptr_t, Mapping> maps_;

  static bool find_mapping(uintptr_t at, Mapping* out) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      unsigned long lo = 0, hi = 0, inode = 0;
      char perms[8] = {0}, dev[16] = {0};
      unsigned long long offset = 0;
      int consumed = 0;
      if (std::sscanf(line.c_str(), "%lx-%lx %7s %llx %15s %lu %n", &lo, &hi, perms, &offset, dev, &inode, &consumed) < 6)
        continue;
      if (at < lo || at >= hi) continue;
      out->lo = lo; out->hi = hi; out->inode = inode;
      out->path = consumed > 0 && static_cast<size_t>(consumed) <= line.size() ? line.substr(consumed) : "";
      return true;
    }
    return false;
  }

  // The same file is still mapped at the same range (one stat of /proc/self/map_files; the maps file otherwise).
  static bool still_mapped(const Mapping& m) {
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", static_cast<unsigned long>(m.lo),
                  static_cast<unsigned long>(m.hi));
    struct stat st;
    if (stat(link, &st) == 0) return st.st_ino == m.inode;
    if (errno == ENOENT) return false;
    Mapping now;
    return find_mapping(m.lo, &now) && now.lo == m.lo && now.hi == m.hi && now.inode == m.inode && now.path == m.path;
  }

  void drop(std::map<uintptr_t, Mapping>::iterator it) {
    if (it->second.locked) { cudaHostUnregister(reinterpret_cast<void*>(it->second.lo)); cudaGetLastError(); ++stale; }
    maps_.erase(it);
  }

  void sweep() {
    for (auto it = maps_.begin(); it != maps_.end();) {
      auto next = std::next(it);
      if (!still_mapped(it->second)) drop(it);
      it = next;
    }
  }
};

// Static device buffers of one batch size and the CUDA graph that reads them.
struct Slot {
  int64_t batch = 0;
  std::vector<at::Tensor> inputs;
  at::Tensor output;
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  cudaEvent_t copied = nullptr, done = nullptr;
};
#endif

// One request of an execution: each input's contiguous host rows, its row count and its output buffer.
struct Part {
  std::vector<const char*> host;
  std::vector<std::vector<char>> copies;   // an input that arrived in several buffers, made contiguous
  int64_t rows = 0;
  char* out = nullptr;
};

struct ModelState {
  Settings settings;
  std::string model_dir, version_dir, name;
};

struct InstanceState {
  ModelState* model = nullptr;
  torch::jit::Module module;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> package;   // runs the forward when settings name one
  std::vector<at::Tensor> state;                                     // the module's attributes it is fed
  at::Device device{at::kCPU};
  PhaseTimes times;
#ifdef REPRO_WITH_CUDA
  std::map<int64_t, std::unique_ptr<Slot>> slots;
  std::unique_ptr<Slot> twin[2];
  std::unique_ptr<Registrations> registrations;
  c10::optional<c10::cuda::CUDAStream> compute, copy;
  at::Tensor output_host;   // pinned, the largest batch's output
  std::map<size_t, at::Tensor> gathered;   // per input: pinned host memory that joined small parts are gathered in
  int64_t pageable_copies = 0, registered_copies = 0, gathered_copies = 0, capture_failures = 0;
#endif
};

at::Tensor forward(InstanceState* s, const std::vector<at::Tensor>& inputs) {
  if (s->package) {
    std::vector<at::Tensor> args(inputs);
    args.insert(args.end(), s->state.begin(), s->state.end());
    void* stream = nullptr;
#ifdef REPRO_WITH_CUDA
    if (s->device.is_cuda()) stream = c10::cuda::getCurrentCUDAStream(s->device.index()).stream();
#endif
    auto outputs = s->package->run(args, stream);
    if (outputs.size() != 1) throw std::runtime_error("the package returned " + std::to_string(outputs.size()) +
                                                      " outputs, expected 1");
    return outputs[0];
  }
  std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
  return s->module.forward(args).toTensor();
}

#ifdef REPRO_WITH_CUDA
std::unique_ptr<Slot> capture(InstanceState* s, int64_t batch, at::cuda::MempoolId_t pool) {
  auto slot = std::make_unique<Slot>();
  slot->batch = batch;
  for (const auto& spec : s->model->settings.inputs)
    slot->inputs.push_back(at::zeros(spec.shape(batch), at::TensorOptions().dtype(spec.dtype).device(s->device)));
  check(cudaEventCreateWithFlags(&slot->copied, cudaEventDisableTiming), "cudaEventCreate");
  check(cudaEventCreateWithFlags(&slot->done, cudaEventDisableTiming), "cudaEventCreate");
  auto side = c10::cuda::getStreamFromPool(false, s->device.index());
  c10::cuda::CUDAStreamGuard guard(side);
  for (int i = 0; i < 2; ++i) forward(s, slot->inputs);   // warm-up outside the capture
  side.synchronize();
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
  try {
    // Relaxed: the server's other threads may call CUDA while this stream captures.
    graph->capture_begin(pool, cudaStreamCaptureModeRelaxed);
    try {
      slot->output = forward(s, slot->inputs);
    } catch (...) {
      try { graph->capture_end(); } catch (...) {}
      throw;
    }
    graph->capture_end();
    slot->graph = std::move(graph);
  } catch (const std::exception& e) {                      // this batch size runs eagerly instead (stats say so)
    cudaGetLastError();
    slot->output = at::Tensor();
    s->capture_failures += 1;
    log_info("batch " + std::to_string(batch) + " runs eagerly: its CUDA graph could not be captured: " +
             std::string(e.what()).substr(0, 3000));
  }
  side.synchronize();
  return slot;
}

void copy_in(InstanceState* s, void* dst, const void* src, uint64_t bytes, cudaStream_t stream) {
  if (s->registrations->registered(src, bytes)) ++s->registered_copies; else ++s->pageable_copies;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream), "input copy");
}

bool chunked(const InstanceState* s, int64_t batch) {
  const int64_t rows = s->model->settings.chunk_rows;
  return rows > 0 && batch > rows && batch % rows == 0 && s->twin[0] && s->twin[0]->graph && s->twin[1]->graph;
}

// Joined requests whose parts of an input average fewer bytes than this are gathered on the host first.
constexpr int64_t kGatherBelow = 256 * 1024;

// The smallest captured graph that holds ``rows`` (padded: its extra rows keep stale inputs, their outputs are
// never returned), or null: no captured graph is large enough.
Slot* slot_for(InstanceState* s, int64_t rows) {
  for (auto it = s->slots.lower_bound(rows); it != s->slots.end(); ++it)
    if (it->second->graph) return it->second.get();
  return nullptr;
}

// Runs ``parts`` (one or more requests, ``total`` rows) as one batch on the GPU: each request's rows copied to
// its offset in the graph's input buffers, one replay, each request's output rows copied to its buffer.
void run_joined(InstanceState* s, const std::vector<Part*>& parts, int64_t total) {
  const auto& settings = s->model->settings;
  cudaStream_t compute = s->compute->stream();
  c10::cuda::CUDAStreamGuard guard(*s->compute);
  const int64_t out_row = settings.output.row_bytes();
  const uint64_t began = now_ns();
  Slot* slot = slot_for(s, total);
  std::vector<at::Tensor> eager;
  for (size_t k = 0; k < settings.inputs.size(); ++k) {
    if (!slot)
      eager.push_back(at::empty(settings.inputs[k].shape(total),
                                at::TensorOptions().dtype(settings.inputs[k].dtype).device(s->device)));
    char* dst = static_cast<char*>(slot ? slot->inputs[k].data_ptr() : eager.back().data_ptr());
    const int64_t row = settings.inputs[k].row_bytes();
    int64_t offset = 0;
    if (parts.size() > 1 && total * row / static_cast<int64_t>(parts.size()) < kGatherBelow) {
      // many small parts: gathered into pinned memory on the host, then one copy (a copy call costs microseconds)
      at::Tensor& staged = s->gathered[k];
      if (!staged.defined() || static_cast<int64_t>(staged.nbytes()) < total * row)
        staged = at::empty({total * row}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
      char* host = static_cast<char*>(staged.data_ptr());
      for (const Part* part : parts) {
        std::memcpy(host + offset * row, part->host[k], part->rows * row);
        offset += part->rows;
      }
      check(cudaMemcpyAsync(dst, host, total * row, cudaMemcpyHostToDevice, compute), "input copy");
      s->gathered_copies += static_cast<int64_t>(parts.size());
      continue;
    }
    for (const Part* part : parts) {
      copy_in(s, dst + offset * row, part->host[k], part->rows * row, compute);
      offset += part->rows;
    }
  }
  check(cudaStreamSynchronize(compute), "synchronize");
  const uint64_t copied = now_ns();
  at::Tensor result;
  if (slot) {
    slot->graph->replay();
    result = slot->output;
  } else {
    result = forward(s, eager).contiguous();
  }
  const bool staged = total * out_row <= static_cast<int64_t>(s->output_host.nbytes());
  at::Tensor host_out = staged ? s->output_host : at::empty({total * out_row}, at::TensorOptions().dtype(at::kByte));
  check(cudaMemcpyAsync(host_out.data_ptr(), result.data_ptr(), total * out_row, cudaMemcpyDeviceToHost, compute),
        "output copy");
  check(cudaStreamSynchronize(compute), "synchronize");
  const uint64_t computed = now_ns();
  int64_t offset = 0;
  for (const Part* part : parts) {
    std::memcpy(part->out, static_cast<const char*>(host_out.data_ptr()) + offset * out_row, part->rows * out_row);
    offset += part->rows;
  }
  s->times.add(total, "copy_in_us", (copied - began) / 1e3);
  s->times.add(total, slot ? "graph_and_copy_out_us" : "eager_us", (computed - copied) / 1e3);
  s->times.add(total, "requests_joined", static_cast<double>(parts.size()));
  if (slot) s->times.add(total, "padded_rows", static_cast<double>(slot->batch - total));
}

// Runs one request of a multiple of chunk_rows as chunks through the two chunk graphs: the copy of one chunk
// (copy stream) overlaps the graph of the one before (compute stream).
void run_chunked(InstanceState* s, const Part& part) {
  const auto& settings = s->model->settings;
  cudaStream_t compute = s->compute->stream(), copy = s->copy->stream();
  c10::cuda::CUDAStreamGuard guard(*s->compute);
  const int64_t out_row = settings.output.row_bytes(), batch = part.rows, rows = settings.chunk_rows;
  char* staged_out = static_cast<char*>(s->output_host.data_ptr());
  const bool big = batch * out_row > static_cast<int64_t>(s->output_host.nbytes());
  const uint64_t began = now_ns();
  for (int64_t i = 0, start = 0; start < batch; ++i, start += rows) {
    Slot* slot = s->twin[i % 2].get();
    check(cudaStreamWaitEvent(copy, slot->done, 0), "wait");         // the graph has read this slot's last chunk
    for (size_t k = 0; k < settings.inputs.size(); ++k) {
      const int64_t row = settings.inputs[k].row_bytes();
      copy_in(s, slot->inputs[k].data_ptr(), part.host[k] + start * row, rows * row, copy);
    }
    check(cudaEventRecord(slot->copied, copy), "record");
    check(cudaStreamWaitEvent(compute, slot->copied, 0), "wait");
    slot->graph->replay();
    check(cudaMemcpyAsync(big ? part.out + start * out_row : staged_out + start * out_row, slot->output.data_ptr(),
                          rows * out_row, cudaMemcpyDeviceToHost, compute), "output copy");
    check(cudaEventRecord(slot->done, compute), "record");
  }
  check(cudaStreamSynchronize(compute), "synchronize");
  s->times.add(batch, "chunked_us", (now_ns() - began) / 1e3);
  s->times.add(batch, "requests_joined", 1.0);
  if (!big) std::memcpy(part.out, staged_out, batch * out_row);
}

void run_cuda(InstanceState* s, const std::vector<Part*>& parts, int64_t total) {
  if (parts.size() == 1 && chunked(s, total)) run_chunked(s, *parts[0]);
  else run_joined(s, parts, total);
}
#endif

void load_instance(InstanceState* s) {
  const Settings& settings = s->model->settings;
  torch::jit::setGraphExecutorOptimize(false);   // run the graph as written: same ops as the python flavour
  c10::InferenceMode inference;
  s->device = settings.device == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (settings.tf32 >= 0) {
    at::globalContext().setAllowTF32CuBLAS(settings.tf32 == 1);
    at::globalContext().setAllowTF32CuDNN(settings.tf32 == 1);
  }
  if (settings.cudnn_benchmark) at::globalContext().setBenchmarkCuDNN(true);
  // No map_location: the module was written on this host for this device, and mapping would also move the
  // traced graph's scalar constants to the GPU (their int() then syncs, which a CUDA graph capture refuses).
  s->module = torch::jit::load(s->model->version_dir + "/" + settings.module);
  s->module.eval();
  if (s->module.find_method("prepare")) s->module.run_method("prepare");
  if (!settings.package.empty()) {
    s->package = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        s->model->version_dir + "/" + settings.package, "model", false, 1,
        s->device.is_cuda() ? static_cast<c10::DeviceIndex>(0) : static_cast<c10::DeviceIndex>(-1));
    for (const auto& name : settings.state) {
      if (!s->module.hasattr(name)) throw std::runtime_error(settings.module + " has no attribute '" + name + "'");
      s->state.push_back(s->module.attr(name).toTensor());
    }
    log_info("runs the AOTInductor package " + settings.package + " (" + std::to_string(s->state.size()) +
             " state tensors from " + settings.module + ")");
  }
#ifdef REPRO_WITH_CUDA
  if (s->device.is_cuda()) {
    s->registrations = std::make_unique<Registrations>();
    s->compute = c10::cuda::getStreamFromPool(false, 0);
    s->copy = c10::cuda::getStreamFromPool(false, 0);
    auto pool = at::cuda::graph_pool_handle();
    int64_t largest = 1;
    for (int64_t batch : settings.graph_batches) {
      largest = std::max(largest, batch);
      const bool chunkable = settings.chunk_rows > 0 && batch > settings.chunk_rows && batch % settings.chunk_rows == 0;
      if (chunkable && !s->twin[0]) for (auto& t : s->twin) t = capture(s, settings.chunk_rows, pool);
      // joined requests of any total need whole graphs; a single request of a chunkable batch runs in chunks
      if (!chunkable || settings.join_requests) s->slots[batch] = capture(s, batch, pool);
    }
    s->output_host = at::empty({largest * settings.output.row_bytes()}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    log_info("captured " + std::to_string(s->slots.size()) + " CUDA graphs" +
             (s->twin[0] ? " and two chunk graphs of " + std::to_string(settings.chunk_rows) + " rows" : std::string()));
  }
#else
  if (s->device.is_cuda()) throw std::runtime_error("this build has no CUDA (built without -DREPRO_WITH_CUDA)");
#endif
}

void write_stats(InstanceState* s) {
  std::ostringstream o;
  o << "{\n  \"backend\": \"repro_torch\",\n  \"device\": \"" << s->model->settings.device << "\",\n  \"runs\": \""
    << (s->package ? "aoti_package " + s->model->settings.package : "torchscript " + s->model->settings.module) << "\",\n";
#ifdef REPRO_WITH_CUDA
  if (s->registrations)
    o << "  \"registered_copies\": " << s->registered_copies << ",\n  \"pageable_copies\": " << s->pageable_copies
      << ",\n  \"gathered_copies\": " << s->gathered_copies
      << ",\n  \"registrations\": " << s->registrations->registrations << ",\n  \"stale_registrations_dropped\": "
      << s->registrations->stale << ",\n  \"graph_capture_failures\": " << s->capture_failures << ",\n";
#endif
  o << "  \"model_time_us\": " << s->times.json() << "\n}\n";
  const std::string path = s->model->model_dir + "/" + s->model->settings.stats, tmp = path + ".tmp";
  std::ofstream(tmp) << o.str();
  std::rename(tmp.c_str(), path.c_str());
}

// Each input's rows as one contiguous host block (the server's buffer itself when it is one CPU buffer).
TRITONSERVER_Error* gather_inputs(InstanceState* s, TRITONBACKEND_Request* request, Part* part) {
  const auto& specs = s->model->settings.inputs;
  part->host.assign(specs.size(), nullptr);
  part->copies.resize(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    TRITONBACKEND_Input* input = nullptr;
    if (auto* err = TRITONBACKEND_RequestInput(request, specs[k].name.c_str(), &input)) return err;
    const char* name = nullptr;
    TRITONSERVER_DataType datatype;
    const int64_t* shape = nullptr;
    uint32_t dims = 0, buffers = 0;
    uint64_t bytes = 0;
    if (auto* err = TRITONBACKEND_InputProperties(input, &name, &datatype, &shape, &dims, &bytes, &buffers)) return err;
    if (datatype != triton_type(specs[k].dtype)) return error("input " + specs[k].name + " has an unexpected datatype");
    const int64_t rows = dims > 0 ? shape[0] : 1;
    if (k == 0) part->rows = rows;
    if (rows != part->rows || static_cast<int64_t>(bytes) != rows * specs[k].row_bytes())
      return error("input " + specs[k].name + ": " + std::to_string(bytes) + " bytes for " + std::to_string(rows) +
                   " rows, expected " + std::to_string(part->rows * specs[k].row_bytes()));
    for (uint32_t b = 0; b < buffers; ++b) {
      const void* data = nullptr;
      uint64_t size = 0;
      TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
      int64_t memory_id = 0;
      if (auto* err = TRITONBACKEND_InputBuffer(input, b, &data, &size, &memory, &memory_id)) return err;
      if (memory == TRITONSERVER_MEMORY_GPU) return error("input " + specs[k].name + " arrived in GPU memory (use "
                                                          "system shared memory or the request body)");
      if (buffers == 1) { part->host[k] = static_cast<const char*>(data); break; }
      part->copies[k].insert(part->copies[k].end(), static_cast<const char*>(data), static_cast<const char*>(data) + size);
      part->host[k] = part->copies[k].data();
    }
  }
  return nullptr;
}

// Accepts one request: its inputs, and its output buffer in the response.
TRITONSERVER_Error* take_request(InstanceState* s, TRITONBACKEND_Request* request, TRITONBACKEND_Response* response,
                                 Part* part) {
  const Settings& settings = s->model->settings;
  if (auto* err = gather_inputs(s, request, part)) return err;
  std::vector<int64_t> shape = settings.output.shape(part->rows);
  TRITONBACKEND_Output* output = nullptr;
  if (auto* err = TRITONBACKEND_ResponseOutput(response, &output, settings.output.name.c_str(),
                                               triton_type(settings.output.dtype), shape.data(), shape.size()))
    return err;
  void* buffer = nullptr;
  TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
  int64_t memory_id = 0;
  const uint64_t out_bytes = static_cast<uint64_t>(part->rows * settings.output.row_bytes());
  if (auto* err = TRITONBACKEND_OutputBuffer(output, &buffer, out_bytes, &memory, &memory_id)) return err;
  if (memory == TRITONSERVER_MEMORY_GPU) return error("the server offered GPU memory for the output");
  part->out = static_cast<char*>(buffer);
  return nullptr;
}

// The CPU path: the requests' rows (joined when there are several) through the module, eagerly.
void run_cpu(InstanceState* s, const std::vector<Part*>& parts, int64_t total) {
  const Settings& settings = s->model->settings;
  std::vector<at::Tensor> inputs;
  for (size_t k = 0; k < settings.inputs.size(); ++k) {
    std::vector<at::Tensor> pieces;
    for (const Part* part : parts)
      pieces.push_back(at::from_blob(const_cast<char*>(part->host[k]), settings.inputs[k].shape(part->rows),
                                     at::TensorOptions().dtype(settings.inputs[k].dtype)));
    inputs.push_back(pieces.size() == 1 ? pieces[0] : at::cat(pieces));
  }
  at::Tensor result = forward(s, inputs).to(settings.output.dtype).contiguous();
  const int64_t out_row = settings.output.row_bytes();
  if (result.nbytes() != static_cast<size_t>(total * out_row))
    throw std::runtime_error("the module returned " + std::to_string(result.nbytes()) + " bytes, expected " +
                             std::to_string(total * out_row));
  int64_t offset = 0;
  for (const Part* part : parts) {
    std::memcpy(part->out, static_cast<const char*>(result.data_ptr()) + offset * out_row, part->rows * out_row);
    offset += part->rows;
  }
  s->times.add(total, "requests_joined", static_cast<double>(parts.size()));
}

// Runs the accepted requests: all of them as one batch when join_requests is set, else one after another.
TRITONSERVER_Error* run_parts(InstanceState* s, std::vector<Part*> parts) {
  std::vector<std::vector<Part*>> batches;
  if (s->model->settings.join_requests) batches.push_back(parts);
  else for (Part* part : parts) batches.push_back({part});
  try {
    c10::InferenceMode inference;
    for (const auto& batch : batches) {
      int64_t total = 0;
      for (const Part* part : batch) total += part->rows;
      const uint64_t began = now_ns();
      s->times.counts[total] += 1;
#ifdef REPRO_WITH_CUDA
      if (s->device.is_cuda()) run_cuda(s, batch, total);
      else run_cpu(s, batch, total);
#else
      run_cpu(s, batch, total);
#endif
      s->times.add(total, "execute_us", (now_ns() - began) / 1e3);
    }
  } catch (const std::exception& e) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, (std::string("repro_torch: ") + e.what()).c_str());
  }
  return nullptr;
}

}  // namespace

extern "C" {

EXPORT TRITONSERVER_Error* TRITONBACKEND_Initialize(TRITONBACKEND_Backend*) {
  if (auto* err = repro::check_api_version("repro_torch")) return err;
  try {
    repro::define_triton_ops();
  } catch (const std::exception& e) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL, (std::string("repro_torch: ") + e.what()).c_str());
  }
  return nullptr;
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInitialize(TRITONBACKEND_Model* model) {
  auto state = std::make_unique<ModelState>();
  const char* name = nullptr;
  const char* location = nullptr;
  uint64_t version = 0;
  TRITONBACKEND_ArtifactType artifact;
  if (auto* err = TRITONBACKEND_ModelName(model, &name)) return err;
  if (auto* err = TRITONBACKEND_ModelVersion(model, &version)) return err;
  if (auto* err = TRITONBACKEND_ModelRepository(model, &artifact, &location)) return err;
  state->name = name;
  state->model_dir = location;
  state->version_dir = state->model_dir + "/" + std::to_string(version);
  try {
    state->settings = read_settings(state->version_dir + "/native.txt");
  } catch (const std::exception& e) {
    return error(e.what());
  }
  return TRITONBACKEND_ModelSetState(model, state.release());
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelFinalize(TRITONBACKEND_Model* model) {
  void* state = nullptr;
  if (auto* err = TRITONBACKEND_ModelState(model, &state)) return err;
  delete static_cast<ModelState*>(state);                            // deleting nullptr is a no-op
  return nullptr;
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceInitialize(TRITONBACKEND_ModelInstance* instance) {
  TRITONBACKEND_Model* model = nullptr;
  void* model_state = nullptr;
  if (auto* err = TRITONBACKEND_ModelInstanceModel(instance, &model)) return err;
  if (auto* err = TRITONBACKEND_ModelState(model, &model_state)) return err;
  auto state = std::make_unique<InstanceState>();
  state->model = static_cast<ModelState*>(model_state);
  try {
    load_instance(state.get());
  } catch (const std::exception& e) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL,
                                 ("repro_torch: loading " + state->model->name + ": " + e.what()).c_str());
  }
  log_info(state->model->name + " loaded on " + state->model->settings.device);
  return TRITONBACKEND_ModelInstanceSetState(instance, state.release());
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceFinalize(TRITONBACKEND_ModelInstance* instance) {
  void* state = nullptr;
  if (auto* err = TRITONBACKEND_ModelInstanceState(instance, &state)) return err;
  auto* s = static_cast<InstanceState*>(state);
  if (s == nullptr) return nullptr;                                  // its initialization failed
  write_stats(s);
  delete s;
  return nullptr;
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance* instance,
                                                              TRITONBACKEND_Request** requests, const uint32_t count) {
  void* state = nullptr;
  if (auto* err = TRITONBACKEND_ModelInstanceState(instance, &state)) return err;
  auto* s = static_cast<InstanceState*>(state);
  std::vector<Part> parts(count);
  return repro::execute_together(
      instance, requests, count,
      [s, &parts](uint32_t r, TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, int64_t* rows) {
        TRITONSERVER_Error* err = take_request(s, request, response, &parts[r]);
        *rows = parts[r].rows;
        return err;
      },
      [s, &parts](const std::vector<uint32_t>& accepted) {
        std::vector<Part*> taken;
        for (uint32_t r : accepted) taken.push_back(&parts[r]);
        return run_parts(s, taken);
      });
}

}  // extern "C"
