// `hearth serve` end to end: a child process on a loopback port with a synthesized model, driven by raw sockets —
// the OpenAI shapes, errors, hostile clients, concurrent streams and disconnects.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_command.h"
#include "hearth/chat.h"
#include "hearth/model.h"
#include "server/engine.h"
#include "server/server.h"

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string hearth() { return std::string(HEARTH_BIN_DIR) + "/hearth"; }

// One tiny Llama per test process, in its own folder.
const std::string& tiny_model() {
  static const std::string path = [] {
    const auto dir = std::filesystem::temp_directory_path() / ("hearth_server_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string file = (dir / "tiny.gguf").string();
    const auto synth = hearth::test::run_command(hearth() + " synth --shape tiny-llama --type Q8_0 --quiet --force --vocab " +
                                                 std::string(HEARTH_SHARED_DIR) + "/vocab/ggml-vocab-llama-spm.gguf --out " +
                                                 file + " 2>&1");
    if (synth.exit_code != 0) throw std::runtime_error("synth failed: " + synth.out);
    return file;
  }();
  return path;
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

std::string read_all(int fd, std::chrono::milliseconds timeout = 30s) {
  std::string data;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;  // de-chunked
  json body_json() const { return json::parse(body); }
};

HttpReply parse_reply(const std::string& raw) {
  HttpReply reply;
  const size_t end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, end);
  std::string body = raw.substr(end + 4);
  if (reply.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    std::string joined;
    size_t at = 0;
    while (at < body.size()) {
      const size_t line_end = body.find("\r\n", at);
      if (line_end == std::string::npos) break;
      const size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
      if (size == 0) break;
      joined += body.substr(line_end + 2, size);
      at = line_end + 2 + size + 2;
    }
    body = joined;
  }
  reply.body = body;
  return reply;
}

HttpReply request(int port, const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& extra_headers = "") {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  send_all(fd, method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\n" +
                   extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string raw = read_all(fd);
  ::close(fd);
  return parse_reply(raw);
}

HttpReply post(int port, const std::string& path, const json& body, const std::string& extra_headers = "") {
  return request(port, "POST", path, body.dump(), extra_headers);
}

// The data: events of a stream, without [DONE].
std::vector<json> events(const HttpReply& reply) {
  std::vector<json> parsed;
  size_t at = 0;
  while ((at = reply.body.find("data: ", at)) != std::string::npos) {
    const size_t end = reply.body.find("\n\n", at);
    const std::string data = reply.body.substr(at + 6, end - at - 6);
    if (data != "[DONE]") parsed.push_back(json::parse(data));
    at = end;
  }
  return parsed;
}

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {hearth(), "serve", "-m", tiny_model(), "--port", "0", "-c", "256", "--parallel", "4",
                                     "-t", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], STDERR_FILENO);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    stderr_fd_ = pipe_fds[0];
    reader_ = std::thread([this] {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(stderr_fd_, buffer, sizeof buffer)) > 0) {
        const std::lock_guard lock(mutex_);
        log_.append(buffer, static_cast<size_t>(n));
      }
    });
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string text = log();
      if (std::regex_search(text, match, listening)) port_ = std::stoi(match[1]);
      else std::this_thread::sleep_for(10ms);
    }
    if (port_ == 0) throw std::runtime_error("no listening line: " + log());
    while (request(port_, "GET", "/health").status != 200 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }

  ~ServerProcess() { stop(); }

  // SIGTERM, then the exit code.
  int stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      reader_.join();
      ::close(stderr_fd_);
    }
    return exit_code_;
  }

  int port() const { return port_; }
  std::string log() {
    const std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int stderr_fd_ = -1;
  int exit_code_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::string log_;
};

json greedy_chat(const std::string& text, int max_tokens, bool stream) {
  return {{"model", "x"}, {"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", max_tokens},
          {"temperature", 0}, {"stream", stream}};
}

// Reassembled text of a chat stream.
std::string streamed_text(const HttpReply& reply) {
  std::string text;
  for (const json& event : events(reply)) {
    if (!event["choices"].empty() && event["choices"][0]["delta"].contains("content")) {
      text += event["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

double metric(int port, const std::string& name) {
  const std::string text = request(port, "GET", "/metrics").body;
  const std::regex line("\n" + name + " ([0-9.e+]+)");
  std::smatch match;
  return std::regex_search(text, match, line) ? std::stod(match[1]) : -1;
}

TEST(Server, ModelsHealthTokenize) {
  ServerProcess server({"--alias", "tiny-test"});
  EXPECT_EQ(request(server.port(), "GET", "/health").body_json()["status"], "ok");
  const json models = request(server.port(), "GET", "/v1/models").body_json();
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "tiny-test");
  const json tokens = post(server.port(), "/tokenize", {{"content", "Hello world"}}).body_json()["tokens"];
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(post(server.port(), "/detokenize", {{"tokens", tokens}}).body_json()["content"], "Hello world");
  EXPECT_EQ(server.stop(), 0);
}

// In process, so that the moment between listening and the model being loaded can be held open: /health says
// "loading" (503) and generation routes refuse with a 503 until the engine is set.
TEST(Server, HealthIs503UntilTheModelIsLoaded) {
  hearth::server::Server server({.port = 0});
  server.start();
  const HttpReply loading = request(server.port(), "GET", "/health");
  EXPECT_EQ(loading.status, 503);
  EXPECT_EQ(loading.body_json()["status"], "loading");
  const HttpReply refused = post(server.port(), "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}});
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.body_json()["error"]["code"], "model_loading");

  auto model = hearth::Model::load(tiny_model());
  server.set_engine(std::make_shared<hearth::server::Engine>(model, hearth::SchedulerOptions{.n_parallel = 1, .slot_context = 128},
                                                             std::string(hearth::chat::builtin_template("chatml")), "tiny"));
  const HttpReply ready = request(server.port(), "GET", "/health");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body_json()["status"], "ok");
  EXPECT_EQ(post(server.port(), "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", 2}}).status, 200);
  server.shutdown(1s);
}

TEST(Server, CompletionAndChatShapes) {
  ServerProcess server;
  const HttpReply completion =
      post(server.port(), "/v1/completions", {{"prompt", "Once upon"}, {"max_tokens", 6}, {"temperature", 0}, {"logprobs", 2}});
  ASSERT_EQ(completion.status, 200) << completion.body;
  const json body = completion.body_json();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 6);
  EXPECT_EQ(body["choices"][0]["logprobs"]["tokens"].size(), 6u);
  EXPECT_EQ(body["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
  EXPECT_TRUE(body["usage"]["prompt_tokens_details"].contains("cached_tokens"));

  json chat_request = greedy_chat("Tell me a story", 8, false);
  chat_request["logprobs"] = true;
  chat_request["top_logprobs"] = 3;
  const json chat = post(server.port(), "/v1/chat/completions", chat_request).body_json();
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_FALSE(content.empty());
  EXPECT_TRUE(content[0].contains("bytes"));
  EXPECT_EQ(content[0]["top_logprobs"].size(), 3u);
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, StreamEqualsWholeResponse) {
  ServerProcess server;
  const std::string whole =
      post(server.port(), "/v1/chat/completions", greedy_chat("Hello there", 12, false)).body_json()["choices"][0]["message"]["content"];
  json stream_request = greedy_chat("Hello there", 12, true);
  stream_request["stream_options"] = {{"include_usage", true}};
  const HttpReply stream = post(server.port(), "/v1/chat/completions", stream_request);
  EXPECT_NE(stream.headers.find("text/event-stream"), std::string::npos);
  EXPECT_EQ(streamed_text(stream), whole);
  const std::vector<json> parsed = events(stream);
  ASSERT_GE(parsed.size(), 2u);
  EXPECT_TRUE(parsed.back()["choices"].empty());
  EXPECT_EQ(parsed.back()["usage"]["completion_tokens"], 12);
  EXPECT_EQ(parsed.back()["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>() > 0, true);  // prefix reuse
  EXPECT_NE(stream.body.find("data: [DONE]\n\n"), std::string::npos);
}

TEST(Server, ErrorsInOpenAIShape) {
  ServerProcess server({"--max-body-bytes", "100000"});
  const auto expect_error = [](const HttpReply& reply, int status, const std::string& param) {
    EXPECT_EQ(reply.status, status) << reply.body;
    const json body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.contains("error")) << reply.body;
    EXPECT_TRUE(body["error"].contains("message"));
    EXPECT_TRUE(body["error"].contains("type"));
    if (!param.empty()) EXPECT_EQ(body["error"]["param"], param);
  };
  expect_error(request(server.port(), "POST", "/v1/chat/completions", "{not json"), 400, "");
  expect_error(post(server.port(), "/v1/chat/completions", {{"messages", "x"}}), 400, "messages");
  expect_error(post(server.port(), "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"n", 3}}), 400, "n");
  const HttpReply too_long =
      post(server.port(), "/v1/completions", {{"prompt", "hello"}, {"max_tokens", 100000}});
  expect_error(too_long, 400, "max_tokens");
  EXPECT_EQ(too_long.body_json()["error"]["code"], "context_length_exceeded");
  expect_error(post(server.port(), "/v1/completions", {{"prompt", {1, 2, 999999}}}), 400, "prompt");
  expect_error(request(server.port(), "GET", "/v1/nothing"), 404, "");
  const HttpReply wrong_method = request(server.port(), "GET", "/v1/chat/completions");
  expect_error(wrong_method, 405, "");
  EXPECT_NE(wrong_method.headers.find("Allow: POST"), std::string::npos);
  expect_error(request(server.port(), "POST", "/v1/completions", std::string(200000, ' ')), 413, "");
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, ApiKeys) {
  ServerProcess server({"--api-key", "secret"});
  EXPECT_EQ(request(server.port(), "GET", "/health").status, 200);
  EXPECT_EQ(request(server.port(), "GET", "/v1/models").status, 401);
  EXPECT_EQ(request(server.port(), "GET", "/v1/models", "", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(request(server.port(), "GET", "/v1/models", "", "Authorization: Bearer secret\r\n").status, 200);
}

TEST(Server, ConcurrentGreedyStreamsMatchAlone) {
  ServerProcess server;
  std::vector<std::string> prompts;
  for (int i = 0; i < 8; ++i) prompts.push_back("Prompt number " + std::to_string(i) + std::string(i, '!'));
  std::vector<std::string> alone;
  for (const std::string& prompt : prompts) {
    alone.push_back(post(server.port(), "/v1/chat/completions", greedy_chat(prompt, 10, false))
                        .body_json()["choices"][0]["message"]["content"]);
  }
  std::vector<std::future<std::string>> together;
  for (const std::string& prompt : prompts) {
    together.push_back(std::async(std::launch::async, [&server, prompt] {
      return streamed_text(post(server.port(), "/v1/chat/completions", greedy_chat(prompt, 10, true)));
    }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get(), alone[i]) << prompts[i];
}

TEST(Server, DisconnectFreesTheSlot) {
  ServerProcess server({"-c", "2048"});
  for (const bool stream : {true, false}) {
    const int fd = connect_to(server.port());
    const std::string body = greedy_chat("a long one", 2000, stream).dump();
    send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (metric(server.port(), "hearth_slots_busy") < 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(metric(server.port(), "hearth_slots_busy"), 1);
    ::close(fd);
    while (metric(server.port(), "hearth_slots_busy") > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(metric(server.port(), "hearth_slots_busy"), 0) << "stream " << stream;
  }
  EXPECT_NE(server.log().find("client disconnected"), std::string::npos);
}

// Starts a streaming chat of `max_tokens` on a raw socket and waits until it holds a slot; returns the socket.
int start_long_stream(int port, int max_tokens) {
  const int fd = connect_to(port);
  const std::string body = greedy_chat("a long one", max_tokens, true).dump();
  send_all(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\n\r\n" + body);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (metric(port, "hearth_slots_busy") < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return fd;
}

TEST(Server, FullQueueIs503WithRetryAfter) {
  ServerProcess server({"--parallel", "1", "--max-queue", "1", "-c", "2048"});
  const int fd = start_long_stream(server.port(), 2000);
  const int queued = start_long_stream(server.port(), 2000);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (metric(server.port(), "hearth_queue_depth") < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const HttpReply refused = post(server.port(), "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}});
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.headers.find("Retry-After:"), std::string::npos);
  EXPECT_EQ(refused.body_json()["error"]["code"], "queue_full");
  ::close(queued);
  ::close(fd);
}

TEST(Server, SigtermLetsRequestsInFlightFinish) {
  ServerProcess server({"-c", "1024"});
  const int fd = start_long_stream(server.port(), 200);
  std::future<int> exit_code = std::async(std::launch::async, [&server] { return server.stop(); });
  const HttpReply reply = parse_reply(read_all(fd, 30s));
  ::close(fd);
  EXPECT_EQ(reply.status, 200);
  const std::vector<json> parsed = events(reply);
  ASSERT_FALSE(parsed.empty());
  EXPECT_EQ(parsed.back()["choices"][0]["finish_reason"], "length");  // all 200 tokens, not cut off
  EXPECT_NE(reply.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(exit_code.get(), 0);
}

TEST(Server, HostileClientsLeaveItHealthy) {
  ServerProcess server({"--max-body-bytes", "1000000"});
  const int port = server.port();
  // Idle connections and slowloris headers that never finish: they cost the server no thread.
  std::vector<int> idle;
  for (int i = 0; i < 1000; ++i) {
    const int fd = connect_to(port);
    if (fd < 0) break;
    if (i % 2 == 0) send_all(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    idle.push_back(fd);
  }
  EXPECT_GE(idle.size(), 900u);
  EXPECT_EQ(request(port, "GET", "/health").status, 200);

  std::vector<std::string> bodies = {
      "", "{", "[]", "null", "123", "\"str\"", "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}",
      std::string(100000, '[') , std::string(5000, '{'), "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": -5}",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 1e999}",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 123456789012345678901234567890}",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": [1]}",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logit_bias\": {\"99999999\": 1}}",
      "{\"messages\": [{\"role\": 5, \"content\": \"hi\"}]}", "{\"prompt\": [1, -2]}", "{\"prompt\": {}}",
      "{\"messages\": [{\"role\": \"user\", \"content\": {\"a\": 1}}]}", "\xff\xfe\xfd",
  };
  int answered = 0;
  for (int round = 0; round < 15; ++round) {
    for (const std::string& body : bodies) {
      for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
        const HttpReply reply = request(port, "POST", path, body);
        EXPECT_TRUE(reply.status == 400 || reply.status == 413) << reply.status << " " << body.substr(0, 60);
        answered += reply.status != 0;
      }
    }
  }
  EXPECT_GE(answered, 500);
  // A 10 MB body, refused by its Content-Length; raw garbage instead of HTTP.
  EXPECT_EQ(request(port, "POST", "/v1/completions", std::string(10 << 20, 'x')).status, 413);
  for (const std::string& garbage : {std::string("\x16\x03\x01\x02\x00", 5), std::string("GET / HTTP/9.9\r\n\r\n"),
                                    std::string("GET /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n")}) {
    const int fd = connect_to(port);
    send_all(fd, garbage);
    read_all(fd, 2s);
    ::close(fd);
  }
  for (const int fd : idle) ::close(fd);
  // Still answering, and correctly.
  const HttpReply ok = post(port, "/v1/completions", {{"prompt", "fine"}, {"max_tokens", 3}, {"temperature", 0}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body_json()["usage"]["completion_tokens"], 3);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, StructuredOutputFollowsTheSchemaOrGrammar) {
  ServerProcess server;
  const int port = server.port();
  const json schema = {{"type", "object"},
                       {"properties", {{"mood", {{"enum", {"calm", "warm"}}}}, {"count", {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}}}}},
                       {"required", {"mood", "count"}},
                       {"additionalProperties", false}};
  const auto check_answer = [](const std::string& content) {
    const json value = json::parse(content);  // throws unless JSON
    EXPECT_TRUE(value["mood"] == "calm" || value["mood"] == "warm") << content;
    EXPECT_GE(value["count"].get<int>(), 0) << content;
    EXPECT_LE(value["count"].get<int>(), 9) << content;
    EXPECT_EQ(value.size(), 2u) << content;
  };
  for (const bool stream : {false, true}) {
    for (int seed = 1; seed <= 3; ++seed) {
      json body = {{"messages", {{{"role", "user"}, {"content", "How do you feel?"}}}}, {"max_tokens", 150},
                   {"temperature", 1.0}, {"seed", seed}, {"stream", stream},
                   {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "feeling"}, {"strict", true}, {"schema", schema}}}}}};
      const HttpReply reply = post(port, "/v1/chat/completions", body);
      ASSERT_EQ(reply.status, 200) << reply.body;
      const std::string content = stream ? streamed_text(reply) : reply.body_json()["choices"][0]["message"]["content"].get<std::string>();
      check_answer(content);
      if (!stream) EXPECT_EQ(reply.body_json()["choices"][0]["finish_reason"], "stop");
    }
  }
  // json_object: some JSON object; llama.cpp's grammar field on completions.
  const HttpReply object = post(port, "/v1/chat/completions",
                                {{"messages", {{{"role", "user"}, {"content", "JSON please"}}}}, {"max_tokens", 200}, {"seed", 5},
                                 {"response_format", {{"type", "json_object"}}}});
  ASSERT_EQ(object.status, 200) << object.body;
  const std::string object_text = object.body_json()["choices"][0]["message"]["content"];
  if (object.body_json()["choices"][0]["finish_reason"] == "stop") EXPECT_TRUE(json::parse(object_text).is_object()) << object_text;
  else EXPECT_EQ(object_text.front(), '{');
  const HttpReply yes_no = post(port, "/v1/completions", {{"prompt", "Is it?"}, {"max_tokens", 10}, {"grammar", "root ::= \"yes\" | \"no\""}});
  ASSERT_EQ(yes_no.status, 200) << yes_no.body;
  const std::string word = yes_no.body_json()["choices"][0]["text"];
  EXPECT_TRUE(word == "yes" || word == "no") << word;

  // Errors name the field (and, for a schema, where in it).
  const json messages = {{{"role", "user"}, {"content", "hi"}}};
  const auto error_of = [&](const json& extra) {
    json body = {{"messages", messages}, {"max_tokens", 4}};
    body.update(extra);
    const HttpReply reply = post(port, "/v1/chat/completions", body);
    EXPECT_EQ(reply.status, 400) << reply.body;
    return reply.status == 400 ? reply.body_json()["error"] : json::object();
  };
  json bad_schema = json::object();
  bad_schema["properties"]["a"]["not"] = json::object();
  json bad_format = {{"type", "json_schema"}};
  bad_format["json_schema"] = {{"name", "x"}, {"schema", bad_schema}};
  const json unsupported = error_of({{"response_format", bad_format}});
  EXPECT_EQ(unsupported["param"], "response_format.json_schema.schema");
  EXPECT_NE(unsupported["message"].get<std::string>().find("#/properties/a/not"), std::string::npos) << unsupported;
  EXPECT_EQ(error_of({{"grammar", "root ::= undefined-rule"}})["param"], "grammar");
  EXPECT_EQ(error_of({{"response_format", {{"type", "xml"}}}})["param"], "response_format.type");
  EXPECT_EQ(error_of({{"grammar", "root ::= \"a\""}, {"json_schema", {{"type", "string"}}}})["param"], "response_format");
  EXPECT_EQ(error_of({{"grammar", "root ::= \"a\""}, {"ignore_eos", true}})["param"], "ignore_eos");
  EXPECT_EQ(post(port, "/v1/chat/completions", {{"messages", messages}, {"max_tokens", 2}, {"response_format", {{"type", "text"}}}}).status, 200);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, ToolCallsFollowToolChoice) {
  ServerProcess server;
  const int port = server.port();
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "add", "parameters": {"type": "object",
      "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 99}, "b": {"type": "integer", "minimum": 0, "maximum": 99}},
      "required": ["a", "b"], "additionalProperties": false}}}])");
  const json messages = {{{"role", "user"}, {"content", "2 + 3?"}}};
  for (const bool stream : {false, true}) {
    const HttpReply reply = post(port, "/v1/chat/completions",
                                 {{"messages", messages}, {"tools", tools}, {"tool_choice", "required"}, {"parallel_tool_calls", false},
                                  {"max_tokens", 100}, {"seed", 9}, {"stream", stream}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    json call;
    std::string finish;
    if (!stream) {
      const json choice = reply.body_json()["choices"][0];
      EXPECT_TRUE(choice["message"]["content"].is_null()) << choice;
      ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u) << choice;
      call = choice["message"]["tool_calls"][0];
      finish = choice["finish_reason"];
    } else {
      // The deltas: index on each, id and name on the first, the arguments in pieces to join.
      std::string arguments;
      for (const json& chunk : events(reply)) {
        if (chunk["choices"].empty()) continue;
        const json& choice = chunk["choices"][0];
        if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
        if (!choice["delta"].contains("tool_calls")) continue;
        for (const json& delta : choice["delta"]["tool_calls"]) {
          EXPECT_EQ(delta["index"], 0) << delta;
          if (delta.contains("id")) call = delta;
          arguments += delta["function"].value("arguments", "");
        }
      }
      call["function"]["arguments"] = arguments;
    }
    EXPECT_EQ(finish, "tool_calls");
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["function"]["name"], "add");
    const json arguments = json::parse(call["function"]["arguments"].get<std::string>());
    EXPECT_TRUE(arguments["a"].is_number_integer() && arguments["b"].is_number_integer()) << arguments;
    EXPECT_EQ(arguments.size(), 2u) << arguments;
  }
  // "none" and "auto" leave this model's free text as content (it writes no calls of its own).
  for (const char* choice : {"none", "auto"}) {
    const HttpReply reply = post(port, "/v1/chat/completions",
                                 {{"messages", messages}, {"tools", tools}, {"tool_choice", choice}, {"max_tokens", 8}, {"seed", 1}});
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_FALSE(reply.body_json()["choices"][0]["message"].contains("tool_calls")) << reply.body;
    EXPECT_EQ(reply.body_json()["choices"][0]["finish_reason"], "length");
  }
  const auto error_param = [&](const json& extra) {
    json body = {{"messages", messages}, {"max_tokens", 4}};
    body.update(extra);
    const HttpReply reply = post(port, "/v1/chat/completions", body);
    EXPECT_EQ(reply.status, 400) << reply.body;
    return reply.status == 400 ? reply.body_json()["error"]["param"] : json();
  };
  EXPECT_EQ(error_param({{"tool_choice", "required"}}), "tool_choice");  // no tools
  EXPECT_EQ(error_param({{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "sub"}}}}}}), "tool_choice");
  EXPECT_EQ(error_param({{"tools", tools}, {"tool_choice", "sometimes"}}), "tool_choice");
  EXPECT_EQ(error_param({{"tools", {{{"type", "function"}}}}}), "tools");
  EXPECT_EQ(error_param({{"tools", tools}, {"tool_choice", "required"}, {"response_format", {{"type", "json_object"}}}}), "tool_choice");
  json unsupported = tools;
  unsupported[0]["function"]["parameters"]["properties"]["a"]["not"] = json::object();
  EXPECT_EQ(error_param({{"tools", unsupported}, {"tool_choice", "required"}}), "tools");
  EXPECT_EQ(server.stop(), 0);
}

// A template whose turns end in text the vocabulary has no end-of-generation token for (ChatML's <|im_end|> on
// a SentencePiece Llama): a chat reply stops there, as it would at the model's own end token.
TEST(Server, ChatStopsAtTheTemplatesEndOfTurn) {
  ServerProcess server({"--chat-template", "chatml"});
  const json messages = {{{"role", "user"}, {"content", "Hi"}}};
  const HttpReply reply = post(server.port(), "/v1/chat/completions",
                               {{"messages", messages}, {"max_tokens", 40}, {"grammar", R"(root ::= "Hello<|im_end|>" [a-z]+)"}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body_json()["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(reply.body_json()["choices"][0]["finish_reason"], "stop");
  // Completions carry on: there is no turn to end.
  const HttpReply raw = post(server.port(), "/v1/completions",
                             {{"prompt", "Hi"}, {"max_tokens", 40}, {"grammar", R"(root ::= "Hello<|im_end|>" [a-z]+)"}});
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_TRUE(raw.body_json()["choices"][0]["text"].get<std::string>().starts_with("Hello<|im_end|>")) << raw.body_json()["choices"][0];
  EXPECT_EQ(server.stop(), 0);
}

// Reads one response with a Content-Length body from a kept-alive connection; "" on a timeout or a close.
std::string read_one_response(int fd, std::chrono::milliseconds timeout = 30s) {
  std::string data;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    const size_t end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::regex length_header("Content-Length: ([0-9]+)");
      std::smatch match;
      const std::string headers = data.substr(0, end);
      if (std::regex_search(headers, match, length_header) && data.size() >= end + 4 + std::stoul(match[1])) {
        return data;
      }
    }
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return "";
}

std::string keep_alive_post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(Server, KeptAliveConnectionTakesEachNextRequestAtOnce) {
  ServerProcess server;
  // As the OpenAI SDK does: the next request on the same connection the moment the last response is in, so it
  // can reach the server before the server has seen its own write complete. Generations and errors alternate.
  const int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  const std::string generate = json{{"prompt", "Once"}, {"max_tokens", 2}, {"temperature", 0}}.dump();
  const std::string too_long = json{{"prompt", "Once"}, {"max_tokens", 1000000}}.dump();
  for (int i = 0; i < 40; ++i) {
    send_all(fd, keep_alive_post("/v1/completions", i % 2 == 0 ? generate : too_long));
    const std::string reply = read_one_response(fd);
    ASSERT_FALSE(reply.empty()) << "request " << i << " got no answer";
    EXPECT_EQ(parse_reply(reply).status, i % 2 == 0 ? 200 : 400) << reply;
  }
  ::close(fd);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  ServerProcess server;
  const int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  // Three requests in one write: the second and third are in the server's buffer before the first is answered.
  send_all(fd, keep_alive_post("/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}, {"temperature", 0}}.dump()) +
                   keep_alive_post("/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 1000000}}.dump()) +
                   "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  const std::string replies = read_all(fd, 30s);
  ::close(fd);
  std::vector<int> statuses;
  for (size_t at = 0; (at = replies.find("HTTP/1.1 ", at)) != std::string::npos; at += 9) {
    statuses.push_back(std::stoi(replies.substr(at + 9, 3)));
  }
  EXPECT_EQ(statuses, (std::vector<int>{200, 400, 200})) << replies;
  EXPECT_NE(replies.find("\"object\":\"list\""), std::string::npos) << replies;
  EXPECT_EQ(server.stop(), 0);
}

// The official OpenAI Node SDK (tests/server/node_modules, installed by scripts/setup) as a client.
TEST(Server, OpenAINodeSdk) {
  const std::string folder = std::string(HEARTH_SOURCE_DIR) + "/tests/server";
  if (!std::filesystem::exists(folder + "/node_modules/openai")) {
    FAIL() << "the OpenAI SDK is not installed: run scripts/setup (it installs tests/server/node_modules)";
  }
  ServerProcess server({"--api-key", "test-key"});
  const auto client = hearth::test::run_command("node " + folder + "/openai_client.mjs http://127.0.0.1:" +
                                                std::to_string(server.port()) + "/v1 test-key 2>&1");
  EXPECT_EQ(client.exit_code, 0) << client.out;
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
