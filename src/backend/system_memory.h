// What the operating system says about memory, for refusing allocations that cannot succeed.
#pragma once

#include <cstdint>
#include <optional>

namespace hearth::backend {

// MemAvailable from /proc/meminfo in bytes, or nullopt where it cannot be read.
std::optional<uint64_t> available_memory();

}  // namespace hearth::backend
