"""Torch function-schema strings: `parse_schema`, `FunctionSchema`, `Argument`, `AliasInfo`.

Models `torch/csrc/jit/frontend/function_schema_parser.cpp` (with `schema_type_parser.cpp`,
`lexer.h` and `parse_string_literal.h`) and the Python view `torch._C.FunctionSchema`,
`torch._C.Argument`, `torch._C._AliasInfo` at torch 2.13.0. Printing models `operator<<` for
`c10::FunctionSchema`, `c10::Argument` and `c10::AliasInfo` (`ATen/core/function_schema.h`,
`alias_info.h`) and for `c10::IValue` (default values), so that `str(parse_schema(s))` is
`str(torch._C.parse_schema(s))`.

Spec: DSP-16.

Simplifications:
1. `Argument.type` is torch's `real_type` (it keeps `SymInt`, `ScalarType`, `Layout`,
   `MemoryFormat`); torch's `Argument.type` (those spelled `int`) is `Argument.fake_type`.
2. Custom classes `__torch__.torch.classes.<ns>.<Name>` are accepted without a class registry;
   torch rejects classes that are not registered.
3. A `Device` default is kept as its text (`"cpu"`), not a `torch.device`.
4. Errors are all `SchemaParseError` (a `RuntimeError`) with a column and a caret line; torch
   raises `IndexError`/`ValueError` from `std::stod`/`std::stoll` for numbers out of range, and
   internal asserts for list defaults of the wrong element type.
5. A newline outside parentheses before more text is a `newline` token (torch also makes
   indent/dedent tokens there); either way the schema is rejected.
6. Alias sets print in reverse order of writing, which is what libstdc++'s `unordered_set` does
   for small sets; see [NOTE: alias set order].
7. `Union(...)` is flattened, de-duplicated and turned into `T?` for `Union(T, NoneType)`, but its
   members keep the written order (torch sorts them and may fold them into `Scalar`).
8. Strings are Python `str`; an octal escape above `\\177` gives that code point, where torch
   keeps a raw byte.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AliasInfo",
    "Argument",
    "FunctionSchema",
    "SchemaParseError",
    "SchemaType",
    "parse_schema",
]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class SchemaParseError(RuntimeError):
    """A schema string that `parse_schema` cannot read.

    The message says what went wrong at which 1-based column and draws a caret under it, e.g.
    ``expected ')' but found 'ident' here at column 17:`` followed by the text and the caret.
    `expected` is the token kind or thing the parser wanted (None where no single thing was),
    `found` the kind of token it saw (None for errors about a value rather than a token).
    """

    def __init__(
        self,
        what: str,
        source: str,
        offset: int,
        *,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        line_start = source.rfind("\n", 0, offset) + 1
        line_end = source.find("\n", offset)
        line_end = len(source) if line_end < 0 else line_end
        self.line = source.count("\n", 0, offset) + 1
        self.column = offset - line_start + 1
        self.what = what
        self.offset = offset
        self.expected = expected
        self.found = found
        self.source = source
        where = (
            f"column {self.column}" if self.line == 1 else f"line {self.line}, column {self.column}"
        )
        caret = " " * (self.column - 1) + "^"
        super().__init__(f"{what} here at {where}:\n  {source[line_start:line_end]}\n  {caret}")

    def __reduce__(self) -> tuple:
        keywords = {"expected": self.expected, "found": self.found}
        return (_rebuild_error, (self.what, self.source, self.offset, keywords))


def _rebuild_error(what: str, source: str, offset: int, keywords: dict) -> SchemaParseError:
    """Unpickle a SchemaParseError (its constructor takes keyword-only arguments)."""
    return SchemaParseError(what, source, offset, **keywords)


# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------

# Base type names of schema_type_parser.cpp's type map (`Tensor` is parsed on its own path).
# `None` and `ConstQuantizerPtr` are spelled differently once parsed.
# fmt: off
_BASE_TYPES = frozenset({
    "Any", "AnyClassType", "AnyEnumType", "Capsule", "Device", "Generator", "Layout",
    "MemoryFormat", "NoneType", "QScheme", "Quantizer", "Scalar", "ScalarType", "Storage",
    "Stream", "SymBool", "SymInt", "Tensor", "bool", "complex", "float", "int", "number", "str",
})
# fmt: on
_BASE_RENAMES = {"None": "NoneType", "ConstQuantizerPtr": "int"}
# Real types whose fake type (the one torch keeps in `Argument.type`) is `int`.
_FAKE_INT = frozenset({"ScalarType", "Layout", "MemoryFormat", "SymInt"})
_WRAPPER_KINDS = {"future": "Future", "rref": "RRef", "await": "Await"}


@dataclass(frozen=True)
class SchemaType:
    """A schema type, printed in torch's schema spelling (`Tensor?[]`, `Dict(str, t)`).

    `kind` is one of `base` (`Tensor`, `int`, ...), `var` (a type variable such as `t`), `class`
    (a script-object class), `list`, `optional`, `tuple`, `dict`, `future`, `rref`, `await`,
    `union`; `name` names a base type, variable or class; `contained` holds the element types.
    """

    kind: str
    name: str = ""
    contained: tuple[SchemaType, ...] = ()

    @staticmethod
    def base(name: str) -> SchemaType:
        return SchemaType("base", name)

    @staticmethod
    def list_of(elem: SchemaType) -> SchemaType:
        return SchemaType("list", contained=(elem,))

    @staticmethod
    def optional_of(elem: SchemaType) -> SchemaType:
        # Optional[Optional[T]] is Optional[T], as torch's OptionalType prints it.
        return elem if elem.kind == "optional" else SchemaType("optional", contained=(elem,))

    def __str__(self) -> str:
        if self.kind in ("base", "var", "class"):
            return self.name
        inner = ", ".join(str(t) for t in self.contained)
        if self.kind == "list":
            return f"{inner}[]"
        if self.kind == "optional":
            return f"{inner}?"
        if self.kind == "tuple":
            return f"({inner})"
        if self.kind == "dict":
            return f"Dict({inner})"
        if self.kind == "union":
            return f"Union({inner})"
        return f"{_WRAPPER_KINDS[self.kind]}({inner})"

    def __repr__(self) -> str:
        return f"SchemaType({str(self)!r})"

    def unwrap_optional(self) -> SchemaType:
        """`T` for `T?`, else the type itself."""
        return self.contained[0] if self.kind == "optional" else self

    def fake(self) -> SchemaType:
        """Torch's fake type: `ScalarType`, `Layout`, `MemoryFormat`, `SymInt` become `int`."""
        if self.kind == "base":
            return SchemaType.base("int") if self.name in _FAKE_INT else self
        if not self.contained:
            return self
        return SchemaType(self.kind, self.name, tuple(t.fake() for t in self.contained))

    def is_optional(self) -> bool:
        return self.kind == "optional"

    def is_tensor_list(self) -> bool:
        """`Tensor[]` or `Tensor?[]`, optional or not."""
        t = self.unwrap_optional()
        return t.kind == "list" and t.contained[0].unwrap_optional() == _TENSOR

    def is_tensor_like(self) -> bool:
        """`Tensor`, `Tensor?`, `Tensor[]`, `Tensor?[]` (and `Tensor[]?`)."""
        return self.unwrap_optional() == _TENSOR or self.is_tensor_list()

    def is_script_object(self) -> bool:
        """A custom class `__torch__.torch.classes.<ns>.<Name>` (not optional, not a list)."""
        return self.kind == "class"

    @property
    def class_name(self) -> str | None:
        """`"__torch__.torch.classes.<ns>.<Name>"` for a class type, else None."""
        return self.name if self.kind == "class" else None


_TENSOR = SchemaType.base("Tensor")


def _union_of(types: list[SchemaType]) -> SchemaType:
    """Flatten and de-duplicate; `Union(T, NoneType)` is `T?` (Simplification 7)."""
    flat: list[SchemaType] = []
    for t in types:
        for member in t.contained if t.kind == "union" else (t,):
            if member not in flat:
                flat.append(member)
    none = SchemaType.base("NoneType")
    if none in flat and len(flat) == 2:
        return SchemaType.optional_of(flat[1 - flat.index(none)])
    return SchemaType("union", contained=tuple(flat))


# ---------------------------------------------------------------------------------------------
# Alias annotations
# ---------------------------------------------------------------------------------------------

# [NOTE: alias set order]
# torch keeps alias sets in a std::unordered_set<Symbol>; printing walks the set, and for the
# small sets that schemas use libstdc++ walks it in reverse order of insertion: `Tensor(a|b)`
# prints as `Tensor(b|a)`. We keep the written order and print it reversed. Sets larger than
# about a dozen names get rehashed by libstdc++ into an order that depends on global symbol ids;
# that is not modelled. Equality, as in torch, ignores the order.


@dataclass(frozen=True, eq=False)
class AliasInfo:
    """An alias annotation: `(a)`, `(a!)`, `(a -> *)`, or the container of `Tensor(a!)[]`.

    `before_set` / `after_set` are frozensets of unqualified set names as torch shows them
    (`{"a"}`; the wildcard is `"*"`). For a list whose elements are annotated (`Tensor(a!)[]`) the
    list's own AliasInfo has empty sets, `is_write` copied from the element, and the element's
    annotation in `contained_types`.
    """

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    is_write: bool = False
    contained_types: tuple[AliasInfo, ...] = ()

    WILDCARD = "*"

    @property
    def before_set(self) -> frozenset[str]:
        return frozenset(self.before)

    @property
    def after_set(self) -> frozenset[str]:
        return frozenset(self.after)

    def is_wildcard_before(self) -> bool:
        return self.WILDCARD in self.before

    def is_wildcard_after(self) -> bool:
        return self.WILDCARD in self.after

    def _key(self) -> tuple:
        return (self.before_set, self.after_set, self.is_write, self.contained_types)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AliasInfo) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = "|".join(reversed(self.before))  # [NOTE: alias set order]
        if self.is_write:
            text += "!"
        if self.before_set != self.after_set:
            text += " -> " + "|".join(reversed(self.after))
        return f"({text})"

    def __repr__(self) -> str:
        return f"AliasInfo({str(self)!r})"


def _contain(element: AliasInfo | None, container: AliasInfo | None) -> AliasInfo | None:
    """The annotation of a list built around an element annotated with `element`."""
    if element is None:
        return container
    if container is None:
        container = AliasInfo(is_write=element.is_write)
    return AliasInfo(
        container.before,
        container.after,
        container.is_write,
        container.contained_types + (element,),
    )


# ---------------------------------------------------------------------------------------------
# Default values: printing as c10::IValue's operator<< does
# ---------------------------------------------------------------------------------------------


def _format_float(d: float) -> str:
    """A double as IValue prints it: `2.`, `-1.`, `0.5`, `1.0000000000000001e-05`."""
    if math.isfinite(d) and d == math.floor(d) and -(2**63) <= d < 2**63:
        return f"{int(d)}."
    return f"{d:.17g}"


def _format_complex(z: complex) -> str:
    sign = "+" if z.imag >= 0 else "-"
    return f"{_format_float(z.real)}{sign}{_format_float(abs(z.imag))}j"


def _format_value(v: Any) -> str:
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _format_float(v)
    if isinstance(v, complex):
        return _format_complex(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_format_value(x) for x in v) + "]"
    return str(v)  # a string outside a `str` argument prints bare, as in torch


# fmt: off
_QUOTE_ESCAPES = {
    "\\": "\\\\", "'": "\\'", '"': '\\"', "\a": "\\a", "\b": "\\b", "\f": "\\f",
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}
# fmt: on


def _octal_escape(byte: int) -> str:
    """c10::printQuotedString's `\\ddd`, with C's signed-char arithmetic for bytes >= 0x80."""
    v = byte - 256 if byte >= 128 else byte
    digits = (int(v / 64), int(math.fmod(int(v / 8), 8)), int(math.fmod(v, 8)))
    return "\\" + "".join(chr(ord("0") + d) for d in digits)


def _quote_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(_octal_escape(b) for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def _value_key(v: Any) -> Any:
    """Equality key that tells `1`, `1.0` and `True` apart, as IValue equality does."""
    if isinstance(v, (list, tuple)):
        return ("list", tuple(_value_key(x) for x in v))
    return (type(v).__name__, v)


# ---------------------------------------------------------------------------------------------
# Argument and FunctionSchema
# ---------------------------------------------------------------------------------------------

_NO_DEFAULT: Any = object()


class Argument:
    """One argument or return of a schema, as `torch._C.Argument` shows it.

    `name` is `""` for an unnamed return; `N` is the size in `int[2]`; `default_value` is None
    both for `=None` and for no default, so ask `has_default_value()`.
    """

    __slots__ = ("name", "type", "N", "_default", "kwarg_only", "alias_info")

    name: str
    type: SchemaType
    N: int | None
    kwarg_only: bool
    alias_info: AliasInfo | None

    def __init__(
        self,
        name: str,
        type: SchemaType,
        *,
        default_value: Any = _NO_DEFAULT,
        kwarg_only: bool = False,
        alias_info: AliasInfo | None = None,
        N: int | None = None,
    ) -> None:
        if isinstance(default_value, list):
            default_value = tuple(default_value)
        for slot, value in (
            ("name", name),
            ("type", type),
            ("N", N),
            ("_default", default_value),
            ("kwarg_only", kwarg_only),
            ("alias_info", alias_info),
        ):
            object.__setattr__(self, slot, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Argument is immutable; cannot set {name!r}")

    @property
    def default_value(self) -> Any:
        """The default as a Python value (a fresh list for list defaults), else None."""
        if self._default is _NO_DEFAULT:
            return None
        return list(self._default) if isinstance(self._default, tuple) else self._default

    def has_default_value(self) -> bool:
        return self._default is not _NO_DEFAULT

    @property
    def is_write(self) -> bool:
        return self.alias_info is not None and self.alias_info.is_write

    @property
    def real_type(self) -> SchemaType:
        return self.type

    @property
    def fake_type(self) -> SchemaType:
        return self.type.fake()

    def _key(self) -> tuple:
        default = None if self._default is _NO_DEFAULT else _value_key(self._default)
        return (
            self.name,
            self.type,
            self.N,
            self.has_default_value(),
            default,
            self.kwarg_only,
            self.alias_info,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Argument) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = self._type_text()
        if self.name:
            text += " " + self.name
        if self.has_default_value():
            text += "=" + self._default_text()
        return text

    def __repr__(self) -> str:
        return f"Argument({str(self)!r})"

    def _type_text(self) -> str:
        """The type with its alias annotation: `Tensor(a!)?`, `Tensor(a!)[]`, `int[2]`."""
        unopt = self.type.unwrap_optional()
        alias = self.alias_info
        if unopt.kind == "list":
            text = str(unopt.contained[0])
            if alias is not None and alias.contained_types:
                text += str(alias.contained_types[0])
            text += f"[{'' if self.N is None else self.N}]"
        else:
            text = str(unopt)
        if alias is not None and alias.before:
            text += str(alias)
        return text + ("?" if self.type.is_optional() else "")

    def _default_text(self) -> str:
        v = self._default
        if isinstance(v, str) and self.type.unwrap_optional() == _STR:
            return _quote_string(v)
        if self.type == _INT_LIST and isinstance(v, tuple) and len(v) > 1 and len(set(v)) == 1:
            # `int[2] stride=1`: torch prints an int list of equal values as one value.
            return _format_value(v[0])
        return _format_value(v)


_STR = SchemaType.base("str")
_INT_LIST = SchemaType.list_of(SchemaType.base("int"))


@dataclass(frozen=True)
class FunctionSchema:
    """An operator schema, `ns::name.overload(arguments) -> returns`, as torch models it."""

    name: str
    overload_name: str
    arguments: tuple[Argument, ...]
    returns: tuple[Argument, ...]
    is_vararg: bool = False
    is_varret: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", tuple(self.arguments))
        object.__setattr__(self, "returns", tuple(self.returns))

    @property
    def is_mutable(self) -> bool:
        """Whether any argument is written to (`Tensor(a!)`, `Tensor(a!)[]`)."""
        return any(arg.is_write for arg in self.arguments)

    def __str__(self) -> str:
        head = self.name + (f".{self.overload_name}" if self.overload_name else "")
        return f"{head}({self._arguments_text()}) -> {self._returns_text()}"

    def __repr__(self) -> str:
        return str(self)  # torch's repr is the schema text too

    def _arguments_text(self) -> str:
        parts = []
        seen_kwarg_only = False
        for arg in self.arguments:
            if arg.kwarg_only and not seen_kwarg_only:
                parts.append("*")
                seen_kwarg_only = True
            parts.append(str(arg))
        if self.is_vararg:
            parts.append("...")
        return ", ".join(parts)

    def _returns_text(self) -> str:
        parts = [str(r) for r in self.returns] + (["..."] if self.is_varret else [])
        single = len(self.returns) == 1 and not self.is_varret
        # One return prints bare unless it starts with "(" (a tuple type): `-> ((int, int)[])`.
        need_paren = not (single or (not self.returns and self.is_varret))
        if single and parts[0].startswith("("):
            need_paren = True
        text = ", ".join(parts)
        return f"({text})" if need_paren else text


# ---------------------------------------------------------------------------------------------
# Lexer (torch/csrc/jit/frontend/lexer.h, the part schemas use)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # torch's kindToString: "ident", "number", "(", "arrow", "None", ...
    text: str
    pos: int


# Multi-character tokens and keywords, with the kind names torch prints for them.
# fmt: off
_MULTI_TOKENS = {
    "->": "arrow", "...": "dots", "!=": "ne", "==": "eq", "<=": "le", ">=": "ge",
    "//": "floordiv", "**": "pow operator", "<=>": "equivalent", "# type:": "type comment",
    "<<": "<<", ">>": ">>", "+=": "+=", "-=": "-=", "*=": "*=", "/=": "/=", "%=": "%=",
    "|=": "|=", "&=": "&=", "^=": "^=", "<<=": "<<=", ">>=": ">>=", "**=": "**=",
}
_KEYWORDS = frozenset({
    "def", "if", "else", "elif", "while", "return", "is", "is not", "True", "False", "None",
    "and", "or", "not", "global", "for", "in", "not in", "raise", "assert", "break",
    "continue", "del", "pass", "class", "import", "with", "as", "Ellipsis", "NoneType",
})
# fmt: on
_SINGLE_CHARS = frozenset("+-*/%@()[]:,={}><.?!&^|~")
_FIXED_TOKEN = re.compile(
    "|".join(
        re.escape(tok)
        for tok in sorted([*_MULTI_TOKENS, *_KEYWORDS, *_SINGLE_CHARS], key=len, reverse=True)
    )
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What C's strtod reads (sign excluded), plus a trailing `j` for an imaginary number.
_NUMBER = re.compile(
    r"(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)j?"
)


def _lex_word(text: str, pos: int) -> tuple[str, str]:
    """An identifier or a fixed token; the longer wins and a tie goes to the token (`in`)."""
    ident = _IDENT.match(text, pos)
    fixed = _FIXED_TOKEN.match(text, pos)
    ident_len = ident.end() - pos if ident else 0
    if fixed is not None and fixed.end() - pos >= ident_len:
        return _MULTI_TOKENS.get(fixed.group(), fixed.group()), fixed.group()
    if ident is None:
        return "", ""
    return "ident", ident.group()


def _string_end(text: str, pos: int) -> int | None:
    """End of the string literal at `pos` (one or three quotes), None if unterminated."""
    quote = text[pos]
    delim = quote * 3 if text.startswith(quote * 3, pos) else quote
    end = pos + len(delim)
    while end < len(text) and not text.startswith(delim, end):
        if text[end] == "\n" and len(delim) == 1:
            return None
        end += 2 if text[end] == "\\" else 1
    return end + len(delim) if end < len(text) else None


def _skip_blank(text: str, pos: int) -> int:
    """Skip spaces, tabs, backslash-newlines and `#` comments (but not `# type:`)."""
    while pos < len(text):
        if text[pos] in " \t":
            pos += 1
        elif text.startswith("\\\n", pos):
            pos += 2
        elif text[pos] == "#" and not text.startswith("# type:", pos):
            while pos < len(text) and text[pos] != "\n":
                pos += 1
        else:
            break
    return pos


def _only_blank_after(text: str, pos: int) -> bool:
    while pos < len(text):
        pos = _skip_blank(text, pos)
        if pos < len(text) and text[pos] != "\n":
            return False
        pos += 1
    return True


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    nesting = 0
    pos = 0
    while True:
        pos = _skip_blank(text, pos)
        if pos >= len(text):
            tokens.append(_Token("eof", "", len(text)))
            return tokens
        if text[pos] == "\n":
            if nesting == 0 and tokens and not _only_blank_after(text, pos):
                tokens.append(_Token("newline", "\n", pos))
            pos += 1
            continue
        tok = _next_token(text, pos)
        nesting += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(tok.kind, 0)
        tokens.append(tok)
        pos += len(tok.text)


def _next_token(text: str, pos: int) -> _Token:
    first = text[pos]
    if not (first.isalpha() or first in "+-"):
        number = _NUMBER.match(text, pos)
        if number:
            return _Token("number", number.group(), pos)
    if first in "'\"":
        end = _string_end(text, pos)
        if end is not None:
            return _Token("string_literal", text[pos:end], pos)
    kind, word = _lex_word(text, pos)
    if not kind:
        raise SchemaParseError(
            f"expected 'a valid token' but found {first!r}",
            text,
            pos,
            expected="a valid token",
            found=first,
        )
    return _Token(kind, word, pos)


# ---------------------------------------------------------------------------------------------
# Literal values (function_schema_parser.cpp's parseSingleConstant and friends)
# ---------------------------------------------------------------------------------------------

# Identifiers parseSingleConstant accepts for any type: float/complex/long are ScalarTypes,
# strided a Layout, Mean a Reduction, contiguous_format a MemoryFormat.
# fmt: off
_ENUM_IDENTS = {"float": 6, "complex": 9, "long": 4, "strided": 0, "Mean": 1,
                "contiguous_format": 0}
# c10::getStringToDtypeMap(): dtype names accepted where the argument is a ScalarType.
_DTYPE_NAMES = {
    "uint8": 0, "int8": 1, "int16": 2, "short": 2, "int": 3, "int32": 3, "int64": 4, "long": 4,
    "float16": 5, "half": 5, "float": 6, "float32": 6, "double": 7, "float64": 7,
    "chalf": 8, "complex32": 8, "cfloat": 9, "complex": 9, "complex64": 9, "cdouble": 10,
    "complex128": 10, "bool": 11, "qint8": 12, "quint8": 13, "qint32": 14, "bfloat16": 15,
    "quint4x2": 16, "quint2x4": 17, "bits1x8": 18, "bits2x4": 19, "bits4x2": 20, "bits8": 21,
    "bits16": 22, "float8_e5m2": 23, "float8_e4m3fn": 24, "float8_e5m2fnuz": 25,
    "float8_e4m3fnuz": 26, "uint16": 27, "uint32": 28, "uint64": 29, "bit": 30, "uint1": 30,
    "uint2": 31, "uint3": 32, "uint4": 33, "uint5": 34, "uint6": 35, "uint7": 36, "int1": 37,
    "int2": 38, "int3": 39, "int4": 40, "int5": 41, "int6": 42, "int7": 43,
    "float8_e8m0fnu": 44, "float4_e2m1fn_x2": 45,
}
# fmt: on
_DEVICE = re.compile(
    r"(cpu|cuda|ipu|xpu|mkldnn|opengl|opencl|ideep|hip|ve|fpga|maia|xla|lazy|vulkan|mps|meta"
    r"|hpu|mtia|privateuseone)(:(0|[1-9][0-9]*))?"
)
_DECIMAL_PREFIX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX_PREFIX = re.compile(
    r"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
)
_SMALLEST_NORMAL = 2.2250738585072014e-308


def _stod(text: str) -> float | None:
    """C++ std::stod: the longest leading number; None if there is none or it is out of range."""
    hexa = _HEX_PREFIX.match(text)
    if hexa:
        mantissa = hexa.group(2)
        body = mantissa if "p" in mantissa.lower() else mantissa + "p0"
        value = float.fromhex(hexa.group(1) + "0x" + body)
    else:
        dec = _DECIMAL_PREFIX.match(text)
        if dec is None:
            return None
        mantissa = re.split("[eE]", dec.group())[0]
        value = float(dec.group())
    nonzero = re.search("[1-9a-fA-F]", mantissa.split("p")[0].split("P")[0]) is not None
    if math.isinf(value) or (abs(value) < _SMALLEST_NORMAL and nonzero):
        return None  # ERANGE: overflow, or underflow to a subnormal or zero
    return value


def _stoll(text: str) -> int | None:
    """C++ std::stoll (base 10): the leading integer; None if none or outside int64."""
    match = re.match(r"[+-]?[0-9]+", text)
    if match is None:
        return None
    value = int(match.group())
    return value if -(2**63) <= value < 2**63 else None


def _parse_string_literal(token: _Token, source: str) -> str:
    """parse_string_literal.h: strip the quotes and apply torch's escapes."""
    quote_len = 3 if token.text[:3] == token.text[0] * 3 else 1
    body = token.text[quote_len:-quote_len]
    out: list[str] = []
    pos = 0
    while pos < len(body):
        ch = body[pos]
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        char, width = _escape(body, pos, token, source)
        out.append(char)
        pos += width
    return "".join(out)


# fmt: off
_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "\n": "\n", "a": "\a", "b": "\b",
                   "f": "\f", "n": "\n", "v": "\v", "t": "\t"}
# fmt: on


def _escape(body: str, pos: int, token: _Token, source: str) -> tuple[str, int]:
    """One escape at body[pos] == '\\': (the character, how many characters it took)."""
    nxt = body[pos + 1] if pos + 1 < len(body) else "\0"
    if nxt in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[nxt], 2
    if nxt == "x":
        raise SchemaParseError("unsupported hex specifier", source, token.pos)
    if nxt in "uU":
        raise SchemaParseError("unsupported unicode specifier", source, token.pos)
    octal = body[pos + 1 : pos + 4]  # parseOctal: exactly three digits 0-7, below \400
    if len(octal) == 3 and all(c in "01234567" for c in octal) and int(octal, 8) < 256:
        return chr(int(octal, 8)), 4
    raise SchemaParseError("ill formed octal specifier", source, token.pos)


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


class _SchemaParser:
    """Recursive descent over the tokens, one method per rule of function_schema_parser.cpp."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.next_alias_id = 0  # `Tensor!` names its set `$0`, `$1`, ... per schema

    # -- token helpers ------------------------------------------------------------------------

    @property
    def cur(self) -> _Token:
        return self.tokens[self.index]

    def lookahead(self) -> _Token:
        return self.tokens[min(self.index + 1, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.cur
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return tok

    def next_if(self, kind: str) -> bool:
        if self.cur.kind != kind:
            return False
        self.next()
        return True

    def expect(self, kind: str) -> _Token:
        if self.cur.kind != kind:
            raise self.error_expected(kind)
        return self.next()

    def error_expected(self, kind: str) -> SchemaParseError:
        tok = self.cur
        return SchemaParseError(
            f"expected '{kind}' but found '{tok.kind}'",
            self.text,
            tok.pos,
            expected=kind,
            found=tok.kind,
        )

    def error(self, what: str, tok: _Token, expected: str | None = None) -> SchemaParseError:
        return SchemaParseError(what, self.text, tok.pos, expected=expected, found=tok.kind)

    def parse_list(
        self, begin: str | None, sep: str, end: str | None, callback: Callable[[], None]
    ) -> None:
        """torch's parseList: at least one element unless `end` comes at once."""
        if begin is not None:
            self.expect(begin)
        if end is None or self.cur.kind != end:
            callback()
            while self.next_if(sep):
                callback()
        if end is not None:
            self.expect(end)

    # -- declaration --------------------------------------------------------------------------

    def parse(self) -> FunctionSchema:
        name, overload = self.parse_name()
        if self.cur.kind != "(":
            self.expect("eof")
            raise self.error(
                "Tried to parse a function schema but only the operator name was given",
                self.cur,
                expected="(",
            )
        arguments, starts, is_vararg = self.parse_arguments()
        self.expect("arrow")
        returns, is_varret = self.parse_returns()
        self.expect("eof")
        self.check_defaults(arguments, starts)
        return FunctionSchema(
            name, overload, tuple(arguments), tuple(returns), is_vararg, is_varret
        )

    def parse_name(self) -> tuple[str, str]:
        name = self.expect("ident").text
        if self.next_if(":"):
            self.expect(":")
            name += "::" + self.expect("ident").text
        overload = ""
        if self.next_if("."):
            tok = self.expect("ident")
            overload = tok.text
            if overload == "default" or overload.startswith("__"):
                raise self.error(
                    f"{overload} is not a legal overload name for aten operators",
                    tok,
                    expected="an overload name",
                )
        return name, overload

    def parse_arguments(self) -> tuple[list[Argument], list[_Token], bool]:
        arguments: list[Argument] = []
        starts: list[_Token] = []
        state = {"kwarg_only": False, "vararg": False}

        def one() -> None:
            if state["vararg"]:
                raise self.error("... must be the last element of the argument list", self.cur)
            if self.next_if("*"):
                state["kwarg_only"] = True
            elif self.next_if("dots"):
                state["vararg"] = True
            else:
                starts.append(self.cur)
                arguments.append(self.parse_argument(False, state["kwarg_only"]))

        self.parse_list("(", ",", ")", one)
        if state["vararg"] and any(a.has_default_value() for a in arguments):
            raise self.error("schemas with vararg (...) can't have default value args", self.cur)
        return arguments, starts, state["vararg"]

    def check_defaults(self, arguments: list[Argument], starts: list[_Token]) -> None:
        """FunctionSchema::checkSchema: no positional non-default (non-list) after a default."""
        seen_default = False
        for arg, tok in zip(arguments, starts):
            if arg.has_default_value():
                seen_default = True
            elif seen_default and not arg.kwarg_only and arg.fake_type.kind != "list":
                raise self.error(
                    f"Non-default positional argument follows default argument. "
                    f"Parameter {arg.name}",
                    tok,
                    expected="a default value",
                )

    def parse_returns(self) -> tuple[list[Argument], bool]:
        if self.next_if("dots"):
            return [], True
        if self.cur.kind != "(":
            return [self.parse_argument(True, False)], False
        returns: list[Argument] = []
        state = {"varret": False}

        def one() -> None:
            if state["varret"]:
                raise self.error("... must be the last element of the return list", self.cur)
            if self.next_if("dots"):
                state["varret"] = True
            else:
                returns.append(self.parse_argument(True, False))

        self.parse_list("(", ",", ")", one)
        return returns, state["varret"]

    def parse_argument(self, is_return: bool, kwarg_only: bool) -> Argument:
        real, alias = self.parse_fake_and_real_type()
        size = None
        if self.next_if("["):
            # A sized list `int[2]` can only occur here, at the argument level.
            real = SchemaType.list_of(real)
            size_tok = self.expect("number")
            size = _stoll(size_tok.text)
            if size is None:
                raise self.error("invalid list size", size_tok, expected="a list size")
            self.expect("]")
            alias = _contain(alias, self.parse_alias_annotation())
            if self.next_if("?"):
                real = SchemaType.optional_of(real)
        if is_return:
            name = self.next().text if self.cur.kind == "ident" else ""
            return Argument(name, real, alias_info=alias, N=size)
        name = self.expect("ident").text
        default = self.parse_default_value(real, size) if self.next_if("=") else _NO_DEFAULT
        return Argument(
            name, real, default_value=default, kwarg_only=kwarg_only, alias_info=alias, N=size
        )

    # -- types (schema_type_parser.cpp) -------------------------------------------------------

    def parse_type(self) -> SchemaType:
        """A type nested in a tuple, Dict, Union, Future, ...: torch keeps its fake type."""
        return self.parse_fake_and_real_type()[0].fake()

    def parse_fake_and_real_type(self) -> tuple[SchemaType, AliasInfo | None]:
        real, alias = self.parse_type_head()
        while True:
            if self.cur.kind == "[" and self.lookahead().kind == "]":
                self.next()
                self.next()
                real = SchemaType.list_of(real)
                alias = _contain(alias, self.parse_alias_annotation())
            elif self.next_if("?"):
                real = SchemaType.optional_of(real)
            else:
                return real, alias

    def parse_type_head(self) -> tuple[SchemaType, AliasInfo | None]:
        """The type before any `[]` or `?`, with its alias annotation where torch reads one."""
        tok = self.cur
        if tok.kind == "(":
            items: list[SchemaType] = []
            self.parse_list("(", ",", ")", lambda: items.append(self.parse_type()))
            return SchemaType("tuple", contained=tuple(items)), None
        if tok.kind == "ident" and tok.text in ("Future", "RRef", "Await"):
            self.next()
            self.expect("(")
            inner = self.parse_type()
            self.expect(")")
            return SchemaType(tok.text.lower(), contained=(inner,)), None
        if tok.kind == "ident" and tok.text == "Dict":
            return self.parse_dict(), self.parse_alias_annotation()
        if tok.kind == "ident" and tok.text == "Union":
            return self.parse_union(), self.parse_alias_annotation()
        if tok.kind == "ident" and tok.text == "__torch__":
            return self.parse_class_type(), None
        return self.parse_base_type(), self.parse_alias_annotation()

    def parse_dict(self) -> SchemaType:
        start = self.next()
        self.expect("(")
        key = self.parse_type()
        self.expect(",")
        value = self.parse_type()
        self.expect(")")
        if not (key.kind == "base" and key.name in _DICT_KEYS):
            raise self.error(
                f"Cannot create dict for key type '{key}', only int, float, complex, Tensor, "
                "device and string keys are supported",
                start,
                expected="a dict key type",
            )
        return SchemaType("dict", contained=(key, value))

    def parse_union(self) -> SchemaType:
        start = self.next()
        self.expect("(")
        members = [self.parse_type()]
        while self.cur.kind != ")":
            self.expect(",")
            members.append(self.parse_type())
        self.expect(")")
        union = _union_of(members)
        if union.kind == "union" and len(union.contained) < 2:
            raise self.error(
                "a Union needs two or more distinct types", start, expected="two or more types"
            )
        return union

    def parse_class_type(self) -> SchemaType:
        """`__torch__.torch.classes.<ns>.<Name>` (Simplification 2: no registry check)."""
        parts = [self.next().text]
        for fixed in ("torch", "classes"):
            self.expect(".")
            tok = self.expect("ident")
            if tok.text != fixed:
                raise self.error(f"Expected '{fixed}' in custom class type", tok, expected=fixed)
            parts.append(tok.text)
        for _ in range(2):
            self.expect(".")
            parts.append(self.expect("ident").text)
        return SchemaType("class", ".".join(parts))

    def parse_base_type(self) -> SchemaType:
        tok = self.cur
        if not (self.next_if("None") or self.next_if("NoneType")):
            self.expect("ident")
        name = tok.text
        while self.cur.kind == "." and self.lookahead().kind == "ident":
            self.next()
            name += "." + self.next().text  # a dotted name, e.g. the type variable `t.Val`
        name = _BASE_RENAMES.get(name, name)
        if name in _BASE_TYPES:
            return SchemaType.base(name)
        if "a" <= name[0] <= "z":
            return SchemaType("var", name)  # a lower-case unknown name is a type variable
        raise self.error(f"unknown type specifier '{name}'", tok, expected="a type")

    def parse_alias_annotation(self) -> AliasInfo | None:
        """`(a)`, `(a!)`, `(a|b -> *)`; or a bare `!`, which makes a fresh set `$N`."""
        if self.next_if("("):
            before = self.parse_alias_sets()
            is_write = self.next_if("!")
            after = self.parse_alias_sets() if self.next_if("arrow") else before
            self.expect(")")
            return AliasInfo(tuple(before), tuple(after), is_write)
        if self.next_if("!"):
            name = f"${self.next_alias_id}"
            self.next_alias_id += 1
            return AliasInfo((name,), (), True)
        return None

    def parse_alias_sets(self) -> list[str]:
        names: list[str] = []

        def one() -> None:
            # After a wildcard torch ignores further names; it does not even read them.
            if self.next_if("*"):
                name = AliasInfo.WILDCARD
            elif AliasInfo.WILDCARD not in names:
                name = self.expect("ident").text
            else:
                return
            if name not in names:
                names.append(name)

        self.parse_list(None, "|", None, one)
        return names

    # -- default values -----------------------------------------------------------------------

    def parse_default_value(self, real: SchemaType, size: int | None) -> Any:
        """parseDefaultValue: what a default may be depends on the argument's fake type."""
        fake = real.fake()
        tok = self.cur
        if fake.kind == "base" and fake.name in ("Tensor", "Generator", "Quantizer"):
            self.expect("None")
            return None
        if fake.kind == "optional" or (fake.kind == "base" and fake.name in _SINGLE_CONSTANT):
            return self.parse_single_constant(real, fake)
        if fake == _DEVICE_TYPE:
            device = _parse_string_literal(self.expect("string_literal"), self.text)
            if not _DEVICE.fullmatch(device):
                raise self.error(
                    f"invalid device string {device!r}", tok, expected="a device string"
                )
            return device
        if fake.kind == "list":
            return self.parse_list_default(real, fake, size)
        raise self.error(f"unexpected type {str(real)!r} for a default value", tok)

    def parse_list_default(self, real: SchemaType, fake: SchemaType, size: int | None) -> tuple:
        elem_real, elem_fake = real.contained[0], fake.contained[0]
        tok = self.cur
        if tok.kind == "ident":
            raise self.error_expected("None")  # torch tries a Tensor default here
        if size is not None and tok.kind != "[":
            value = self.parse_single_constant(elem_real, elem_fake)
            return self.convert_to_list(elem_fake, [value] * size, tok)
        self.expect("[")
        values: list[Any] = []
        if self.cur.kind != "]":
            values.append(self.parse_single_constant(elem_real, elem_fake))
            while self.next_if(","):
                values.append(self.parse_single_constant(elem_real, elem_fake))
        self.expect("]")
        return self.convert_to_list(elem_fake, values, tok)

    def convert_to_list(self, elem: SchemaType, values: list[Any], tok: _Token) -> tuple:
        accepts = _LIST_ELEMENTS.get(elem.name) if elem.kind == "base" else None
        if accepts is None:
            raise self.error("lists are only supported for float, int and complex types", tok)
        for value in values:
            if type(value) is not accepts:
                raise self.error(
                    f"expected {elem.name} list elements but found {_format_value(value)}",
                    tok,
                    expected=elem.name,
                )
        return tuple(values)

    def parse_single_constant(self, real: SchemaType, fake: SchemaType) -> Any:
        tok = self.cur
        constants = {"True": True, "False": False, "None": None}
        if tok.kind in constants:
            self.next()
            return constants[tok.kind]
        if tok.kind == "string_literal":
            return _parse_string_literal(self.next(), self.text)
        if tok.kind == "ident":
            self.next()
            if tok.text in _ENUM_IDENTS:
                return _ENUM_IDENTS[tok.text]
            if real.unwrap_optional() == _SCALAR_TYPE and tok.text in _DTYPE_NAMES:
                return _DTYPE_NAMES[tok.text]
            raise self.error("invalid numeric default value", tok, expected="a number")
        return self.parse_number(fake)

    def parse_number(self, fake: SchemaType) -> Any:
        """An optionally negated number, read as complex, float or int as torch decides."""
        sign = "-" if self.next_if("-") else ""
        tok = self.expect("number")
        text = sign + tok.text
        if fake == _COMPLEX or "j" in text:
            imag = _stod(text[:-1])  # torch drops the last character, `j` or not
            value: Any = None if imag is None else complex(0.0, imag)
        elif fake == _FLOAT or "." in text or "e" in text:
            value = _stod(text)
        else:
            value = _stoll(text)
        if value is None:
            raise self.error(
                f"number {text} is out of range or malformed", tok, expected="a number"
            )
        return value


_DICT_KEYS = frozenset({"int", "float", "complex", "Tensor", "Device", "str", "bool", "Any"})
_SINGLE_CONSTANT = frozenset({"str", "Scalar", "int", "bool", "float", "complex"})
_LIST_ELEMENTS = {"int": int, "float": float, "bool": bool, "complex": complex}
_DEVICE_TYPE = SchemaType.base("Device")
_SCALAR_TYPE = SchemaType.base("ScalarType")
_COMPLEX = SchemaType.base("complex")
_FLOAT = SchemaType.base("float")


def parse_schema(text: str) -> FunctionSchema:
    """Parse `ns::name.overload(args) -> returns` as `torch._C.parse_schema` does.

    The namespace is optional (`"foo(Tensor x) -> Tensor"` has the name `"foo"`). Malformed text
    raises `SchemaParseError` with the column of the offending token.
    """
    return _SchemaParser(text).parse()
