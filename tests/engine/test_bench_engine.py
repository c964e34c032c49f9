"""bench/engine.py end to end on the tiny model: every path runs and every figure is there."""

from __future__ import annotations

import json

from bench.engine import CUSTOMER_COUNTS, PATHS, main


def test_the_engine_benchmark_reports_every_path_side_by_side() -> None:
    printed: list[str] = []
    main(["--tokens", "4", "--runs", "2", "--stagger", "0.01"], out=printed.append)
    report = json.loads(printed[-1])
    assert set(report["paths"]) == set(PATHS)
    for figures in report["paths"].values():
        assert figures["mood"]["p50_s"] > 0
        assert figures["peak_rss_mib"] > 0
        assert figures["tenth_turn_first_token_s"] > 0
        assert set(figures["customers"]) == {str(count) for count in CUSTOMER_COUNTS}
        assert figures["customers"]["8"]["answer"]["p95_s"] > 0
    assert set(report["against_generate_bf16"]) == {"engine_bf16", "engine_int4"}
