// Stop strings in streamed text and the end-of-generation decision.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hearth/sampling.h"

namespace hearth::sampling {
namespace {

TEST(StopMatcher, HoldsBackAPossibleStartAndCutsAtTheStop) {
  StopMatcher matcher({"</s>"});
  auto result = matcher.feed("Hello <");
  EXPECT_EQ(result.text, "Hello ");
  EXPECT_FALSE(result.stop);
  EXPECT_EQ(matcher.held(), 1u);
  result = matcher.feed("/");
  EXPECT_EQ(result.text, "");
  EXPECT_EQ(matcher.held(), 2u);
  result = matcher.feed("s> world");
  EXPECT_EQ(result.text, "");
  ASSERT_TRUE(result.stop);
  EXPECT_EQ(*result.stop, 0u);
  EXPECT_EQ(result.cut_offset, 6u);
  EXPECT_TRUE(matcher.stopped());
  EXPECT_EQ(matcher.feed("more").text, "");
  EXPECT_EQ(matcher.flush(), "");
}

TEST(StopMatcher, ReleasesHeldTextThatTurnsOutNotToStop) {
  StopMatcher matcher({"abc"});
  EXPECT_EQ(matcher.feed("xab").text, "x");
  EXPECT_EQ(matcher.feed("d").text, "abd");
  EXPECT_EQ(matcher.feed("a").text, "");
  EXPECT_EQ(matcher.flush(), "a");
  EXPECT_FALSE(matcher.stopped());
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "aab" inside "aaab": the first 'a' is safe once a third 'a' arrives.
  StopMatcher matcher({"aab"});
  std::string shown;
  for (const char* piece : {"a", "a", "a"}) shown += matcher.feed(piece).text;
  EXPECT_EQ(shown, "a");
  const auto result = matcher.feed("b!");
  EXPECT_EQ(result.text, "");
  ASSERT_TRUE(result.stop);
  EXPECT_EQ(result.cut_offset, 1u);
}

TEST(StopMatcher, EarliestStopWinsThenListOrder) {
  StopMatcher matcher({"world", "lo w", "lo"});
  const auto result = matcher.feed("hello world");
  ASSERT_TRUE(result.stop);
  EXPECT_EQ(*result.stop, 1u);  // "lo w" and "lo" both start at 3; "lo w" is listed first
  EXPECT_EQ(result.text, "hel");
  EXPECT_EQ(result.cut_offset, 3u);
}

TEST(StopMatcher, StopSpanningManyPiecesAfterEmittedText) {
  StopMatcher matcher({"\n\nUser:"});
  std::string shown;
  std::optional<std::size_t> stop;
  std::size_t cut = 0;
  for (const char* piece : {"Sure", ".", "\n", "\n", "Us", "er", ":", " hi"}) {
    auto result = matcher.feed(piece);
    shown += result.text;
    if (result.stop) {
      stop = result.stop;
      cut = result.cut_offset;
    }
  }
  EXPECT_EQ(shown, "Sure.");
  ASSERT_TRUE(stop);
  EXPECT_EQ(cut, 5u);
}

TEST(StopMatcher, NoStopStringsPassEverythingThrough) {
  StopMatcher matcher({});
  EXPECT_EQ(matcher.feed("anything").text, "anything");
  EXPECT_EQ(matcher.held(), 0u);
}

TEST(StopMatcher, MultibyteStopStrings) {
  StopMatcher matcher({"。"});  // 3 bytes in UTF-8
  EXPECT_EQ(matcher.feed("终\xE3").text, "终");
  const auto result = matcher.feed("\x80\x82后");
  ASSERT_TRUE(result.stop);
  EXPECT_EQ(result.cut_offset, 3u);
}

TEST(StopMatcher, EmptyStopStringIsRejected) { EXPECT_THROW(StopMatcher({"a", ""}), SamplingError); }

TEST(GenerationStop, EndOfGenerationTokenIsNotShownAndReleasesHeldText) {
  GenerationStop stop([](TokenId token) { return token == 2; }, {"###"}, 0);
  auto step = stop.on_token(10, "Hi #");
  EXPECT_EQ(step.text, "Hi ");
  EXPECT_EQ(step.reason, StopReason::none);
  step = stop.on_token(2, "</s>");
  EXPECT_EQ(step.text, "#");
  EXPECT_EQ(step.reason, StopReason::end_of_generation);
  EXPECT_TRUE(stop.done());
  EXPECT_EQ(stop.on_token(11, "x").text, "");
}

TEST(GenerationStop, StopString) {
  GenerationStop stop([](TokenId) { return false; }, {"###"}, 0);
  EXPECT_EQ(stop.on_token(1, "a#").text, "a");
  const auto step = stop.on_token(1, "##b");
  EXPECT_EQ(step.text, "");
  EXPECT_EQ(step.reason, StopReason::stop_string);
  EXPECT_EQ(stop_reason_name(stop.reason()), "stop_string");
}

TEST(GenerationStop, MaxTokensReleasesEverything) {
  GenerationStop stop(nullptr, {"###"}, 2);
  EXPECT_EQ(stop.on_token(1, "a").reason, StopReason::none);
  const auto step = stop.on_token(1, "b#");
  EXPECT_EQ(step.text, "b#");
  EXPECT_EQ(step.reason, StopReason::max_tokens);
}

}  // namespace
}  // namespace hearth::sampling
