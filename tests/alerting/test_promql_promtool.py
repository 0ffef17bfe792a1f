"""The embedded evaluator gives the real Prometheus' values on the same samples.

For each expression and evaluation time, our value is written into a ``promql_expr_test``
block of a ``promtool test rules`` file; promtool evaluates the expression with Prometheus'
engine on the same input series and fails if any value (compared exactly) or label set differs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from glowops.alerting.promtest import load_case
from glowops.alerting.rule_tests import InputSeries, RuleTestCase
from glowops.promql import NAME, Evaluator
from peers import require_binary

pytestmark = pytest.mark.prometheus

SERIES = (
    # a counter with a reset in the middle
    InputSeries("ctr", {"job": "a"}, "0+7x20 3+7x20"),
    # a counter starting high, with missing scrapes and a reset
    InputSeries("ctr", {"job": "b"}, "100 _ _ 130+13x15 _ 400+1x5 2+3x15"),
    # a counter that starts late, so extrapolation meets the zero point
    InputSeries("ctr", {"job": "c"}, "_ _ _ _ _ _ _ _ _ _ 5+10x30"),
    # histogram buckets, including a non-monotonic moment and a reset of the whole histogram
    InputSeries("lat_bucket", {"le": "0.1"}, "0+50x20 0+40x15"),
    InputSeries("lat_bucket", {"le": "0.5"}, "0+80x20 0+45x15"),
    InputSeries("lat_bucket", {"le": "1.0"}, "0+95x10 900+90x10 0+90x15"),
    InputSeries("lat_bucket", {"le": "+Inf"}, "0+100x20 0+100x15"),
    InputSeries("g", {"x": "1"}, "1 5 3 7 4 _ _ 9 2 2 8 1 0 6 6 3 _ 5 4 7 7 1 1 1 9 2 3 3 3 3 3"),
    InputSeries("g", {"x": "2"}, "-2+0.5x30"),
)

EXPRESSIONS = (
    "rate(ctr[5m])",
    "increase(ctr[3m])",
    "increase(ctr[7m30s])",
    "irate(ctr[2m])",
    "sum by (job) (rate(ctr[10m]))",
    "histogram_quantile(0.9, rate(lat_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (increase(lat_bucket[10m])))",
    "histogram_quantile(0.99, rate(lat_bucket[3m]))",
    "avg_over_time(g[4m])",
    "min_over_time(g[6m])",
    "max_over_time(g[3m])",
    "sum_over_time(g[5m])",
    "count_over_time(g[5m])",
    "avg(g) + 1",
    "g > 3",
    'absent(g{x="3"})',
    "clamp_max(g, 4) * 2",
)
EVAL_TIMES = ("1m", "3m", "10m20s", "16m", "21m", "22m40s", "30m", "35m")


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    name = next((v for k, v in labels if k == NAME), "")
    inner = ", ".join(f'{k}="{v}"' for k, v in labels if k != NAME)
    return f"{name}{{{inner}}}"


def build_tests() -> tuple[dict[str, object], int]:
    case = RuleTestCase("promql values", SERIES, ())
    evaluator = Evaluator(load_case(case))
    blocks = []
    compared = 0
    for expr in EXPRESSIONS:
        for at in EVAL_TIMES:
            minutes, _, rest = at.partition("m")
            t = int(minutes) * 60_000 + (int(rest.rstrip("s")) * 1000 if rest else 0)
            value = evaluator.evaluate(expr, t)
            assert isinstance(value, list)
            if any(v != v for _, v in value):
                continue  # promtool cannot compare NaN samples
            compared += len(value)
            blocks.append(
                {
                    "expr": expr,
                    "eval_time": at,
                    "exp_samples": [{"labels": _labels(lb), "value": v} for lb, v in value],
                }
            )
    document = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s.series, "values": s.values} for s in SERIES],
                "promql_expr_test": blocks,
            }
        ],
    }
    return document, compared


def test_values_match_the_real_prometheus_engine(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    document, compared = build_tests()
    assert compared > 150  # the cases really compare values, not empty results
    path = tmp_path / "promql_values.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_a_wrong_value_is_caught_by_the_comparison(tmp_path: Path) -> None:
    """The check can fail: nudge one expected value by a millionth and promtool rejects it."""
    promtool = require_binary("promtool")
    document, _ = build_tests()
    tests = document["tests"]
    assert isinstance(tests, list)
    block = next(b for b in tests[0]["promql_expr_test"] if b["expr"] == "rate(ctr[5m])" and b["exp_samples"])
    sample = block["exp_samples"][0]
    sample["value"] = sample["value"] * 1.000001
    path = tmp_path / "promql_values.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "rate(ctr[5m])" in result.stdout + result.stderr
