"""The benchmark command runs end to end on real data and reports rates, memory and ratios."""
import json
import subprocess
import sys

import pytest

from shared import bench


@pytest.mark.real_data
def test_a_small_benchmark_writes_rates_memory_and_the_ratio_to_its_tutorial(real_data, tmp_path):
    report = bench.main(["--only", "forecast", "--size", "small", "--out", str(tmp_path)])
    rows = {row["case"]: row for row in report["results"]}
    assert set(rows) == {"train", "train_tutorial"}
    assert all(row["per_second"] > 0 and row["peak_memory_mb"] > 50 for row in rows.values())
    (comparison,) = report["comparisons"]
    assert comparison["ratio"] == pytest.approx(rows["train"]["per_second"] / rows["train_tutorial"]["per_second"])
    assert json.loads((tmp_path / "bench.json").read_text())["machine"]["cores"] >= 1
    table = (tmp_path / "bench.md").read_text()
    assert "| forecast | train |" in table and f"{comparison['ratio']:.2f}x" in table
    assert f"The whole run took {report['minutes']:.1f} min." in table


def test_every_recipe_benchmark_compares_cases_it_defines():
    for recipe in bench.recipes_with_benchmarks():
        module = __import__(f"recipes.{recipe}.bench", fromlist=["CASES"])
        for case, baseline, _ in module.COMPARE:
            assert case in module.CASES and baseline in module.CASES, recipe


def test_an_unknown_recipe_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "shared.bench", "--only", "nosuch", "--out", str(tmp_path)],
                          check=False, capture_output=True, text=True)
    assert done.returncode == 2 and "no benchmark for 'nosuch'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bench.json").exists()


def test_a_case_to_skip_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "shared.bench", "--only", "forecast", "--skip", "forecast:trian",
                           "--out", str(tmp_path)], check=False, capture_output=True, text=True)
    assert done.returncode == 2 and "--skip: no case 'forecast:trian'" in done.stderr
    assert "forecast:train_tutorial" in done.stderr and len(done.stderr.strip().splitlines()) == 1
