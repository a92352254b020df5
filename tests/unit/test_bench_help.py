"""`--help` on every benchmark: it answers with its usage and docstring and starts nothing;
an unknown option is an error (exit 2). Before this, `bench/federation.py --help` ran the
whole benchmark (minutes of load) and overwrote bench/results/federation.json."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gestalt

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if 'if __name__ == "__main__"' in p.read_text())
# Parsing the command line comes before anything starts; a script still busy after this
# is running its benchmark. All of them start at once on a 2-core machine.
TIMEOUT_S = 30


def results_state() -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in RESULTS.iterdir()} if RESULTS.exists() else {}


def run_all(args: list[str], scripts: list[Path] = SCRIPTS
            ) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each script with `args`, all in parallel; one still running at the deadline is
    killed with whatever it started in its process group, and reported as exit -9."""
    env = {**os.environ, "PYTHONPATH": str(Path(gestalt.__file__).parents[1])}
    procs = {p.stem: subprocess.Popen([sys.executable, str(p), *args], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, start_new_session=True)
             for p in scripts}
    deadline = time.monotonic() + TIMEOUT_S
    done = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


Answers = dict[str, dict[str, subprocess.CompletedProcess[str]]]  # run -> script -> answer


@pytest.fixture(scope="module")
def answers() -> Answers:
    before = results_state()
    found = {"help": run_all(["--help"]), "unknown": run_all(["--no-such-option"]),
             # argparse's default would take it for --full: a 10 x 10,000 run.
             "abbreviated": run_all(["--ful"], [BENCH / "federation.py"])}
    assert results_state() == before, "a benchmark wrote bench/results/"
    return found


def test_every_benchmark_is_covered() -> None:
    assert len(SCRIPTS) >= 25
    assert {"federation", "run_all", "time_travel", "browser_scale"} <= {p.stem for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_help_shows_usage_and_docstring(script: Path, answers: Answers) -> None:
    answer = answers["help"][script.stem]
    assert answer.returncode == 0, (answer.returncode, answer.stderr[-2000:])
    assert answer.stdout.startswith("usage:"), answer.stdout[:500]
    doc = ast.get_docstring(ast.parse(script.read_text()))
    assert doc, "no module docstring"
    assert doc.splitlines()[0] in answer.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_unknown_option_is_an_error(script: Path, answers: Answers) -> None:
    answer = answers["unknown"][script.stem]
    assert answer.returncode == 2, (answer.returncode, answer.stderr[-2000:])
    assert answer.stderr.startswith("usage:") and "error:" in answer.stderr, answer.stderr


def test_an_option_is_spelt_out(answers: Answers) -> None:
    answer = answers["abbreviated"]["federation"]
    assert answer.returncode == 2, (answer.returncode, answer.stderr[-2000:])
    assert "unrecognized arguments: --ful" in answer.stderr
