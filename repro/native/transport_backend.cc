// repro_transport: a native Triton backend that takes each request's input buffers (as the server hands
// them over, without copying them) and answers every requested output with FP32 zeros of shape [batch, 1].
// It measures what the server's transport costs without any model: the native counterpart of the
// python-backend "transport ceiling" model. Built by repro/native/build.py with one g++ line.
#include <cstring>
#include <string>

#include "backend_common.h"

namespace {

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
  return repro::check_api_version("repro_transport");
}

EXPORT TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance* instance,
                                                       TRITONBACKEND_Request** requests, const uint32_t count) {
  return repro::execute_each(instance, requests, count,
                             [](TRITONBACKEND_Request* request, TRITONBACKEND_Response* response, int64_t* batch) {
                               TRITONSERVER_Error* err = take_inputs(request, batch);
                               return err != nullptr ? err : respond(request, response, *batch);
                             });
}

}  // extern "C"
