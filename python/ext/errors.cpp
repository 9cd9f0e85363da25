// awqx::Error -> the awqx.errors class for its ErrorCode (same one-line message, plus .code,
// .file, .field). The classes are Python (python/awqx/errors.py) so they can also derive from
// OSError / ValueError / NotImplementedError where Python code expects those.
#include <pybind11/pybind11.h>

#include "awqx/error.hpp"
#include "bindings.hpp"

namespace py = pybind11;

namespace awqx::python {

void bind_errors(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const awqx::Error& e) {
      py::object cls = py::module_::import("awqx.errors").attr("error_class")(error_code_name(e.code()));
      py::object exc = cls(e.what());
      exc.attr("code") = error_code_name(e.code());
      exc.attr("file") = e.file();
      exc.attr("field") = e.field();
      PyErr_SetObject(cls.ptr(), exc.ptr());
    } catch (const PendingPyError& e) {
      PyErr_Restore(e.type, e.value, e.trace);
    }
  });
  // For tests and for Python code that wants to raise the same classes from C++ messages.
  m.def("_raise_error", [](const std::string& code, const std::string& file, const std::string& field,
                           const std::string& msg) {
    for (int c = 1; c <= static_cast<int>(ErrorCode::internal); ++c)
      if (code == error_code_name(static_cast<ErrorCode>(c))) throw Error(static_cast<ErrorCode>(c), file, field, msg);
    throw Error(ErrorCode::invalid_argument, "", "code", "unknown error code '" + code + "'");
  });
}

}  // namespace awqx::python
