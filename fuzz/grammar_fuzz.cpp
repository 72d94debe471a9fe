// Fuzzes the GBNF parser and the matcher. The input up to the first NUL byte is grammar text: it compiles or
// raises GrammarError. A compiled grammar then matches the rest of the input byte by byte; a refused byte leaves
// the state as it was, and a stack-set explosion must be a GrammarError too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hearth/grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  const std::string_view text = input.substr(0, split);
  const std::string_view bytes = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  try {
    hearth::grammar::Matcher matcher(hearth::grammar::Grammar::parse(text));
    for (std::size_t i = 0; i < bytes.size() && i < 256; ++i) {
      const hearth::grammar::MatchState before = matcher.state();
      if (!matcher.accept(bytes.substr(i, 1)) && !(matcher.state() == before)) __builtin_trap();
      if (matcher.must_end() && !matcher.can_end()) __builtin_trap();
    }
  } catch (const hearth::grammar::GrammarError&) {
    // A clear refusal is the expected outcome for most random text.
  }
  return 0;
}
