// The comparison code of the conformance suite, on hand-made inputs (the suite itself needs the peer and is slow).
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "conformance/metrics.h"
#include "conformance/peer.h"

namespace hearth::conformance {
namespace {

TEST(ConformanceMetrics, SoftmaxAtATemperature) {
  const std::vector<float> logits{0.0f, static_cast<float>(std::log(3.0))};
  const auto plain = softmax(logits, 1.0);
  EXPECT_NEAR(plain[0], 0.25, 1e-7);
  EXPECT_NEAR(plain[1], 0.75, 1e-7);
  const auto sharp = softmax(logits, 0.5);  // odds squared: 1 : 9
  EXPECT_NEAR(sharp[1], 0.9, 1e-7);
  EXPECT_THROW(softmax(logits, 0.0), std::invalid_argument);
}

TEST(ConformanceMetrics, TopTokensBreakTiesById) {
  const std::vector<double> probabilities{0.1, 0.3, 0.3, 0.2, 0.1};
  const auto top = top_tokens(probabilities, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 2);
  EXPECT_EQ(top[2].first, 3);
  EXPECT_EQ(top_tokens(probabilities, 10).size(), 5u);
}

TEST(ConformanceMetrics, PositionDifferenceUsesThePeersTopSet) {
  const std::vector<double> hearth{0.5, 0.2, 0.15, 0.1, 0.05};
  // The peer ranks token 3 above token 2: one of its top 3 is outside Hearth's top 3.
  const TopTokens peer{{0, 0.48}, {1, 0.21}, {3, 0.16}};
  const auto difference = compare_position(hearth, peer);
  EXPECT_EQ(difference.overlap, 2);
  EXPECT_NEAR(difference.max_abs_dp, 0.06, 1e-12);  // token 3: 0.10 vs 0.16
  EXPECT_THROW(compare_position(hearth, TopTokens{{7, 0.5}}), std::out_of_range);
}

TEST(ConformanceMetrics, PrefixArgmaxAndSpread) {
  EXPECT_EQ(common_prefix(std::vector<int32_t>{1, 2, 3, 4}, std::vector<int32_t>{1, 2, 5, 4}), 2);
  EXPECT_EQ(common_prefix(std::vector<int32_t>{1, 2}, std::vector<int32_t>{1, 2, 3}), 2);
  EXPECT_EQ(argmax(std::vector<float>{1.0f, 3.0f, 3.0f}), 1);
  EXPECT_NEAR(logit_std(std::vector<float>{1.0f, 3.0f}), 1.0, 1e-12);
}

TEST(ConformancePeer, ParsesEvaluateOutput) {
  const auto model = parse_peer_model(R"({"model":"a.gguf","peer":"node-llama-cpp 3.22.1",
    "temperature":0.5,"results":[{"prompt":"hi","prompt_tokens":[1,2],"positions":[{"top":[[5,0.75],[6,0.25]]}],
    "greedy":[5,5],"greedy_text":" x"}]})");
  EXPECT_EQ(model.temperature, 0.5);
  ASSERT_EQ(model.prompts.size(), 1u);
  const auto& prompt = model.prompts[0];
  EXPECT_EQ(prompt.prompt_tokens, (std::vector<int32_t>{1, 2}));
  ASSERT_EQ(prompt.positions.size(), 1u);
  EXPECT_EQ(prompt.positions[0][1].first, 6);
  EXPECT_EQ(prompt.positions[0][1].second, 0.25);
  EXPECT_EQ(prompt.greedy, (std::vector<int32_t>{5, 5}));
  EXPECT_THROW(parse_peer_model("{\"model\":1}"), PeerError);
  EXPECT_THROW(parse_peer_model("not json"), PeerError);
}

TEST(ConformancePeer, ShellQuoting) {
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(run_command("exit 3"), 3);
  EXPECT_EQ(run_command(shell_quote("printf") + " " + shell_quote("%s") + " " + shell_quote("it's") + " >/dev/null"), 0);
}

TEST(ConformancePeer, AFailingPeerIsAnErrorWithItsMessage) {
  const auto work = std::filesystem::temp_directory_path() / fmt::format("hearth-peer-test-{}", ::getpid());
  std::filesystem::create_directories(work);
  PeerLocation broken{work / "hearth-no-such-peer.mjs", "node"};
  PeerProcess process(broken, {PeerJob{"model.gguf", {"hi"}, 1.0}}, PeerSettings{}, work);
  try {
    process.next();
    FAIL() << "a peer that cannot start answered";
  } catch (const PeerError& error) {
    EXPECT_NE(std::string(error.what()).find("hearth-no-such-peer.mjs"), std::string::npos) << error.what();
  }
  std::filesystem::remove_all(work);
}

}  // namespace
}  // namespace hearth::conformance
