// Kernel-level API: kernels() (what `awqx kernels` prints, as data), pack() of AutoAWQ GEMM
// arrays into a kernel-ready linear, linear() on numpy float32 arrays (read in place when
// C-contiguous float32; the output is written straight into a new or given array) and
// bench_kernels() (the JSON `awqx bench-kernels --json` writes; Python parses it into rows).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "awqx/awq_format.hpp"
#include "awqx/bench_kernels.hpp"
#include "awqx/bench_model.hpp"
#include "awqx/cpu.hpp"
#include "awqx/error.hpp"
#include "awqx/kernels.hpp"
#include "awqx/linear.hpp"
#include "bindings.hpp"

namespace py = pybind11;

namespace awqx::python {
namespace {

// A view of a numpy array's bytes (no copy; the caller keeps the array alive).
TensorView view_of(const py::array& a, const std::string& name) {
  if (!(a.flags() & py::array::c_style))
    throw Error(ErrorCode::invalid_argument, "", name, "expected a C-contiguous array (np.ascontiguousarray)");
  const char kind = a.dtype().kind();
  const auto size = a.dtype().itemsize();
  TensorView t;
  t.name = name;
  if (kind == 'i' && size == 4) t.dtype = DType::I32;
  else if (kind == 'f' && size == 2) t.dtype = DType::F16;
  else if (kind == 'f' && size == 4) t.dtype = DType::F32;
  else
    throw Error::mismatch(ErrorCode::dtype, "", name, "int32, float16 or float32",
                          std::string(py::str(a.dtype())));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) t.shape.push_back(a.shape(i));
  t.data = a.data();
  t.nbytes = static_cast<size_t>(a.nbytes());
  return t;
}

struct PackedLinear {
  std::unique_ptr<Linear> lin;
};

std::unique_ptr<PackedLinear> pack(const py::array& qweight, const py::array& qzeros, const py::array& scales,
                                   const std::optional<py::array>& bias, bool zero_point, const std::string& version,
                                   const std::string& backend) {
  const TensorView qw = view_of(qweight, "qweight"), qz = view_of(qzeros, "qzeros"), sc = view_of(scales, "scales");
  std::optional<TensorView> b;
  if (bias) b = view_of(*bias, "bias");
  if (qw.shape.size() != 2 || sc.shape.size() != 2 || sc.shape[0] <= 0)
    throw Error(ErrorCode::shape, "", "qweight", "expected 2-D qweight and scales");
  if (version != "gemm")
    throw Error::mismatch(ErrorCode::invalid_argument, "", "version", "gemm (AutoAWQ's GEMM arrays)", version);
  // Group size from the shapes, as AutoAWQ checkpoints imply it: K (qweight rows) / scales rows.
  const int64_t k = qw.shape[0], groups = sc.shape[0];
  if (k % groups != 0)
    throw Error::mismatch(ErrorCode::shape, "", "scales", "a row count dividing qweight's K = " + std::to_string(k),
                          std::to_string(groups));
  auto out = std::make_unique<PackedLinear>();
  py::gil_scoped_release nogil;
  Q4Weights w = awq_unpack_gemm(qw, &qz, sc, b ? &*b : nullptr, static_cast<int>(k / groups), zero_point, "", "linear");
  out->lin = make_q4_linear(std::move(w), backend);
  return out;
}

using F32Array = py::array_t<float, py::array::c_style>;

F32Array linear(const F32Array& x, const PackedLinear& p, std::optional<py::array> out) {
  const int64_t k = p.lin->k(), n = p.lin->n();
  if (x.ndim() < 1 || x.shape(x.ndim() - 1) != k)
    throw Error::mismatch(ErrorCode::shape, "", "x", "last dimension " + std::to_string(k),
                          x.ndim() ? std::to_string(x.shape(x.ndim() - 1)) : "a scalar");
  const int64_t m = x.ndim() == 1 ? 1 : x.size() / k;
  std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
  shape.back() = n;
  // out is written in place, so it must already be what the kernel writes: no converting copy.
  if (out && (out->dtype().kind() != 'f' || out->dtype().itemsize() != 4 || !(out->flags() & py::array::c_style) ||
              !out->writeable() || out->size() != m * n))
    throw Error(ErrorCode::invalid_argument, "", "out",
                "expected a writeable C-contiguous float32 array of " + std::to_string(m * n) + " elements");
  F32Array y = out ? F32Array::ensure(*out) : F32Array(shape);
  float* yp = y.mutable_data();
  const float* xp = x.data();
  {
    py::gil_scoped_release nogil;
    if (m > 0) p.lin->forward(xp, m, yp);
  }
  return y;
}

py::dict kernels_info() {
  const CpuInfo& cpu = cpu_info();
  py::dict d;
  d["cpu"] = cpu.brand;
  d["isa"] = isa_name(cpu.isa);
  d["cores"] = cpu.cores;
  d["summary"] = cpu.to_string();
  kernels::Problem p{1, 4096, 4096, 128, true};
  py::list ks;
  for (const auto& e : kernels::registry().entries()) {
    const std::string why = kernels::why_unsupported(e, cpu, p);
    py::dict k;
    k["name"] = e.name;
    k["op"] = kernels::op_name(e.op);
    k["format"] = kernels::format_name(e.format);
    k["isa"] = isa_name(e.isa);
    k["family"] = e.family;
    k["priority"] = e.priority;
    k["supported"] = why.empty();
    k["reason"] = why;
    ks.append(k);
  }
  d["kernels"] = ks;
  py::dict sel;
  for (int64_t m : {int64_t{1}, int64_t{512}}) {
    p.m = m;
    sel[py::int_(m)] = kernels::select(p, cpu).name;
  }
  d["select"] = sel;
  return d;
}

std::string bench_json(std::vector<int64_t> m, int64_t k, int64_t n, int group_size, bool zero_point,
                       const std::string& kernels, bool baselines, int threads, int repeats, int cache_mb) {
  BenchKernelsOptions o;
  o.m = std::move(m);
  o.k = k;
  o.n = n;
  o.group_size = group_size;
  o.zero_point = zero_point;
  o.kernels = kernels;
  o.baselines = baselines;
  o.threads = threads;
  o.repeats = repeats;
  o.cache_mb = cache_mb;
  o.progress = false;
  validate(o);
  py::gil_scoped_release nogil;
  return bench_kernels_json(bench_kernels(o, nullptr));
}

// `awqx bench`: the JSON document its --json writes (every flag is a BenchOptions field).
std::string bench_model_json(const std::string& model, int64_t prompt_tokens, int64_t gen_tokens, int repeats,
                             int warmup, const std::string& backend, int threads, bool fuse_layers,
                             const std::string& kv_type, int64_t step_tokens, uint64_t seed, int64_t batch) {
  BenchOptions o;
  o.prompt_tokens = prompt_tokens;
  o.gen_tokens = gen_tokens;
  o.repeats = repeats;
  o.warmup = warmup;
  o.backend = backend;
  o.threads = threads;
  o.fuse_layers = fuse_layers;
  o.kv_type = parse_kv_type(kv_type, "kv_type");
  o.step_tokens = step_tokens;
  o.seed = seed;
  o.batch = batch;
  py::gil_scoped_release nogil;
  return bench_model(model, o).to_json().dump();
}

}  // namespace

void bind_kernels(py::module_& m) {
  m.def("kernels", &kernels_info);
  py::class_<PackedLinear>(m, "PackedLinear", "An int4 linear packed for this CPU's chosen kernel")
      .def_property_readonly("n", [](const PackedLinear& p) { return p.lin->n(); })
      .def_property_readonly("k", [](const PackedLinear& p) { return p.lin->k(); })
      .def("describe", [](const PackedLinear& p) { return p.lin->describe(); })
      .def("__repr__", [](const PackedLinear& p) { return "<awqx.PackedLinear " + p.lin->describe() + ">"; });
  m.def("pack", &pack, py::arg("qweight"), py::arg("qzeros"), py::arg("scales"), py::arg("bias") = py::none(),
        py::arg("zero_point") = true, py::arg("version") = "gemm", py::arg("backend") = "");
  m.def("linear", &linear, py::arg("x"), py::arg("packed"), py::arg("out") = py::none());
  m.def("bench_kernels_json", &bench_json, py::arg("m"), py::arg("k"), py::arg("n"), py::arg("group_size"),
        py::arg("zero_point"), py::arg("kernels"), py::arg("baselines"), py::arg("threads"), py::arg("repeats"),
        py::arg("cache_mb"));
  m.def("bench_model_json", &bench_model_json, py::arg("model"), py::arg("prompt_tokens"), py::arg("gen_tokens"),
        py::arg("repeats"), py::arg("warmup"), py::arg("backend"), py::arg("threads"), py::arg("fuse_layers"),
        py::arg("kv_type"), py::arg("step_tokens"), py::arg("seed"), py::arg("batch"));
}

}  // namespace awqx::python
