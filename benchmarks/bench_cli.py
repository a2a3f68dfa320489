"""`govern --help` start-up time against a bare interpreter (budget: 150 ms median).

Prints medians and the ratio; the machines are noisy, so read the ratio as well as the
milliseconds. Run with ``.venv/bin/python benchmarks/bench_cli.py [RUNS]``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_MS = 150.0


def wall_times(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    python = sys.executable
    script = Path(python).parent / "govern"
    cases = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import typer'": [python, "-c", "import typer"],
        "govern --help": [str(script), "--help"],
        "python -m govern --help": [python, "-m", "govern", "--help"],
        "govern register --help": [str(script), "register", "--help"],
    }
    medians = {name: statistics.median(wall_times(cmd, runs)) for name, cmd in cases.items()}
    baseline = medians["python -c pass"]
    print(f"median wall time over {runs} runs (ratio to a bare interpreter)")
    for name, median in medians.items():
        print(f"  {name:<28} {median:7.1f} ms   x{median / baseline:5.1f}")
    help_ms = medians["govern --help"]
    verdict = "within" if help_ms <= BUDGET_MS else "OVER"
    print(f"govern --help: {help_ms:.1f} ms, {verdict} the {BUDGET_MS:.0f} ms budget")


if __name__ == "__main__":
    main()
