// `hearth serve -m FILE`: an OpenAI-compatible HTTP server over the scheduler (see src/server/). It listens before
// the model loads (GET /health answers 503 "loading" meanwhile), prints "listening on http://HOST:PORT" on stderr
// once bound, and on SIGINT or SIGTERM stops accepting, lets requests in flight finish and exits 0.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

#include "cli/chat_template_source.h"
#include "cli/commands.h"
#include "cli/context_size.h"
#include "cli/default_model.h"
#include "cli/input_files.h"
#include "cli/numeric_flags.h"
#include "cli/offload_flags.h"
#include "hearth/model.h"
#include "hearth/scheduler.h"
#include "server/engine.h"
#include "server/server.h"

namespace hearth::cli {
namespace {

struct Options {
  std::optional<std::string> model;
  std::string host = "127.0.0.1";
  int32_t port = 8080;
  int32_t slot_context = 0;
  int32_t n_parallel = 4;
  int32_t n_threads = 0;
  int32_t n_batch = 512;
  int32_t n_gpu_layers = 0;
  bool dry_run = false;
  int32_t max_queue = 64;
  uint64_t max_body_bytes = 8 << 20;
  int32_t max_connections = 4096;
  int32_t grace_seconds = 10;
  std::vector<std::string> api_keys;
  std::string api_key_file;
  std::string alias;
  std::string log_format = "text";
  std::string template_name;
  std::string template_file;
};

// One key per line; blank lines and surrounding whitespace ignored.
std::vector<std::string> read_api_keys(const std::string& path) {
  std::istringstream lines(read_text_file(path, "API key file"));
  std::vector<std::string> keys;
  for (std::string line; std::getline(lines, line);) {
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    keys.push_back(line.substr(begin, line.find_last_not_of(" \t\r") - begin + 1));
  }
  if (keys.empty()) throw std::runtime_error(fmt::format("the API key file {} holds no key", path));
  return keys;
}

// Each line of `lines` after `prefix`.
std::string prefixed(const std::string& prefix, const std::string& lines) {
  std::string out;
  for (size_t begin = 0; begin < lines.size();) {
    const size_t end = lines.find('\n', begin);
    const size_t stop = end == std::string::npos ? lines.size() : end + 1;
    out += prefix + lines.substr(begin, stop - begin);
    begin = stop;
  }
  return out;
}

void serve(const Options& options) {
  const std::filesystem::path path = model_path(options.model);
  const SchedulerOptions scheduler_options{.n_parallel = options.n_parallel,
                                           .slot_context = options.slot_context,
                                           .n_batch = options.n_batch,
                                           .max_queue = options.max_queue,
                                           .n_threads = options.n_threads,
                                           .n_gpu_layers = options.n_gpu_layers};
  if (options.dry_run) {
    const std::shared_ptr<const Model> model = Model::load(path);
    std::fputs(describe_plan(plan_context(*model, Scheduler::context_options(*model, scheduler_options))).c_str(), stdout);
    return;
  }
  server::ServerOptions server_options{.host = options.host,
                                       .port = static_cast<uint16_t>(options.port),
                                       .api_keys = options.api_keys,
                                       .max_body_bytes = options.max_body_bytes,
                                       .max_connections = options.max_connections,
                                       .log_format = options.log_format == "json" ? server::LogFormat::json
                                                                                  : server::LogFormat::text};
  if (!options.api_key_file.empty()) {
    for (std::string& key : read_api_keys(options.api_key_file)) server_options.api_keys.push_back(std::move(key));
  }
  if (!boost::asio::ip::make_address(options.host).is_loopback() && server_options.api_keys.empty()) {
    std::fprintf(stderr, "hearth serve: warning: listening on %s, beyond this machine, without --api-key: anyone "
                         "who can reach it can use the model\n", options.host.c_str());
  }

  server::Server server(std::move(server_options));
  server.start();
  std::fprintf(stderr, "hearth serve: listening on http://%s:%u\n", options.host.c_str(), server.port());

  const std::shared_ptr<const Model> model = Model::load(path);
  const std::string alias = !options.alias.empty() ? options.alias : path.stem().string();
  auto engine = std::make_shared<server::Engine>(
      model, scheduler_options, chat_template_source("serve", options.template_name, options.template_file, *model), alias);
  warn_if_beyond_trained_context("serve", *model, engine->scheduler().slot_context());
  server.set_engine(engine);
  std::fprintf(stderr, "hearth serve: model %s loaded as '%s': %d slots of %d tokens\n%s", path.string().c_str(),
               alias.c_str(), options.n_parallel, engine->scheduler().slot_context(),
               prefixed("hearth serve: ", describe_plan(engine->scheduler().plan())).c_str());

  server.wait_for_stop_signal();
  std::fprintf(stderr, "hearth serve: stopping; requests in flight get %d s to finish\n", options.grace_seconds);
  server.shutdown(std::chrono::seconds(options.grace_seconds));
  std::fprintf(stderr, "hearth serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
  cmd->add_option("-m,--model", options->model, "GGUF model (default: default.gguf in $HEARTH_MODELS or ~/.cache/hearth/models)");
  cmd->add_option("--host", options->host, "Address to listen on (default 127.0.0.1: this machine only)")
      ->check([](const std::string& text) {
        boost::system::error_code error;
        boost::asio::ip::make_address(text, error);
        return error ? "--host must be an IPv4 or IPv6 address, not '" + text + "'" : std::string();
      });
  add_numeric_flag(*cmd, "--port", options->port, "Port (default 8080; 0: any free port)",
                   NumericRange<int32_t>{.min = 0, .max = 65535});
  add_numeric_flag(*cmd, "-c,--ctx-size", options->slot_context,
                   "Tokens per slot, prompt and reply (default 0: the model's, at most 4096)",
                   NumericRange<int32_t>{.min = 0, .max = 1 << 20});
  add_numeric_flag(*cmd, "--parallel", options->n_parallel, "Slots: requests generating at once (default 4)",
                   NumericRange<int32_t>{.min = 1, .max = 256});
  add_numeric_flag(*cmd, "-t,--threads", options->n_threads, "Threads (default 0: one per hardware thread)",
                   thread_count_range());
  add_numeric_flag(*cmd, "-b,--batch-size", options->n_batch, "Most tokens per forward pass (default 512)",
                   NumericRange<int32_t>{.min = 1, .max = 1 << 16});
  add_gpu_layers_flag(*cmd, options->n_gpu_layers);
  add_dry_run_flag(*cmd, options->dry_run);
  add_numeric_flag(*cmd, "--max-queue", options->max_queue,
                   "Requests waiting for a slot beyond which new ones get 503 (default 64)",
                   NumericRange<int32_t>{.min = 0, .max = 1 << 20});
  add_numeric_flag(*cmd, "--max-body-bytes", options->max_body_bytes, "Largest request body; larger get 413 (default 8 MiB)",
                   NumericRange<uint64_t>{.min = 1, .max = uint64_t{1} << 30});
  add_numeric_flag(*cmd, "--max-connections", options->max_connections,
                   "Open connections beyond which new ones are closed (default 4096, at most the descriptor limit)",
                   NumericRange<int32_t>{.min = 1, .max = 1 << 20});
  add_numeric_flag(*cmd, "--shutdown-grace", options->grace_seconds,
                   "Seconds requests in flight get to finish after SIGINT or SIGTERM (default 10)",
                   NumericRange<int32_t>{.min = 0, .max = 3600});
  cmd->add_option("--api-key", options->api_keys, "Key clients must send as 'Authorization: Bearer KEY' (repeatable)")
      ->take_all()->allow_extra_args(false);
  cmd->add_option("--api-key-file", options->api_key_file, "File of API keys, one per line");
  cmd->add_option("--alias", options->alias, "Model name in responses and /v1/models (default: the file's stem)");
  cmd->add_option("--log-format", options->log_format, "Request log on stderr: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  auto* name = cmd->add_option("--chat-template", options->template_name,
                               "Built-in chat template: chatml, llama-3, llama-2, mistral, gemma, phi-3 "
                               "(default: the model's own, else the built-in one for its architecture)");
  auto* file = cmd->add_option("--chat-template-file", options->template_file, "Jinja chat template file");
  name->excludes(file);
  on_run(*cmd, "serve", exit_code, [options] { serve(*options); });
}

}  // namespace hearth::cli
