// What this project's native backends share: the export macro, a clock, the API version check, and the
// execute loops (one response per request, the server's statistics reported, every request released): each request
// on its own, or all of a dynamic batch's requests as one batch.
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

// Runs the requests as one batch: ``take(r, request, response, &rows)`` accepts request r (its inputs and output
// buffer), then ``run(accepted)`` computes every accepted request at once. A request that ``take`` refuses gets
// its own error; an error of ``run`` goes to every accepted request. Statistics and release as execute_each.
template <typename Take, typename Run>
TRITONSERVER_Error* execute_together(TRITONBACKEND_ModelInstance* instance, TRITONBACKEND_Request** requests,
                                     uint32_t count, Take take, Run run) {
  const uint64_t start = now_ns();
  std::vector<TRITONBACKEND_Response*> responses(count, nullptr);
  std::vector<TRITONSERVER_Error*> errors(count, nullptr);
  std::vector<uint32_t> accepted;
  uint64_t total = 0;
  for (uint32_t r = 0; r < count; ++r) {
    errors[r] = TRITONBACKEND_ResponseNew(&responses[r], requests[r]);
    int64_t rows = 0;
    if (errors[r] == nullptr) errors[r] = take(r, requests[r], responses[r], &rows);
    if (errors[r] == nullptr) { accepted.push_back(r); total += static_cast<uint64_t>(rows); }
  }
  const uint64_t compute_start = now_ns();
  TRITONSERVER_Error* failed = accepted.empty() ? nullptr : run(accepted);
  const uint64_t compute_end = now_ns();
  for (uint32_t r : accepted)
    errors[r] = failed == nullptr ? nullptr : TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_INTERNAL,
                                                                    TRITONSERVER_ErrorMessage(failed));
  if (failed != nullptr) { TRITONSERVER_ErrorDelete(failed); total = 0; }
  std::vector<bool> ok(count, false);
  for (uint32_t r = 0; r < count; ++r) {
    ok[r] = errors[r] == nullptr;
    if (responses[r] != nullptr) TRITONBACKEND_ResponseSend(responses[r], TRITONSERVER_RESPONSE_COMPLETE_FINAL, errors[r]);
    if (errors[r] != nullptr) TRITONSERVER_ErrorDelete(errors[r]);
  }
  const uint64_t end = now_ns();
  for (uint32_t r = 0; r < count; ++r) {
    TRITONBACKEND_ModelInstanceReportStatistics(instance, requests[r], ok[r], start, compute_start, compute_end, end);
    TRITONBACKEND_RequestRelease(requests[r], TRITONSERVER_REQUEST_RELEASE_ALL);
  }
  TRITONBACKEND_ModelInstanceReportBatchStatistics(instance, total, start, compute_start, compute_end, end);
  return nullptr;
}

}  // namespace repro
