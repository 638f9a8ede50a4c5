"""A program body as Python source, shared by both worlds' runners.

Models: nothing upstream. [NOTE: programs become Python source] Each path must see ordinary
Python: make_fx and export name placeholders after the function's parameters (``x_1``), and dynamo
traces straight-line code. So the body is written out as ``def program(x): _v1 = _op0(x, 'a') ...;
return (_v1,)`` with operators bound as globals and compiled with ``exec``. Only literals (``repr``
of str/int/float/bool/None) and program names are written into the text, so loading a program
still evaluates nothing it says.
Spec: PRG (the program format), PRG-20 and PRG-35 (rebound names), PRG-30 (parameter names),
PRG-36 (list outputs), RPT-13 (harness errors), RPT-31 (``register_effects`` as calls),
PRG-54 and PRG-56 (blocks as nested functions, the loop counter); docs/architecture.md.

[NOTE: generated names] The generated text names only ``program``, ``forward``, ``self``,
``torch``, ``float`` and names that start with ``_`` (``_opK``, ``_vK``, ``_with_effects``,
``_new_token``, ``_in<i>``). An input keeps its own name only when it is an identifier outside
that set, so no input can shadow a generated name or repeat another input's parameter name
(PRG-30). Code that fails to compile anyway is the harness's fault, and ``write_program`` raises
``HarnessError`` for it: both runners record it, and the comparison reports it as a harness
error, never as agreement (RPT-13).

Simplifications:
1. Input names that are not Python identifiers, or that could clash with a generated name,
   become ``_in<i>`` (``i`` the input's position).
"""

from __future__ import annotations

import keyword
import linecache
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oracle.behaviors import parse_signature

__all__ = ["HarnessError", "ProgramSource", "param_names", "register_effects_source",
           "torch_op_text", "write_program"]

# The generated text's own names that do not start with "_" ([NOTE: generated names]).
_RESERVED = frozenset({"program", "forward", "self", "torch", "float"})


class HarnessError(Exception):
    """The generated source does not compile: a fault of the harness, not of the program."""


def _own_name_ok(name: str) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and name not in _RESERVED
            and not name.startswith("_"))


def param_names(program: Any) -> list[str]:
    """Input names as Python parameters ([NOTE: generated names]): ``_in<i>`` for a name that
    could clash, so the names are pairwise distinct and distinct from every generated name."""
    return [spec.name if _own_name_ok(spec.name) else f"_in{i}"
            for i, spec in enumerate(program.inputs)]


def _ref_parts(value: Any) -> tuple[str, int | None] | None:
    if isinstance(value, dict) and "ref" in value:
        return value["ref"], value.get("index")
    if hasattr(value, "name") and hasattr(value, "index") and not isinstance(value, (str, tuple)):
        return value.name, value.index
    return None


@dataclass
class ProgramSource:
    """``fn(*inputs) -> tuple`` compiled from ``source``; ``forward`` is the method form;
    ``autograd`` maps a custom op's name to its formula's ``(backward, setup_context)``."""

    fn: Callable
    forward: Callable
    source: str
    autograd: dict[str, tuple[Callable, Callable]] = field(default_factory=dict)


class _Writer:
    def __init__(self, program: Any, resolve: Callable[[str], Any], globals_: dict) -> None:
        self.program = program
        self.resolve = resolve
        self.env = dict(zip((s.name for s in program.inputs), param_names(program)))
        self.globals = dict(globals_)
        self.ops: dict[str, str] = {}
        self.lines: list[str] = []
        # [NOTE: fresh value names] Every ``outs`` name gets a new ``_v<n>``, numbered on from
        # the inputs, so a rebound name (PRG-20) never reuses the variable of a value that a
        # later ref still means; without rebinding the numbering is the inputs' count onwards.
        self.next_value = len(self.env)

    def op(self, qualname: str) -> str:
        if qualname not in self.ops:
            self.ops[qualname] = f"_op{len(self.ops)}"
            self.globals[self.ops[qualname]] = self.resolve(qualname)
        return self.ops[qualname]

    def expr(self, value: Any) -> str:
        ref = _ref_parts(value)
        if ref is not None:
            name, index = ref
            return self.env[name] if index is None else f"{self.env[name]}[{int(index)}]"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.expr(v) for v in value) + "]"
        if isinstance(value, float) and (value != value or value in (float("inf"), -float("inf"))):
            return f"float({str(value)!r})"
        if isinstance(value, (str, int, float, bool, type(None))):
            return repr(value)
        raise TypeError(f"unsupported literal {value!r} in a program body")

    def statement(self, stmt: Any, lines: list[str] | None = None, indent: str = "    ") -> None:
        if getattr(stmt, "kind", "call") in ("cond", "while_loop"):
            self.hop(stmt, self.lines if lines is None else lines, indent)
            return
        args = [self.expr(a) for a in stmt.args]
        args += [f"{k}={self.expr(v)}" for k, v in dict(stmt.kwargs or {}).items()]
        if getattr(stmt, "kind", "call") == "with_effects":
            call = f"_with_effects(_new_token(), {self.op(stmt.op)}, {', '.join(args)})"
        else:
            call = f"{self.op(stmt.op)}({', '.join(args)})"
        outs = tuple(stmt.outs or ())
        targets = [f"_v{self.next_value + k}" for k in range(len(outs))]
        self.next_value += len(outs)
        self.env.update(zip(outs, targets))
        lhs = f"{', '.join(targets)} = " if targets else ""
        (self.lines if lines is None else lines).append(f"{indent}{lhs}{call}")

    def hop(self, stmt: Any, lines: list[str], indent: str) -> None:
        """[NOTE: control flow as Python] A cond's branches and a loop's condition and body
        become nested functions of the names the statement passes (PRG-54), defined just
        before the call; a loop carries a counter first, ``zeros([])``, which its condition
        compares with ``iterations`` after its own statements and its body advances by one
        (PRG-56), so every world runs the loop exactly ``iterations`` times."""
        k = self.next_value
        self.next_value += 1
        names = [a.name for a in stmt.args]
        if stmt.kind == "cond":
            pred, operands = self.env[names[0]], [self.env[n] for n in names[1:]]
            branch = [self.block(f"_true{k}", names[1:], stmt.blocks[0], lines, indent),
                      self.block(f"_false{k}", names[1:], stmt.blocks[1], lines, indent)]
            packed = "".join(o + ", " for o in operands)
            call = f"_cond({pred}, {branch[0]}, {branch[1]}, ({packed}))"
            counter = []
        else:
            carried = [self.env[n] for n in names]
            lt, add = self.op("aten::lt.Scalar"), self.op("aten::add.Tensor")
            lines.append(f"{indent}_c{k} = {self.op('aten::zeros.default')}([])")
            cond = self.block(f"_cond{k}", names, stmt.blocks[0], lines, indent,
                              counter=f"_i{k}", result=f"{lt}(_i{k}, {int(stmt.iterations)})")
            body = self.block(f"_body{k}", names, stmt.blocks[1], lines, indent,
                              counter=f"_i{k}", advance=f"{add}(_i{k}, 1)")
            call = f"_while_loop({cond}, {body}, (_c{k}, {''.join(c + ', ' for c in carried)}))"
            counter = ["_"]
        outs = tuple(stmt.outs or ())
        targets = [f"_v{self.next_value + j}" for j in range(len(outs))]
        self.next_value += len(outs)
        self.env.update(zip(outs, targets))
        lhs = ", ".join(counter + targets) if targets else ""
        if targets and len(counter + targets) == 1:
            lhs += ","
        lines.append(f"{indent}{lhs} = {call}" if targets else f"{indent}{call}")

    def block(self, fname: str, params: list[str], block: Any, lines: list[str], indent: str,
              *, counter: str | None = None, result: str | None = None,
              advance: str | None = None) -> str:
        """Write ``def fname(...)`` for ``block`` into ``lines``; returns ``fname``."""
        outer = self.env
        variables = [f"_v{self.next_value + j}" for j in range(len(params))]
        self.next_value += len(params)
        self.env = dict(zip(params, variables))
        head = ([counter] if counter else []) + variables
        lines.append(f"{indent}def {fname}({', '.join(head)}):")
        inner = indent + "    "
        for stmt in block.body:
            self.statement(stmt, lines, inner)
        if result is not None:
            lines.append(f"{inner}return {result}")
        else:
            returned = ([advance] if advance else []) + [self.env[o] for o in block.outputs]
            lines.append(f"{inner}return ({''.join(r + ', ' for r in returned)})")
        self.env = outer
        return fname

    def output(self, value: Any) -> str:
        """An output: a value name, a ref, or a list of them (a Python list, PRG-36)."""
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.output(v) for v in value) + "]"
        return self.expr(value if _ref_parts(value) else {"ref": value})

    def formula(self, spec: Any, k: int) -> list[str]:
        """[NOTE: autograd formulas] ``_setup<k>(ctx, inputs, output)`` saves the parameters
        ``save`` names (``inputs`` holds every parameter, defaults filled in, in schema order);
        ``_backward<k>(ctx, _g0, ...)`` unpacks ``ctx.saved_tensors``, runs the body and returns
        one grad or ``None`` per parameter (PRG-47 to PRG-50)."""
        formula = spec.autograd
        params = [p.name for p in _schema_params(spec.schema)]
        saved = [f"inputs[{params.index(name)}]" for name in formula.save]
        setup = [f"def _setup{k}(ctx, inputs, output, keyword_only_inputs=None):",
                 f"    ctx.save_for_backward({', '.join(saved)})"]
        outer = self.env
        self.env = {}
        grads = [f"_g{i}" for i in range(len(formula.grad_outputs))]
        self.env.update(zip(formula.grad_outputs, grads))
        body = [f"def _backward{k}(ctx, {', '.join(grads)}):"]
        if formula.save:
            names = [f"_s{i}" for i in range(len(formula.save))]
            self.env.update(zip(formula.save, names))
            body.append(f"    {''.join(f'{n}, ' for n in names)}= ctx.saved_tensors")
        for stmt in formula.body:
            self.statement(stmt, body)
        returned = [("None" if g is None else self.env[g]) for g in formula.grad_inputs]
        body.append(f"    return ({''.join(f'{r}, ' for r in returned)})")
        self.env = outer
        return ["", ""] + setup + ["", ""] + body

    def source(self) -> str:
        params = ", ".join(param_names(self.program))
        for stmt in self.program.body:
            self.statement(stmt)
        outputs = [self.output(o) for o in self.program.outputs]
        returned = "(" + "".join(f"{o}, " for o in outputs) + ")"
        head = [f"def program({params}):"]
        tail = [f"    return {returned}", "", "", f"def forward(self, {params}):",
                f"    return program({params})"]
        for k, spec in enumerate(self.program.custom_ops):
            if getattr(spec, "autograd", None) is not None:
                tail += self.formula(spec, k)
        return "\n".join(head + self.lines + tail) + "\n"


def _schema_params(schema: str) -> list[Any]:
    return list(parse_signature(schema).params)


def write_program(program: Any, resolve: Callable[[str], Any], *, with_effects: Any,
                  new_token: Callable[[], Any], extra_globals: dict | None = None,
                  cond: Any = None, while_loop: Any = None) -> ProgramSource:
    """Compile ``program``'s body; ``resolve`` maps ``ns::name.overload`` to an operator;
    ``cond`` and ``while_loop`` are the world's control-flow operators (PRG-53)."""
    globals_ = {"_with_effects": with_effects, "_new_token": new_token, "_cond": cond,
                "_while_loop": while_loop, **(extra_globals or {})}
    writer = _Writer(program, resolve, globals_)
    source = writer.source()
    filename = f"<effects-program {program.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(writer.globals)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise HarnessError(f"the generated source of {program.name!r} does not compile: "
                           f"{exc.msg} (line {exc.lineno})") from exc
    exec(code, namespace)  # noqa: S102 - see the module NOTE
    autograd = {spec.name: (namespace[f"_backward{k}"], namespace[f"_setup{k}"])
                for k, spec in enumerate(program.custom_ops)
                if getattr(spec, "autograd", None) is not None}
    return ProgramSource(namespace["program"], namespace["forward"], source, autograd)


def torch_op_text(qualname: str) -> str:
    """``ns::name.overload`` as Python naming the operator: ``torch.ops.ns.name.overload``."""
    namespace, rest = qualname.split("::", 1)
    return f"torch.ops.{namespace}.{rest}"


def register_effects_source(program: Any, op_text: Callable[[str], str] = torch_op_text
                            ) -> list[str]:
    """The program's ``register_effects`` as the calls a runner makes, in document order
    (PRG-12): ``_register_effectful_op(torch.ops.aten.cos.default, EffectType.ORDERED)``, or
    ``None`` for a null effect. ``op_text`` writes an overload name as Python."""
    effects = {"ORDERED": "EffectType.ORDERED", None: "None"}
    return [f"_register_effectful_op({op_text(name)}, {effects[effect]})"
            for name, effect in dict(program.register_effects).items()]
