// quantize_model(model_dir, out_dir, options: dict, progress) and save_folder (re-sharding copy)
// for awqx.AutoAWQForCausalLM. Option keys are QuantizeOptions' field names (AutoAWQ's words);
// an unknown key or a wrong type is awqx.InvalidArgumentError naming the key.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "awqx/config.hpp"
#include "awqx/error.hpp"
#include "awqx/fileutil.hpp"
#include "awqx/quantize.hpp"
#include "awqx/safetensors.hpp"
#include "bindings.hpp"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace awqx::python {
namespace {

template <class T>
const char* type_label() {
  if constexpr (std::is_same_v<T, bool>) return "a bool";
  else if constexpr (std::is_integral_v<T>) return "an int";
  else if constexpr (std::is_floating_point_v<T>) return "a float";
  else if constexpr (std::is_same_v<T, std::string>) return "a str";
  else return "a list of str";
}

template <class T>
void take(const py::handle& v, const std::string& key, T& out) {
  // bool is an int in Python; an int where a bool is meant (or the reverse) is a caller's slip.
  const bool is_bool = py::isinstance<py::bool_>(v);
  const bool ok = std::is_same_v<T, bool> ? is_bool : !is_bool;
  try {
    if (!ok) throw py::cast_error();
    out = v.cast<T>();
  } catch (const py::cast_error&) {
    throw Error::mismatch(ErrorCode::invalid_argument, "", key, type_label<T>(),
                          std::string(py::str(v.get_type().attr("__name__"))));
  }
}

QuantizeOptions options_from_dict(const py::dict& d) {
  QuantizeOptions o;
  for (const auto& [k, v] : d) {
    const std::string key = py::str(k);
    if (key == "method") take(v, key, o.method);
    else if (key == "w_bit") take(v, key, o.w_bit);
    else if (key == "q_group_size") take(v, key, o.q_group_size);
    else if (key == "zero_point") take(v, key, o.zero_point);
    else if (key == "version") take(v, key, o.version);
    else if (key == "duo_scaling") take(v, key, o.duo_scaling);
    else if (key == "apply_clip") take(v, key, o.apply_clip);
    else if (key == "n_grid") take(v, key, o.n_grid);
    else if (key == "identity_scale") take(v, key, o.identity_scale);
    else if (key == "validate") take(v, key, o.validate);
    else if (key == "check_fraction") take(v, key, o.check_fraction);
    else if (key == "sequential_inputs") take(v, key, o.sequential_inputs);
    else if (key == "autoawq_compat") take(v, key, o.autoawq_compat);
    else if (key == "modules_to_not_convert") take(v, key, o.modules_to_not_convert);
    else if (key == "calib_files") take(v, key, o.calib_files);
    else if (key == "calib_texts") take(v, key, o.calib_texts);
    else if (key == "calib_dir") take(v, key, o.calib_dir);
    else if (key == "chat") take(v, key, o.chat);
    else if (key == "search_precision") take(v, key, o.search_precision);
    else if (key == "max_calib_samples") take(v, key, o.max_calib_samples);
    else if (key == "max_calib_seq_len") take(v, key, o.max_calib_seq_len);
    else if (key == "shard_size") {
      if (py::isinstance<py::str>(v)) o.shard_size = parse_size(v.cast<std::string>(), "shard_size");
      else take(v, key, o.shard_size);
    } else if (key == "resume") take(v, key, o.resume);
    else if (key == "overwrite") take(v, key, o.overwrite);
    else if (key == "command") take(v, key, o.command);
    else throw Error(ErrorCode::invalid_argument, "", key, "unknown quantize option");
  }
  return o;
}

py::dict group_dict(const QuantizeGroupReport& g) {
  py::dict d;
  d["group"] = g.group;
  d["choice"] = g.choice;
  d["fit"] = g.fit;
  d["check"] = g.check;
  d["rtn_fit"] = g.rtn_fit;
  d["rtn_check"] = g.rtn_check;
  d["clip"] = g.clip;
  return d;
}

py::dict progress_dict(const QuantizeProgress& p) {
  py::dict d;
  d["layer"] = p.layer;
  d["n_layers"] = p.n_layers;
  d["elapsed_s"] = p.elapsed_s;
  d["eta_s"] = p.eta_s;
  d["loss"] = p.loss;
  d["resumed"] = p.resumed;
  py::list groups;
  for (const auto& g : p.groups) groups.append(group_dict(g));
  d["groups"] = groups;
  return d;
}

py::dict report_dict(const QuantizeReport& r) {
  py::dict d;
  d["n_layers"] = r.n_layers;
  d["resumed_layers"] = r.resumed_layers;
  d["calib_tokens"] = r.calib_tokens;
  d["calib_blocks"] = r.calib_blocks;
  d["layer_seconds"] = r.layer_seconds;
  d["layer_loss"] = r.layer_loss;
  d["total_seconds"] = r.total_seconds;
  d["peak_rss_bytes"] = r.peak_rss_bytes;
  d["files"] = r.files;
  return d;
}

py::dict run_quantize(const std::string& model_dir, const std::string& out_dir, const py::dict& opts,
                      const py::object& progress) {
  const QuantizeOptions o = options_from_dict(opts);
  // The search runs without the GIL; the callback takes it once per layer and is where a pending
  // Ctrl-C (Python's SIGINT handler only sets a flag) surfaces: quantize_model then unwinds at
  // this layer boundary, keeping <out>.tmp's finished layers for resume.
  QuantizeProgressFn fn = [&](const QuantizeProgress& p) {
    py::gil_scoped_acquire gil;
    if (!progress.is_none()) {
      try {
        progress(progress_dict(p));
      } catch (py::error_already_set& e) {
        e.restore();
        PendingPyError::throw_current();
      }
    }
    if (PyErr_CheckSignals() != 0) PendingPyError::throw_current();
  };
  QuantizeReport r;
  try {
    py::gil_scoped_release nogil;
    r = quantize_model(model_dir, out_dir, o, fn);
  } catch (const PendingPyError& e) {
    e.rethrow();
  }
  return report_dict(r);
}

// Copies a quantized folder to out_dir with shards of at most shard_size bytes (tensors in the
// source's shard and file order, so the same shard size gives the same bytes) and every
// non-safetensors file as it is. Whole or nothing (build_dir_atomic).
void save_folder(const std::string& src, const std::string& out_dir, size_t shard_size) {
  std::vector<std::string> shards, others;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(src, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".safetensors") shards.push_back(name);
    else if (name != "model.safetensors.index.json") others.push_back(name);
  }
  if (ec) throw Error(ErrorCode::io, src, "", ec.message());
  if (shards.empty()) throw Error(ErrorCode::io, src, "", "no .safetensors files (quantize first)");
  std::sort(shards.begin(), shards.end());
  std::vector<std::shared_ptr<SafetensorsFile>> open;
  std::vector<TensorView> all;
  for (const auto& s : shards) {
    open.push_back(SafetensorsFile::open(path_join(src, s)));
    for (const auto& n : open.back()->names()) all.push_back(open.back()->get(n));
  }
  build_dir_atomic(out_dir, "save_quantized", [&](const std::string& tmp) {
    write_safetensors_sharded(tmp, all, shard_size);
    for (const auto& f : others) write_file_atomic(path_join(tmp, f), read_file(path_join(src, f)));
  });
}

}  // namespace

void bind_quantize(py::module_& m) {
  m.def("quantize_model", &run_quantize, py::arg("model_dir"), py::arg("out_dir"), py::arg("options"),
        py::arg("progress") = py::none(),
        "Quantizes model_dir into out_dir (built in <out_dir>.tmp, resumable); returns the report as a dict.");
  m.def(
      "save_folder",
      [](const std::string& src, const std::string& out, const py::object& shard_size) {
        const size_t s = py::isinstance<py::str>(shard_size) ? parse_size(shard_size.cast<std::string>(), "shard_size")
                                                               : shard_size.cast<size_t>();
        py::gil_scoped_release nogil;
        save_folder(src, out, s);
      },
      py::arg("src"), py::arg("out_dir"), py::arg("shard_size"));
  m.def("parse_size", [](const std::string& s) { return parse_size(s, "shard_size"); });
  m.def(
      "load_config",
      [](const std::string& dir) {
        const ModelConfig c = ModelConfig::load(dir);
        py::dict d;
        d["architecture"] = c.architecture;
        d["model_type"] = c.model_type;
        d["num_hidden_layers"] = c.num_hidden_layers;
        d["hidden_size"] = c.hidden_size;
        d["vocab_size"] = c.vocab_size;
        d["quantized"] = c.quant.present;
        return d;
      },
      py::arg("model_dir"), "The parts of <model_dir>/config.json awqx uses (validated).");
  m.def("peak_rss_bytes", &peak_rss_bytes);
}

}  // namespace awqx::python
