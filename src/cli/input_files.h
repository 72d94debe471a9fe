// The one way commands read text and JSON inputs (a file named on the command line, or stdin), and the one
// input-size policy: a regular file is required where a file is meant (a directory, FIFO or device is refused
// before it is opened), and no input may exceed input_byte_limit() bytes, so /dev/zero or a giant file is an
// error instead of unbounded memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::cli {

// 64 MiB: far above any prompt, template, message list or evaluation text, far below a machine's memory.
inline constexpr uint64_t kDefaultInputByteLimit = uint64_t{64} << 20;
// The environment variable that overrides the limit for every command.
inline constexpr const char* kInputLimitVariable = "HEARTH_MAX_INPUT_BYTES";

// $HEARTH_MAX_INPUT_BYTES when set (a positive decimal integer, else std::runtime_error), else the default.
uint64_t input_byte_limit();

// The whole content of the regular file `path`; `what` names it in errors ("template file", "messages file").
// Throws std::runtime_error for a missing, unreadable or non-regular file, or one over `limit` bytes.
std::string read_text_file(const std::filesystem::path& path, std::string_view what, uint64_t limit = input_byte_limit());

// All of stdin, which may be a pipe, a terminal or a file; refused past `limit` bytes.
std::string read_standard_input(std::string_view what, uint64_t limit = input_byte_limit());

// The next line of std::cin without its newline, nullopt at the end of input; a line over `limit` bytes is
// refused, so a piped chat fed from /dev/zero stops instead of growing one line forever.
std::optional<std::string> read_standard_input_line(std::string_view what, uint64_t limit = input_byte_limit());

// `text` for an error message or a terminal: printable UTF-8 as is, newline/tab/CR/backslash as \n \t \r \\,
// other control bytes (NUL included) and bytes that form no UTF-8 character as \xNN, so nothing is cut or hidden.
std::string printable(std::string_view text);

}  // namespace hearth::cli
