"""oracle/repro.py, signature.json and the register_effects rendering of a finding.

Models: nothing upstream. A generated `repro.py` is run as a torch engineer would run it: a
fresh interpreter, outside the checkout, no PYTHONPATH; its logs must equal what the torch
runner observed for the same program and path.
Spec: RPT-29, RPT-30, RPT-31.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracle import fuzz
from oracle.compare import PathResult
from oracle.observation import Observation
from oracle.program import load_program
from oracle.program_source import register_effects_source
from oracle.repro import render_repro

ROOT = Path(__file__).resolve().parents[2]

# Custom ops of three behaviours, a print with a newline, an effect registered on an aten op,
# a listed randn input and one large enough to be drawn with numpy.
RICH = {
    "format": "effects-program/1",
    "name": "rich",
    "custom_ops": [
        {"name": "fz::rec", "schema": "rec(Tensor x, str tag, int k=3) -> Tensor",
         "behavior": "record", "effect": "ORDERED"},
        {"name": "fz::parts", "schema": "parts(Tensor x) -> Tensor[]", "behavior": "chunks",
         "effect": "ORDERED"},
        {"name": "fz::stamp", "schema": "stamp(str s, int[] dims) -> ()", "behavior": "stamp",
         "effect": None},
    ],
    "register_effects": {"aten::cos.default": "ORDERED"},
    "inputs": [
        {"name": "x", "shape": [2, 3], "dtype": "float32", "fill": {"randn": 3}},
        {"name": "big", "shape": [300], "dtype": "float64", "fill": {"randn": 5}},
        {"name": "n", "shape": [4], "dtype": "int64"},
    ],
    "body": [
        {"op": "aten::_print.default", "args": ["one\ntwo"]},
        {"op": "fz::rec.default", "args": [{"ref": "x"}, "a"], "outs": ["r"]},
        {"op": "aten::cos.default", "args": [{"ref": "r"}], "outs": ["c"]},
        {"op": "fz::stamp.default", "args": ["s", [1, 2]]},
        {"op": "fz::parts.default", "args": [{"ref": "big"}], "outs": ["ps"]},
        {"op": "aten::add.Tensor", "args": [{"ref": "ps", "index": 1}, {"ref": "big"}],
         "outs": ["s"]},
        {"op": "fz::rec.default", "args": [{"ref": "n"}, "b"], "kwargs": {"k": 7}, "outs": ["m"]},
    ],
    "outputs": ["c", "s", "m"],
}


def _run_repro(text: str, tmp_path: Path) -> dict[str, list]:
    """Run a repro script standalone; the effect log it printed for each run."""
    script = tmp_path / "repro.py"
    script.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"expected the repro to run, got {done.returncode}:\n" \
                                 f"{done.stderr[-3000:]}"
    logs = {}
    for line in done.stdout.splitlines():
        name, sep, log = line.partition(": effect log ")
        if sep:
            logs[name] = ast.literal_eval(log)
    return logs


@pytest.mark.spec("RPT-29")
def test_repro_imports_only_torch() -> None:
    tree = ast.parse(render_repro(load_program(RICH), "compile:inductor"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)}
    allowed = {"contextlib", "ctypes", "io", "os", "sys", "tempfile", "traceback", "torch",
               "numpy"}
    assert modules <= allowed, f"expected torch and the standard library only, got {modules}"


@pytest.mark.torch
@pytest.mark.spec("RPT-29")
def test_generated_repro_runs_standalone_and_prints_both_logs(tmp_path: Path) -> None:
    from oracle.torch_runner import run_torch  # noqa: PLC0415 - imports torch

    program = load_program(RICH)
    logs = _run_repro(render_repro(program, "compile:aot_eager"), tmp_path)
    assert set(logs) == {"eager", "compile:aot_eager"}, f"expected two logs, got {logs}"
    for path, log in logs.items():
        observed = run_torch(program, path)
        assert observed.error is None, f"expected the program to run on {path}: {observed.error}"
        assert log == observed.effect_log, (
            f"expected the repro's {path} log to be the torch runner's:\n"
            f"  runner {observed.effect_log}\n  repro  {log}")
    assert logs["eager"][:2] == [("aten::_print", ("one",), ()), ("aten::_print", ("two",), ())], (
        f"expected the print's two lines first, got {logs['eager']}")


@pytest.mark.torch
@pytest.mark.spec("RPT-29")
def test_repro_of_every_path_runs(tmp_path: Path) -> None:
    from oracle.torch_runner import run_torch  # noqa: PLC0415 - imports torch

    program = load_program(dict(RICH, inputs=RICH["inputs"][:1] + [
        {"name": "big", "shape": [3], "dtype": "float64"},
        {"name": "n", "shape": [4], "dtype": "int64"}]))
    for path in ("fake", "make_fx", "functional", "export"):
        logs = _run_repro(render_repro(program, path), tmp_path)
        observed = run_torch(program, path)
        assert logs[path] == observed.effect_log, (
            f"expected the repro's {path} log {logs[path]} to be the runner's "
            f"{observed.effect_log}")


def _finding(path: str = "compile:inductor") -> fuzz.Finding:
    program = load_program(RICH)
    t = Observation(path, "torch", effect_log=[("aten::_print", ("b",), ())])
    r = Observation(path, "refimpl", effect_log=[("aten::_print", ("a",), ())])
    result = PathResult("rich", path, "diverge", kinds=["effect-order violation"])
    sig = {"path": path, "kinds": result.kinds, "ops": ["aten::_print"]}
    return fuzz.Finding(sig, program, result, t, r, "2.13.0+cpu", 0, "abc123")


@pytest.mark.spec("RPT-30")
def test_signature_file_names_the_build_and_the_path_config(tmp_path: Path) -> None:
    finding = _finding()
    folder = fuzz.write_finding(tmp_path, finding)
    sig = json.loads((folder / "signature.json").read_text())
    assert sig["torch"] == {"version": "2.13.0+cpu", "git_version": "abc123"}, (
        f"expected the torch build, got {sig.get('torch')}")
    config = sig["path_config"]
    assert config["path"] == "compile:inductor" and "backend='inductor'" in config["call"], (
        f"expected inductor's call, got {config}")
    assert config["inductor_config"] == {"compile_threads": 1, "fx_graph_cache": False}, (
        f"expected settings: {config}")
    bare = {k: sig[k] for k in ("path", "kinds", "ops")}
    assert folder.name == fuzz.signature_hash(sig) == fuzz.signature_hash(bare), (
        f"expected the hash of path, kinds and ops only, got {folder.name}")
    assert (folder / "repro.py").exists(), f"expected repro.py in {folder}"


@pytest.mark.torch
@pytest.mark.spec("RPT-30")
def test_campaign_reads_torchs_git_version() -> None:
    import torch  # noqa: PLC0415

    got = fuzz._torch_git_version()
    assert got == torch.version.git_version, (
        f"expected torch.version.git_version {torch.version.git_version!r}, got {got!r}")


@pytest.mark.spec("RPT-31")
def test_register_effects_are_rendered_as_calls_in_order() -> None:
    program = load_program(dict(RICH, register_effects={"aten::cos.default": "ORDERED",
                                                        "fz::rec.default": None}))
    assert register_effects_source(program) == [
        "_register_effectful_op(torch.ops.aten.cos.default, EffectType.ORDERED)",
        "_register_effectful_op(torch.ops.fz.rec.default, None)",
    ], f"expected two calls in document order, got {register_effects_source(program)}"
    source = fuzz._program_source(load_program(
        ROOT / "findings" / "002-inductor-ordered-aten-add-use-after-del" / "program.json"))
    assert "_register_effectful_op(torch.ops.aten.add.Tensor, EffectType.ORDERED)\n" in source, (
        f"expected the report's program to register aten::add.Tensor, got:\n{source}")


@pytest.mark.spec("RPT-35")
def test_an_inductor_finding_keeps_the_generated_code(tmp_path: Path) -> None:
    finding = _finding()
    finding.torch_obs.generated_code = ["# module one\ndef call(args): ...", "# module two"]
    folder = fuzz.write_finding(tmp_path, finding)
    code = (folder / "inductor_code.py").read_text()
    assert code.startswith("# module one") and "# module two" in code, f"got {code!r}"
    torch_side = json.loads((folder / "torch.json").read_text())
    assert torch_side["generated_code"] == "see inductor_code.py", f"got {torch_side}"
    again = Observation.from_json(finding.torch_obs.to_json())
    assert again.generated_code == finding.torch_obs.generated_code, "expected a JSON round trip"


@pytest.mark.torch
@pytest.mark.spec("RPT-35")
def test_the_torch_runner_keeps_what_inductor_generates() -> None:
    from oracle.torch_runner import run_torch  # noqa: PLC0415

    obs = run_torch(load_program(RICH), "compile:inductor")
    assert obs.generated_code and any("def call(" in c for c in obs.generated_code), (
        f"expected inductor's module with its call(), got {obs.generated_code}")


@pytest.mark.spec("RPT-29")
def test_every_rendered_repro_is_lint_clean(tmp_path: Path) -> None:
    """A finding folder is committed as written, so its repro.py must pass the project's ruff
    (long data lines aside: `findings/*/repro.py` ignores E501)."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed")
    from oracle.program import load_catalog  # noqa: PLC0415

    for i, program in enumerate(load_catalog()):
        for path in ("eager", "functional", "compile:inductor"):
            (tmp_path / f"r{i}_{path.replace(':', '_')}.py").write_text(
                render_repro(program, path, torch_version="2.13.0"))
    done = subprocess.run(["ruff", "check", "--no-cache", "--extend-ignore", "E501",
                           str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"expected clean repro scripts, ruff said:\n{done.stdout[-3000:]}"
