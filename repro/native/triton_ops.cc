// repro::gather_rows, repro::dot_interaction and repro::host_mapped in libtorch, for TorchScript engines written with
// native_engine: kernels (repro/engines/triton_ops.py defines the same schemas in Python, where they run the
// kernels through Triton's JIT). Each call carries its kernel, compiled on this host by Triton from the engine's
// Triton-language source: cubin bytes (a uint8 CPU tensor, a constant of engine.pt), entry name, warps and shared
// memory. The cubin is loaded once per content with the CUDA runtime (cudaLibraryLoadData; never unloaded: a
// few kilobytes per model) and launched on PyTorch's current stream, so the backend's CUDA graphs capture it.
//
// Launch ABI of a Triton 3.x kernel: its non-constexpr arguments in order (pointers as device addresses, i32 as
// int32), then two scratch pointers (global, profile), null here: the Python side refuses kernels that need
// them. Blocks of 32 * warps threads. The cubins assume 16-byte aligned pointers; every pointer is checked.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#ifdef REPRO_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <string>

namespace {

void check_cuda(cudaError_t status, const char* what) {
  TORCH_CHECK(status == cudaSuccess, "repro::", what, ": ", cudaGetErrorString(status));
}

cudaKernel_t kernel_of(const at::Tensor& cubin, const std::string& name, int64_t shared) {
  TORCH_CHECK(cubin.device().is_cpu() && cubin.scalar_type() == at::kByte && cubin.is_contiguous() && cubin.numel() > 0,
              "repro: the kernel ", name, " must come as a contiguous uint8 CPU tensor of cubin bytes");
  static std::mutex mutex;
  static std::map<std::string, cudaKernel_t> loaded;   // by entry name and content
  std::string key = name + '\0' + std::string(static_cast<const char*>(cubin.data_ptr()), cubin.numel());
  std::lock_guard<std::mutex> lock(mutex);
  auto found = loaded.find(key);
  if (found != loaded.end()) return found->second;
  cudaLibrary_t library = nullptr;
  check_cuda(cudaLibraryLoadData(&library, cubin.data_ptr(), nullptr, nullptr, 0, nullptr, nullptr, 0),
             "loading a Triton cubin");
  cudaKernel_t kernel = nullptr;
  check_cuda(cudaLibraryGetKernel(&kernel, library, name.c_str()), ("finding the kernel " + name).c_str());
  if (shared > 48 * 1024)
    check_cuda(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(shared)), "raising the kernel's shared memory");
  loaded.emplace(std::move(key), kernel);
  return kernel;
}

void* aligned(const at::Tensor& t, const char* what) {
  void* p = t.data_ptr();
  TORCH_CHECK(reinterpret_cast<uintptr_t>(p) % 16 == 0, "repro: ", what, " is not 16-byte aligned (the kernel assumes it)");
  return p;
}

void launch(const at::Tensor& cubin, const std::string& name, int64_t warps, int64_t shared, dim3 grid, void** args) {
  cudaKernel_t kernel = kernel_of(cubin, name, shared);
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  check_cuda(cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, dim3(static_cast<unsigned>(32 * warps)), args,
                              static_cast<size_t>(shared), c10::cuda::getCurrentCUDAStream().stream()),
             ("launching " + name).c_str());
}

at::Tensor gather_rows(const at::Tensor& table, const at::Tensor& ids, const at::Tensor& offsets, const at::Tensor& cubin,
                       std::string kernel, int64_t warps, int64_t shared, int64_t block) {
  TORCH_CHECK(table.dim() == 2 && ids.dim() == 2 && ids.scalar_type() == at::kInt && offsets.scalar_type() == at::kInt,
              "repro::gather_rows: table [rows, D], ids [B, T] int32, offsets [T] int32");
  auto table_c = table.contiguous(), ids_c = ids.contiguous(), offsets_c = offsets.contiguous();
  auto out = at::empty({ids.size(0), ids.size(1), table.size(1)}, table.options());
  void* ptrs[] = {aligned(table_c, "the table"), aligned(ids_c, "the ids"), aligned(offsets_c, "the offsets"),
                  aligned(out, "the output")};
  int32_t batch = static_cast<int32_t>(ids.size(0));
  void* global_scratch = nullptr;
  void* profile_scratch = nullptr;
  void* args[] = {&ptrs[0], &ptrs[1], &ptrs[2], &ptrs[3], &batch, &global_scratch, &profile_scratch};
  launch(cubin, kernel, warps, shared,
         dim3(static_cast<unsigned>((ids.size(0) + block - 1) / block), static_cast<unsigned>(ids.size(1)), 1), args);
  return out;
}

at::Tensor dot_interaction(const at::Tensor& bottom, const at::Tensor& lookups, const at::Tensor& slots, int64_t kept,
                           int64_t width, bool bottom_first, const at::Tensor& cubin, std::string kernel, int64_t warps,
                           int64_t shared) {
  (void)kept;           // compiled into the kernel (as are the tables, width, padding and order): in the schema
  (void)bottom_first;   // for the Python implementation, which compiles the kernel from them through Triton's JIT
  TORCH_CHECK(lookups.dim() == 3 && bottom.dim() == 2 && slots.scalar_type() == at::kInt,
              "repro::dot_interaction: bottom [B, D], lookups [B, T, D], slots int32");
  auto bottom_c = bottom.contiguous(), lookups_c = lookups.contiguous(), slots_c = slots.contiguous();
  auto out = at::empty({bottom.size(0), width}, bottom.options());
  void* ptrs[] = {aligned(bottom_c, "the bottom output"), aligned(lookups_c, "the lookups"), aligned(slots_c, "the slots"),
                  aligned(out, "the output")};
  void* global_scratch = nullptr;
  void* profile_scratch = nullptr;
  void* args[] = {&ptrs[0], &ptrs[1], &ptrs[2], &ptrs[3], &global_scratch, &profile_scratch};
  launch(cubin, kernel, warps, shared, dim3(static_cast<unsigned>(bottom.size(0)), 1, 1), args);
  return out;
}

// The placement's host-resident rows as a CUDA tensor: page-locked and mapped (cudaHostRegister) until the alias is
// freed, which unregisters them; the alias keeps the host tensor alive. With unified addressing the GPU reads them
// over the host link, inside CUDA graphs too.
at::Tensor host_mapped(const at::Tensor& host) {
  TORCH_CHECK(host.device().is_cpu() && host.is_contiguous(), "repro::host_mapped: a contiguous CPU tensor");
  auto options = host.options().device(at::Device(at::kCUDA, c10::cuda::current_device()));
  if (host.numel() == 0) return at::empty(host.sizes(), options);
  check_cuda(cudaHostRegister(host.data_ptr(), host.nbytes(), cudaHostRegisterMapped), "registering host rows");
  void* device = nullptr;
  check_cuda(cudaHostGetDevicePointer(&device, host.data_ptr(), 0), "mapping host rows");
  at::Tensor kept = host;
  return at::from_blob(device, host.sizes(), host.strides(),
                       [kept](void*) mutable { cudaHostUnregister(kept.data_ptr()); kept.reset(); }, options);
}

}  // namespace
#endif

namespace repro {

namespace {

bool defined(c10::Dispatcher& dispatcher, const char* op, c10::DispatchKey key = c10::DispatchKey::CUDA) {
  auto handle = dispatcher.findSchema({op, ""});
  if (!handle) return false;
#ifdef REPRO_WITH_CUDA
  return handle->hasKernelForDispatchKey(key);
#else
  (void)key;
  return true;
#endif
}

}  // namespace

// Defines the operators (and their CUDA and host kernels) once per process. Every native model folder carries its own
// copy of this library and Triton loads each copy, so a static TORCH_LIBRARY would throw in the second copy
// ("Only a single TORCH_LIBRARY can be used to register the namespace repro"). Here the first copy to get here
// defines them; the others find them defined and use them. The registrations are never destroyed and the library
// is linked with -z nodelete, so the defining copy's code stays mapped after its models unload.
void define_triton_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {   // the constructor throws where another copy of this library already holds the namespace
      auto* defs = new torch::Library(torch::Library::DEF, "repro", std::nullopt, __FILE__, __LINE__);
      defs->def("gather_rows(Tensor table, Tensor ids, Tensor offsets, Tensor cubin, str kernel, int warps, "
                "int shared, int block) -> Tensor");
      defs->def("dot_interaction(Tensor bottom, Tensor lookups, Tensor slots, int kept, int width, bool bottom_first, "
                "Tensor cubin, str kernel, int warps, int shared) -> Tensor");
      defs->def("host_mapped(Tensor host) -> Tensor");
#ifdef REPRO_WITH_CUDA
      auto* impls = new torch::Library(torch::Library::IMPL, "repro", c10::DispatchKey::CUDA, __FILE__, __LINE__);
      impls->impl("gather_rows", &gather_rows);
      impls->impl("dot_interaction", &dot_interaction);
      auto* host_impls = new torch::Library(torch::Library::IMPL, "repro", c10::DispatchKey::CPU, __FILE__, __LINE__);
      host_impls->impl("host_mapped", &host_mapped);
#endif
      return;
    } catch (const c10::Error&) {
      // another copy defined them, or is defining them on another thread: wait until they are usable
    }
    auto& dispatcher = c10::Dispatcher::singleton();
    for (int waited_ms = 0; !(defined(dispatcher, "repro::gather_rows") && defined(dispatcher, "repro::dot_interaction") &&
                             defined(dispatcher, "repro::host_mapped", c10::DispatchKey::CPU));
         waited_ms += 10) {
      TORCH_CHECK(waited_ms < 30000, "repro: the operators gather_rows, dot_interaction and host_mapped were registered "
                  "by another copy of this backend but not defined within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

}  // namespace repro
