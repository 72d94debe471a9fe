// Fuzzes the KL-divergence base reader of `hearth perplexity`: any bytes either read whole (header, tokens, every
// chunk's records, each decoded) or raise BaseFileError.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/kl_divergence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::cli::kld;
  try {
    BaseFileReader reader(std::make_unique<std::istringstream>(std::string(reinterpret_cast<const char*>(data), size)),
                          size, "fuzz");
    const BaseHeader& header = reader.header();
    const auto words = static_cast<size_t>(record_words(header.n_vocab));
    std::vector<uint16_t> records;
    float sum = 0;
    for (int32_t chunk = 0; chunk < header.n_chunk; ++chunk) {
      reader.read_chunk(records);
      for (size_t offset = 0; offset < records.size(); offset += words) {
        const RecordView record(std::span(records).subspan(offset, words), header.n_vocab);
        for (int32_t token : reader.tokens()) sum += record.log_prob(static_cast<size_t>(token));
      }
    }
    (void)sum;
  } catch (const BaseFileError&) {
  }
  return 0;
}
