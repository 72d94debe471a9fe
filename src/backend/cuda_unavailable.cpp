// Builds without CUDA: no GPU is ever available, and asking for one says why.
#include <stdexcept>

#include "backend/backend.h"

namespace hearth::backend {

int cuda_device_count() { return 0; }

std::unique_ptr<Backend> make_cuda_backend(int) {
  throw std::invalid_argument("this build of Hearth has no CUDA support (build it where nvcc is installed, with -DHEARTH_CUDA=ON)");
}

}  // namespace hearth::backend
