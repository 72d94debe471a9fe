#include "cli/context_size.h"

#include <cstdio>

namespace hearth::cli {

void warn_if_beyond_trained_context(const char* command, const Model& model, int64_t n_ctx) {
  const int64_t trained = model.info().n_ctx_train;
  if (trained <= 0 || n_ctx <= trained) return;
  std::fprintf(stderr,
               "hearth %s: warning: a context of %lld tokens is more than the %lld the model was trained for; "
               "output past position %lld may be unreliable\n",
               command, static_cast<long long>(n_ctx), static_cast<long long>(trained),
               static_cast<long long>(trained));
}

}  // namespace hearth::cli
