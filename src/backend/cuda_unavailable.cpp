// Builds without CUDA: no GPU is ever available, and asking for one says why.
#include <stdexcept>

#include "backend/backend.h"

namespace hearth::backend {

int cuda_device_count() { return 0; }

std::string cuda_unavailable_reason() {
  return "this build of Hearth has no CUDA support (build it where nvcc is installed, with -DHEARTH_CUDA=ON)";
}

std::unique_ptr<Backend> make_cuda_backend(int) { throw std::invalid_argument(cuda_unavailable_reason()); }

}  // namespace hearth::backend
