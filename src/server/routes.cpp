// Which route a request names, who may call it, and the answers of the routes that generate nothing.
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "server/generation.h"
#include "server/http_session.h"
#include "server/request_parsing.h"

namespace hearth::server {
namespace {

enum class RouteId { health, metrics, models, completions, chat_completions, responses, tokenize, detokenize };

struct Route {
  std::string_view path;
  http::verb method;
  RouteId id;
};

constexpr std::array kRoutes = {
    Route{"/health", http::verb::get, RouteId::health},
    Route{"/metrics", http::verb::get, RouteId::metrics},
    Route{"/v1/models", http::verb::get, RouteId::models},
    Route{"/v1/completions", http::verb::post, RouteId::completions},
    Route{"/v1/chat/completions", http::verb::post, RouteId::chat_completions},
    Route{"/v1/responses", http::verb::post, RouteId::responses},
    Route{"/tokenize", http::verb::post, RouteId::tokenize},
    Route{"/detokenize", http::verb::post, RouteId::detokenize},
};

const Route* find_route(std::string_view path) {
  for (const Route& route : kRoutes) {
    if (route.path == path) return &route;
  }
  return nullptr;
}

// `Authorization: Bearer KEY` with one of the keys; compared in constant time for keys of the same length.
bool authorized(const HttpRequest& request, const std::vector<std::string>& keys) {
  if (keys.empty()) return true;
  const std::string_view header = view(request[http::field::authorization]);
  constexpr std::string_view kBearer = "Bearer ";
  if (!header.starts_with(kBearer)) return false;
  const std::string_view given = header.substr(kBearer.size());
  bool match = false;
  for (const std::string& key : keys) {
    if (key.size() != given.size()) continue;
    unsigned char difference = 0;
    for (size_t i = 0; i < key.size(); ++i) difference |= static_cast<unsigned char>(key[i] ^ given[i]);
    match |= difference == 0;
  }
  return match;
}

Engine& loaded_engine(const std::shared_ptr<Engine>& engine) {
  if (engine == nullptr) throw ApiError(503, "the model is loading", "unavailable", "", "model_loading");
  return *engine;
}

Response models(Engine& engine) {
  const json model = {{"id", engine.alias()}, {"object", "model"}, {"created", engine.created()}, {"owned_by", "hearth"}};
  return json_response(200, {{"object", "list"}, {"data", json::array({model})}});
}

Response tokenize(Engine& engine, const json& body) {
  const TokenizeParams params = parse_tokenize_params(body);
  return json_response(200, {{"tokens", engine.tokenizer().tokenize(params.content, params.add_special,
                                                                    /*parse_special=*/true)}});
}

Response detokenize(Engine& engine, const json& body) {
  const std::vector<int32_t> tokens = parse_detokenize_params(body);
  for (const int32_t id : tokens) {
    if (static_cast<size_t>(id) >= engine.tokenizer().vocab_size()) {
      throw bad_request(fmt::format("token id {} is outside the vocabulary of {}", id, engine.tokenizer().vocab_size()),
                        "tokens");
    }
  }
  return json_response(200, {{"content", engine.tokenizer().detokenize(tokens, /*show_special=*/false)}});
}

}  // namespace

void route_request(HttpSession& session, HttpRequest request, RequestRecord record) {
  ServerState& state = session.state();
  const std::string_view target = view(request.target());
  const std::string_view path = target.substr(0, target.find('?'));
  const Route* route = find_route(path);
  record.route = route != nullptr ? std::string(route->path) : "unknown";
  try {
    if (route == nullptr) throw ApiError(404, "no such route", "not_found_error", "", "not_found");
    if (request.method() != route->method) {
      ApiError error(405, fmt::format("{} takes {}", route->path, view(http::to_string(route->method))),
                     "invalid_request_error", "", "method_not_allowed");
      Response response = error_response(error);
      response.headers.emplace_back("Allow", std::string(view(http::to_string(route->method))));
      return session.respond(std::move(response), record);
    }
    if (route->id != RouteId::health && !authorized(request, state.options.api_keys)) {
      throw ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error", "",
                     "invalid_api_key");
    }
    const std::shared_ptr<Engine> engine = state.engine();
    switch (route->id) {
      case RouteId::health:
        if (engine == nullptr) return session.respond(json_response(503, {{"status", "loading"}}), record);
        return session.respond(json_response(200, {{"status", "ok"}}), record);
      case RouteId::metrics: {
        std::optional<SchedulerStats> stats;
        if (engine != nullptr) stats = engine->scheduler().stats();
        Response response;
        response.body = state.metrics.render(stats);
        response.content_type = "text/plain; version=0.0.4";
        return session.respond(std::move(response), record);
      }
      case RouteId::models: return session.respond(models(loaded_engine(engine)), record);
      case RouteId::tokenize:
        return session.respond(tokenize(loaded_engine(engine), parse_json_body(request.body())), record);
      case RouteId::detokenize:
        return session.respond(detokenize(loaded_engine(engine), parse_json_body(request.body())), record);
      case RouteId::completions:
      case RouteId::chat_completions: {
        Engine& loaded = loaded_engine(engine);
        const Endpoint endpoint =
            route->id == RouteId::completions ? Endpoint::completions : Endpoint::chat_completions;
        const GenerationParams params = parse_generation_params(endpoint, parse_json_body(request.body()));
        Engine::Prepared generation = loaded.build_request(params);
        return start_generation(session, loaded, params, std::move(generation), record);  // a copy: the catch below logs it
      }
      case RouteId::responses: {
        Engine& loaded = loaded_engine(engine);
        const json body = parse_json_body(request.body());
        try {
          GenerationParams params = parse_generation_params(Endpoint::chat_completions, chat_body_from_responses(body));
          params.endpoint = Endpoint::responses;
          Engine::Prepared generation = loaded.build_request(params);
          return start_generation(session, loaded, params, std::move(generation), record, &body);
        } catch (const ApiError& error) {
          throw responses_error(error);
        }
      }
    }
  } catch (const ApiError& error) {
    session.respond(error_response(error), record);
  }
}

}  // namespace hearth::server
