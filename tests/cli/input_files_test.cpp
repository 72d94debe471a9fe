// The input layer (cli/input_files.h): regular files only where a file is meant, one size limit for files and
// stdin, and error messages that show hostile input whole. Unit tests first, then every command through it.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli/input_files.h"
#include "cli/run_command.h"
#include "model/temp_dir.h"
#include "support/shared_data.h"

namespace hearth::cli {
namespace {

namespace fs = std::filesystem;

std::string hearth() { return (test::bin_dir() / "hearth").string(); }
std::string demo() { return (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string(); }

std::string heldout() { return (test::shared_dir() / "text" / "python-debian-heldout.txt").string(); }

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CliInputFiles, ReadsARegularFileWithinTheLimit) {
  test::TempDir dir("input");
  { std::ofstream(dir / "a.txt") << "hello"; }
  EXPECT_EQ(read_text_file(dir / "a.txt", "text file", 5), "hello");
  EXPECT_NE(message_of([&] { read_text_file(dir / "a.txt", "text file", 4); })
                .find("text file '" + (dir / "a.txt").string() + "' is larger than the limit of 4 bytes (raise it with HEARTH_MAX_INPUT_BYTES"),
            std::string::npos);
}

TEST(CliInputFiles, RefusesDirectoriesFifosAndDevicesBeforeOpening) {
  test::TempDir dir("input");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_NE(message_of([&] { read_text_file(dir.path(), "template file"); }).find("is a directory, not a regular file"), std::string::npos);
  EXPECT_NE(message_of([&] { read_text_file(dir / "fifo", "template file"); }).find("is a FIFO, not a regular file"), std::string::npos);
  EXPECT_NE(message_of([&] { read_text_file("/dev/zero", "messages file"); }).find("is a device, not a regular file"), std::string::npos);
  EXPECT_NE(message_of([&] { read_text_file(dir / "missing", "text file"); }).find("No such file"), std::string::npos);
  EXPECT_NE(message_of([&] { read_text_file("", "text file"); }).find("path is empty"), std::string::npos);
}

TEST(CliInputFiles, LimitComesFromTheEnvironmentAndIsChecked) {
  ::setenv("HEARTH_MAX_INPUT_BYTES", "123", 1);
  EXPECT_EQ(input_byte_limit(), 123u);
  for (const char* bad : {"0", "-5", "12x", "99999999999999999999999"}) {
    ::setenv("HEARTH_MAX_INPUT_BYTES", bad, 1);
    EXPECT_THROW(input_byte_limit(), std::runtime_error) << bad;
  }
  ::unsetenv("HEARTH_MAX_INPUT_BYTES");
  EXPECT_EQ(input_byte_limit(), kDefaultInputByteLimit);
}

TEST(CliInputFiles, PrintableEscapesNulAndControlBytesWithoutCutting) {
  EXPECT_EQ(printable(std::string("15043\0" "3186", 10)), "15043\\x003186");
  EXPECT_EQ(printable("a\nb\tc\\\x1b"), "a\\nb\\tc\\\\\\x1b");
  EXPECT_EQ(printable("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \\xff");
}

// End to end: each command that reads a text or JSON input goes through the layer.
TEST(CliInputFiles, CommandsRefuseDirectoriesAndFifos) {
  test::TempDir dir("input-cli");
  const std::string fifo = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  { std::ofstream(dir / "m.json") << R"([{"role":"user","content":"hi"}])"; }
  const std::string messages = (dir / "m.json").string();
  const std::string folder = dir.path().string();
  const std::string link = (dir / "base.kld").string();
  fs::create_symlink(dir / "m.json", link);
  struct Case {
    std::string args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"template --file " + folder + " --messages " + messages, "template file '" + folder + "' is a directory"},
      {"template --builtin chatml --messages " + fifo, "messages file '" + fifo + "' is a FIFO"},
      {"template --builtin chatml --messages /dev/zero", "is a device, not a regular file"},
      {"template --builtin chatml --messages " + messages + " --tools " + folder, "tools file '" + folder + "' is a directory"},
      {"perplexity -m " + demo() + " -f " + folder, "text file '" + folder + "' is a directory"},
      {"chat -m " + demo() + " --template-file " + folder + " < /dev/null", "template file '" + folder + "' is a directory"},
      {"info " + fifo, "not a regular file"},
      {"tokenize -m " + fifo + " -p hi", "not a regular file"},
      {"run -m " + fifo + " -p hi", "not a regular file"},
      {"run -m '' -p hi", "the model path (-m) is empty"},
      {"perplexity -m " + demo() + " --kl-divergence-base " + fifo + " --kl-divergence", "base " + fifo + " is not a regular file"},
      {"perplexity -m " + demo() + " -f " + heldout() + " -c 128 --chunks 1 --kl-divergence-base " + link,
       link + " exists and is a symlink; refusing to replace it"},
      {"chat -m '' < /dev/null", "the model path (-m) is empty"},
  };
  for (const Case& c : cases) {
    // timeout: before the fix a FIFO blocked in open forever; the bound turns that into a failure, not a hang.
    const auto result = test::run_command("timeout 20 " + hearth() + " " + c.args + " 2>&1");
    EXPECT_EQ(result.exit_code, 1) << c.args << "\n" << result.out;
    EXPECT_NE(result.out.find(c.expected), std::string::npos) << c.args << "\n" << result.out;
  }
}

TEST(CliInputFiles, StdinAndFilesStopAtTheLimit) {
  test::TempDir dir("input-limit");
  { std::ofstream(dir / "big.txt") << std::string(5000, 'a'); }
  const std::string limit = "HEARTH_MAX_INPUT_BYTES=1000 timeout 60 ";
  struct Case {
    std::string args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"tokenize -m " + demo() + " < /dev/zero", "stdin is larger than the limit of 1000 bytes (raise it with HEARTH_MAX_INPUT_BYTES=BYTES)"},
      {"detokenize -m " + demo() + " < /dev/zero", "stdin is larger than the limit of 1000 bytes"},
      {"perplexity -m " + demo() + " -f " + (dir / "big.txt").string(), "is larger than the limit of 1000 bytes"},
      {"template --builtin chatml --messages " + (dir / "big.txt").string(), "is larger than the limit of 1000 bytes"},
      {"chat -m " + demo() + " < /dev/zero", "a line of stdin is larger than the limit of 1000 bytes"},
  };
  for (const Case& c : cases) {
    const auto result = test::run_command(limit + hearth() + " " + c.args + " 2>&1");
    EXPECT_EQ(result.exit_code, 1) << c.args << "\n" << result.out;
    EXPECT_NE(result.out.find(c.expected), std::string::npos) << c.args << "\n" << result.out;
  }
}

TEST(CliInputFiles, DetokenizeShowsInputWithNulWhole) {
  const auto result = test::run_command("printf '15043\\0003186' | " + hearth() + " detokenize -m " + demo() + " 2>&1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("'15043\\x003186' is not a token id"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace hearth::cli
