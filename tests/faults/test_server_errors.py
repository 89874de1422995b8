"""Faults: why a model failed to load is in the error, not only in the server log."""
from __future__ import annotations

from repro.serving.server import log_errors, log_tail

LOG = """I1123 20:04:18.376000 1 server.cc:1] "starting"
E1123 20:04:18.376138 18435 server.cc:241] "CudaDriverHelper has not been initialized."
[libprotobuf ERROR /x/protobuf/src/google/protobuf/text_format.cc:337] Error parsing text-format inference.ModelConfig: 30:6: Message type "inference.ModelConfig" has no field named "this".
E1123 20:04:18.377275 18435 model_repository_manager.cc:1460] "Poll failed for model directory 'dlrm_dense': failed to read text proto from /r/dlrm_dense/config.pbtxt"
Error: Failed to initialize NVML
""" + "\n".join(f'I1123 20:04:{i:02d}.0 1 server.cc:345] "Timeout {i}"' for i in range(40)) + """
error: creating server: Invalid argument - load failed for model 'dlrm_tf': ensemble dlrm_tf contains models that are not available or ambiguous: dlrm_dense
"""


def test_config_parse_error_names_file_line_and_column(tmp_path):
    (tmp_path / "server.log").write_text(LOG)
    text = log_tail(tmp_path / "server.log")
    assert "30:6: Message type \"inference.ModelConfig\" has no field named \"this\"" in text
    assert "/r/dlrm_dense/config.pbtxt" in text


def test_cpu_only_start_up_noise_is_not_reported_as_an_error():
    assert not any("NVML" in line or "CudaDriverHelper" in line for line in log_errors(LOG))
