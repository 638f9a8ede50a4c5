"""Shared helper: build (or load cached) a minimal C++ torchbind class via
torch.utils.cpp_extension.load_inline. Namespace: effmodel.
  class effmodel::Counter(int v): add(Tensor)->Tensor (returns x + v, then v += 1),
                                  get()->int, __obj_flatten__
  op effmodel::takes_counter(__torch__.torch.classes.effmodel.Counter c, Tensor x) -> Tensor
"""
import os, time
import torch
from torch.utils.cpp_extension import load_inline

CPP = r'''
#include <torch/custom_class.h>
#include <torch/library.h>
#include <torch/torch.h>

struct Counter : torch::CustomClassHolder {
  int64_t v;
  explicit Counter(int64_t v_) : v(v_) {}
  at::Tensor add(at::Tensor x) { auto r = x + v; v += 1; return r; }
  int64_t get() { return v; }
  std::tuple<std::tuple<std::string, int64_t>> __obj_flatten__() {
    return std::tuple<std::tuple<std::string, int64_t>>(std::make_tuple(std::string("v"), v));
  }
};

at::Tensor takes_counter(c10::intrusive_ptr<Counter> c, at::Tensor x) {
  return x + c->v;
}

TORCH_LIBRARY(effmodel, m) {
  m.class_<Counter>("Counter")
    .def(torch::init<int64_t>())
    .def("add", &Counter::add)
    .def("get", &Counter::get)
    .def("__obj_flatten__", &Counter::__obj_flatten__)
    .def_pickle(
        [](const c10::intrusive_ptr<Counter>& self) -> int64_t { return self->v; },
        [](int64_t v) -> c10::intrusive_ptr<Counter> { return c10::make_intrusive<Counter>(v); });
  m.def("takes_counter(__torch__.torch.classes.effmodel.Counter c, Tensor x) -> Tensor");
}
TORCH_LIBRARY_IMPL(effmodel, CPU, m) {
  m.impl("takes_counter", takes_counter);
}
'''

BUILD_DIR = os.environ.get("EFFMODEL_BUILD_DIR", "/tmp/effmodel_tb_build")


def build(verbose=False):
    os.makedirs(BUILD_DIR, exist_ok=True)
    t0 = time.perf_counter()
    load_inline(name="effmodel_tb", cpp_sources=[CPP], functions=None,
                is_python_module=False, build_directory=BUILD_DIR, verbose=verbose)
    return time.perf_counter() - t0


_registered = False


def register_fakes():
    global _registered
    if _registered:
        return
    _registered = True

    @torch._library.register_fake_class("effmodel::Counter")
    class FakeCounter:
        def __init__(self, v):
            self.v = v

        @classmethod
        def __obj_unflatten__(cls, flat):
            return cls(**dict(flat))

        def add(self, x):
            r = x + self.v
            self.v += 1
            return r

        def get(self):
            return self.v

    @torch.library.register_fake("effmodel::takes_counter")
    def _(c, x):
        return torch.empty_like(x)
