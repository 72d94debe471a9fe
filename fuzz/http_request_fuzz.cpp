// Raw bytes as an HTTP request, through what `hearth serve` does before a model is involved: Beast's request parser
// with the server's header and body limits, then the JSON body's parse and validation for the route it names.
// Anything but an ApiError (the 400 a client gets) or Beast's parse error is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server/request_parsing.h"
#include "server/responses_api.h"

namespace http = boost::beast::http;
using hearth::server::ApiError;
using hearth::server::Endpoint;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code error;
  parser.put(boost::asio::buffer(data, size), error);
  if (error || !parser.is_done()) return 0;
  const auto& request = parser.get();
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  try {
    const hearth::server::json body = hearth::server::parse_json_body(request.body());
    if (path == "/v1/completions") hearth::server::parse_generation_params(Endpoint::completions, body);
    else if (path == "/v1/chat/completions") hearth::server::parse_generation_params(Endpoint::chat_completions, body);
    else if (path == "/v1/responses") {
      hearth::server::parse_generation_params(Endpoint::chat_completions, hearth::server::chat_body_from_responses(body));
    } else if (path == "/tokenize") hearth::server::parse_tokenize_params(body);
    else if (path == "/detokenize") hearth::server::parse_detokenize_params(body);
  } catch (const ApiError& refused) {
    if (refused.status() != 400) __builtin_trap();  // parsing alone only ever refuses with 400
  }
  return 0;
}
