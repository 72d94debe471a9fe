// Deliberately wrong kernels, for testing the conformance suite itself: a copy of a model file whose weights read
// as a faulty kernel would read them. Running Hearth on the copy against the peer's answers for the original is
// running a Hearth with that bug, and the suite's bounds must reject it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace hearth::conformance {

enum class Fault {
  kSkippedLastBlock,  // the row loop stops one block early (an off-by-one loop bound)
  kNeighbourBlock,    // block b is read from block b + 1 (an off-by-one block index; the last block wraps)
  kDroppedScale,      // the block's scale d is never applied (as if d = 1); quantized types only
};

std::string_view fault_name(Fault fault);

// Copies `source` to `target` with `fault` applied to every row of the tensor named `tensor`. Throws
// std::runtime_error when the tensor is missing or the fault does not apply to its type.
void write_faulty_copy(const std::filesystem::path& source, const std::filesystem::path& target, Fault fault,
                       const std::string& tensor);

}  // namespace hearth::conformance
