// One line per request on stderr: plain `key=value` text for people, or one JSON object for machines.
#pragma once

#include <cstdint>
#include <string>

namespace hearth::server {

enum class LogFormat { text, json };

struct RequestRecord {
  uint64_t id = 0;
  std::string method;
  std::string route;
  int status = 0;
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;
  int32_t generated_tokens = 0;
  double time_to_first_token_ms = 0;
  double duration_ms = 0;
  std::string note;  // e.g. "client disconnected"
};

void log_request(LogFormat format, const RequestRecord& record);

}  // namespace hearth::server
