"""`--help` on every benchmark: it answers with its usage and docstring and starts nothing;
an unknown option is an error (exit 2). Before this, `bench/federation.py --help` ran the
whole benchmark (minutes of load) and overwrote bench/results/federation.json."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import gestalt

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if 'if __name__ == "__main__"' in p.read_text())
# Parsing the command line comes before anything starts; a script still busy after this
# long is running its benchmark.
TIMEOUT_S = 30
# A few at a time: each is a Python start-up importing the project, and every one at once
# on a busy 2-core machine could take any one of them past its deadline.
AT_ONCE = 4


def results_state() -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in RESULTS.iterdir()} if RESULTS.exists() else {}


def run_one(script: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """`script` with `args`; still running at the deadline, it is killed with whatever it
    started in its process group, and reported as exit -9."""
    env = {**os.environ, "PYTHONPATH": str(Path(gestalt.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_all(args: list[str], scripts: list[Path] = SCRIPTS
            ) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each script with `args`, a few at a time."""
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        answers = pool.map(lambda script: run_one(script, args), scripts)
        return {script.stem: answer for script, answer in zip(scripts, answers, strict=True)}


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
