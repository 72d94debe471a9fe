// A forward pass met a NaN or infinity: the model's weights (a norm, a block scale) or the values fed to it hold
// NaN/Inf. Sampling from such a pass would pick garbage (8-bit activation rounding silently turns NaN into finite
// noise) or report every token banned, so the engine refuses it and says so; `hearth info FILE --check-tensors`
// finds the tensors at fault.
#pragma once

#include <stdexcept>

namespace hearth {

class NonFiniteValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace hearth
