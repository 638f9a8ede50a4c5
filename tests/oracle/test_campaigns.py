"""Campaigns on existing engines: HypoFuzz over the property tests, and a Redis example database
shared by several campaigns (docs/fuzzing.md, "Beyond one machine").

Spec: RPT-25.

Each test is bounded (tens of seconds) and skips cleanly where its engine is missing: the `fuzz`
extra (hypofuzz, redis) and Debian's `redis-server`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
needs_hypofuzz = pytest.mark.skipif(
    importlib.util.find_spec("hypofuzz") is None or shutil.which("hypothesis") is None,
    reason="hypofuzz is not installed (pip install '.[fuzz]')")
needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None or importlib.util.find_spec("redis") is None,
    reason="needs Debian's redis-server and the redis package (the fuzz extra)")


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.spec("RPT-25")
@needs_hypofuzz
def test_hypofuzz_fuzzes_the_differential_property_into_the_shared_database(tmp_path: Path):
    database = tmp_path / "db"
    proc = subprocess.Popen(
        ["hypothesis", "fuzz", "-n", "1", "--no-dashboard", "--", "-o", "addopts=",
         "-p", "no:randomly", "tests/oracle/test_properties.py",
         "-k", "test_torch_agrees_on_structural_paths"],
        cwd=REPO, env=_env(ORACLE_FUZZ_DATABASE=str(database)), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if database.exists() and sum(1 for p in database.rglob("*") if p.is_file()) >= 5:
            break
        time.sleep(1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        output = proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:  # a loaded machine: HypoFuzz's workers ignore SIGINT long
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
    assert "using 1 process to fuzz 1 test" in output, f"expected HypoFuzz to fuzz it:\n{output}"
    entries = sum(1 for p in database.rglob("*") if p.is_file()) if database.exists() else 0
    assert entries >= 5, f"expected HypoFuzz to write the shared database, got {entries} entries"


@pytest.fixture
def redis_url(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis  # noqa: PLC0415 - the fuzz extra

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


# A campaign over generated programs whose property fails for any program with two prints: what
# one machine finds goes to the shared database. (No `@seed`: a seeded test does not use the
# database.)
CAMPAIGN = textwrap.dedent("""
    import sys
    import unittest
    from hypothesis import Phase, given, settings
    from oracle import strategies as ps
    from oracle.fuzz import example_database

    url, phases = sys.argv[1], sys.argv[2]
    chosen = [Phase.reuse] if phases == "reuse" else list(Phase)

    @settings(database=example_database(url), phases=chosen, max_examples=200, deadline=None)
    @given(doc=ps.programs(max_ops=12))
    def campaign(doc):
        prints = [s for s in doc["body"] if s.get("op") == "aten::_print.default"]
        assert len(prints) < 2, "two prints"

    try:
        campaign()
    except AssertionError:
        print("FOUND")
    except unittest.SkipTest:  # reuse only, and nothing stored to reuse
        print("CLEAN")
    else:
        print("CLEAN")
""")


def _campaign(script: Path, url: str, phases: str) -> str:
    done = subprocess.run([sys.executable, str(script), url, phases], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"campaign crashed:\n{done.stderr[-2000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.spec("RPT-25")
@needs_redis
def test_a_failure_found_by_one_campaign_is_replayed_by_another(tmp_path: Path, redis_url: str):
    script = tmp_path / "campaign.py"
    script.write_text(CAMPAIGN)
    assert _campaign(script, redis_url, "reuse") == "CLEAN", (
        "expected nothing to replay from an empty database")
    assert _campaign(script, redis_url, "all") == "FOUND", "expected machine 1 to find it"
    assert _campaign(script, redis_url, "reuse") == "FOUND", (
        "expected machine 2 to replay machine 1's failure from Redis, generating nothing")


@pytest.mark.torch
@pytest.mark.spec("RPT-25")
@needs_redis
def test_oracle_fuzz_runs_against_a_shared_redis_database(tmp_path: Path, redis_url: str):
    done = subprocess.run(
        [sys.executable, "-m", "oracle", "fuzz", "--paths", "eager", "--max-examples", "3",
         "--budget", "60s", "--no-known", "--database", redis_url,
         "--findings", str(tmp_path / "findings")],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode in (0, 1), f"expected a campaign, got:\n{done.stderr[-2000:]}"
    assert "3 examples" in done.stderr or "examples" in done.stderr, done.stderr[-2000:]
