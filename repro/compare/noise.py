"""How far two runs of one commit drift apart on a profile's machine: the run-to-run envelope.

Windows and requests inside one run share the machine's state (caches, frequency, neighbours), so a
test on them alone calls ordinary run-to-run drift a change. `make compare` therefore asks for both:
the ratio beyond this envelope AND the samples significant. The envelope is per profile and metric in
params.yaml (`compare.noise.<profile>`), measured by `make calibrate-compare` (the 95th percentile of
|log ratio| over A/A pairs of independent runs); a profile without a measured envelope uses
`compare.noise.default` and the report says so.
"""
from __future__ import annotations

from pydantic import Field

from repro.errors import UserError
from repro.measure.metrics import P50, P99, THROUGHPUT
from repro.profiles.catalog import Strict


class Envelope(Strict):
    """Ratio factors (>= 1) a change must exceed per metric, and where they come from."""
    throughput_infer_per_s: float = Field(ge=1.0)
    latency_p50_us: float = Field(ge=1.0)
    latency_p99_us: float = Field(ge=1.0)
    source: str = Field(min_length=1)     # the calibration that measured it, or why it is a default


class CompareParams(Strict):
    alpha: float = Field(gt=0, lt=0.5)    # significance level of the sample tests
    noise: dict[str, Envelope]            # profile -> envelope; 'default' for profiles not calibrated

    def envelope(self, profile: str) -> tuple[dict[str, float], str]:
        """(metric -> factor, where it comes from) for ``profile``."""
        env = self.noise.get(profile) or self.noise.get("default")
        if env is None:
            raise UserError(f"params.yaml: 'compare.noise' has neither '{profile}' nor 'default'; add one.")
        where = env.source if profile in self.noise else f"default ({env.source}); not calibrated for '{profile}'"
        return {m: getattr(env, m) for m in (THROUGHPUT, P50, P99)}, where


def compare_params(params: dict) -> CompareParams:
    return CompareParams.model_validate(params["compare"])
