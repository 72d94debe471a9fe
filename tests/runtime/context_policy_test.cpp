// What happens when a prompt and its generation do not fit: an error stating the numbers, or an explicit policy.
#include <gtest/gtest.h>

#include <numeric>

#include "hearth/context.h"

namespace hearth {
namespace {

std::vector<int32_t> tokens(int n) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), 100);
  return t;
}

TEST(ContextPolicy, NamesRoundTrip) {
  for (ContextOverflow p : {ContextOverflow::error, ContextOverflow::truncate_left, ContextOverflow::shift}) {
    EXPECT_EQ(context_overflow_from_name(context_overflow_name(p)), p);
  }
  EXPECT_EQ(context_overflow_from_name("truncate-left"), ContextOverflow::truncate_left);
  EXPECT_FALSE(context_overflow_from_name("truncate").has_value());
}

TEST(ContextPolicy, ErrorStatesBothNumbers) {
  EXPECT_EQ(fit_prompt(tokens(10), 6, 16, ContextOverflow::error, 1).size(), 10u);
  try {
    fit_prompt(tokens(10), 7, 16, ContextOverflow::error, 1);
    FAIL() << "expected ContextFullError";
  } catch (const ContextFullError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("10 tokens"), std::string::npos) << message;
    EXPECT_NE(message.find("(7)"), std::string::npos) << message;
    EXPECT_NE(message.find("16"), std::string::npos) << message;
  }
}

TEST(ContextPolicy, TruncateLeftKeepsTheFirstTokensAndTheMostRecent) {
  const std::vector<int32_t> kept = fit_prompt(tokens(10), 10, 16, ContextOverflow::truncate_left, 1);
  // 16 cells - 10 to generate - 1 kept = the 5 most recent prompt tokens after the first.
  EXPECT_EQ(kept, (std::vector<int32_t>{100, 105, 106, 107, 108, 109}));
  EXPECT_EQ(fit_prompt(tokens(5), 10, 16, ContextOverflow::truncate_left, 1).size(), 5u);  // fits: unchanged
  EXPECT_THROW(fit_prompt(tokens(10), 15, 16, ContextOverflow::truncate_left, 1), ContextFullError);
}

TEST(ContextPolicy, ShiftNeedsOnlyThePromptToFit) {
  EXPECT_EQ(fit_prompt(tokens(10), 100, 16, ContextOverflow::shift, 1).size(), 10u);
  EXPECT_THROW(fit_prompt(tokens(17), 1, 16, ContextOverflow::shift, 1), ContextFullError);
  EXPECT_THROW(fit_prompt(tokens(4), 1, 16, ContextOverflow::shift, 15), ContextFullError);
}

TEST(ContextPolicy, RejectsNonsense) {
  EXPECT_THROW(fit_prompt({}, 1, 16, ContextOverflow::error, 0), std::invalid_argument);
  EXPECT_THROW(fit_prompt(tokens(2), -1, 16, ContextOverflow::error, 0), std::invalid_argument);
}

}  // namespace
}  // namespace hearth
