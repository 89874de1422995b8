// What this project's native backends share: the export macro, a clock, the API version check, and the
// execute loop (one response per request, the server's statistics reported, every request released).
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "triton_backend_api.h"

#define EXPORT __attribute__((visibility("default")))   // everything else stays hidden (-fvisibility=hidden)

namespace repro {

inline uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// TRITONBACKEND_Initialize's check: the server speaks the major API version triton_backend_api.h describes.
inline TRITONSERVER_Error* check_api_version(const std::string& backend) {
  uint32_t major = 0, minor = 0;
  if (auto* err = TRITONBACKEND_ApiVersion(&major, &minor)) return err;
  if (major == REPRO_BACKEND_API_MAJOR) return nullptr;
  return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNSUPPORTED,
                               (backend + ": built for backend API 1.x, the server has " + std::to_string(major) +
                                "." + std::to_string(minor)).c_str());
}

// Runs ``run(request, response, &batch)`` for each request, sends its response (with the error, if any),
// reports per-request and batch statistics and releases the requests.
template <typename Run>
TRITONSERVER_Error* execute_each(TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
                                 uint32_t count, Run run) {
  const uint64_t start = now_ns();
  uint64_t total = 0;
  std::vector<bool> ok(count, false);
  std::vector<uint64_t> ends(count, start);
  for (uint32_t r = 0; r < count; ++r) {
    TRITONBACKEND_Response* response = nullptr;
    TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, requests[r]);
    int64_t batch = 0;
    if (err == nullptr) err = run(requests[r], response, &batch);
    ok[r] = err == nullptr;
    total += ok[r] ? static_cast<uint64_t>(batch) : 0;
    ends[r] = now_ns();
    if (response != nullptr) TRITONBACKEND_ResponseSend(response, TRITONSERVER_RESPONSE_COMPLETE_FINAL, err);
    if (err != nullptr) TRITONSERVER_ErrorDelete(err);   // the caller keeps ownership of an error it sends
  }
  const uint64_t end = now_ns();
  for (uint32_t r = 0; r < count; ++r) {
    TRITONBACKEND_ModelInstanceReportStatistics(instance, requests[r], ok[r], start, start, ends[r], end);
    TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL);
  }
  TRITONBACKEND_ModelInstanceReportBatchStatistics(instance, total, start, start, end, end);
  return nullptr;
}

}  // namespace repro
