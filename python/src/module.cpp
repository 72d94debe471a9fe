// hearth._hearth: the engine's public C++ API as a Python extension module, the layer under hearth.Llama.
//
// Generations run on the Scheduler's worker thread with the GIL released; their events wait in a queue per
// generation until Python takes them (Generation.next_events), which waits in short slices so that Ctrl-C is seen
// and cancels the generation. A logits processor is the one place the worker calls back into Python (taking the GIL).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hearth/chat.h"
#include "hearth/context.h"
#include "hearth/gguf.h"
#include "hearth/grammar.h"
#include "hearth/json_schema.h"
#include "hearth/model.h"
#include "hearth/model_chat.h"
#include "hearth/numeric_error.h"
#include "hearth/sampling.h"
#include "hearth/scheduler.h"
#include "hearth/tokenizer.h"
#include "hearth/tool_calls.h"

namespace py = pybind11;
using namespace std::chrono_literals;

namespace hearth::python {
namespace {

using json = chat::json;

py::str text(std::string_view bytes) {
  // Generated text is whole UTF-8 characters except where a model wrote invalid bytes: those become U+FFFD.
  PyObject* str = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace");
  if (!str) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(str);
}

// The tokenizer of a model, or of a vocabulary-only GGUF file.
struct Vocab {
  tokenizer::Tokenizer tok;
  std::shared_ptr<const gguf::File> file;  // for vocabulary-only files (a Model keeps its own)
};

std::string metadata_string(const gguf::File* file, const std::string& key) {
  if (!file) throw std::logic_error("no metadata");
  const gguf::Value* value = file->find(key);
  if (!value) return {};
  return std::string(value->as<std::string_view>());
}
std::string metadata_string(const gguf::File& file, const std::string& key) {
  const gguf::Value* value = file.find(key);
  if (!value) return {};
  return std::string(value->as<std::string_view>());
}

// One generation's events, filled by the scheduler's worker and drained by Python.
class EventQueue : public GenerationSink {
 public:
  void on_token(GenerationEvent event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    ready_.notify_one();
  }
  void on_finished(GenerationResult result) override {
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
    ready_.notify_one();
  }
  // Waits up to `slice` for events; moves them into `out`. True once the generation has finished and nothing is left.
  bool wait(std::chrono::milliseconds slice, std::vector<GenerationEvent>& out) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, slice, [&] { return !events_.empty() || result_.has_value(); });
    while (!events_.empty()) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    return out.empty() && result_.has_value();
  }
  std::optional<GenerationResult> result() const {
    std::lock_guard lock(mutex_);
    return result_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<GenerationEvent> events_;
  std::optional<GenerationResult> result_;
};

// A Python callable the worker thread may call and drop: it takes the GIL for both.
struct PythonCallable {
  explicit PythonCallable(py::object callable) : callable(std::move(callable)) {}
  ~PythonCallable() {
    py::gil_scoped_acquire gil;
    callable = py::object();
  }
  py::object callable;
};

class Engine;

class Generation {
 public:
  Generation(std::weak_ptr<Scheduler> scheduler, std::shared_ptr<EventQueue> queue, Scheduler::RequestId id)
      : scheduler_(std::move(scheduler)), queue_(std::move(queue)), id_(id) {}
  ~Generation() { cancel(); }

  // The next events: (token, text, logprob or None, [(token, logprob), ...]) tuples, at least one, or [] once the
  // generation has finished. Raises KeyboardInterrupt (cancelling the generation) on Ctrl-C.
  py::list next_events() {
    std::vector<GenerationEvent> events;
    for (;;) {
      bool finished = false;
      {
        py::gil_scoped_release release;
        finished = queue_->wait(50ms, events);
      }
      if (!events.empty() || finished) break;
      if (PyErr_CheckSignals() != 0) {
        cancel();
        throw py::error_already_set();
      }
    }
    py::list out;
    for (const GenerationEvent& event : events) {
      py::object logprob = event.logprob ? py::object(py::float_(event.logprob->logprob)) : py::none();
      py::list top;
      for (const TokenLogprob& alternative : event.top) top.append(py::make_tuple(alternative.token, alternative.logprob));
      out.append(py::make_tuple(event.token, text(event.text), logprob, top));
    }
    return out;
  }

  void cancel() {
    if (const std::shared_ptr<Scheduler> scheduler = scheduler_.lock()) scheduler->cancel(id_);
  }

  // After next_events() returned []: how it ended.
  py::dict result() const {
    const std::optional<GenerationResult> result = queue_->result();
    if (!result) throw std::logic_error("the generation has not finished");
    py::dict out;
    out["finish_reason"] = std::string(finish_reason_name(result->reason));
    out["text"] = text(result->text);
    out["error"] = result->error;
    out["prompt_tokens"] = result->prompt_tokens;
    out["cached_tokens"] = result->cached_tokens;
    out["generated_tokens"] = result->generated_tokens;
    out["queue_ms"] = result->queue_ms;
    out["time_to_first_token_ms"] = result->time_to_first_token_ms;
    out["duration_ms"] = result->duration_ms;
    return out;
  }

 private:
  std::weak_ptr<Scheduler> scheduler_;  // the Engine owns it: closing the Engine cancels every generation
  std::shared_ptr<EventQueue> queue_;
  Scheduler::RequestId id_;
};

// A chat request prepared by ModelChat: the prompt and the rules for the reply.
struct PreparedChat {
  chat::ChatGeneration generation;
};

py::dict delta_dict(const chat::ReplyDelta& delta) {
  py::dict out;
  out["content"] = delta.content;
  out["reasoning"] = delta.reasoning;
  py::list calls;
  for (const chat::ToolCall& call : delta.calls) {
    py::dict entry;
    entry["id"] = call.id;
    entry["name"] = call.name;
    entry["arguments"] = call.arguments;
    calls.append(entry);
  }
  out["calls"] = calls;
  return out;
}

void set_sampling_option(sampling::SamplingParams& params, const std::string& key, const py::handle& value) {
  if (key == "temperature") params.temperature = value.cast<float>();
  else if (key == "top_k") params.top_k = value.cast<int32_t>();
  else if (key == "top_p") params.top_p = value.cast<float>();
  else if (key == "min_p") params.min_p = value.cast<float>();
  else if (key == "typical_p") params.typical_p = value.cast<float>();
  else if (key == "repeat_penalty") params.repeat_penalty = value.cast<float>();
  else if (key == "repeat_last_n") params.penalty_last_n = value.cast<int32_t>();
  else if (key == "frequency_penalty") params.frequency_penalty = value.cast<float>();
  else if (key == "presence_penalty") params.presence_penalty = value.cast<float>();
  else if (key == "seed") params.seed = value.cast<uint64_t>();
  else if (key == "logit_bias") params.logit_bias = value.cast<std::map<int32_t, float>>();
  else throw py::value_error("unknown sampling option '" + key + "'");
}

sampling::SamplingParams sampling_params(const py::dict& options) {
  sampling::SamplingParams params;
  for (const auto& [key_object, value] : options) {
    const std::string key = py::cast<std::string>(key_object);
    if (value.is_none()) continue;
    try {
      set_sampling_option(params, key, value);
    } catch (const py::cast_error&) {
      throw py::type_error(fmt::format("{} must be {}, not {}", key,
                                       key == "logit_bias" ? "a dict of token id to bias" : "a number",
                                       py::str(py::type::of(value).attr("__name__")).cast<std::string>()));
    }
  }
  return params;
}

class Engine {
 public:
  Engine(std::shared_ptr<const Model> model, const SchedulerOptions& options)
      : model_(model), scheduler_(std::make_shared<Scheduler>(std::move(model), options)) {}
  ~Engine() { close(); }

  // Stops the worker (cancelling what runs); the GIL is released meanwhile, since a logits processor may be waiting
  // for it.
  void close() {
    if (!scheduler_) return;
    if (PyGILState_Check()) {
      py::gil_scoped_release release;
      scheduler_.reset();
    } else {
      scheduler_.reset();
    }
  }

  std::unique_ptr<Generation> submit(std::vector<int32_t> prompt, int32_t max_tokens, const py::dict& sampling,
                                     std::vector<std::string> stop, bool ignore_eos, bool logprobs,
                                     int32_t top_logprobs, std::optional<grammar::Grammar> output_grammar,
                                     const PreparedChat* chat, py::object logits_processor) {
    if (!scheduler_) throw std::logic_error("the model is closed");
    GenerationRequest request;
    request.prompt = std::move(prompt);
    request.max_tokens = max_tokens;
    request.sampling = sampling_params(sampling);
    request.stop = std::move(stop);
    request.ignore_eos = ignore_eos;
    request.logprobs = logprobs;
    request.top_logprobs = top_logprobs;
    request.grammar = std::move(output_grammar);
    if (chat) {
      const chat::ChatGeneration& generation = chat->generation;
      for (const std::string& end : generation.stop) {
        if (std::find(request.stop.begin(), request.stop.end(), end) == request.stop.end()) request.stop.push_back(end);
      }
      request.show_special_tokens = generation.show_special_tokens;
      if (generation.grammar) {
        if (request.grammar) throw py::value_error("a required tool call cannot be combined with a grammar or response_format");
        request.grammar = generation.grammar;
      } else if (generation.triggered_grammar && !request.grammar) {
        request.triggered_grammar = GenerationRequest::TriggeredGrammar{
            generation.triggered_grammar->trigger, generation.triggered_grammar->grammar, generation.triggered_grammar->at_start};
      }
    }
    if (!logits_processor.is_none()) {
      auto callable = std::make_shared<PythonCallable>(std::move(logits_processor));
      request.logits_processor = [callable](std::span<const int32_t> tokens, std::span<float> logits) {
        py::gil_scoped_acquire gil;
        try {
          py::memoryview token_view = py::memoryview::from_buffer(tokens.data(), {tokens.size()}, {sizeof(int32_t)});
          py::memoryview logit_view = py::memoryview::from_buffer(logits.data(), {logits.size()}, {sizeof(float)}, false);
          callable->callable(token_view, logit_view);
          // The views die with this call: Python must not keep them.
          token_view.attr("release")();
          logit_view.attr("release")();
        } catch (py::error_already_set& e) {
          throw std::runtime_error(std::string("logits processor: ") + e.what());
        }
      };
    }
    auto queue = std::make_shared<EventQueue>();
    Scheduler::RequestId id;
    {
      py::gil_scoped_release release;
      id = scheduler_->submit(std::move(request), queue);
    }
    return std::make_unique<Generation>(scheduler_, std::move(queue), id);
  }

  int32_t slot_context() const { return scheduler().slot_context(); }
  py::dict memory() const {
    const MemoryReport memory = scheduler().memory();
    py::dict out;
    out["weights_mapped"] = memory.weights_mapped;
    out["weights_copied"] = memory.weights_copied;
    out["kv_cache"] = memory.kv_cache;
    out["scratch"] = memory.scratch;
    return out;
  }
  // One dict per device the context runs on, in layer order (ContextPlan).
  py::list devices() const {
    py::list out;
    for (const DevicePlan& device : scheduler().plan().devices) {
      py::dict d;
      d["device"] = device.device;
      d["first_layer"] = device.first_layer;
      d["end_layer"] = device.end_layer;
      d["embeddings"] = device.embeddings;
      d["output"] = device.output;
      d["weights"] = device.weights;
      d["kv_cache"] = device.kv_cache;
      d["scratch"] = device.scratch;
      out.append(d);
    }
    return out;
  }
  py::dict stats() const {
    const SchedulerStats stats = scheduler().stats();
    py::dict out;
    out["n_parallel"] = stats.n_parallel;
    out["busy_slots"] = stats.busy_slots;
    out["queue_depth"] = stats.queue_depth;
    out["kv_cells_used"] = stats.kv_cells_used;
    out["kv_cells"] = stats.kv_cells;
    out["prompt_tokens"] = stats.prompt_tokens;
    out["cached_tokens"] = stats.cached_tokens;
    out["generated_tokens"] = stats.generated_tokens;
    out["steps"] = stats.steps;
    return out;
  }

 private:
  const Scheduler& scheduler() const {
    if (!scheduler_) throw std::logic_error("the model is closed");
    return *scheduler_;
  }
  std::shared_ptr<const Model> model_;
  std::shared_ptr<Scheduler> scheduler_;
};

py::dict model_info(const Model& model) {
  const ModelInfo& info = model.info();
  py::dict out;
  out["architecture"] = info.architecture;
  out["name"] = info.name;
  out["n_vocab"] = info.n_vocab;
  out["n_ctx_train"] = info.n_ctx_train;
  out["n_embd"] = info.n_embd;
  out["n_layer"] = info.n_layer;
  out["n_head"] = info.n_head;
  out["n_head_kv"] = info.n_head_kv;
  out["n_params"] = info.n_params;
  out["file_bytes"] = info.file_bytes;
  return out;
}

}  // namespace
}  // namespace hearth::python

PYBIND11_MODULE(_hearth, m) {
  using namespace hearth;
  using namespace hearth::python;
  m.doc() = "Hearth's engine (C++): models, tokenizers, grammars, chat formats and the scheduler";

  // Errors: each a subclass of the built-in exception a Python caller would expect.
  auto& load_error = py::register_exception<LoadError>(m, "LoadError", PyExc_ValueError);
  py::register_exception<gguf::FormatError>(m, "FormatError", load_error.ptr());
  py::register_exception<tokenizer::LoadError>(m, "VocabularyError", load_error.ptr());
  py::register_exception<ContextFullError>(m, "ContextFullError", PyExc_ValueError);
  py::register_exception<ResourceError>(m, "ResourceError", PyExc_MemoryError);
  auto& grammar_error = py::register_exception<grammar::GrammarError>(m, "GrammarError", PyExc_ValueError);
  py::register_exception<grammar::JsonSchemaError>(m, "JsonSchemaError", grammar_error.ptr());
  py::register_exception<chat::TemplateError>(m, "TemplateError", PyExc_ValueError);
  py::register_exception<sampling::SamplingError>(m, "SamplingError", PyExc_ValueError);
  py::register_exception<QueueFullError>(m, "QueueFullError", PyExc_RuntimeError);
  py::register_exception<NonFiniteValueError>(m, "NonFiniteValueError", PyExc_ArithmeticError);
  py::register_exception<gguf::KeyError>(m, "MetadataError", load_error.ptr());

  py::class_<Vocab>(m, "Vocab", "A model's tokenizer")
      .def_static(
          "from_file",
          [](const std::filesystem::path& path) {
            auto file = std::make_shared<const gguf::File>(gguf::File::open(path));
            return Vocab{tokenizer::Tokenizer::from_gguf(*file), file};
          },
          py::arg("path"), py::call_guard<py::gil_scoped_release>(), "The vocabulary of a GGUF file (weights not needed)")
      .def(
          "tokenize",
          [](const Vocab& v, py::bytes text, bool add_special, bool parse_special) {
            const std::string_view bytes = text;
            py::gil_scoped_release release;
            return v.tok.tokenize(bytes, add_special, parse_special);
          },
          py::arg("text"), py::arg("add_special"), py::arg("parse_special"))
      .def(
          "detokenize",
          [](const Vocab& v, const std::vector<int32_t>& ids, bool show_special) {
            return py::bytes(v.tok.detokenize(ids, show_special));
          },
          py::arg("ids"), py::arg("show_special"))
      .def(
          "token_to_piece", [](const Vocab& v, int32_t id, bool show_special) { return py::bytes(v.tok.token_to_piece(id, show_special)); },
          py::arg("id"), py::arg("show_special"))
      .def("token_text", [](const Vocab& v, int32_t id) { return py::bytes(std::string(v.tok.token_text(id))); })
      .def("find_token", [](const Vocab& v, const std::string& text) { return v.tok.find_token(text); })
      .def("is_eog", [](const Vocab& v, int32_t id) { return v.tok.is_eog(id); })
      .def("is_control", [](const Vocab& v, int32_t id) { return v.tok.is_control(id); })
      .def_property_readonly("n_vocab", [](const Vocab& v) { return v.tok.vocab_size(); })
      .def_property_readonly("bos", [](const Vocab& v) { return v.tok.bos(); })
      .def_property_readonly("eos", [](const Vocab& v) { return v.tok.eos(); })
      .def_property_readonly("eot", [](const Vocab& v) { return v.tok.eot(); })
      .def_property_readonly("newline", [](const Vocab& v) { return v.tok.newline(); })
      .def_property_readonly("add_bos", [](const Vocab& v) { return v.tok.add_bos(); })
      .def_property_readonly("kind", [](const Vocab& v) { return std::string(tokenizer::kind_name(v.tok.kind())); })
      .def("metadata_string", [](const Vocab& v, const std::string& key) { return metadata_string(v.file.get(), key); });

  py::class_<Model, std::shared_ptr<Model>>(m, "Model", "A GGUF model, mapped and checked")
      .def_static(
          "load", [](const std::filesystem::path& path) { return std::const_pointer_cast<Model>(Model::load(path)); },
          py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def("info", [](const Model& model) { return model_info(model); })
      .def("vocab", [](const Model& model) { return Vocab{model.tokenizer(), nullptr}; })
      .def("metadata_string", [](const Model& model, const std::string& key) { return metadata_string(model.file(), key); })
      .def("chat_template", [](const Model& model) {
        std::string_view fallback;
        std::string source = chat::model_template_source(model.file(), model.info().architecture, &fallback);
        return py::make_tuple(source, std::string(fallback));
      });

  m.def("gpu_count", &gpu_count, "CUDA GPUs this process can use (0 without a driver, a device or a CUDA build)");
  m.attr("ALL_GPU_LAYERS") = kAllGpuLayers;
  m.attr("AUTO_GPU_LAYERS") = kAutoGpuLayers;
  m.def("builtin_template", [](const std::string& name) { return std::string(chat::builtin_template(name)); });
  m.def("builtin_template_names", [] {
    std::vector<std::string> names;
    for (const std::string_view name : chat::builtin_template_names()) names.emplace_back(name);
    return names;
  });

  py::class_<grammar::Grammar>(m, "Grammar", "A compiled GBNF grammar")
      .def_static("parse", &grammar::Grammar::parse, py::arg("text"), py::call_guard<py::gil_scoped_release>())
      .def_static(
          "from_json_schema",
          [](const std::string& schema, bool compact) {
            return grammar::json_schema_grammar(
                schema, {.whitespace = compact ? grammar::JsonWhitespace::compact : grammar::JsonWhitespace::flexible,
                         .rule_prefix = {}});
          },
          py::arg("schema"), py::arg("compact") = false, py::call_guard<py::gil_scoped_release>())
      .def_static("json_object", [] { return grammar::json_object_grammar(); });
  m.def(
      "json_schema_to_gbnf", [](const std::string& schema) { return grammar::json_schema_to_gbnf(schema); },
      py::arg("schema"));

  py::class_<chat::ReplyParser>(m, "ReplyParser", "Reads content, reasoning and tool calls out of a reply as it streams")
      .def("push", [](chat::ReplyParser& parser, const std::string& piece) { return delta_dict(parser.push(piece)); })
      .def("finish", [](chat::ReplyParser& parser) { return delta_dict(parser.finish()); });

  py::class_<PreparedChat>(m, "PreparedChat")
      .def_property_readonly("prompt", [](const PreparedChat& p) { return p.generation.prompt; })
      .def_property_readonly("opens_reasoning", [](const PreparedChat& p) { return p.generation.opens_reasoning; })
      .def("reply_parser", [](const PreparedChat& p) -> std::optional<chat::ReplyParser> { return p.generation.parser; });

  py::class_<chat::ModelChat>(m, "ModelChat", "How one model chats: template, reply syntax, end of turn")
      .def(py::init([](const Vocab& vocab, std::string source) { return chat::ModelChat(vocab.tok, std::move(source)); }),
           py::arg("vocab"), py::arg("template_source"))
      .def(
          "prepare",
          [](const chat::ModelChat& model_chat, const std::string& messages, const std::string& tools,
             const std::string& tool_choice, const std::string& function, bool parallel) {
            chat::ToolOptions options{.function = function, .parallel = parallel};
            if (tool_choice == "none") options.choice = chat::ToolChoice::none;
            else if (tool_choice == "auto") options.choice = chat::ToolChoice::automatic;
            else if (tool_choice == "required") options.choice = chat::ToolChoice::required;
            else if (tool_choice == "function") options.choice = chat::ToolChoice::function;
            else throw py::value_error("tool_choice must be 'none', 'auto', 'required' or a function");
            const json tools_json = tools.empty() ? json() : json::parse(tools);
            const json messages_json = json::parse(messages);
            py::gil_scoped_release release;
            return PreparedChat{model_chat.prepare(messages_json, tools_json, options)};
          },
          py::arg("messages_json"), py::arg("tools_json"), py::arg("tool_choice"), py::arg("function"), py::arg("parallel"))
      .def(
          "render",
          [](const chat::ModelChat& model_chat, const std::string& messages, const std::string& tools, bool add_generation_prompt) {
            return model_chat.render(json::parse(messages), tools.empty() ? json() : json::parse(tools), add_generation_prompt);
          },
          py::arg("messages_json"), py::arg("tools_json"), py::arg("add_generation_prompt"))
      .def_property_readonly("end_of_turn", &chat::ModelChat::end_of_turn)
      .def_property_readonly("syntax", [](const chat::ModelChat& c) { return std::string(c.reply_syntax().name); });

  py::class_<Generation>(m, "Generation", "One generation running on the engine")
      .def("next_events", &Generation::next_events)
      .def("cancel", &Generation::cancel)
      .def("result", &Generation::result);

  py::class_<Engine>(m, "Engine", "The scheduler: every generation of one model, batched")
      .def(py::init([](std::shared_ptr<Model> model, int32_t n_parallel, int32_t slot_context, int32_t n_batch,
                       int32_t n_threads, bool f32_cache, int32_t n_gpu_layers) {
             py::gil_scoped_release release;
             return std::make_unique<Engine>(std::move(model),
                                             SchedulerOptions{.n_parallel = n_parallel,
                                                              .slot_context = slot_context,
                                                              .n_batch = n_batch,
                                                              .max_queue = 1 << 20,
                                                              .n_threads = n_threads,
                                                              .kv_type = f32_cache ? KvCacheType::f32 : KvCacheType::f16,
                                                              .n_gpu_layers = n_gpu_layers});
           }),
           py::arg("model"), py::arg("n_parallel"), py::arg("slot_context"), py::arg("n_batch"), py::arg("n_threads"),
           py::arg("f32_cache") = false, py::arg("n_gpu_layers") = 0)
      .def("submit", &Engine::submit, py::arg("prompt"), py::arg("max_tokens"), py::arg("sampling"), py::arg("stop"),
           py::arg("ignore_eos"), py::arg("logprobs"), py::arg("top_logprobs"), py::arg("grammar"), py::arg("chat"),
           py::arg("logits_processor"))
      .def("close", &Engine::close)
      .def_property_readonly("slot_context", &Engine::slot_context)
      .def("memory", &Engine::memory)
      .def("devices", &Engine::devices)
      .def("stats", &Engine::stats);
}
