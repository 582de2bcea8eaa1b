"""benchmarks/peers_tally.py: the counters read from a vLLM /metrics page, and rows lost or repeated."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from peers_tally import delta, lost_and_duplicated, parse_counters  # noqa: E402

METRICS = """\
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="/m"} 1234.0
vllm:generation_tokens_created{engine="0",model_name="/m"} 1.7e9
vllm:request_success_total{engine="0",finished_reason="stop",model_name="/m"} 3.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="/m"} 5.0
vllm:num_requests_running{engine="0",model_name="/m"} 2.0
"""


def test_counters_sum_label_sets_and_skip_gauges():
    counters = parse_counters(METRICS)
    assert counters == {"vllm:generation_tokens_total": 1234.0, "vllm:request_success_total": 8.0}
    later = dict(counters, **{"vllm:generation_tokens_total": 1300.0})
    assert delta(counters, later, "vllm:generation_tokens_total") == 66
    assert delta(counters, later, "vllm:missing_total") == 0


def test_lost_and_duplicated():
    expected = [("a",), ("b",), ("c",)]
    assert lost_and_duplicated(expected, [("a",), ("b",), ("c",)]) == (0, 0)
    assert lost_and_duplicated(expected, [("a",), ("a",), ("a",), ("c",)]) == (1, 2)
    assert lost_and_duplicated(expected, []) == (3, 0)
