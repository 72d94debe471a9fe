// `hearth chat` end to end: a conversation piped into the binary (stdin is not a terminal, so it reads plain lines)
// with the demo model, a base model without a chat template (the built-in llama-2 template applies).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

struct Turn {
  int prompt = 0;
  int reused = 0;
  int evaluated = 0;
  int generated = 0;
};

struct ChatResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<Turn> turns;  // from the --verbose lines
};

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ChatResult chat(const std::string& input, const std::string& flags = "") {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "input.txt", std::ios::binary) << input;
  const std::string command = (test::bin_dir() / "hearth").string() + " chat -m " +
                              (test::shared_dir() / "models/hearth-demo-13m-q8_0.gguf").string() +
                              " --temp 0 -n 16 -t 2 --verbose " + flags + " < " + (dir / "input.txt").string() +
                              " 2> " + (dir / "stderr.txt").string();
  const auto run = test::run_command(command);
  ChatResult result{run.exit_code, run.out, read_all(dir / "stderr.txt"), {}};
  const std::regex turn_line(R"(prompt (\d+) tokens, reused (\d+), evaluated (\d+) in [0-9.]+ ms; reply (\d+) tokens)");
  for (std::sregex_iterator it(result.err.begin(), result.err.end(), turn_line), end; it != end; ++it) {
    result.turns.push_back({std::stoi((*it)[1]), std::stoi((*it)[2]), std::stoi((*it)[3]), std::stoi((*it)[4])});
  }
  return result;
}

TEST(CliChat, SecondTurnReusesTheCachedConversation) {
  const auto two = chat("Hello, who are you?\nTell me a story.\n");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.err.find("using the built-in 'llama-2' template"), std::string::npos) << two.err;
  ASSERT_EQ(two.turns.size(), 2u) << two.err;
  EXPECT_EQ(two.turns[0].reused, 0);
  EXPECT_EQ(two.turns[0].evaluated, two.turns[0].prompt);
  EXPECT_EQ(two.turns[0].generated, 16);
  // The second prompt holds the first turn, whose prompt at least is still in the cache.
  EXPECT_GE(two.turns[1].reused, two.turns[0].prompt);
  EXPECT_LT(two.turns[1].evaluated, two.turns[1].prompt);
  EXPECT_EQ(two.turns[1].reused + two.turns[1].evaluated, two.turns[1].prompt);
  EXPECT_EQ(two.turns[1].generated, 16);

  // Greedy: the first reply is what a one-turn chat prints, and the second reply follows it.
  const auto one = chat("Hello, who are you?\n");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_NE(one.out.find_first_not_of(" \n"), std::string::npos) << "empty reply";
  ASSERT_TRUE(two.out.starts_with(one.out)) << one.out << "\n---\n" << two.out;
  EXPECT_NE(two.out.substr(one.out.size()).find_first_not_of(" \n"), std::string::npos) << "empty second reply";
}

TEST(CliChat, ResetEmptiesTheCache) {
  const auto result = chat("Hi\nHi again\n/reset\nHi again\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("(the conversation was reset)"), std::string::npos) << result.out;
  ASSERT_EQ(result.turns.size(), 3u) << result.err;
  EXPECT_GT(result.turns[1].reused, 0);
  EXPECT_EQ(result.turns[2].reused, 0);
  EXPECT_LT(result.turns[2].prompt, result.turns[1].prompt);  // only the new message, no history
}

TEST(CliChat, OverflowIsReportedAndTheChatGoesOn) {
  std::string long_message;
  for (int i = 0; i < 80; ++i) long_message += "word ";
  const auto result = chat("Hi\n" + long_message + "\nHi\n", "-c 64");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("too long for the context of 64 tokens; /reset starts over"), std::string::npos)
      << result.err;
  ASSERT_EQ(result.turns.size(), 2u) << result.err;
  // The refused message left no trace: the next turn still builds on the first one.
  EXPECT_GT(result.turns[1].reused, 0);
  EXPECT_LT(result.turns[1].prompt, 64);
}

TEST(CliChat, MultiLineInputAndCommands) {
  const auto result = chat("\"\"\"\nline one\nline two\n\"\"\"\nmulti \\\nline\n/bogus\n/system Be brief.\nHello\n/exit\nNever read\n");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(result.turns.size(), 3u) << result.err;  // the block, the continued line, and Hello
  EXPECT_GT(result.turns[0].prompt, 6);
  EXPECT_NE(result.err.find("unknown command /bogus"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("(system prompt set; the conversation was reset)"), std::string::npos) << result.out;
  EXPECT_EQ(result.turns[2].reused, 0);
  // The system prompt is rendered into the first user turn (<<SYS>> block), so it is longer than "Hello" alone.
  EXPECT_GT(result.turns[2].prompt, 15);
}

TEST(CliChat, TemplateFlags) {
  const auto chatml = chat("Hi\n", "--template chatml");
  ASSERT_EQ(chatml.exit_code, 0) << chatml.err;
  EXPECT_EQ(chatml.err.find("no chat template"), std::string::npos) << chatml.err;
  EXPECT_NE(chatml.err.find("end of turn '<|im_end|>'"), std::string::npos) << chatml.err;

  const auto unknown = chat("Hi\n", "--template nonesuch");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("hearth chat: "), std::string::npos) << unknown.err;
}

// The llama-2 prompt, but assistant turns end with the text "_whatsnew", which the demo model's greedy reply to
// this message spells out within 16 tokens: generation stops there, without printing it.
TEST(CliChat, StopsAtTheTemplatesEndOfTurnText) {
  const std::filesystem::path file = std::filesystem::path(::testing::TempDir()) / "end_of_turn_template.jinja";
  std::ofstream(file, std::ios::binary)
      << "{%- for message in messages -%}{%- if message.role == 'assistant' -%}"
         "{{ ' ' ~ message.content ~ ' _whatsnew' }}"
         "{%- else -%}{{ bos_token ~ '[INST] ' ~ message.content ~ ' [/INST]' }}{%- endif -%}{%- endfor -%}";
  const auto plain = chat("Hello, who are you?\n");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_NE(plain.out.find("_whatsnew"), std::string::npos) << "the demo model's reply changed: " << plain.out;

  const auto stopped = chat("Hello, who are you?\n", "--template-file " + file.string());
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.err.find("end of turn '_whatsnew'"), std::string::npos) << stopped.err;
  ASSERT_EQ(stopped.turns.size(), 1u) << stopped.err;
  EXPECT_LT(stopped.turns[0].generated, 16);
  EXPECT_NE(stopped.err.find("end: end-of-turn"), std::string::npos) << stopped.err;
  EXPECT_EQ(stopped.out, plain.out.substr(0, plain.out.find("_whatsnew")) + "\n");
}

TEST(CliChat, ZeroTokensPerReplyMeansNoneAsInRun) {
  const auto result = chat("Hello\n", "-n 0");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ASSERT_EQ(result.turns.size(), 1u) << result.err;
  EXPECT_EQ(result.turns[0].generated, 0);
  EXPECT_NE(result.err.find("end: max-tokens"), std::string::npos) << result.err;
}

TEST(CliChat, SigintWithStdinAPipeEndsTheChatCleanly) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "chat_sigint";
  std::filesystem::create_directories(dir);
  // The pipe stays open after the first message, so the chat is waiting for the next line (or, on a slow
  // machine, still replying) when SIGINT comes; it was killed by the signal before.
  const std::string command = "(printf 'Hello\\n'; sleep 8) | " + (test::bin_dir() / "hearth").string() + " chat -m " +
                              (test::shared_dir() / "models/hearth-demo-13m-q8_0.gguf").string() +
                              " --temp 0 -n 16 -t 2 > " + (dir / "out.txt").string() + " 2>&1 & pid=$!; sleep 3; " +
                              "kill -INT $pid; wait $pid; echo $?";
  const auto result = test::run_command(command);
  EXPECT_EQ(result.out, "130\n");
  const std::string out = read_all(dir / "out.txt");
  EXPECT_TRUE(out.ends_with("(interrupted)\n")) << out;
}

TEST(CliChat, MissingModelFails) {
  const auto result = test::run_command((test::bin_dir() / "hearth").string() +
                                        " chat -m /nonexistent.gguf < /dev/null 2>&1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("hearth chat: "), std::string::npos) << result.out;
}

}  // namespace
}  // namespace hearth
