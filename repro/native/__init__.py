"""Native Triton backends of this project (C++ against Triton's backend C API, declared in
triton_backend_api.h), built from source on the machine that serves them (build.py). No profile serves through them yet: issue 15's
native flavour will; today the e2e test builds one and serves it in the real local server."""
