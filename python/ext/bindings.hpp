// awqx._awqx: pybind11 bindings over the public C++ API (include/awqx). One file per area; the
// AutoAWQ-shaped classes are Python (python/awqx/) on top of these functions.
#pragma once
#include <pybind11/pybind11.h>

namespace awqx::python {

void bind_errors(pybind11::module_& m);    // errors.cpp: awqx::Error -> awqx.errors classes
void bind_quantize(pybind11::module_& m);  // quantize_py.cpp: quantize_model, reshard
void bind_model(pybind11::module_& m);     // model_py.cpp: Model, Tokenizer, generate, stream
void bind_kernels(pybind11::module_& m);   // kernels_py.cpp: kernels(), pack, linear, bench

// Raised from C++ callbacks after a Python error (KeyboardInterrupt included) was stashed with
// PyErr_Fetch: C++ code unwinds with this plain exception while the GIL is released, and the
// binding restores the Python error once it holds the GIL again (see PendingPyError::rethrow).
struct PendingPyError {
  PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
  // GIL held: moves the current Python error (if any) into a new PendingPyError and throws it.
  [[noreturn]] static void throw_current();
  // GIL held: restores the error and throws pybind11::error_already_set.
  [[noreturn]] void rethrow() const;
};

}  // namespace awqx::python
