"""A finding's `repro.py`: its program as a standalone torch script, to file upstream.

Models: how `oracle.torch_runner` runs a program on each path with torch 2.13.0, written out as
plain torch calls: `torch.library.custom_op` and `register_fake` for each custom op,
`torch._higher_order_ops.effects._register_effectful_op` for each effect, `torch.compile(...,
fullgraph=True)`, `aot_export_module`, `torch.export.export`, `make_fx`.
Spec: RPT-29 (the script), RPT-30 (the path configuration in `signature.json`).

The script imports only torch (and numpy for a large `randn` input), so a torch engineer can run
it without this project: `python repro.py`. It runs the program eagerly and on the failing path
and prints, for each, the outputs and the effect log in the oracle's event form
(`(qualname, literal args, shapes)`, docs/architecture.md), then what the reference expected.

Simplifications:
1. Inputs are built as the oracle builds them (`behaviors.fill_values`): `arange`, `ones` and
   `zeros` with torch; `randn` inputs of at most `LISTED_VALUES` elements are written out as
   float64 literals, larger ones drawn with numpy's `default_rng(seed)` as the oracle does.
2. `aten::_print` writes to C++ `std::cout`; where the program prints, the script reads file
   descriptor 1 as the torch runner does ([NOTE: capturing aten::_print]), so prints and
   custom-op events are logged in the order they happened.
"""

from __future__ import annotations

import math
from typing import Any

from oracle import behaviors
from oracle.program import walk_statements
from oracle.program_source import register_effects_source, torch_op_text, write_program

__all__ = ["LISTED_VALUES", "PATH_CONFIGS", "path_config", "render_repro"]

LISTED_VALUES = 256

# How `oracle.torch_runner` runs each path (its PATH_RUNNERS), as data for `signature.json`.
PATH_CONFIGS: dict[str, dict[str, Any]] = {
    "eager": {"call": "fn(*inputs)"},
    "fake": {"call": "fn(*fake inputs)", "mode": "FakeTensorMode"},
    "make_fx": {"call": "make_fx(fn, tracing_mode='fake')(*inputs)(*inputs)"},
    "functional": {"call": "aot_export_module(module, inputs, trace_joint=False)",
                   "run": "gm(*tokens, *inputs)"},
    "export": {"call": "torch.export.export(module, inputs).run_decompositions({})",
               "passes": ["_remove_effect_tokens"], "run": "ep.graph_module(*constants, *inputs)"},
    "compile:aot_eager": {"call": "torch.compile(fn, backend='aot_eager', fullgraph=True)",
                          "before": "torch._dynamo.reset()"},
    "compile:inductor": {"call": "torch.compile(fn, backend='inductor', fullgraph=True)",
                         "before": "torch._dynamo.reset()",
                         "inductor_config": {"compile_threads": 1, "fx_graph_cache": False}},
}

# Each path as a function of the program: what the torch runner's PATH_RUNNERS entry does.
_RUNNERS = {
    "eager": '''\
def run_eager():
    return program(*inputs())
''',
    "fake": '''\
def run_fake():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() as mode:
        out = program(*[mode.from_tensor(t) for t in inputs()])
        return [(tuple(t.shape), t.dtype) for t in out]
''',
    "make_fx": '''\
def run_make_fx():
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(program, tracing_mode="fake")(*inputs())
    return gm(*inputs())
''',
    "functional": '''\
def run_functional():
    from torch._functorch.aot_autograd import aot_export_module

    gm, sig = aot_export_module(Program(), tuple(inputs()), trace_joint=False)
    flat = gm(*[torch.tensor([]) for _ in sig.input_tokens], *inputs())
    skip = len(sig.output_tokens) + len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    return tuple(flat)[skip:]
''',
    "export": '''\
def run_export():
    from torch.export._remove_effect_tokens_pass import _remove_effect_tokens

    ep = torch.export.export(Program(), tuple(inputs())).run_decompositions({})
    ep = _remove_effect_tokens(ep)
    sig = ep.graph_signature
    mutated = sum(1 for s in sig.output_specs
                  if s.kind.name in ("USER_INPUT_MUTATION", "BUFFER_MUTATION"))
    constants = [ep.constants[s.target] for s in sig.input_specs
                 if s.kind.name in ("CONSTANT_TENSOR", "CUSTOM_OBJ")]
    return tuple(ep.graph_module(*constants, *inputs()))[mutated:]
''',
    "compile:aot_eager": '''\
def run_compile_aot_eager():
    torch._dynamo.reset()
    return torch.compile(program, backend="aot_eager", fullgraph=True)(*inputs())
''',
    "compile:inductor": '''\
def run_compile_inductor():
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(compile_threads=1, fx_graph_cache=False):
        return torch.compile(program, backend="inductor", fullgraph=True)(*inputs())
''',
}

_PRINTS = '''\
class Prints:
    """aten::_print writes to C++ std::cout (file descriptor 1), not to sys.stdout. While a run
    is observed, fd 1 is a temporary file and each line written to it becomes an event, read
    before each custom-op event so that the log keeps the order things happened in."""

    def __init__(self):
        self.file = None

    def __enter__(self):
        sys.stdout.flush()
        ctypes.CDLL(None).fflush(None)
        self.file, self.offset, self.partial = tempfile.TemporaryFile(), 0, b""
        self.saved = os.dup(1)
        os.dup2(self.file.fileno(), 1)
        self.quiet = contextlib.redirect_stdout(io.StringIO())
        self.quiet.__enter__()

    def drain(self):
        if self.file is None:
            return
        ctypes.CDLL(None).fflush(None)
        self.file.seek(self.offset)
        data = self.file.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\\n")
        LOG.extend(("aten::_print", (line.decode("utf-8", "replace"),), ()) for line in lines)

    def __exit__(self, *exc):
        self.drain()
        if self.partial:
            LOG.append(("aten::_print", (self.partial.decode("utf-8", "replace"),), ()))
        self.quiet.__exit__(None, None, None)
        os.dup2(self.saved, 1)
        os.close(self.saved)
        self.file.close()
        self.file = None


PRINTS = Prints()


def _event(*event):
    PRINTS.drain()
    LOG.append(event)


PRINTS_DRAIN = PRINTS.drain
'''

_NO_PRINTS = '''\
PRINTS = contextlib.nullcontext()


def _event(*event):
    LOG.append(event)


def PRINTS_DRAIN():
    return None
'''

_MAIN = '''\
def observe(name, run):
    LOG.clear()
    try:
        with PRINTS:
            out = run()
    except Exception:
        traceback.print_exc()
        out = "raised (traceback above)"
    print(f"{name}: outputs {out}")
    print(f"{name}: effect log {LOG}")


if __name__ == "__main__":
    print("torch", torch.__version__, torch.version.git_version)
'''

# PRG-51, PRG-52: a program with `backward` forms its loss after the run, logs the mark, runs
# the backward and reports the grads of the inputs that require grad.
_MAIN_BACKWARD = '''\
def backward(out):
    loss = None
    for i in LOSS:
        term = torch.ops.aten.sum.default(out[i])
        loss = term if loss is None else torch.ops.aten.add.Tensor(loss, term)
    PRINTS_DRAIN()
    LOG.append(("<backward>", (), ()))
    loss.backward()
    return [x.grad for x in INPUTS if x.requires_grad]


def observe(name, run):
    LOG.clear()
    grads = None
    try:
        with PRINTS:
            out = run()
            if name in ("functional", "fake"):  # the joint graph / the fake mode ran it
                out, grads = out
            else:
                grads = backward(out)
    except Exception:
        traceback.print_exc()
        out = "raised (traceback above)"
    print(f"{name}: outputs {out}")
    print(f"{name}: grads {grads}")
    print(f"{name}: effect log {LOG}")


if __name__ == "__main__":
    print("torch", torch.__version__, torch.version.git_version)
'''

_JOINT_RUNNER = '''\
def run_functional():
    from torch._functorch.aot_autograd import aot_export_module

    class Loss(torch.nn.Module):
        def forward(self, *xs):
            out = program(*xs)
            loss = None
            for i in LOSS:
                term = torch.ops.aten.sum.default(out[i])
                loss = term if loss is None else torch.ops.aten.add.Tensor(loss, term)
            return (loss,)

    gm, sig = aot_export_module(Loss(), tuple(inputs()), trace_joint=True, output_loss_index=0)
    with torch.no_grad():
        flat = tuple(gm(*[t.detach() for t in inputs()]))
    skip = len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    n = len(sig.user_outputs)
    return flat[skip:skip + n], list(flat[skip + n:])
'''

_FAKE_BACKWARD_RUNNER = '''\
def run_fake():
    global INPUTS
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() as mode:
        INPUTS = [mode.from_tensor(t) for t in inputs()]
        out = program(*INPUTS)
        grads = backward(out)
        return [(tuple(t.shape), t.dtype) for t in out], grads
'''


def path_config(path: str) -> dict[str, Any]:
    """How the torch runner runs `path` (RPT-30): the call, and settings such as inductor's."""
    return {"path": path, **PATH_CONFIGS.get(path, {})}


def _python_name(path: str) -> str:
    return "run_" + path.replace("compile:", "compile_")


# ---------------------------------------------------------------------------------------------
# Custom ops
# ---------------------------------------------------------------------------------------------


def _kernel_params(sig: behaviors.Signature) -> str:
    parts, star = [], False
    for param in sig.params:
        if param.kwarg_only and not star:
            parts.append("*")
            star = True
        default = param.default  # a list default as a tuple: torch passes every argument,
        default = tuple(default) if isinstance(default, list) else default  # no shared list
        parts.append(f"{param.name}={default!r}" if param.has_default else param.name)
    return ", ".join(parts)


def _event_parts(sig: behaviors.Signature) -> tuple[list[str], list[str]]:
    """The literal and shape expressions of `behaviors.make_event`, parameter by parameter."""
    literals, shapes = [], []
    for param in sig.params:
        name = param.name
        if param.type == "Tensor[]":
            shapes.append(f"*[tuple(t.shape) for t in {name}]")
        elif param.type == "Tensor":
            shapes.append(f"tuple({name}.shape)")
        elif param.type == "Tensor?":
            shapes.append(f"*([] if {name} is None else [tuple({name}.shape)])")
        elif param.type.endswith("[]"):
            literals.append(f"tuple({name})")
        else:
            literals.append(name)
    return literals, shapes


def _tuple(items: list[str]) -> str:
    return "(" + "".join(f"{item}, " for item in items).rstrip() + ")"


_RESULTS = {"record": "{x} + 1", "split": "{x} + 1, {x} * 2",
            "chunks": "[{x} + 1, {x} + 2, {x} + 3]", "observe": "None", "stamp": "None"}
_FAKES = {"record": "torch.empty_like({x})",
          "split": "torch.empty_like({x}), torch.empty_like({x})",
          "chunks": "[torch.empty_like({x}) for _ in range(3)]", "observe": "None",
          "stamp": "None"}


def _custom_op(spec: Any) -> list[str]:
    """A custom op as `oracle.torch_runner` defines it (PRG-10, PRG-27, PRG-28)."""
    sig = behaviors.parse_signature(spec.schema)
    ns, name = spec.name.split("::", 1)
    python = f"{ns}_{name}"
    x = sig.params[0].name if sig.params else "None"
    literals, shapes = _event_parts(sig)
    params = _kernel_params(sig)
    schema = "(" + spec.schema.split("(", 1)[1]
    effect = "EffectType.ORDERED" if spec.effect == "ORDERED" else "None"
    return [
        f"def {python}_kernel({params}):",
        f"    _event({spec.name!r}, {_tuple(literals)}, {_tuple(shapes)})",
        f"    return {_RESULTS[spec.behavior].format(x=x)}",
        "",
        "",
        f"def {python}_fake({params}):",
        f"    return {_FAKES[spec.behavior].format(x=x)}",
        "",
        "",
        f"{python} = torch.library.custom_op({spec.name!r}, {python}_kernel, mutates_args=(),",
        f"                                   schema={schema!r})",
        f"{python}.register_fake({python}_fake)",
        f"_register_effectful_op({python}, {effect})",
        "",
        "",
    ]


# ---------------------------------------------------------------------------------------------
# Inputs, body, script
# ---------------------------------------------------------------------------------------------


def _input_expr(spec: Any) -> str:
    shape = tuple(int(d) for d in spec.shape)
    dtype = f"torch.{spec.dtype}"
    fill = spec.fill
    if fill == "arange":
        return f"torch.arange({math.prod(shape)}).reshape({shape!r}).to({dtype})"
    if fill in ("ones", "zeros"):
        return f"torch.{fill}({shape!r}, dtype=torch.float64).to({dtype})"
    if math.prod(shape) <= LISTED_VALUES:
        values = behaviors.fill_values(fill, shape, "float64").reshape(-1).tolist()
        return f"torch.tensor({values!r}, dtype=torch.float64).reshape({shape!r}).to({dtype})"
    return (f"torch.from_numpy(numpy.random.default_rng({fill['randn']})"
            f".standard_normal({shape!r})).to({dtype})")


def _prints(program: Any) -> bool:
    ops = {s.op for s in walk_statements(program.body)} | set(program.register_effects)
    ops |= {s.op for spec in program.custom_ops if spec.autograd is not None
            for s in spec.autograd.body}
    return "aten::_print.default" in ops


def _body(program: Any) -> list[str]:
    """The body as `oracle.program_source` writes it, its operator globals bound to torch ops."""
    src = write_program(program, lambda qualname: qualname, with_effects=None, new_token=None)
    ops = {name: value for name, value in src.fn.__globals__.items()
           if name.startswith("_") and isinstance(value, str) and "::" in value}
    lines = [f"{name} = {torch_op_text(qualname)}" for name, qualname in ops.items()]
    lines += ["_with_effects = torch.ops.higher_order.with_effects",
              "_new_token = new_token_tensor"]
    kinds = {s.kind for s in walk_statements(program.body)}
    lines += ["_cond = torch.cond"] if "cond" in kinds else []
    lines += ["_while_loop = torch._higher_order_ops.while_loop"] if "while_loop" in kinds else []
    lines += ["", ""]
    lines += src.source.rstrip("\n").splitlines()
    lines += ["", "", 'Program = type("Program", (torch.nn.Module,), {"forward": forward})', "", ""]
    formulas = [(k, spec) for k, spec in enumerate(program.custom_ops) if spec.autograd]
    for k, spec in formulas:  # PRG-47: registered once every op is defined
        python = spec.name.replace("::", "_")
        lines.append(f"{python}.register_autograd(_backward{k}, setup_context=_setup{k})")
    if program.backward is not None:
        lines += [f"LOSS = {list(program.backward.loss)!r}", "INPUTS = []"]
    if formulas or program.backward is not None:
        lines += ["", ""]
    return lines


def _imports(program: Any) -> list[str]:
    modules = ["contextlib", "traceback"]
    if _prints(program):
        modules += ["ctypes", "io", "os", "sys", "tempfile"]
    lines = [f"import {m}" for m in sorted(modules)]
    if any(not isinstance(s.fill, str) and math.prod(s.shape) > LISTED_VALUES
           for s in program.inputs):
        lines.append("import numpy")
    effects = [*(spec.effect for spec in program.custom_ops),
               *program.register_effects.values()]
    registers = "_register_effectful_op, " if effects else ""
    lines += ["", "import torch",
              f"from torch._higher_order_ops.effects import {registers}new_token_tensor"]
    if "ORDERED" in effects:
        lines.append("from torch._library.effects import EffectType")
    return [*lines, ""]  # the only names imported are the ones the script uses (ruff-clean)


def _header(program: Any, path: str, torch_version: str, expected: Any, observed: Any
            ) -> list[str]:
    lines = [f'"""Reproduce an effects-oracle finding on `{path}` with torch only: '
             "`python repro.py`.", "",
             f"Found with torch {torch_version}. The script runs the program eagerly and on "
             f"`{path}`", "and prints each run's outputs and effect log, events as "
             "(op, literal args, shapes)."]
    if expected is not None:
        lines += ["", f"Reference (refimpl) effect log: {list(expected)!r}"]
    if observed is not None:
        lines += [f"torch effect log on {path}: {list(observed)!r}"]
    return [*lines, '"""', ""]


def render_repro(program: Any, path: str, *, torch_version: str = "", expected_log: Any = None,
                 observed_log: Any = None) -> str:
    """The text of `repro.py` for `program` failing on `path` (RPT-29)."""
    lines = _header(program, path, torch_version, expected_log, observed_log)
    lines += _imports(program)
    lines += ["LOG = []", "", ""]
    lines += (_PRINTS if _prints(program) else _NO_PRINTS).splitlines() + ["", ""]
    for spec in program.custom_ops:
        lines += _custom_op(spec)
    registrations = register_effects_source(program)
    lines += [*registrations, "", ""] if registrations else []
    training = program.backward is not None
    if training:  # the inputs of the latest run, for their grads (PRG-52)
        lines += ["def inputs():", "    global INPUTS", "    INPUTS = ["]
        lines += [f"        {_input_expr(spec)}"
                  + (".requires_grad_()," if spec.requires_grad else ",")
                  for spec in program.inputs]
        lines += ["    ]", "    return INPUTS", "", ""]
    else:
        lines += ["def inputs():", "    return ["]
        lines += [f"        {_input_expr(spec)}," for spec in program.inputs]
        lines += ["    ]", "", ""]
    lines += _body(program)
    paths = ["eager"] + ([path] if path != "eager" else [])
    runners = dict(_RUNNERS)
    if training:
        runners["functional"], runners["fake"] = _JOINT_RUNNER, _FAKE_BACKWARD_RUNNER
    for name in paths:
        lines += runners[name].splitlines() + ["", ""]
    lines += (_MAIN_BACKWARD if training else _MAIN).splitlines()
    lines += [f"    observe({name!r}, {_python_name(name)})" for name in paths]
    return "\n".join(lines) + "\n"
