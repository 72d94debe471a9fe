// What jinja2 does between parsing and running a template: it folds constant expressions (its optimizer), which
// can change behaviour at the edges (a constant that slices a non-sequence prints as undefined instead of failing;
// `false and x|f` never looks at f), and while generating code it fails for filters and tests it does not know,
// unless they sit in an if-block or a conditional expression, where the failure waits until they run.
#pragma once

#include "chat/jinja_ast.h"
#include "hearth/chat.h"

namespace hearth::chat::jinja {

// Folds `body` in place and throws TemplateError for the first unknown filter or test jinja2 would reject.
void compile(Body& body, const TemplateOptions& options);

}  // namespace hearth::chat::jinja
