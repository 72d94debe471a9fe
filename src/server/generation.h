// One completions or chat completions request while it generates: submits it to the scheduler, turns the
// scheduler's events (posted onto the connection's strand) into the response, whole or streamed, and records its
// metrics and log line.
#pragma once

#include <chrono>
#include <memory>

#include "server/engine.h"
#include "server/http_session.h"
#include "server/openai_format.h"
#include "server/responses_api.h"

namespace hearth::server {

// Submits the request; throws ApiError (503 for a full queue or a shutdown, 400 for what the scheduler refuses).
// `responses_request`: for POST /v1/responses, its body (the reply then becomes a Responses object or its events).
void start_generation(HttpSession& session, Engine& engine, const GenerationParams& params, Engine::Prepared prepared,
                      RequestRecord record, const json* responses_request = nullptr);

}  // namespace hearth::server
