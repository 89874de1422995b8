// repro_transport: a native Triton backend that takes each request's input buffers (as the server hands
// them over, without copying them) and answers every requested output with FP32 zeros of shape [batch, 1].
// It measures what the server's transport costs without any model: the native counterpart of the
// python-backend "transport ceiling" model. Built by repro/serving/native/build.py with one g++ line.
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "triton_backend_api.h"

#define EXPORT __attribute__((visibility("default")))   // everything else stays hidden (-fvisibility=hidden)

namespace {

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

TRITONSERVER_Error* error(const std::string& message) {
  return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INVALID_ARG, message.c_str());
}

// The batch size of a request (the first dimension of its first input), after taking every input buffer.
TRITONSERVER_Error* take_inputs(TRITONBACKEND_Request* request, int64_t* batch) {
  uint32_t count = 0;
  if (auto* err = TRITONBACKEND_RequestInputCount(request, &count)) return err;
  if (count == 0) return error("repro_transport: a request without inputs");
  for (uint32_t i = 0; i < count; ++i) {
    TRITONBACKEND_Input* input = nullptr;
    if (auto* err = TRITONBACKEND_RequestInputByIndex(request, i, &input)) return err;
    const char* name = nullptr;
    TRITONSERVER_DataType datatype;
    const int64_t* shape = nullptr;
    uint32_t dims = 0, buffers = 0;
    uint64_t bytes = 0;
    if (auto* err = TRITONBACKEND_InputProperties(input, &name, &datatype, &shape, &dims, &bytes, &buffers)) return err;
    if (i == 0) *batch = dims > 0 ? shape[0] : 1;
    for (uint32_t b = 0; b < buffers; ++b) {
      const void* data = nullptr;
      uint64_t size = 0;
      TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
      int64_t memory_id = 0;
      if (auto* err = TRITONBACKEND_InputBuffer(input, b, &data, &size, &memory, &memory_id)) return err;
    }
  }
  return nullptr;
}

TRITONSERVER_Error* respond(TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, int64_t batch) {
  uint32_t outputs = 0;
  if (auto* err = TRITONBACKEND_RequestOutputCount(request, &outputs)) return err;
  const int64_t shape[2] = {batch, 1};
  for (uint32_t o = 0; o < outputs; ++o) {
    const char* name = nullptr;
    if (auto* err = TRITONBACKEND_RequestOutputName(request, o, &name)) return err;
    TRITONBACKEND_Output* output = nullptr;
    if (auto* err = TRITONBACKEND_ResponseOutput(response, &output, name, TRITONSERVER_TYPE_FP32, shape, 2)) return err;
    void* buffer = nullptr;
    TRITONSERVER_MemoryType memory = TRITONSERVER_MEMORY_CPU;
    int64_t memory_id = 0;
    const uint64_t bytes = static_cast<uint64_t>(batch) * sizeof(float);
    if (auto* err = TRITONBACKEND_OutputBuffer(output, &buffer, bytes, &memory, &memory_id)) return err;
    if (memory == TRITONSERVER_MEMORY_GPU) return error("repro_transport: the server offered GPU memory for an output");
    std::memset(buffer, 0, bytes);
  }
  return nullptr;
}

}  // namespace

extern "C" {

EXPORT TRITONSERVER_Error* TRITONBACKEND_Initialize(TRITONBACKEND_Backend*) {
  uint32_t major = 0, minor = 0;
  if (auto* err = TRITONBACKEND_ApiVersion(&major, &minor)) return err;
  if (major != REPRO_BACKEND_API_MAJOR)
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNSUPPORTED,
                                 ("repro_transport: built for backend API 1.x, the server has " +
                                  std::to_string(major) + "." + std::to_string(minor)).c_str());
  return nullptr;
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance* instance,
                                                       TRITONBACKEND_Request** requests, const uint32_t count) {
  const uint64_t start = now_ns();
  uint64_t total = 0;
  std::vector<bool> ok(count, false);
  for (uint32_t r = 0; r < count; ++r) {
    TRITONBACKEND_Response* response = nullptr;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, requests[r]);
    int64_t batch = 0;
    if (err == nullptr) err = take_inputs(requests[r], &batch);
    if (err == nullptr) err = respond(requests[r], response, batch);
    ok[r] = err == nullptr;
    total += ok[r] ? static_cast<uint64_t>(batch) : 0;
    if (response != nullptr) TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err);
    if (err != nullptr) TRITONSERVER_ErrorDelete(err);   // the caller keeps ownership of an error it sends
  }
  const uint64_t end = now_ns();
  for (uint32_t r = 0; r < count; ++r) {
    TRITONBACKEND_ModelInstanceReportStatistics(instance, requests[r], ok[r], start, start, end, end);
    TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL);
  }
  TRITONBACKEND_ModelInstanceReportBatchStatistics(instance, total, start, start, end, end);
  return nullptr;
}

}  // extern "C"
