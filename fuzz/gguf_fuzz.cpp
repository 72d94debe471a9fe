// Fuzzes the GGUF reader: any bytes either parse or raise FormatError; every accessor of a parsed file is safe.
#include <cstddef>
#include <cstdint>
#include <span>

#include "hearth/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = hearth::gguf::File::from_bytes(std::as_bytes(std::span(data, size)));
    for (const auto& kv : file.metadata()) (void)kv.value.to_display(4);
    for (const auto& tensor : file.tensors()) {
      const auto bytes = tensor.bytes();
      if (!bytes.empty()) (void)(bytes.front() == bytes.back());
    }
  } catch (const hearth::gguf::FormatError&) {
  }
  return 0;
}
