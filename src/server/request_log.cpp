#include "server/request_log.h"

#include <cstdio>

#include <fmt/format.h>

#include "server/api_error.h"

namespace hearth::server {

void log_request(LogFormat format, const RequestRecord& record) {
  std::string line;
  if (format == LogFormat::json) {
    json entry = {{"id", record.id},           {"method", record.method},
                  {"route", record.route},     {"status", record.status},
                  {"prompt_tokens", record.prompt_tokens}, {"cached_tokens", record.cached_tokens},
                  {"generated_tokens", record.generated_tokens}, {"ttft_ms", record.time_to_first_token_ms},
                  {"duration_ms", record.duration_ms}};
    if (!record.note.empty()) entry["note"] = record.note;
    line = to_text(entry);
  } else {
    line = fmt::format("request id={} {} {} status={} prompt={} cached={} generated={} ttft_ms={:.1f} duration_ms={:.1f}",
                       record.id, record.method, record.route, record.status, record.prompt_tokens,
                       record.cached_tokens, record.generated_tokens, record.time_to_first_token_ms,
                       record.duration_ms);
    if (!record.note.empty()) line += " (" + record.note + ")";
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write, so lines from two io threads never interleave
}

}  // namespace hearth::server
