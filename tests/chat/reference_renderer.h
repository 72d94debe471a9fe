// Runs tools/jinja_reference.py (Python's jinja2, configured like HF transformers) for the differential tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "hearth/chat.h"

namespace hearth::chat::testing {

// Runs `/usr/bin/python3 tools/jinja_reference.py ARGS` and parses its JSON output. Fails the calling test (via
// a thrown std::runtime_error) when Python or jinja2 is missing or the script fails.
json run_reference(const std::string& arguments);

// The shared test data folder: $HEARTH_SHARED, else the build's HEARTH_SHARED_DIR.
std::string shared_dir();

// Renders `source` with `context` through jinja2: {"output": ...} or {"error": ...}.
json reference_render(const std::string& source, const json& context);

// Renders many (template, context) pairs in one Python run; one {"output"} / {"error"} object per pair.
json reference_render_all(const std::vector<std::pair<std::string, json>>& renders);

// The fixed clock the reference renderer uses for strftime_now: 2026-01-15 00:00:00.
std::tm reference_now();

}  // namespace hearth::chat::testing
