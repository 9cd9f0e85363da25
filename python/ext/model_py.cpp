// Model (from_quantized / FP folders), Tokenizer, greedy/sampled generation and a streaming
// iterator. Generation runs without the GIL; the stream runs generate() on a worker thread that
// hands decoded pieces to the Python iterator through a queue (closing the iterator stops it).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "awqx/error.hpp"
#include "awqx/generate.hpp"
#include "awqx/model.hpp"
#include "awqx/tokenizer.hpp"
#include "bindings.hpp"

namespace py = pybind11;

namespace awqx::python {
namespace {

struct LoadedModel {
  std::string dir;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Model> model;
  std::mutex mu;  // one generation at a time (the model owns one KV cache)
};

struct GenArgs {
  std::vector<int32_t> ids;
  int64_t max_new_tokens = 256;
  SamplingOptions s;
};

py::dict stats_dict(const GenerateStats& st) {
  py::dict d;
  d["prompt_tokens"] = st.prompt_tokens;
  d["generated_tokens"] = st.generated_tokens;
  d["prefill_seconds"] = st.prefill_seconds;
  d["decode_seconds"] = st.decode_seconds;
  d["prefill_tok_s"] = st.prefill_tok_s();
  d["decode_tok_s"] = st.decode_tok_s();
  d["stopped_eos"] = st.stopped_eos;
  d["stopped_length"] = st.stopped_length;
  return d;
}

// Runs generate() like `awqx generate`: the prompt goes through the stream decoder first so the
// first piece gets its leading space right; EOS is not printed. piece(text) per decoded piece.
GenerateStats run_generation(LoadedModel& lm, const GenArgs& a, const std::function<bool(const std::string&)>& piece,
                             std::vector<int32_t>* out_ids) {
  if (a.ids.empty())
    throw Error::mismatch(ErrorCode::invalid_argument, "", "prompt", "a prompt that encodes to at least one token",
                          "an empty prompt");
  std::lock_guard<std::mutex> lock(lm.mu);
  StreamDecoder dec(*lm.tok, /*at_text_start=*/true);
  for (const int32_t id : a.ids) dec.push(id);
  bool go_on = true;
  const GenerateStats st = generate(*lm.model, *lm.tok, a.ids, a.max_new_tokens, a.s, [&](int32_t id) {
    if (out_ids) out_ids->push_back(id);
    if (lm.tok->is_eos(id)) return true;
    const std::string p = dec.push(id);
    if (!p.empty()) go_on = piece(p);
    return go_on;
  });
  const std::string rest = dec.flush();
  if (!rest.empty() && go_on) piece(rest);
  return st;
}

// Pieces produced by a worker thread, consumed by Python's iterator protocol.
class Stream {
 public:
  Stream(std::shared_ptr<LoadedModel> lm, GenArgs a) : lm_(std::move(lm)) {
    worker_ = std::thread([this, a = std::move(a)] {
      try {
        run_generation(*lm_, a, [this](const std::string& p) {
          std::lock_guard<std::mutex> l(mu_);
          q_.push_back(p);
          cv_.notify_one();
          return !cancel_;
        }, nullptr);
      } catch (...) {
        std::lock_guard<std::mutex> l(mu_);
        err_ = std::current_exception();
      }
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
      cv_.notify_one();
    });
  }
  ~Stream() { close(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  std::string next() {
    std::string p;
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return !q_.empty() || done_; });
      if (!q_.empty()) {
        p = std::move(q_.front());
        q_.pop_front();
        return p;
      }
    }
    if (err_) std::rethrow_exception(err_);
    throw py::stop_iteration();
  }

  void close() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      cancel_ = true;
    }
    if (PyGILState_Check()) {
      py::gil_scoped_release nogil;
      worker_.join();
    } else {
      worker_.join();
    }
  }

 private:
  std::shared_ptr<LoadedModel> lm_;
  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> q_;
  bool done_ = false, cancel_ = false;
  std::exception_ptr err_;
};

GenArgs gen_args(std::vector<int32_t> ids, int64_t max_new_tokens, float temperature, float top_p, int top_k,
                 uint64_t seed) {
  if (max_new_tokens < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "max_new_tokens", ">= 0", std::to_string(max_new_tokens));
  if (temperature < 0)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "temperature", ">= 0", std::to_string(temperature));
  if (top_p <= 0 || top_p > 1)
    throw Error::mismatch(ErrorCode::invalid_argument, "", "top_p", "in (0, 1]", std::to_string(top_p));
  GenArgs a;
  a.ids = std::move(ids);
  a.max_new_tokens = max_new_tokens;
  a.s.temperature = temperature;
  a.s.top_p = top_p;
  a.s.top_k = top_k;
  a.s.seed = seed;
  return a;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Tokenizer>(m, "Tokenizer", "Tokenizer of a model folder (or one tokenizer file)")
      .def(py::init([](const std::string& path) {
             return std::filesystem::is_directory(path) ? Tokenizer::load(path) : Tokenizer::load_file(path);
           }),
           py::arg("path"))
      .def("encode", &Tokenizer::encode, py::arg("text"), py::arg("add_bos") = true)
      .def("decode", &Tokenizer::decode, py::arg("ids"))
      .def("id_to_piece", &Tokenizer::id_to_piece)
      .def("piece_to_id", &Tokenizer::piece_to_id)
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def_property_readonly("bos_id", &Tokenizer::bos_id)
      .def_property_readonly("eos_ids", &Tokenizer::eos_ids)
      .def_property_readonly("kind", &Tokenizer::kind);
  m.def("apply_chat_template", &apply_chat_template, py::arg("family"), py::arg("messages"),
        py::arg("add_generation_prompt") = true);
  m.def("detect_chat_family", &detect_chat_family, py::arg("model_dir"));

  py::class_<LoadedModel, std::shared_ptr<LoadedModel>>(m, "Model", "A loaded model (FP or AWQ int4) and its tokenizer")
      .def(py::init([](const std::string& dir, bool fuse_layers, int64_t max_seq_len, const std::string& backend,
                       const std::string& kv_type, int64_t step_tokens) {
             auto lm = std::make_shared<LoadedModel>();
             py::gil_scoped_release nogil;
             LoadOptions lo;
             lo.fuse_layers = fuse_layers;
             lo.max_seq_len = max_seq_len;
             lo.backend = backend;
             lo.kv_type = parse_kv_type(kv_type, "kv_type");
             lo.step_tokens = step_tokens;
             lm->dir = dir;
             lm->tok = Tokenizer::load(dir);
             lm->model = Model::load(dir, lo);
             return lm;
           }),
           py::arg("path"), py::arg("fuse_layers") = true, py::arg("max_seq_len") = 0, py::arg("backend") = "",
           py::arg("kv_type") = "f16", py::arg("step_tokens") = 0)
      .def_property_readonly("tokenizer", [](LoadedModel& lm) -> Tokenizer& { return *lm.tok; },
                             py::return_value_policy::reference_internal)
      .def_property_readonly("path", [](const LoadedModel& lm) { return lm.dir; })
      .def_property_readonly("max_seq_len", [](const LoadedModel& lm) { return lm.model->max_seq_len(); })
      .def_property_readonly("vocab_size", [](const LoadedModel& lm) { return lm.model->vocab_size(); })
      .def("describe", [](const LoadedModel& lm) { return lm.model->describe(); })
      .def(
          "generate_ids",
          [](LoadedModel& lm, std::vector<int32_t> ids, int64_t max_new_tokens, float temperature, float top_p,
             int top_k, uint64_t seed) {
            const GenArgs a = gen_args(std::move(ids), max_new_tokens, temperature, top_p, top_k, seed);
            std::vector<int32_t> out;
            std::string text;
            GenerateStats st;
            {
              py::gil_scoped_release nogil;
              st = run_generation(lm, a, [&](const std::string& p) { return text += p, true; }, &out);
            }
            return py::make_tuple(out, text, stats_dict(st));
          },
          py::arg("ids"), py::arg("max_new_tokens") = 256, py::arg("temperature") = 0.8f, py::arg("top_p") = 0.95f,
          py::arg("top_k") = 40, py::arg("seed") = 0x5eed,
          "Generates after ids; returns (new ids incl. EOS, completion text, stats dict).")
      .def(
          "stream_ids",
          [](std::shared_ptr<LoadedModel> lm, std::vector<int32_t> ids, int64_t max_new_tokens, float temperature,
             float top_p, int top_k, uint64_t seed) {
            return std::make_unique<Stream>(std::move(lm),
                                            gen_args(std::move(ids), max_new_tokens, temperature, top_p, top_k, seed));
          },
          py::arg("ids"), py::arg("max_new_tokens") = 256, py::arg("temperature") = 0.8f, py::arg("top_p") = 0.95f,
          py::arg("top_k") = 40, py::arg("seed") = 0x5eed);

  py::class_<Stream>(m, "Stream", "Iterator over generated text pieces")
      .def("__iter__", [](Stream& s) -> Stream& { return s; }, py::return_value_policy::reference_internal)
      .def("__next__", &Stream::next)
      .def("close", &Stream::close);
}

}  // namespace awqx::python
