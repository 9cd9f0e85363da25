// PYBIND11_MODULE entry point of awqx._awqx.
#include "awqx/version.hpp"
#include "bindings.hpp"

namespace awqx::python {

void PendingPyError::throw_current() {
  PendingPyError e;
  PyErr_Fetch(&e.type, &e.value, &e.trace);
  throw e;
}

void PendingPyError::rethrow() const {
  PyErr_Restore(type, value, trace);
  throw pybind11::error_already_set();
}

}  // namespace awqx::python

PYBIND11_MODULE(_awqx, m) {
  m.doc() = "awqx C++ core: AWQ int4 quantization and CPU inference (use the awqx package)";
  m.attr("__version__") = awqx::version();
  awqx::python::bind_errors(m);
  awqx::python::bind_quantize(m);
  awqx::python::bind_model(m);
  awqx::python::bind_kernels(m);
}
