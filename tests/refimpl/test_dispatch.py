"""Tests for refimpl/dispatch_key.py, the HOP half of refimpl/operator.py and refimpl/mode_stack.py.

Models: ``c10/core/DispatchKey.h``, ``DispatchKeySet.h``, ``LocalDispatchKeySet.h`` and
``torch/_ops.py`` (``resolve_key``, ``HigherOrderOperator.dispatch``) and
``torch/utils/_python_dispatch.py`` at torch 2.13.0.
Spec: DSP-1 .. DSP-11, DSP-13.

Key sets are checked against a plain Python ``set`` model with Hypothesis (DSP-2, DSP-4);
``resolve_key`` and HOP dispatch against the rules of DSP-5 .. DSP-10 on throwaway higher-order
operators, which a fixture removes from ``ops.higher_order`` again.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import refimpl
import tests.strategies as st_
from refimpl import ops
from refimpl.dispatch_key import (
    DispatchKey,
    DispatchKeySet,
    ExcludeDispatchKeyGuard,
    IncludeDispatchKeyGuard,
    key_extractor,
    tls_local_exclude_set,
    tls_local_include_set,
)
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor, FunctionalTensorMode
from refimpl.library import _scoped_library
from refimpl.mode_stack import (
    TorchDispatchMode,
    _get_current_dispatch_mode,
    _len_torch_dispatch_stack,
    _pop_mode,
    _pop_mode_temporarily,
    _push_mode,
    mode_stack_snapshot,
)
from refimpl.operator import HigherOrderOperator, _higher_order_ops, resolve_key
from refimpl.tensor import PYTHON_KEYS, Tensor

K = DispatchKey

# DSP-1: the modelled runtime keys, lowest priority first.
PRIORITY = (
    "CPU",
    "CUDA",
    "Meta",
    "BackendSelect",
    "Python",
    "Functionalize",
    "ADInplaceOrView",
    "AutogradOther",
    "AutogradCPU",
    "AutogradCUDA",
    "AutocastCPU",
    "AutocastCUDA",
    "PythonTLSSnapshot",
    "PreDispatch",
    "PythonDispatcher",
)
ALIAS_KEYS = ("CompositeExplicitAutograd", "CompositeImplicitAutograd", "Autograd")
HOP_DEFAULT_FALLTHROUGH = (
    K.PythonDispatcher,
    K.PythonTLSSnapshot,
    K.ADInplaceOrView,
    K.BackendSelect,
    K.AutocastCPU,
    K.AutocastCUDA,
)


def highest(keys) -> DispatchKey:
    """The model of ``highestPriorityTypeId``: the last key in priority order, or Undefined."""
    ordered = [k for k in st_.RUNTIME_KEYS if k in keys]
    return ordered[-1] if ordered else K.Undefined


# -- throwaway higher-order operators ------------------------------------------------------------

_counter = itertools.count()


class TestHop(HigherOrderOperator):
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        super().__init__(f"dsp_test_hop_{next(_counter)}")

    def __call__(self, /, *args, **kwargs):
        return super().__call__(*args, **kwargs)


@pytest.fixture
def hop():
    """A fresh HOP with the default fallthrough keys (DSP-5)."""
    made = TestHop()
    yield made
    _higher_order_ops.pop(made.name(), None)


@pytest.fixture
def dense_hop(hop):
    """A fresh HOP that, like ``with_effects`` (EFF-17), falls through the autograd keys, so that
    a call on dense tensors reaches the Python key or the backend key."""
    hop.fallthrough(K.AutogradCPU)
    hop.fallthrough(K.AutogradCUDA)
    return hop


class RecordingMode(TorchDispatchMode):
    """Records what reaches ``__torch_dispatch__`` and the stack depth at that time."""

    def __init__(self) -> None:
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append((func, types, _len_torch_dispatch_stack()))
        return func(*args, **(kwargs or {}))


class PySubclass(Tensor):
    """A tensor subclass that carries the Python key (DSP-8, DSP-13)."""

    __slots__ = ()
    seen: list = []

    @classmethod
    def make(cls, data):
        base = refimpl.tensor(data)
        t = cls._make(base._data, base.shape, base.dtype, base.device)
        t._keys = base._keys | PYTHON_KEYS
        return t

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        cls.seen.append((func, types))
        unwrapped = [refimpl.tensor(a.numpy()) if isinstance(a, PySubclass) else a for a in args]
        return func(*unwrapped, **(kwargs or {}))


# -- DSP-1, DSP-2: keys and key sets ---------------------------------------------------------------


@pytest.mark.spec("DSP-1")
def test_runtime_keys_rise_in_priority_in_the_listed_order():
    for name in PRIORITY + ALIAS_KEYS + ("Undefined",):
        assert hasattr(K, name), f"expected DispatchKey.{name}"
    for low, high in itertools.combinations(PRIORITY, 2):
        came = DispatchKeySet([K[high], K[low]]).highestPriorityTypeId()
        assert came is K[high], f"expected {high} above {low}, came {came}"


@pytest.mark.spec("DSP-1")
@pytest.mark.parametrize("name", ALIAS_KEYS + ("Undefined",))
def test_alias_keys_and_undefined_never_occur_in_a_key_set(name):
    with pytest.raises(ValueError):
        DispatchKeySet([K[name]])
    for runtime in PRIORITY:
        assert not DispatchKeySet([K[runtime]]).has(K[name]), f"{runtime} set has {name}"
    assert not DispatchKeySet.full().has(K[name]), f"expected the full set to lack {name}"


@pytest.mark.spec("DSP-2")
def test_empty_set_has_undefined_as_highest_key():
    came = DispatchKeySet().highestPriorityTypeId()
    assert came is K.Undefined, f"expected Undefined, came {came}"
    assert not DispatchKeySet(), "expected the empty set to be falsy"


@pytest.mark.spec("DSP-2")
@st_.fast_settings(100)
@given(data=st.data())
def test_key_set_operations_match_a_set_model(data):
    a = data.draw(st_.key_sets(), label="a")
    b = data.draw(st_.key_sets(), label="b")
    key = data.draw(st_.runtime_keys(), label="key")
    sa, sb = DispatchKeySet(a), DispatchKeySet(b)
    before = set(sa)
    cases = {
        "|": (sa | sb, a | b),
        "-": (sa - sb, a - b),
        "&": (sa & sb, a & b),
        "add": (sa.add(key), a | {key}),
        "remove": (sa.remove(key), a - {key}),
    }
    for name, (came, expected) in cases.items():
        assert set(came) == expected, f"{name}: expected {sorted(map(str, expected))}, {came}"
        assert came.highestPriorityTypeId() is highest(expected), f"{name}: highest of {came}"
    assert sa.has(key) == (key in a), f"has({key}): expected {key in a}"
    assert set(sa) == before == a, "expected the operands unchanged (immutable sets)"
    order = [k for k in st_.RUNTIME_KEYS if k in a]
    assert list(sa) == order, f"expected iteration in priority order {order}, came {list(sa)}"
    assert (sa == DispatchKeySet(set(a))) and hash(sa) == hash(DispatchKeySet(set(a))), (
        "expected equal sets to compare and hash equal"
    )


# -- DSP-3: thread-local include / exclude sets ---------------------------------------------------


@pytest.mark.spec("DSP-3")
def test_guards_add_keys_and_restore_the_previous_sets():
    assert not tls_local_include_set() and not tls_local_exclude_set(), "expected empty TLS"
    with IncludeDispatchKeyGuard(K.Functionalize):
        with ExcludeDispatchKeyGuard(DispatchKeySet([K.CPU, K.Meta])):
            with IncludeDispatchKeyGuard(DispatchKeySet([K.PreDispatch])):
                came = set(tls_local_include_set())
                assert came == {K.Functionalize, K.PreDispatch}, f"include came {came}"
                assert set(tls_local_exclude_set()) == {K.CPU, K.Meta}, "exclude set"
            assert set(tls_local_include_set()) == {K.Functionalize}, "inner guard not undone"
        assert not tls_local_exclude_set(), "expected the exclude set restored"
    assert not tls_local_include_set(), "expected the include set restored"


@pytest.mark.spec("DSP-3")
def test_guards_restore_when_the_block_raises():
    with (
        pytest.raises(KeyError),
        IncludeDispatchKeyGuard(K.Python),
        ExcludeDispatchKeyGuard(K.AutogradCPU),
    ):
        raise KeyError("boom")
    assert not tls_local_include_set(), f"include set left: {tls_local_include_set()}"
    assert not tls_local_exclude_set(), f"exclude set left: {tls_local_exclude_set()}"


@pytest.mark.spec("DSP-3")
def test_thread_local_sets_belong_to_their_thread():
    seen = {}
    entered, done = threading.Event(), threading.Event()

    def other():
        entered.wait(5)
        seen["include"] = set(tls_local_include_set())
        with IncludeDispatchKeyGuard(K.Meta):
            seen["own"] = set(tls_local_include_set())
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with IncludeDispatchKeyGuard(K.Functionalize):
        entered.set()
        done.wait(5)
        assert set(tls_local_include_set()) == {K.Functionalize}, "the other thread leaked in"
    thread.join(5)
    assert seen == {"include": set(), "own": {K.Meta}}, f"expected separate sets, came {seen}"


# -- DSP-4: key extraction -------------------------------------------------------------------------


def _tensor_with_keys(keys) -> Tensor:
    t = refimpl.tensor([1.0])
    t._keys = DispatchKeySet(keys).repr_
    return t


@pytest.mark.spec("DSP-4")
@st_.fast_settings(100)
@given(data=st.data())
def test_key_extractor_matches_a_set_model(data):
    include = data.draw(st_.key_sets(), label="TLS include")
    exclude = data.draw(st_.key_sets(), label="TLS exclude")
    tensor_keys = data.draw(st.lists(st_.key_sets(), max_size=4), label="tensor key sets")
    mask = data.draw(st_.key_sets(), label="operator mask")
    tensors = [_tensor_with_keys(keys) for keys in tensor_keys]
    expected = (include.union(*tensor_keys) - exclude) & mask
    with (
        IncludeDispatchKeyGuard(DispatchKeySet(include)),
        ExcludeDispatchKeyGuard(DispatchKeySet(exclude)),
    ):
        came = key_extractor(tensors, DispatchKeySet(mask))
    assert set(came) == expected, f"expected {sorted(map(str, expected))}, came {came}"
    assert came.highestPriorityTypeId() is highest(expected), f"highest key of {came}"


@pytest.mark.spec("DSP-4")
def test_hop_call_extracts_keys_from_nested_args_and_kwargs(hop):
    hop.py_impl(K.Meta)(lambda *args, **kwargs: "meta")
    hop.py_impl(K.CompositeExplicitAutograd)(lambda *args, **kwargs: "backend")
    hidden = _tensor_with_keys([K.Meta])
    assert hop([1, (hidden,)]) == "meta", "expected a tensor inside a list to count"
    assert hop(x={"k": hidden}) == "meta", "expected a tensor inside a kwargs dict to count"
    assert hop(3) == "backend", "expected no tensors to resolve through Undefined"


# -- DSP-5 .. DSP-10: higher-order operators -------------------------------------------------------


@pytest.mark.spec("DSP-5")
def test_hop_default_non_fallthrough_keys(hop):
    expected = DispatchKeySet.full()
    for key in HOP_DEFAULT_FALLTHROUGH:
        expected = expected.remove(key)
    assert hop.non_fallthrough_keys == expected, f"came {hop.non_fallthrough_keys}"
    hop.fallthrough(K.AutogradCPU)
    assert not hop.non_fallthrough_keys.has(K.AutogradCPU), "expected fallthrough to remove it"
    hop.py_impl(K.AutogradCPU)(lambda x: x)
    assert hop.non_fallthrough_keys.has(K.AutogradCPU), "expected py_impl to add it back"
    hop.py_impl(K.AutocastCPU)(lambda x: x)
    assert hop.non_fallthrough_keys.has(K.AutocastCPU), "expected py_impl to add a default one"


@pytest.mark.spec("DSP-5")
def test_hop_cannot_be_instantiated_directly():
    with pytest.raises(RuntimeError) as excinfo:
        HigherOrderOperator("direct")
    expected = "Direct instantiation of HigherOrderOperator is not allowed. Please subclass it."
    assert str(excinfo.value) == expected, f"came {excinfo.value}"


@pytest.mark.spec("DSP-6")
def test_py_impl_returns_the_function_and_fills_the_tables(hop):
    def kernel(x):
        return x

    assert hop.py_impl(K.CPU)(kernel) is kernel, "expected py_impl to return fn unchanged"
    assert hop.py_kernels[K.CPU] is kernel, "expected the kernel under its key"
    assert hop.py_impl(FakeTensorMode)(kernel) is kernel, "expected the mode rule returned"
    assert hop.python_key_table[FakeTensorMode] is kernel, "expected a python_key_table entry"
    assert hop.py_impl(PySubclass)(kernel) is kernel, "expected a subclass rule returned"
    assert hop.python_key_table[PySubclass] is kernel, "expected the subclass in the table"


@pytest.mark.spec("DSP-6")
def test_py_impl_errors(hop):
    hop.py_impl(K.CPU)(lambda x: x)
    hop.py_impl(FakeTensorMode)(lambda mode, x: x)
    cases = [
        (
            FakeTensorMode,
            AssertionError,
            f"{FakeTensorMode} already registered in python_key_table",
        ),
        (
            K.Python,
            AssertionError,
            "Please register a mode for the DispatchKey.Python key instead.",
        ),
        (
            K.CPU,
            RuntimeError,
            f"Trying to override a python impl for DispatchKey.CPU on operator {hop.name()}",
        ),
        ("CPU", AssertionError, "expected DispatchKey, got <class 'str'>"),
    ]
    for key, error, message in cases:
        with pytest.raises(error) as excinfo:
            hop.py_impl(key)(lambda x: x)
        assert str(excinfo.value) == message, f"{key!r}: expected {message!r}, {excinfo.value}"


@pytest.mark.spec("DSP-6", "DSP-9")
def test_py_impl_clears_the_dispatch_cache_and_new_kernels_are_seen(hop):
    x = refimpl.tensor([1.0])
    hop.fallthrough(K.AutogradCPU)  # EFF-17's choice, so that a dense call reaches CPU
    hop.py_impl(K.CompositeExplicitAutograd)(lambda x: "composite")
    assert hop(x) == "composite", "expected the composite kernel"
    assert K.CPU in hop._dispatch_cache, "expected the CPU entry cached after the call"
    hop.py_impl(K.CPU)(lambda x: "cpu")
    assert not hop._dispatch_cache, f"expected py_impl to clear the cache, {hop._dispatch_cache}"
    assert hop(x) == "cpu", "expected the new CPU kernel to be seen by the next call"


@pytest.mark.spec("DSP-9")
def test_python_key_is_not_cached(dense_hop):
    dense_hop.py_impl(RecordingMode)(lambda mode, x: "mode")
    with RecordingMode():
        assert dense_hop(refimpl.tensor([1.0])) == "mode", "expected the mode rule"
    assert K.Python not in dense_hop._dispatch_cache, (
        "expected no cache entry for DispatchKey.Python"
    )


@pytest.mark.spec("DSP-7")
@pytest.mark.parametrize(
    ("kernels", "key", "expected"),
    [
        ({"CPU"}, "CPU", "CPU"),
        ({"CompositeExplicitAutograd"}, "CPU", "CompositeExplicitAutograd"),
        ({"CompositeExplicitAutograd"}, "CUDA", "CompositeExplicitAutograd"),
        ({"CompositeExplicitAutograd"}, "Meta", "CompositeExplicitAutograd"),
        ({"CompositeExplicitAutograd"}, "Undefined", "CompositeExplicitAutograd"),
        (
            {"CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional"},
            "CPU",
            "CompositeExplicitAutogradNonFunctional",
        ),
        ({"CPU", "CompositeExplicitAutograd"}, "CPU", "CPU"),
        ({"CompositeImplicitAutograd"}, "CPU", "CompositeImplicitAutograd"),
        ({"CompositeImplicitAutograd"}, "AutogradCPU", "CompositeImplicitAutograd"),
        (
            {"CompositeImplicitAutograd", "CompositeExplicitAutograd"},
            "CPU",
            "CompositeExplicitAutograd",
        ),
        ({"Autograd"}, "AutogradCPU", "Autograd"),
        ({"Autograd", "CompositeImplicitAutograd"}, "AutogradCUDA", "CompositeImplicitAutograd"),
    ],
)
def test_resolve_key_steps(hop, kernels, key, expected):
    for name in kernels:
        hop.py_kernels[K[name]] = name
    came = resolve_key(hop, K[key])
    assert came is K[expected], f"{sorted(kernels)} at {key}: expected {expected}, came {came}"




@pytest.mark.spec("DSP-7")
@pytest.mark.parametrize("key", ["CUDA", "Undefined"])
def test_implicit_kernel_serves_keys_whose_backend_has_no_kernel(hop, key):
    # torch 2.13.0 (run here, see test_differential_core.py): with CompositeImplicitAutograd
    # and CPU kernels, resolve_key(op, CUDA) and resolve_key(op, Undefined) give the implicit one.
    hop.py_kernels[K.CompositeImplicitAutograd] = "implicit"
    hop.py_kernels[K.CPU] = "cpu"
    came = resolve_key(hop, K[key])
    assert came is K.CompositeImplicitAutograd, f"expected CompositeImplicitAutograd, {came}"


@pytest.mark.spec("DSP-7")
@pytest.mark.parametrize("key", ["CPU", "CUDA"])
def test_resolve_key_without_kernel_or_fallback_raises(hop, key):
    with pytest.raises(NotImplementedError) as excinfo:
        resolve_key(hop, K[key])
    expected = f"could not find kernel for {hop} at dispatch key DispatchKey.{key}"
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


FALLBACK_KEYS = [name for name in PRIORITY if name not in ("CPU", "CUDA")]


@pytest.mark.spec("DSP-7")
@pytest.mark.parametrize("key", FALLBACK_KEYS)
def test_resolve_key_falls_back_to_the_key_itself(hop, key):
    came = resolve_key(hop, K[key])
    assert came is K[key], f"expected {key} itself (backend fallback), came {came}"


@pytest.mark.spec("DSP-7", "DSP-10")
def test_hop_without_kernel_at_the_resolved_key_raises(hop):
    # torch 2.13 (run here): a HOP with only a composite kernel, called on a CPU tensor, stops
    # at AutogradCPU, which resolves to itself and has no Python kernel.
    hop.py_impl(K.CompositeExplicitAutograd)(lambda x: x)
    with pytest.raises(NotImplementedError) as excinfo:
        hop(refimpl.tensor([1.0]))
    expected = (
        f"could not find kernel for HigherOrderOperator {hop.name()} at dispatch key "
        f"DispatchKey.AutogradCPU (resolved from DispatchKey.AutogradCPU)"
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-10")
def test_hop_dispatch_caches_the_resolved_kernel(dense_hop):
    def kernel(x):
        return "cea"

    dense_hop.py_impl(K.CompositeExplicitAutograd)(kernel)
    assert dense_hop.dispatch(K.Meta, refimpl.tensor([1.0])) == "cea", (
        "expected the composite kernel"
    )
    assert dense_hop._dispatch_cache.get(K.Meta) is kernel, "expected Meta cached to that kernel"


@pytest.mark.spec("DSP-8")
def test_mode_rule_runs_with_the_mode_popped(dense_hop):
    seen = []

    def rule(mode, x, *, flag):
        seen.append((mode, _len_torch_dispatch_stack(), flag))
        return "ruled"

    dense_hop.py_impl(RecordingMode)(rule)
    mode = RecordingMode()
    with mode:
        assert dense_hop(refimpl.tensor([1.0]), flag=True) == "ruled", "expected the rule's result"
        assert _len_torch_dispatch_stack() == 1, "expected the mode pushed back"
    assert seen == [(mode, 0, True)], f"expected (mode, depth 0, kwargs), came {seen}"


@pytest.mark.spec("DSP-8")
def test_mode_without_rule_raises_not_implemented(dense_hop):
    mode = RecordingMode()
    with mode, pytest.raises(NotImplementedError) as excinfo:
        dense_hop(refimpl.tensor([1.0]))
    message = str(excinfo.value)
    prefix = (
        f"There was no rule registered for HigherOrderOperator {dense_hop.name()} and mode {mode}."
        f"Hint: set {mode}'s supports_higher_order_operators to True."
    )
    assert message.startswith(prefix), f"expected {prefix!r}..., came {message!r}"


@pytest.mark.spec("DSP-8")
def test_mode_supporting_hops_gets_torch_dispatch(dense_hop):
    class HopMode(RecordingMode):
        supports_higher_order_operators = True

    dense_hop.py_impl(K.CompositeExplicitAutograd)(lambda x: "dense")
    x = refimpl.tensor([1.0])  # made outside: under a mode, torch.tensor goes via lift_fresh
    with HopMode() as mode:
        came = dense_hop(x)
    assert came == "dense", f"expected the mode to run the op below itself, came {came!r}"
    assert mode.calls == [(dense_hop, [], 0)], f"expected (hop, [], depth 0), came {mode.calls}"


@pytest.mark.spec("DSP-8")
def test_fake_tensor_without_mode_uses_its_fake_mode_rule(dense_hop):
    seen = []
    dense_hop.py_impl(FakeTensorMode)(lambda mode, x: seen.append(mode) or "fake rule")
    fake_mode = FakeTensorMode()
    fake = fake_mode.from_tensor(refimpl.tensor([1.0]))
    assert _get_current_dispatch_mode() is None, "expected no mode active"
    assert dense_hop(fake) == "fake rule", "expected the FakeTensorMode rule"
    assert seen == [fake_mode], f"expected the tensor's own fake_mode, came {seen}"


@pytest.mark.spec("DSP-8")
def test_subclass_without_rule_raises(dense_hop):
    wrapped = FunctionalTensor._wrap(refimpl.tensor([1.0]), FunctionalTensorMode())
    with pytest.raises(NotImplementedError) as excinfo:
        dense_hop(wrapped)
    expected = (
        f"There was no rule registered for HOP {dense_hop.name()} and subclass {FunctionalTensor}. "
        f"We recommend filing an issue."
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-8")
def test_all_rules_not_implemented_is_a_type_error(dense_hop):
    dense_hop.py_impl(RecordingMode)(lambda mode, x: NotImplemented)
    dense_hop.py_impl(PySubclass)(lambda x: NotImplemented)
    with RecordingMode(), pytest.raises(TypeError) as excinfo:
        dense_hop(PySubclass.make([1.0]))
    prefix = f"HigherOrderOperator '{dense_hop.name()}' is not supported for the given input types."
    assert str(excinfo.value).startswith(prefix), f"expected {prefix!r}..., {excinfo.value}"


@pytest.mark.spec("DSP-8")
def test_mode_not_implemented_falls_to_the_subclass_rule(dense_hop):
    dense_hop.py_impl(RecordingMode)(lambda mode, x: NotImplemented)
    dense_hop.py_impl(PySubclass)(lambda x: "subclass rule")
    with RecordingMode():
        came = dense_hop(PySubclass.make([1.0]))
    assert came == "subclass rule", f"expected the subclass rule to answer, came {came!r}"


# -- DSP-11: modes --------------------------------------------------------------------------------


@pytest.mark.spec("DSP-11")
def test_mode_stack_push_pop_and_python_keys():
    python_keys = {K.Python, K.PythonTLSSnapshot}
    assert _len_torch_dispatch_stack() == 0, "expected an empty stack"
    assert not python_keys & set(tls_local_include_set()), "expected no Python keys"
    outer, inner = RecordingMode(), RecordingMode()
    with outer:
        assert _get_current_dispatch_mode() is outer, "expected outer on top"
        assert python_keys <= set(tls_local_include_set()), "expected Python keys included"
        with inner:
            assert mode_stack_snapshot() == (outer, inner), "expected outer below inner"
            with _pop_mode_temporarily() as popped:
                assert popped is inner, "expected the top mode popped"
                assert _get_current_dispatch_mode() is outer, "expected outer on top meanwhile"
            assert _get_current_dispatch_mode() is inner, "expected inner pushed back"
        _push_mode(inner)
        assert _pop_mode() is inner and _len_torch_dispatch_stack() == 1, "push/pop"
    assert _len_torch_dispatch_stack() == 0, "expected the stack empty again"
    assert not python_keys & set(tls_local_include_set()), "expected the Python keys gone"


@pytest.mark.spec("DSP-11")
def test_leaving_a_mode_on_an_exception_pops_it():
    with pytest.raises(KeyError), RecordingMode():
        raise KeyError("boom")
    assert _len_torch_dispatch_stack() == 0, "expected the mode popped"
    assert not set(tls_local_include_set()), "expected the include set empty"


@pytest.mark.spec("DSP-11", "DSP-13")
def test_a_mode_runs_with_itself_popped_so_ops_reach_the_mode_below():
    outer, inner = RecordingMode(), RecordingMode()
    x = refimpl.tensor([1.0, 2.0])
    with outer, inner:
        y = ops.aten.sin.default(x)
    assert [c[0] for c in inner.calls] == [ops.aten.sin.default], f"inner saw {inner.calls}"
    assert inner.calls[0][2] == 1, "expected the inner mode to run with one mode left"
    assert [c[0] for c in outer.calls] == [ops.aten.sin.default], f"outer saw {outer.calls}"
    assert outer.calls[0][2] == 0, "expected the outer mode to run with none left"
    assert type(y) is Tensor, f"expected a plain result, came {type(y)}"


@pytest.mark.spec("DSP-11")
def test_pop_from_an_empty_stack_raises():
    with pytest.raises(AssertionError):
        _pop_mode()


# -- DSP-13: OpOverload dispatch -----------------------------------------------------------------


@pytest.mark.spec("DSP-13")
def test_op_overload_goes_to_the_mode_with_func_types_args_kwargs():
    x = refimpl.tensor([1.0, 2.0])
    with RecordingMode() as mode:
        out = ops.aten.add.Tensor(x, x, alpha=2)
    assert mode.calls == [(ops.aten.add.Tensor, (), 0)], f"came {mode.calls}"
    assert out.numpy().tolist() == [3.0, 6.0], f"expected [3.0, 6.0], came {out.numpy()}"


@pytest.mark.spec("DSP-13")
def test_op_overload_without_mode_goes_to_the_subclass():
    PySubclass.seen.clear()
    out = ops.aten.mul.Tensor(PySubclass.make([2.0]), refimpl.tensor([3.0]))
    assert PySubclass.seen == [(ops.aten.mul.Tensor, (PySubclass,))], f"{PySubclass.seen}"
    assert out.numpy().tolist() == [6.0], f"expected [6.0], came {out.numpy()}"


@pytest.mark.spec("DSP-13", "DSP-17")
def test_op_overload_backend_kernel_resolution_and_skipped_keys():
    with _scoped_library("dspq", "FRAGMENT") as lib:
        lib.define("which(Tensor x) -> Tensor")
        lib.impl("which", lambda x: refimpl.tensor([1.0]), "CPU")
        lib.impl("which", lambda x: refimpl.tensor([2.0]), "CompositeExplicitAutograd")
        op = ops.dspq.which.default
        cpu = refimpl.tensor([0.0])
        assert cpu.dispatch_keys().has(K.AutogradCPU), "expected an autograd key on the input"
        came = op(cpu).numpy().tolist()
        assert came == [1.0], f"expected the CPU kernel (autograd skipped), came {came}"
        meta = refimpl.ops.aten.empty_like.default(cpu)
        meta._keys = DispatchKeySet([K.Meta, K.ADInplaceOrView]).repr_
        came = op(meta).numpy().tolist()
        assert came == [2.0], f"expected Meta to resolve to the composite kernel, came {came}"


@pytest.mark.spec("DSP-13")
def test_op_overload_without_a_backend_kernel_raises():
    with _scoped_library("dspq", "FRAGMENT") as lib:
        lib.define("nokernel(Tensor x) -> Tensor")
        with pytest.raises(NotImplementedError) as excinfo:
            ops.dspq.nokernel.default(refimpl.tensor([1.0]))
    assert "dspq::nokernel" in str(excinfo.value) and "'CPU' backend" in str(excinfo.value), (
        f"expected a message naming the op and the CPU backend, came {excinfo.value}"
    )


@pytest.mark.spec("DSP-4", "DSP-13")
def test_tls_exclude_hides_a_tensor_key():
    x = refimpl.tensor([1.0])
    with RecordingMode() as mode, ExcludeDispatchKeyGuard(K.Python):
        out = ops.aten.neg.default(x)
    assert mode.calls == [], f"expected Python excluded, so the mode is skipped: {mode.calls}"
    assert out.numpy().tolist() == [-1.0], f"expected [-1.0], came {out.numpy()}"
