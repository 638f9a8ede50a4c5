"""Tests for oracle/torch_runner.py, oracle/observation.py and oracle/isolate.py.

Each test runs one small effect program through real torch on one path and checks the
observation: outputs, effect log, code text, signature. The `functional` and `export` code texts
are checked against what torch 2.13.0 printed in the reference scenarios (05a, 05b, 05d, 05e, 08).
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")

from torch._higher_order_ops.effects import _get_effect  # noqa: E402
from torch._library.effects import EffectType  # noqa: E402

from oracle.isolate import (  # noqa: E402
    IsolatedWorker,
    error_observation,
    run_isolated,
    run_torch_isolated,
)
from oracle.observation import PATHS, ErrorObs, Observation, ValueObs  # noqa: E402
from oracle.program import load_program, program_to_json  # noqa: E402
from oracle.torch_runner import run_torch  # noqa: E402

SCENARIOS = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "torch-2.13" / "scenarios"
)


def _program(name, body, outputs, *, custom_ops=(), inputs=None, register_effects=None, **extra):
    doc = {
        "format": "effects-program/1",
        "name": name,
        "custom_ops": list(custom_ops),
        "inputs": inputs or [{"name": "x", "shape": [2], "dtype": "float32", "fill": "ones"}],
        "body": body,
        "outputs": outputs,
        **extra,
    }
    if register_effects:
        doc["register_effects"] = register_effects
    return load_program(doc)


def _rec(ns="cat05", effect="ORDERED"):
    return {
        "name": f"{ns}::rec",
        "schema": "rec(Tensor x, str tag) -> Tensor",
        "behavior": "record",
        "effect": effect,
    }


def _print(message):
    return {"op": "aten::_print.default", "args": [message]}


def _call(op, args, outs=()):
    return {"op": op, "args": args, "outs": list(outs)}


def _x(name="x"):
    return {"ref": name}


# The programs of reference 05a (prints around an add), 05b (custom op result used),
# 05d (interleaved prints and custom ops), 05e (input mutation), 08 (torch.export).
P05A = _program(
    "05a",
    [_print("before"), _call("aten::add.Tensor", [_x(), _x()], ["y"]), _print("after")],
    ["y"],
)
P05B = _program(
    "05b",
    [_call("cat05::rec.default", [_x(), "a"], ["y"]), _call("aten::sin.default", [_x("y")], ["s"])],
    ["s"],
    custom_ops=[_rec()],
)
P05D = _program(
    "05d",
    [
        _print("p1"),
        _call("cat05::rec.default", [_x(), "a"], ["a"]),
        _print("p2"),
        _call("aten::mul.Scalar", [_x("a"), 2], ["m"]),
        _call("cat05::rec.default", [_x("m"), "b"], ["b"]),
        _print("p3"),
        _call("aten::add.Tensor", [_x("a"), _x("b")], ["s"]),
    ],
    ["s"],
    custom_ops=[_rec()],
)
# 05e mutates with a scalar (`x.add_(1)`); a program's Tensor parameter takes refs only (PRG-16),
# so the `1` is a second input here and only the signature is compared.
P05E = _program(
    "05e",
    [
        _print("p1"),
        _call("aten::add_.Tensor", [_x(), _x("one")], ["x2"]),
        _print("p2"),
        _call("aten::mul.Scalar", [_x("x2"), 2], ["m"]),
    ],
    ["m"],
    inputs=[
        {"name": "x", "shape": [2], "dtype": "float32", "fill": "ones"},
        {"name": "one", "shape": [2], "dtype": "float32", "fill": "ones"},
    ],
)
P08 = _program(
    "08",
    [
        _print("p1"),
        _call("cat08::rec.default", [_x(), "a"], ["y"]),
        _call("cat08::rec.default", [_x(), "unused"]),
        _print("p2"),
        _call("aten::sin.default", [_x("y")], ["s"]),
    ],
    ["s"],
    custom_ops=[_rec("cat08")],
)


def _reference_code(scenario: str, after: str | None = None) -> str:
    """The `def forward` block a scenario printed (the first one after the line `after`)."""
    path = SCENARIOS / f"{scenario}.out"
    if not path.exists():
        pytest.skip(f"reference output {path} not present")
    lines = path.read_text().splitlines()
    if after is not None:
        lines = lines[lines.index(after) + 1 :]
    start = next(i for i, line in enumerate(lines) if line.startswith("def forward"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    "))
    return "\n".join(lines[start:end])


def _ok(obs: Observation) -> Observation:
    assert obs.error is None, f"expected no error on {obs.path}, got {obs.error}"
    return obs


def _values(obs: Observation) -> list:
    return [v.values for v in obs.outputs]


# --------------------------------------------------------------------------------------------
# eager, fake, make_fx
# --------------------------------------------------------------------------------------------

REC_LOG = [
    ("aten::_print", ("p1",), ()),
    ("cat05::rec", ("a",), ((2,),)),
    ("aten::_print", ("p2",), ()),
    ("cat05::rec", ("b",), ((2,),)),
    ("aten::_print", ("p3",), ()),
]


@pytest.mark.spec("PRG-23", "PRG-26", "PRG-28")
def test_eager_outputs_and_log():
    obs = _ok(run_torch(P05D, "eager"))
    # x = 1: a = x + 1 = 2, b = 2 * a + 1 = 5, a + b = 7
    assert obs.outputs == [ValueObs((2,), "float32", [7.0, 7.0])], f"got {obs.outputs}"
    assert obs.effect_log == REC_LOG, f"expected {REC_LOG}, got {obs.effect_log}"
    assert obs.code is None and obs.graph is None, "expected no graph on the eager path"


def test_fake_outputs_have_no_values_and_nothing_logs():
    obs = _ok(run_torch(P05D, "fake"))
    assert obs.outputs == [ValueObs((2,), "float32", None)], f"got {obs.outputs}"
    assert obs.effect_log == [], f"expected fake impls and _print not to log, got {obs.effect_log}"


def test_make_fx_records_plain_graph_and_logs_the_graph_run():
    obs = _ok(run_torch(P05B, "make_fx"))
    expected = "\n".join(
        [
            "def forward(self, x_1):",
            "    rec = torch.ops.cat05.rec.default(x_1, 'a');  x_1 = None",
            "    sin = torch.ops.aten.sin.default(rec);  rec = None",
            "    return (sin,)",
        ]
    )
    assert obs.code == expected, f"expected code\n{expected}\ngot\n{obs.code}"
    assert obs.effect_log == [("cat05::rec", ("a",), ((2,),))], f"got {obs.effect_log}"
    assert obs.graph.text().splitlines()[1] == "%1 = cat05::rec.default(%0, 'a')", obs.graph.text()
    expected_values = [pytest.approx([math.sin(2.0)] * 2, rel=1e-6)]
    assert _values(obs) == expected_values, f"expected sin(2) twice, got {_values(obs)}"


def test_chunks_split_stamp_and_list_outputs():
    prog = _program(
        "multi",
        [
            _call("fz::st.default", ["s0"]),
            _call("fz::ch.default", [_x()], ["L"]),
            _call("gz::sp.default", [{"ref": "L", "index": 1}], ["a", "b"]),
        ],
        [{"ref": "L", "index": 2}, "b"],
        custom_ops=[
            {
                "name": "fz::ch",
                "schema": "ch(Tensor x, *, int n=4) -> Tensor[]",
                "behavior": "chunks",
                "effect": "ORDERED",
            },
            {
                "name": "fz::st",
                "schema": "st(str tag) -> ()",
                "behavior": "stamp",
                "effect": "ORDERED",
            },
            {
                "name": "gz::sp",
                "schema": "sp(Tensor x) -> (Tensor, Tensor)",
                "behavior": "split",
                "effect": None,
            },
        ],
        inputs=[{"name": "x", "shape": [2, 3], "dtype": "int64", "fill": "arange"}],
    )
    obs = _ok(run_torch(prog, "eager"))
    expected_log = [("fz::st", ("s0",), ()), ("fz::ch", (4,), ((2, 3),)), ("gz::sp", (), ((2, 3),))]
    assert obs.effect_log == expected_log, f"expected {expected_log}, got {obs.effect_log}"
    l2 = [v + 3 for v in range(6)]
    b = [(v + 2) * 2 for v in range(6)]
    expected = [ValueObs((2, 3), "int64", l2), ValueObs((2, 3), "int64", b)]
    assert obs.outputs == expected, f"expected {expected}, got {obs.outputs}"


# --------------------------------------------------------------------------------------------
# functional (aot_export_module) against the reference scenarios
# --------------------------------------------------------------------------------------------


# 05d computes `a * 2` (torch dispatches `aten.mul.Tensor` with a wrapped scalar); a program
# says `aten::mul.Scalar` (PRG-16: a Tensor parameter takes refs), the one difference allowed.
MUL_SCALAR = ("aten.mul.Tensor(getitem_3, 2)", "aten.mul.Scalar(getitem_3, 2)")


@pytest.mark.parametrize(
    ("program", "scenario", "edit"),
    [
        (P05A, "05a_aot_export_prints_add", None),
        (P05B, "05b_aot_export_custom_used", None),
        (P05D, "05d_aot_export_interleaved", MUL_SCALAR),
    ],
)
def test_functional_code_matches_reference(program, scenario, edit):
    obs = _ok(run_torch(program, "functional"))
    expected = _reference_code(scenario)
    if edit is not None:
        expected = expected.replace(*edit)
    assert obs.code == expected, f"expected the code of {scenario}\n{expected}\ngot\n{obs.code}"
    assert obs.signature["input_tokens"] == ["arg0_1"], f"got {obs.signature}"
    assert obs.graph.nodes[0].token, f"expected the first placeholder marked a token:\n{obs.graph}"


def test_functional_log_signature_and_outputs():
    obs = _ok(run_torch(P05D, "functional"))
    assert obs.effect_log == REC_LOG, f"expected {REC_LOG}, got {obs.effect_log}"
    assert obs.signature["output_tokens"] == ["getitem_8"], f"got {obs.signature}"
    assert _values(obs) == [[7.0, 7.0]], f"expected only the user output, got {_values(obs)}"


def test_functional_input_mutation_signature():
    obs = _ok(run_torch(P05E, "functional"))
    mutate = obs.signature["user_inputs_to_mutate"]
    assert mutate == {"add": "arg1_1"}, f"expected {{'add': 'arg1_1'}}, got {mutate}"
    assert _values(obs) == [[4.0, 4.0]], f"expected (1 + 1) * 2, got {_values(obs)}"
    assert "add = torch.ops.aten.add.Tensor(arg1_1, arg2_1)" in obs.code, obs.code


# --------------------------------------------------------------------------------------------
# export and compile
# --------------------------------------------------------------------------------------------


def _op_lines(code: str) -> list[str]:
    return [line for line in code.splitlines() if "torch.ops." in line]


@pytest.mark.spec("RPT-8")
def test_export_code_matches_reference_08():
    """`_remove_effect_tokens(export(m).run_decompositions())`: the ops of 08's `ep2.module()`."""
    obs = _ok(run_torch(P08, "export"))
    expected = _op_lines(_reference_code("08_torch_export", after="ep2.module() code:"))
    got = _op_lines(obs.code)
    assert got == expected, "expected the op lines\n" + "\n".join(expected) + "\ngot\n" + obs.code
    assert obs.code.startswith("def forward(self, x):"), f"expected no token input:\n{obs.code}"
    log = [e[1][0] for e in obs.effect_log]
    assert log == ["p1", "a", "unused", "p2"], f"expected the graph run to log all four, got {log}"
    kinds = obs.signature["input_specs"]
    assert kinds == [["USER_INPUT", "x"]], f"expected one user input, got {kinds}"


def test_compile_aot_eager_outputs_log_and_graph():
    eager = _ok(run_torch(P05B, "eager"))
    obs = _ok(run_torch(P05B, "compile:aot_eager"))
    assert obs.outputs == eager.outputs, f"expected {eager.outputs}, got {obs.outputs}"
    assert obs.effect_log == eager.effect_log, f"expected {eager.effect_log}, got {obs.effect_log}"
    assert "torch.ops.higher_order.with_effects" in obs.code, f"got\n{obs.code}"
    assert "torch.ops.cat05.rec.default" in obs.code, f"expected ns mapped back:\n{obs.code}"


@pytest.mark.slow
def test_compile_inductor_outputs_and_log():
    obs = _ok(run_torch(P05A, "compile:inductor"))
    assert _values(obs) == [[2.0, 2.0]], f"got {_values(obs)}"
    expected = [("aten::_print", ("before",), ()), ("aten::_print", ("after",), ())]
    assert obs.effect_log == expected, f"expected {expected}, got {obs.effect_log}"


# --------------------------------------------------------------------------------------------
# Errors, registrations, print capture, JSON
# --------------------------------------------------------------------------------------------

ALIASING = _program(
    "aliasing",
    [{"with_effects": {"op": "aten::absolute_.default", "args": [_x()]}}],
    ["x"],
    expect_error={"type": "AssertionError", "match": "Ops with aliasing is not supported"},
)


@pytest.mark.spec("PRG-24", "PRG-25")
@pytest.mark.parametrize("path", ["eager", "fake", "make_fx", "functional", "export"])
def test_expected_error_is_observed(path):
    obs = run_torch(ALIASING, path)
    expected = ErrorObs("AssertionError", "Ops with aliasing is not supported")
    assert obs.error == expected, f"expected {expected} on {path}, got {obs.error}"
    assert obs.outputs is None, f"expected no outputs with an error, got {obs.outputs}"


BAD_VIEW = _program(
    "bad-view",
    [_print("hi"), _call("aten::view.default", [_x(), [3]], ["y"])],
    ["y"],
)


def test_error_keeps_the_log_up_to_the_failure():
    obs = run_torch(BAD_VIEW, "eager")
    assert obs.error is not None and obs.error.type == "RuntimeError", f"got {obs.error}"
    expected = [("aten::_print", ("hi",), ())]
    assert obs.effect_log == expected, f"expected {expected}, got {obs.effect_log}"


def test_compile_errors_are_unwrapped_to_the_program_error():
    obs = run_torch(BAD_VIEW, "compile:aot_eager")
    assert obs.error is not None and obs.error.type == "RuntimeError", (
        f"expected the RuntimeError under dynamo's wrappers, got {obs.error}"
    )
    assert "TorchRuntimeError" in obs.error.message, f"expected wrappers named: {obs.error}"


def test_unknown_path_is_an_error_observation():
    obs = run_torch(P05A, "jit")
    assert obs.error is not None and obs.error.type == "ValueError", f"got {obs.error}"


@pytest.mark.spec("PRG-10", "PRG-12")
def test_registrations_are_undone():
    prog = _program(
        "regs",
        [
            _call("cat05::rec.default", [_x(), "a"], ["y"]),
            _call("aten::cos.default", [_x("y")], ["c"]),
        ],
        ["c"],
        custom_ops=[_rec()],
        register_effects={"aten::cos.default": "ORDERED", "aten::_print.default": None},
    )
    obs = _ok(run_torch(prog, "functional", namespace="cat05_undo"))
    assert "torch.ops.aten.cos.default" in obs.code and "with_effects" in obs.code, obs.code
    cos = _get_effect(torch.ops.aten.cos.default)
    printing = _get_effect(torch.ops.aten._print.default)
    assert cos is None, f"expected aten::cos back to None, got {cos}"
    assert printing is EffectType.ORDERED, f"expected aten::_print ORDERED again, got {printing}"
    assert not hasattr(torch.ops.cat05_undo, "rec"), "expected the custom op to be gone"


def test_prints_never_reach_stdout(capfd):
    _ok(run_torch(P05A, "eager"))
    out, _ = capfd.readouterr()
    assert "before" not in out and "after" not in out, f"expected nothing on fd 1, got {out!r}"


def test_observation_json_round_trip():
    obs = _ok(run_torch(P05D, "functional"))
    back = Observation.from_json(json.loads(json.dumps(obs.to_json())))
    assert back == obs, f"expected the same observation after JSON, got {back}"
    assert Observation.from_json(obs.dumps()) == obs, "expected dumps() to round-trip too"


def test_every_path_is_known():
    expected = (
        "eager",
        "fake",
        "make_fx",
        "functional",
        "export",
        "compile:aot_eager",
        "compile:inductor",
    )
    assert expected == PATHS, f"expected {expected}, got {PATHS}"


# --------------------------------------------------------------------------------------------
# Isolation
# --------------------------------------------------------------------------------------------


def _pid(payload):
    print("stray output from the worker")
    return os.getpid()


def _qualname(fn) -> str:
    return f"{fn.__module__}:{fn.__name__}"


# Standard-library callables keep the light worker free of torch (it starts in ~0.1 s):
# `signal.raise_signal(SIGSEGV)` is `os.kill(os.getpid(), SIGSEGV)`, `time.sleep(30)` hangs,
# `os.readlink("/proc/self")` answers the worker's pid.
RAISE_SIGNAL = "signal:raise_signal"
HANG = "time:sleep"
WORKER_PID = "os:readlink"


@pytest.fixture
def light_worker():
    worker = IsolatedWorker(preload=())
    yield worker
    worker.stop()


def test_worker_segfault_becomes_error_observation(light_worker):
    obs = light_worker.call(RAISE_SIGNAL, signal.SIGSEGV, 60)
    assert isinstance(obs, Observation), f"expected an Observation, got {obs!r}"
    assert obs.error.type == "WorkerCrash", f"expected WorkerCrash, got {obs.error}"
    assert "SIGSEGV" in obs.error.message, f"expected the signal named, got {obs.error}"
    again = light_worker.call(WORKER_PID, "/proc/self", 60)
    assert again == str(light_worker.pid), f"expected a fresh worker after the crash, got {again}"


def test_error_observation_takes_path_and_side_from_payload():
    obs = error_observation({"path": "export", "side": "torch"}, "Timeout", "slow", 1.5)
    expected = Observation("export", "torch", error=ErrorObs("Timeout", "slow"), seconds=1.5)
    assert obs == expected, f"expected {expected}, got {obs}"


def test_worker_hang_becomes_timeout_and_worker_restarts(light_worker):
    obs = light_worker.call(HANG, 30, 0.5)
    assert isinstance(obs, Observation), f"expected an Observation, got {obs!r}"
    assert obs.error.type == "Timeout", f"expected Timeout, got {obs.error}"
    first = light_worker.call(WORKER_PID, "/proc/self", 60)
    again = light_worker.call(WORKER_PID, "/proc/self", 60)
    assert first == again == str(light_worker.pid), (
        f"expected one fresh worker answering twice, got {first}, {again}"
    )


@pytest.mark.spec("RPT-16")
def test_a_stopped_worker_costs_no_more_than_the_deadline(light_worker):
    """A SIGSTOPped worker (a hang that no timeout inside it can end) is killed at the deadline,
    though the case's own timeout is 300 s."""
    light_worker.call(WORKER_PID, "/proc/self", 60)
    os.kill(light_worker.pid, signal.SIGSTOP)
    start = time.monotonic()
    obs = light_worker.call(WORKER_PID, "/proc/self", 300, deadline=start + 1.0)
    spent = time.monotonic() - start
    assert obs.error is not None and obs.error.type == "Timeout", f"expected Timeout, got {obs}"
    assert spent < 30, f"expected the call cut at the deadline (1 s), it took {spent:.1f} s"


@pytest.mark.spec("RPT-16")
def test_a_fresh_workers_start_up_counts_against_the_deadline(tmp_path, monkeypatch):
    """The start-up of the worker that replaces a dead one is waited for only until the
    deadline: a preload that takes 60 s to import does not hold the caller for 60 s."""
    (tmp_path / "slow_import_for_test.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = IsolatedWorker(preload=("slow_import_for_test",))
    start = time.monotonic()
    try:
        obs = worker.call(WORKER_PID, "/proc/self", 300, deadline=start + 1.0)
    finally:
        worker.stop()
    spent = time.monotonic() - start
    assert obs.error is not None and obs.error.type == "Timeout", f"expected Timeout, got {obs}"
    assert "start-up" in obs.error.message, f"expected the start-up named, got {obs.error}"
    assert spent < 30, f"expected the start-up cut at the deadline (1 s), it took {spent:.1f} s"


def test_exception_in_worker_becomes_error_observation(light_worker):
    obs = light_worker.call("json:loads", "{not json", 60)
    assert obs.error.type == "JSONDecodeError", f"expected JSONDecodeError, got {obs.error}"


def test_run_torch_isolated_matches_in_process(capfd):
    obs = run_torch_isolated(program_to_json(P05D), "eager", timeout=120)
    assert obs.effect_log == REC_LOG, f"expected {REC_LOG}, got {obs.effect_log}"
    pid1 = run_isolated(_qualname(_pid), None, 60)
    pid2 = run_isolated(_qualname(_pid), None, 60)
    assert pid1 == pid2, f"expected the shared worker to be reused, got {pid1} and {pid2}"
    out, _ = capfd.readouterr()
    assert "stray output" not in out and "p1" not in out, f"expected no stdout, got {out!r}"
