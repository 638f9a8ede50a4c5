"""refimpl.explain and ``python -m refimpl explain``: the trace says what the dispatcher did.

Models: nothing upstream; the trace describes the dispatch that torch's ``_ops.py`` performs.
Spec: DSP-4, DSP-8, DSP-9, DSP-13, DSP-15, EFF-14, EFF-15, EFF-16, EFF-17, EFF-19, EFF-21,
EFF-23, EFF-24, TRC-1, TRC-9.

- Each of the four modes on a small function: the keys each call computes, who handled it, and
  for ``with_effects`` the tokens in and out.
- ``explaining()`` changes no result, and puts every patched method back, also on error.
- The command line: exit status 0 / 1 / 2, Python files with and without ``inputs()``, program
  JSON files, ``--profile``.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

import refimpl
from refimpl import functional_tensor
from refimpl.__main__ import main
from refimpl.dispatch_key import DispatchKey, ExcludeDispatchKeyGuard
from refimpl.effects import new_token_tensor, with_effects
from refimpl.explain import (
    _PATCHES,
    explain,
    explaining,
    op_key_computation,
    print_explanation,
    summarize,
)
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor, FunctionalTensorMode
from refimpl.operator import HigherOrderOperator, OpOverload
from refimpl.proxy_tensor import make_fx

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "oracle" / "catalog"
aten = refimpl.ops.aten

pytestmark = pytest.mark.usefixtures("seed_profile")


def prog(x):
    aten._print.default("hi")
    return aten.add.Tensor(aten.sin.default(x), x)


def two_prints(x):
    aten._print.default("a")
    aten._print.default("b")
    return aten.sin.default(x)


def x4():
    return refimpl.arange(4, dtype=refimpl.float32)


def assert_has(lines: list[str], *needles: str) -> None:
    text = "\n".join(lines)
    for needle in needles:
        assert needle in text, f"expected {needle!r} in the trace excerpt; got:\n{text}"


def handled_by(lines: list[str]) -> str:
    """The first ``handled by:`` line of an excerpt (the call's own handler)."""
    found = [line.strip() for line in lines if line.strip().startswith("handled by:")]
    assert found, "expected a 'handled by:' line; got:\n" + "\n".join(lines)
    return found[0]


AUTOGRAD_SIN = "handled by: kernel VariableType.sin registered at Autograd (serves AutogradCPU)"


def handled_below_autograd(lines: list[str]) -> str:
    """The handler of the call the autograd kernel makes below itself (AG-3): the excerpt's
    first ``handled by:`` must be that kernel, and the next one is returned."""
    found = [line.strip() for line in lines if line.strip().startswith("handled by:")]
    assert len(found) >= 2 and found[0] == AUTOGRAD_SIN, (
        "expected the autograd kernel first, then the call below it; got:\n" + "\n".join(lines))
    return found[1]


# ---------------------------------------------------------------------------------------------
# The four modes
# ---------------------------------------------------------------------------------------------
@pytest.mark.spec("DSP-4", "DSP-13", "AG-3")
def test_dense_call_goes_to_the_backend_kernel(capsys: pytest.CaptureFixture) -> None:
    out = explain(prog, [x4()], mode="dense")
    sin = out.trace.subtree("aten.sin.default(")
    assert sin[0] == "aten.sin.default(f32[4]) -> f32[4]", f"expected the call line; got {sin[0]}"
    assert_has(
        sin,
        "include {} | tensors {CPU, ADInplaceOrView, AutogradCPU, AutocastCPU}",
        "= {CPU} -> CPU",
    )
    expected = "handled by: kernel dense registered at CompositeExplicitAutograd (serves CPU)"
    got = handled_below_autograd(sin)
    assert got == expected, f"expected {expected!r}; got {got!r}"
    assert capsys.readouterr().out == "hi\n", "expected the dense _print to print once"


@pytest.mark.spec("DSP-4", "DSP-13")
def test_factory_rule_picks_the_device_backend() -> None:
    out = explain(prog, [x4()], mode="dense")
    printed = out.trace.subtree("aten._print.default(")
    assert_has(
        printed,
        "tensors {}",
        "+ CPU (a factory: its device's backend) -> CPU",
        "kernel _print_dense registered at CompositeExplicitAutograd",
    )


@pytest.mark.spec("DSP-4")
def test_tls_exclude_is_subtracted_as_the_operator_does() -> None:
    x = x4()
    with explaining() as trace, FakeTensorMode(), ExcludeDispatchKeyGuard(DispatchKey.Python):
        out = aten.sin.default(x)
    assert type(out) is refimpl.Tensor, f"expected a dense result (Python excluded); got {out!r}"
    sin = trace.subtree("aten.sin.default(")
    assert_has(
        sin,
        "include {Python, PythonTLSSnapshot}",
        "exclude {Python}",
        "= {CPU} -> CPU",
        "kernel dense registered at CompositeExplicitAutograd",
    )


def _fake_mode_and_input():
    mode = FakeTensorMode()
    return mode, [mode.from_tensor(x4())]


KEY_CASES = {
    "dense tensor": (lambda: (None, [x4()]), lambda x: (aten.sin.default, (x,), {})),
    "fake mode, fake tensor": (_fake_mode_and_input, lambda x: (aten.sin.default, (x,), {})),
    "fake mode, Python excluded": (
        lambda: (FakeTensorMode(), [x4()]),
        lambda x: (aten.sin.default, (x,), {}),
    ),
    "factory, default device": (lambda: (None, [None]), lambda _: (aten.zeros.default, ([2],), {})),
    "factory, meta device": (
        lambda: (None, [None]),
        lambda _: (aten.zeros.default, ([2],), {"device": "meta"}),
    ),
    "factory under a mode": (
        lambda: (FakeTensorMode(), [None]),
        lambda _: (aten.zeros.default, ([2],), {}),
    ),
    "tensor list": (
        lambda: (None, [x4()]),
        lambda x: (refimpl.ops.prims._sink_tokens.default, ([x, x],), {}),
    ),
    "tensor kwarg": (lambda: (None, [x4()]), lambda x: (aten.add.Tensor, (x,), {"other": x})),
}


@pytest.mark.spec("DSP-4", "DSP-13")
@pytest.mark.parametrize("case", list(KEY_CASES))
def test_key_computation_is_the_key_the_operator_dispatches_on(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, call = KEY_CASES[case]
    mode, (x,) = make()
    op, args, kwargs = call(x)
    seen: list = []
    original = OpOverload._resolve

    def spy(self, key):
        seen.append((self, key))
        return original(self, key)

    monkeypatch.setattr(OpOverload, "_resolve", spy)
    op._invalidate_kernels()
    exclude = case.endswith("Python excluded")
    with (
        mode if mode is not None else contextlib.nullcontext(),
        ExcludeDispatchKeyGuard(DispatchKey.Python) if exclude else contextlib.nullcontext(),
    ):
        computed = op_key_computation(op, args, kwargs).highest
        op(*args, **kwargs)
    dispatched = next(key for who, key in seen if who is op)
    assert computed == dispatched, f"expected {op} to dispatch on {computed}; it used {dispatched}"


@pytest.mark.spec("DSP-13", "DSP-15")
def test_fake_mode_handles_sin_and_redispatches_to_meta() -> None:
    out = explain(prog, [x4()], mode="fake")
    sin = out.trace.subtree("aten.sin.default(")
    assert sin[0] == "aten.sin.default(fake f32[4]) -> fake f32[4]", f"got {sin[0]}"
    assert_has(
        sin,
        "include {Python, PythonTLSSnapshot}",
        "-> Python",
        "aten.sin.default.redispatch(DispatchKey.Meta, fake f32[4]) -> meta f32[4]",
        "kernel meta registered at Meta",
    )
    expected = "handled by: mode FakeTensorMode.__torch_dispatch__"
    got = handled_below_autograd(sin)
    assert got == expected, f"expected {expected!r}; got {got!r}"
    assert out.trace.events[0].text.startswith("with FakeTensorMode:"), (
        f"expected the trace to open with the mode being pushed; got {out.trace.events[0].text}"
    )


@pytest.mark.spec("DSP-13")
def test_fake_tensor_without_a_mode_is_handled_by_its_subclass() -> None:
    fake = FakeTensorMode().from_tensor(x4())
    with explaining() as trace:
        aten.sin.default(fake)
    expected = "handled by: subclass FakeTensor.__torch_dispatch__"
    got = handled_below_autograd(trace.subtree("aten.sin.default("))
    assert got == expected, f"expected {expected!r}; got {got!r}"


@pytest.mark.spec("TRC-9", "DSP-13")
def test_proxy_mode_records_then_the_fake_mode_computes() -> None:
    out = explain(prog, [x4()], mode="proxy")
    printed = out.trace.subtree("aten._print.default(", keys=False)
    assert printed[1].strip() == "handled by: mode ProxyTorchDispatchMode.__torch_dispatch__", (
        f"expected the proxy mode to handle _print first; got {printed[1]!r}"
    )
    assert_has(printed, "handled by: mode FakeTensorMode.__torch_dispatch__")
    code = out.graph_module.code
    assert "torch.ops.aten._print.default('hi')" in code and "with_effects" not in code, (
        f"expected a plain _print call and no tokens in the make_fx graph; got:\n{code}"
    )


@pytest.mark.spec("DSP-8", "EFF-16", "EFF-19", "EFF-21", "EFF-23", "TRC-1")
def test_functional_mode_sends_print_to_handle_effects_then_the_proxy_rule() -> None:
    out = explain(prog, [x4()], mode="functional")
    traced = out.trace.subtree("aten._print.default(", keys=False)
    assert traced[1].strip() == "handled by: mode FunctionalTensorMode.__torch_dispatch__", (
        f"expected the functional mode to handle _print; got {traced[1]!r}"
    )
    assert (
        traced[2]
        .strip()
        == "handle_effects: aten._print.default has effect ORDERED; token none yet "
        "(aot_export adds a token placeholder); discovery off"
    ), f"expected handle_effects, with aot_export's token placeholder to come; got {traced[2]!r}"
    assert (
        traced[3]
        .strip()
        .startswith("higher_order.with_effects(fake f32[0], aten._print.default, 'hi')")
    ), f"got {traced[3]!r}"
    expected = "handled by: mode ProxyTorchDispatchMode rule with_effects_proxy"
    assert traced[4].strip() == expected, f"expected {expected!r}; got {traced[4]!r}"
    assert_has(traced, "handled by: mode FakeTensorMode rule with_effects_fake")
    assert "with_effects(arg0_1, torch.ops.aten._print.default, 'hi')" in out.graph_module.code, (
        f"expected the exported graph to thread the token; got:\n{out.graph_module.code}"
    )


@pytest.mark.spec("EFF-21", "EFF-23", "TRC-1")
def test_functional_tokens_chain_from_one_call_to_the_next() -> None:
    out = explain(two_prints, [x4()], mode="functional")
    first = out.trace.subtree("aten._print.default('a')", keys=False)
    second = out.trace.subtree("aten._print.default('b')", keys=False)
    token_lines = [line.strip() for line in first if line.strip().startswith("token:")]
    assert token_lines, "expected a 'token:' line under the first with_effects call"
    _, tok_in, _, tok_out, _ = token_lines[0].replace(",", "").split()
    assert tok_in != tok_out, f"expected a fresh token out of with_effects; got {token_lines[0]}"
    assert_has(first, f"tokens[ORDERED] = functional(fake f32[0]) (now {tok_out})")
    assert_has(second, f"token {tok_out}; discovery off", f"token: {tok_out} in,")


@pytest.mark.spec("EFF-14", "EFF-17", "DSP-9")
def test_with_effects_without_a_mode_runs_the_dense_kernel(capsys: pytest.CaptureFixture) -> None:
    token = new_token_tensor()
    with explaining() as trace:
        new_token, result = with_effects(token, aten._print.default, "direct")
    lines = trace.subtree("higher_order.with_effects(")
    assert_has(
        lines,
        "-> CPU",
        "kernel with_effects_dense registered at CompositeExplicitAutograd (serves CPU)",
        "token: tok1 in, tok2 out",
    )
    assert new_token is not token and result is None, "expected (a fresh token, None)"
    assert capsys.readouterr().out == "direct\n", "expected the op to run once"


@pytest.mark.spec("DSP-8", "EFF-24")
def test_profile_torch_2_13_uses_the_functionalize_rule() -> None:
    refimpl.set_profile("torch-2.13")
    mode = FunctionalTensorMode()
    token = FunctionalTensor._wrap(new_token_tensor(), mode)
    with explaining() as trace, mode:
        with_effects(token, aten._print.default, "f")
    expected = "handled by: mode FunctionalTensorMode rule _with_effects_functional_rule"
    got = handled_by(trace.subtree("higher_order.with_effects("))
    assert got == expected, f"expected {expected!r}; got {got!r}"


# ---------------------------------------------------------------------------------------------
# No change in behaviour; everything restored
# ---------------------------------------------------------------------------------------------
def _patched_attributes() -> list:
    return [cls.__dict__[name] for cls, name, _ in _PATCHES] + [functional_tensor._effects_handler]


def test_results_are_the_same_with_and_without_explaining() -> None:
    plain_dense = prog(x4()).tolist()
    plain_graph = refimpl.export.aot_export(prog, (x4(),))[0].code
    assert explain(prog, [x4()], mode="dense").result.tolist() == plain_dense, (
        "expected the same dense values under explain"
    )
    explained = explain(prog, [x4()], mode="functional").graph_module.code
    assert explained == plain_graph, f"expected\n{plain_graph}\nunder explain; got\n{explained}"


def test_methods_are_restored_on_exit_and_on_error() -> None:
    before = _patched_attributes()
    with explaining():
        during = _patched_attributes()
    assert all(a is not b for a, b in zip(before, during)), "expected every method wrapped inside"
    assert _patched_attributes() == before, "expected every method restored after the block"
    with pytest.raises(ZeroDivisionError), explaining():
        aten.sin.default(x4())
        1 / 0  # noqa: B018
    assert _patched_attributes() == before, "expected every method restored after an error"
    assert OpOverload.__dict__["__call__"] is before[0], "expected OpOverload.__call__ back"
    assert HigherOrderOperator.__dict__["dispatch"] is before[4], "expected HOP.dispatch back"


def test_no_wrapper_stays_in_a_dispatch_cache() -> None:
    with explaining(), FakeTensorMode() as mode:
        aten.sin.default(mode.from_tensor(x4()))
    with FakeTensorMode() as mode:
        aten.sin.default(mode.from_tensor(x4()))
    cached = aten.sin.default._dispatch_cache[DispatchKey.Python]
    assert cached.__func__ is OpOverload.__dict__["_dispatch_python"], (
        f"expected the original _dispatch_python cached after explaining(); got {cached}"
    )


def test_a_failure_to_describe_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(refimpl.explain, "op_key_computation", broken)
    with explaining() as trace:
        out = aten.sin.default(x4())
    assert out.tolist() == aten.sin.default(x4()).tolist(), "expected sin's values unchanged"
    assert_has(trace.lines(), "(explain could not describe this step: KeyError: 'boom')")


def test_explaining_does_not_nest() -> None:
    with explaining(), pytest.raises(RuntimeError, match="does not nest"), explaining():
        pass


def test_an_error_is_reported_once_at_the_call_that_raised() -> None:
    def bad(x):
        return aten.add.Tensor(x, aten._print.default(3))

    with pytest.raises(RuntimeError) as info:
        explain(bad, [x4()], mode="dense")
    trace = info.value.explanation.trace
    errors = [e for e in trace.events if e.kind == "error"]
    assert len(errors) == 1, f"expected one error line; got {[e.text for e in errors]}"
    assert trace.events[0].result == "raised RuntimeError", f"got {trace.events[0].line()}"


def test_make_fx_trace_of_a_proxy_run_is_unchanged_by_explain() -> None:
    with explaining():
        traced = make_fx(prog, tracing_mode="fake")(x4()).code
    assert traced == make_fx(prog, tracing_mode="fake")(x4()).code, "expected the same graph"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (refimpl.zeros((2, 3), dtype=refimpl.int64), "i64[2, 3]"),
        (refimpl.tensor(True), "b8[]"),
        (refimpl.empty((4,), device="meta"), "meta f32[4]"),
        ((1, "s", None), "(1, 's', None)"),
    ],
)
def test_summarize(value, expected) -> None:
    assert summarize(value) == expected, f"expected {expected!r}; got {summarize(value)!r}"


def test_summarize_wrappers() -> None:
    fake = FakeTensorMode().from_tensor(x4())
    wrapped = FunctionalTensor._wrap(fake, FunctionalTensorMode())
    assert summarize(wrapped) == "functional(fake f32[4])", f"got {summarize(wrapped)!r}"
    assert summarize(aten._print.default) == "aten._print.default", "expected the op's name"
    assert summarize(with_effects) == "higher_order.with_effects", "expected the HOP's name"


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
PROGRAM = """\
import refimpl
aten = refimpl.ops.aten

def f(x, y):
    aten._print.default("cli")
    return aten.add.Tensor(x, y)
"""


@pytest.fixture
def program_file(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return path


@pytest.mark.spec("TRC-1", "EFF-16")
@pytest.mark.parametrize("mode", ["dense", "fake", "proxy", "functional"])
def test_cli_each_mode(program_file: Path, mode: str, capsys: pytest.CaptureFixture) -> None:
    status = main(["explain", str(program_file), "--mode", mode])
    out = capsys.readouterr().out
    assert status == 0, f"expected exit status 0 for --mode {mode}; got {status}\n{out}"
    assert "aten.add.Tensor(" in out, f"expected the add call in the trace; got:\n{out}"
    if mode in ("proxy", "functional"):
        assert "def forward(self" in out, f"expected the graph's code; got:\n{out}"
    if mode == "functional":
        assert "with_effects_proxy" in out, f"expected the proxy rule; got:\n{out}"


def test_cli_default_inputs_one_arange_per_parameter(
    program_file: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["explain", str(program_file)])
    out = capsys.readouterr().out
    assert "aten.add.Tensor(f32[4], f32[4]) -> f32[4]" in out, f"got:\n{out}"


def test_cli_inputs_function(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "with_inputs.py"
    path.write_text(PROGRAM + "\ndef inputs():\n    return [refimpl.ones((2, 3)), 1.5]\n")
    assert main(["explain", str(path)]) == 0, "expected exit status 0"
    out = capsys.readouterr().out
    assert "aten.add.Tensor(f32[2, 3], 1.5) -> f32[2, 3]" in out, f"got:\n{out}"


@pytest.mark.spec("TRC-1", "EFF-21")
def test_cli_json_program(capsys: pytest.CaptureFixture) -> None:
    path = CATALOG / "15_two_custom_ops_and_prints.json"
    status = main(["explain", str(path), "--mode", "functional"])
    out = capsys.readouterr().out
    assert status == 0, f"expected exit status 0; got {status}\n{out}"
    assert "handle_effects: c15.rec.default has effect ORDERED" in out, f"got:\n{out}"
    assert "torch.ops.c15.two.default" in out, f"expected the custom op in the graph; got:\n{out}"
    assert not hasattr(refimpl.ops.c15, "rec"), "expected the program's ops removed afterwards"


@pytest.mark.spec("EFF-24")
def test_cli_profile_option(isolated_effects, capsys: pytest.CaptureFixture) -> None:
    path = CATALOG / "27_with_effects_print_direct.json"
    status = main(["explain", str(path), "--mode", "functional", "--profile", "torch-2.13"])
    out = capsys.readouterr().out
    assert status == 0, f"expected exit status 0 under torch-2.13; got {status}\n{out}"
    assert "rule _with_effects_functional_rule" in out, f"got:\n{out}"
    refimpl.set_profile("seed")
    status = main(["explain", str(path), "--mode", "functional"])
    captured = capsys.readouterr()
    assert status == 1, f"expected exit status 1 (no rule in the seed); got {status}"
    assert "raised NotImplementedError" in captured.err, f"got:\n{captured.err}"
    assert "which has no rule (the call raises)" in captured.out, f"got:\n{captured.out}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "no/such/file.py"], "no such file"),
        (["explain", "PROGRAM", "--mode", "eager"], "invalid choice"),
        (["explain", "PROGRAM", "--profile", "torch-0.1"], "unknown profile"),
        (["explain", "NO_F"], "defines no function f"),
        (["explain", "BAD_JSON"], "not a valid effect program"),
        (["explain"], "required"),
        ([], "required"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    args: list[str],
    message: str,
    program_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    (tmp_path / "no_f.py").write_text("g = 1\n")
    (tmp_path / "bad.json").write_text('{"format": "effects-program/1"}')
    names = {
        "PROGRAM": str(program_file),
        "NO_F": str(tmp_path / "no_f.py"),
        "BAD_JSON": str(tmp_path / "bad.json"),
    }
    status = main([names.get(a, a) for a in args])
    err = capsys.readouterr().err
    assert status == 2, f"expected exit status 2 for {args}; got {status}"
    assert len(err.strip().splitlines()) == 1 and message in err, (
        f"expected one line mentioning {message!r}; got:\n{err}"
    )


def test_cli_program_that_raises_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "raises.py"
    path.write_text("import refimpl\n\ndef f(x):\n    return refimpl.ops.aten._print.default(3)\n")
    assert main(["explain", str(path)]) == 1, "expected exit status 1"
    captured = capsys.readouterr()
    expected = "RuntimeError: aten::_print() Expected a value of type 'str' for argument 's'"
    assert expected in captured.out, captured.out
    assert "raised RuntimeError" in captured.err, f"got:\n{captured.err}"


def test_python_dash_m_refimpl_runs_the_example() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "refimpl",
            "explain",
            "docs/examples/ordered_op.py",
            "--mode",
            "functional",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"expected exit status 0; got {result.returncode}\n{result}"
    assert "rule with_effects_proxy" in result.stdout, f"got:\n{result.stdout}"
    assert "torch.ops.example.record.default" in result.stdout, f"got:\n{result.stdout}"


@pytest.mark.spec("RPT-22")
def test_printed_code_keeps_user_strings_literally() -> None:
    from rich.console import Console

    def marked(x):
        aten._print.default(":smile: [red]a[/red] [/bold]")
        return aten.sin.default(x)

    console = Console(file=io.StringIO(), width=120, record=True)
    print_explanation(explain(marked, [x4()], mode="functional"), console)
    text = console.export_text(styles=False)
    assert ":smile: [red]a[/red] [/bold]" in text, f"expected the string literally, got:\n{text}"
    assert "😄" not in text, f"expected no emoji, got:\n{text}"
