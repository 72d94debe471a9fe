// Errors a request gets back, in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace hearth::server {

using json = nlohmann::ordered_json;  // ordered: messages and tools reach the chat template in the client's order

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type, std::string param = "", std::string code = "")
      : std::runtime_error(std::move(message)),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  json body() const;

 private:
  int status_;
  std::string type_;
  std::string param_;  // the request field at fault; "" for none (null in the JSON)
  std::string code_;   // e.g. "context_length_exceeded"; "" for none
};

// 400 invalid_request_error, naming the field at fault.
inline ApiError bad_request(std::string message, std::string param = "", std::string code = "") {
  return ApiError(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
}

// The JSON text of a response body: invalid UTF-8 (a token piece can be half a character) becomes U+FFFD instead of
// an exception.
std::string to_text(const json& value);

}  // namespace hearth::server
