// Grammar-constrained sampling: the GBNF parser (the peer's corpus, broken and hostile grammars), the recognizer on
// handwritten strings, and sampling under a grammar with a real vocabulary, checked by independent recognizers
// (nlohmann::json for JSON, a hand-written checker for arithmetic) and against a brute-force mask.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hearth/gguf.h"
#include "hearth/grammar.h"
#include "hearth/json_schema.h"
#include "hearth/sampling.h"
#include "hearth/tokenizer.h"
#include "support/shared_data.h"

namespace hearth::grammar {
namespace {

std::string read_grammar(const std::string& name) {
  const auto path = std::filesystem::path(HEARTH_GRAMMARS_DIR) / name;
  std::ifstream in(path);
  // The corpus comes with the peer (scripts/setup installs it).
  if (!in) throw std::runtime_error("cannot read " + path.string() + ": run scripts/setup to install the peer");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool matches(const Grammar& grammar, std::string_view text) {
  Matcher matcher(grammar);
  return matcher.accept(text) && matcher.can_end();
}

std::string error_of(std::string_view text) {
  try {
    Grammar::parse(text);
  } catch (const GrammarError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(GrammarParser, EveryCorpusGrammarCompiles) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HEARTH_GRAMMARS_DIR)) {
    if (entry.path().extension() != ".gbnf") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const Grammar grammar = Grammar::parse(read_grammar(entry.path().filename().string()));
    Matcher matcher(grammar);
    EXPECT_FALSE(matcher.state().stacks.empty());
    ++count;
  }
  EXPECT_EQ(count, 8u);
}

TEST(GrammarParser, ErrorsCarryPositions) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"root ::= \"abc", "line 1, column 14: unterminated string literal"},
      {"root ::= [a-z", "line 1, column 14: unterminated character class"},
      {"root ::= foo", "line 1, column 10: undefined rule 'foo'"},
      {"root ::= \"a\"\nx ::= y", "line 2, column 7: undefined rule 'y'"},
      {"root = \"a\"", "line 1, column 6: expected '::=' after rule name 'root'"},
      {"root ::= (\"a\"", "line 1, column 14: expected ')'"},
      {"root ::= \"\\q\"", "line 1, column 12: unknown escape '\\q'"},
      {"root ::= \"\\xZZ\"", "line 1, column 13: expected 2 hexadecimal digits"},
      {"root ::= [z-a]", "character range is reversed"},
      {"root ::= * \"a\"", "line 1, column 10: '*' has nothing before it to repeat"},
      {"root ::= \"a\"{3,1}", "repetition maximum is below its minimum"},
      {"root ::= \"a\"{2", "expected '}' closing a repetition count"},
      {"root ::= <[42]>", "token references (<[id]>) are not supported"},
      {"a ::= \"x\"", "the grammar has no 'root' rule"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
      {"root ::= \"a\" )", "line 1, column 14: unexpected ')' in rule 'root'"},
  };
  for (const auto& [text, expected] : cases) {
    SCOPED_TRACE(text);
    EXPECT_NE(error_of(text).find(expected), std::string::npos) << error_of(text);
  }
}

TEST(GrammarParser, HostileGrammarsFailQuickly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(error_of("").find("the grammar is empty"), std::string::npos);
  EXPECT_NE(error_of("# only a comment\n\n").find("the grammar is empty"), std::string::npos);
  EXPECT_NE(error_of("root ::= root \"a\"").find("rule 'root' is left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= a\na ::= b? a | \"x\"\nb ::= \"y\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= x\nx ::= (\"\" | y) \"a\"\ny ::= x").find("left-recursive"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{99999999999999999999}").find("repetition count above"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"{5000} \"b\"{6000}").find("expands to more than"), std::string::npos);
  EXPECT_NE(error_of("root ::= " + std::string(1000, '(') + "\"a\"" + std::string(1000, ')')).find("nested deeper"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= \"\xC3\"").find("line 1, column 11: invalid UTF-8"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\U00110000\"").find("above U+10FFFF"), std::string::npos);
  // Each 'a' doubles the parse stacks (the 'b' or 'c' still owed): the cap turns that into an error.
  const Grammar ambiguous = Grammar::parse("root ::= \"a\" root \"b\" | \"a\" root \"c\" | \"\"");
  Matcher matcher(ambiguous);
  EXPECT_THROW(matcher.accept(std::string(20, 'a')), GrammarError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(GrammarMatcher, Json) {
  const Grammar json = Grammar::parse(read_grammar("json.gbnf"));
  EXPECT_TRUE(matches(json, "{}"));
  EXPECT_TRUE(matches(json, R"({"a": [1, 2.5, -3e12, true, null, "x\n\u00e9"], "b": {"c": "d"}})"));
  EXPECT_TRUE(matches(json, "{\"h\u00e9llo \xe4\xb8\x96\": \"\xF0\x9F\x98\x80\"} "));
  EXPECT_FALSE(matches(json, "{"));
  EXPECT_FALSE(matches(json, "[]"));  // root is an object
  EXPECT_FALSE(matches(json, R"({"a": 01})"));
  EXPECT_FALSE(matches(json, R"({"a" 1})"));
  EXPECT_FALSE(matches(json, "{\"a\": \"\x01\"}"));
  EXPECT_FALSE(matches(json, R"({"a": "\x"})"));
  EXPECT_FALSE(matches(json, "{\"\xFF\": 1}"));  // not UTF-8
}

TEST(GrammarMatcher, Arithmetic) {
  const Grammar arithmetic = Grammar::parse(read_grammar("arithmetic.gbnf"));
  EXPECT_TRUE(matches(arithmetic, "1+2=3\n"));
  EXPECT_TRUE(matches(arithmetic, "(a*b)/c_1=x\n2=2\n"));
  EXPECT_FALSE(matches(arithmetic, "1+2=3"));
  EXPECT_FALSE(matches(arithmetic, "1++2=3\n"));
  EXPECT_FALSE(matches(arithmetic, "A=1\n"));
}

TEST(GrammarMatcher, RepetitionBoundsAndClasses) {
  const Grammar bounded = Grammar::parse("root ::= \"a\"{2,4} \"b\"{3} \"c\"{1,} [x-z]?");
  EXPECT_FALSE(matches(bounded, "abbbc"));
  EXPECT_TRUE(matches(bounded, "aabbbc"));
  EXPECT_TRUE(matches(bounded, "aaaabbbccccy"));
  EXPECT_FALSE(matches(bounded, "aaaaabbbc"));
  EXPECT_FALSE(matches(bounded, "aabbc"));
  EXPECT_FALSE(matches(bounded, "aabbbbc"));
  EXPECT_FALSE(matches(bounded, "aabbb"));
  EXPECT_FALSE(matches(bounded, "aabbbcxy"));

  const Grammar classes = Grammar::parse("root ::= [^a-c\\]] [\\x41-\\x43\\u00e9] . [ぁ-ゟ]+ # comment");
  EXPECT_TRUE(matches(classes, "dA\xE2\x82\xAC" "ぁゟ"));
  EXPECT_TRUE(matches(classes, "z\u00e9xあ"));
  EXPECT_FALSE(matches(classes, "bA\xE2\x82\xAC" "ぁ"));
  EXPECT_FALSE(matches(classes, "]Axあ"));
  EXPECT_FALSE(matches(classes, "dDxあ"));
  EXPECT_FALSE(matches(classes, "dAxア"));

  // A character split across steps: the prefix is kept only while some character with it could match.
  Matcher japanese(Grammar::parse(read_grammar("japanese.gbnf")));
  EXPECT_TRUE(japanese.accept("\xE3"));
  EXPECT_TRUE(japanese.accept("\x81"));
  EXPECT_FALSE(japanese.can_end());
  EXPECT_TRUE(japanese.accept("\x82"));  // あ
  EXPECT_TRUE(japanese.can_end());
  EXPECT_FALSE(japanese.accept("\xC3\xA9"));  // é is no Japanese character
  EXPECT_FALSE(japanese.accept("\xF0"));      // nor anything from the 4-byte planes
  EXPECT_FALSE(japanese.accept("\xE0\x80")); // an overlong form
}

TEST(GrammarMatcher, MustEndWhenNothingMayFollow) {
  Matcher matcher(Grammar::parse("root ::= \"ab\" \"c\"?"));
  EXPECT_TRUE(matcher.accept("ab"));
  EXPECT_TRUE(matcher.can_end());
  EXPECT_FALSE(matcher.must_end());
  EXPECT_TRUE(matcher.accept("c"));
  EXPECT_TRUE(matcher.must_end());
}

// An independent checker for arithmetic.gbnf's language: lines of `expr "=" ws term "\n"`.
class ArithmeticChecker {
 public:
  explicit ArithmeticChecker(std::string_view text) : text_(text) {}
  // Whether the whole text is one or more lines of the language.
  bool valid() {
    std::size_t lines = 0;
    while (pos_ < text_.size()) {
      if (!expr() || !literal('=')) return false;
      ws();
      // The line's "\n" follows the term's ws, which may take newlines too: it is the last of what ws took.
      if (!term() || text_[pos_ - 1] != '\n') return false;
      ++lines;
    }
    return lines > 0;
  }

 private:
  bool literal(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
    return false;
  }
  void ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n')) ++pos_;
  }
  bool expr() {
    if (!term()) return false;
    while (pos_ < text_.size() && std::string_view("-+*/").find(text_[pos_]) != std::string_view::npos) {
      ++pos_;
      if (!term()) return false;
    }
    return true;
  }
  bool term() {
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c >= 'a' && c <= 'z') {
      while (pos_ < text_.size() && ((text_[pos_] >= 'a' && text_[pos_] <= 'z') || std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    } else if (c == '(') {
      ++pos_;
      ws();
      if (!expr() || !literal(')')) return false;
    } else {
      return false;
    }
    ws();
    return true;
  }
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Whether `text` is JSON or a prefix of it, by nlohmann::json: a prefix fails only at its very end.
struct PrefixSax : nlohmann::json_sax<nlohmann::json> {
  std::size_t error_position = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  std::string message;
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& error) override {
    error_position = position;
    message = error.what();
    return false;
  }
};

bool json_prefix(const std::string& text) {
  PrefixSax sax;
  if (nlohmann::json::sax_parse(text, &sax)) return true;
  if (sax.error_position < text.size()) ADD_FAILURE() << sax.message;
  return sax.error_position >= text.size();
}

class GrammarSampling : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_gguf(
        gguf::File::open(test::shared_dir() / "vocab" / "ggml-vocab-llama-bpe.gguf")));
    vocabulary_ = Vocabulary::from_tokenizer(*tokenizer_);
  }
  static void TearDownTestSuite() {
    vocabulary_.reset();
    tokenizer_.reset();
  }

  // The brute-force mask: each token's piece tried against the matcher on its own.
  static void expect_brute_force_mask(const TokenConstraint& constraint) {
    const TokenMask& mask = constraint.allowed();
    const Matcher& matcher = constraint.matcher();
    for (std::size_t id = 0; id < vocabulary_->size(); ++id) {
      const auto token = static_cast<TokenId>(id);
      bool allowed = false;
      if (vocabulary_->is_end_of_generation(token)) {
        allowed = matcher.can_end();
      } else if (!vocabulary_->piece(token).empty() && !matcher.must_end()) {
        Matcher copy = matcher;
        allowed = copy.accept(vocabulary_->piece(token));
      }
      ASSERT_EQ(mask_allows(mask, token), allowed) << "token " << id << " '" << vocabulary_->piece(token) << "'";
    }
  }

  // Samples up to `max_tokens` under the grammar from seeded random logits, nudged by `bonus` per token.
  static std::pair<std::string, bool> generate(const Grammar& grammar, std::uint64_t seed, std::size_t max_tokens,
                                               const std::function<float(std::string_view)>& bonus,
                                               std::size_t brute_force_checks) {
    sampling::SamplingParams params;
    params.seed = seed;
    params.top_k = 0;
    params.top_p = 1.0f;
    params.min_p = 0.0f;
    params.temperature = 1.0f;
    sampling::Sampler sampler(params);
    sampler.set_grammar(TokenConstraint(grammar, vocabulary_));
    std::mt19937_64 random(seed);
    std::normal_distribution<float> noise(0.0f, 2.0f);
    std::vector<float> logits(vocabulary_->size());
    std::string text;
    for (std::size_t step = 0; step < max_tokens; ++step) {
      if (step < brute_force_checks) expect_brute_force_mask(*sampler.grammar());
      for (std::size_t id = 0; id < logits.size(); ++id) {
        logits[id] = noise(random) + bonus(vocabulary_->piece(static_cast<TokenId>(id)));
      }
      const TokenId token = sampler.sample(logits);
      if (vocabulary_->is_end_of_generation(token)) {
        EXPECT_TRUE(sampler.grammar()->matcher().can_end());
        return {text, true};
      }
      sampler.accept(token);
      text += vocabulary_->piece(token);
    }
    return {text, false};
  }

  static inline std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  static inline std::shared_ptr<const Vocabulary> vocabulary_;
};

TEST_F(GrammarSampling, JsonStaysJson) {
  const Grammar json = Grammar::parse(read_grammar("json.gbnf"));
  const auto closing = [](std::string_view piece) {
    return piece.find_first_of("}]\"") != std::string_view::npos ? 4.0f : 0.0f;
  };
  std::size_t ended = 0;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    const auto [text, finished] = generate(json, seed, 150, closing, seed == 1 ? 3 : 0);
    EXPECT_TRUE(json_prefix(text)) << text;
    if (finished) {
      ++ended;
      EXPECT_TRUE(nlohmann::json::accept(text)) << text;
    }
  }
  EXPECT_GT(ended, 0u);
}

TEST_F(GrammarSampling, ArithmeticStaysArithmetic) {
  const Grammar arithmetic = Grammar::parse(read_grammar("arithmetic.gbnf"));
  // Ending (the end-of-generation tokens show no text), '=' and newlines favoured, so that lines close.
  const auto short_lines = [](std::string_view piece) {
    return piece.empty() ? 12.0f : piece.find_first_of("=\n") != std::string_view::npos ? 4.0f : 0.0f;
  };
  std::size_t ended = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(seed);
    const auto [text, finished] = generate(arithmetic, seed, 80, short_lines, seed == 1 ? 2 : 0);
    if (!finished) continue;
    ++ended;
    EXPECT_TRUE(ArithmeticChecker(text).valid()) << text;
  }
  EXPECT_GT(ended, 0u);
}

// allowed() (the fast walks, whatever shortcuts they take) against reference_allowed() (the plain trie walk
// stepping the Matcher) on states reached by drawing allowed tokens at random, in every corpus grammar and in
// JSON-schema grammars.
TEST_F(GrammarSampling, FastMaskEqualsTheReferenceOnRandomStates) {
  std::vector<std::pair<std::string, Grammar>> grammars;
  for (const auto& entry : std::filesystem::directory_iterator(HEARTH_GRAMMARS_DIR)) {
    if (entry.path().extension() != ".gbnf") continue;
    grammars.emplace_back(entry.path().filename().string(), Grammar::parse(read_grammar(entry.path().filename().string())));
  }
  std::sort(grammars.begin(), grammars.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string schema = R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 12}, "tags": {"type": "array", "items": {"type": "string"}},
      "items": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer", "minimum": 1}, "price": {"type": "number"}, "kind": {"enum": ["a", "bc"]}},
        "required": ["id"]}}},
      "required": ["name", "items"]})";
  grammars.emplace_back("schema, flexible", json_schema_grammar(schema));
  grammars.emplace_back("schema, compact", json_schema_grammar(schema, {.whitespace = JsonWhitespace::compact}));
  grammars.emplace_back("json_object", json_object_grammar());
  std::size_t states = 0;
  for (const auto& [name, grammar] : grammars) {
    for (std::uint64_t seed = 1; seed <= 2; ++seed) {
      SCOPED_TRACE(name + ", seed " + std::to_string(seed));
      std::mt19937_64 random(seed);
      TokenConstraint constraint(grammar, vocabulary_);
      std::string text;
      for (std::size_t step = 0; step < 12; ++step) {
        const TokenMask& mask = constraint.allowed();
        const TokenMask reference = constraint.reference_allowed();
        ++states;
        ASSERT_EQ(mask, reference) << "after '" << text << "'";
        std::vector<TokenId> choices;
        for (std::size_t id = 0; id < vocabulary_->size(); ++id) {
          const auto token = static_cast<TokenId>(id);
          if (mask_allows(mask, token) && !vocabulary_->is_end_of_generation(token)) choices.push_back(token);
        }
        if (choices.empty()) break;
        // Short tokens half the time, so that walks stop inside literals and numbers, not only between values.
        std::vector<TokenId> short_choices;
        for (const TokenId token : choices) {
          if (vocabulary_->piece(token).size() <= 2) short_choices.push_back(token);
        }
        const auto& pool = random() % 2 == 0 && !short_choices.empty() ? short_choices : choices;
        const TokenId token = pool[random() % pool.size()];
        constraint.accept(token);
        text += vocabulary_->piece(token);
      }
    }
  }
  EXPECT_GT(states, 150u);
}

// States inside loops over large character sets, where allowed() takes its tables: a string of json.gbnf, a
// bounded string (the chain of states runs out), a loop of period two, and a character begun (no table).
TEST_F(GrammarSampling, FastMaskEqualsTheReferenceInsideCharacterLoops) {
  const std::vector<std::pair<Grammar, std::string>> cases = {
      {Grammar::parse(read_grammar("json.gbnf")), "{\"a\": \"xy"},
      {Grammar::parse(read_grammar("json.gbnf")), "{\"a\": [\"x\", \""},
      {json_schema_grammar(R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}})"), "{\"name\": \"a"},
      {Grammar::parse("root ::= ([^.] [^.])* \".\""), "ab"},
      {Grammar::parse("root ::= ([^.] [^.])* \".\""), "abc"},
      {Grammar::parse(read_grammar("json.gbnf")), "{\"a\": \"\xE4"},
  };
  for (const auto& [grammar, prefix] : cases) {
    SCOPED_TRACE(prefix);
    TokenConstraint constraint(grammar, vocabulary_);
    // The text up to a lone lead byte by the tokenizer, the byte by the token that is only it.
    const std::size_t lead = prefix.find('\xE4');
    for (const TokenId token : tokenizer_->tokenize(prefix.substr(0, lead), false, false)) constraint.accept(token);
    if (lead != std::string::npos) {
      TokenId lone = -1;
      for (std::size_t id = 0; id < vocabulary_->size() && lone < 0; ++id) {
        if (vocabulary_->piece(static_cast<TokenId>(id)) == "\xE4") lone = static_cast<TokenId>(id);
      }
      ASSERT_GE(lone, 0);
      constraint.accept(lone);
      EXPECT_NE(constraint.matcher().state().continuation_bytes_left, 0);
    }
    EXPECT_EQ(constraint.allowed(), constraint.reference_allowed());
  }
}

TEST_F(GrammarSampling, EndOfGenerationOnlyWhereAccepted) {
  TokenConstraint constraint(Grammar::parse("root ::= \"ab\" \"c\"?"), vocabulary_);
  const TokenId eos = tokenizer_->eos();
  EXPECT_FALSE(mask_allows(constraint.allowed(), eos));
  EXPECT_THROW(constraint.accept(eos), GrammarError);
  constraint.accept(tokenizer_->tokenize("ab", false, false).front());
  EXPECT_TRUE(mask_allows(constraint.allowed(), eos));
  expect_brute_force_mask(constraint);
  constraint.accept(tokenizer_->tokenize("c", false, false).front());
  // Nothing may follow: ending is the only choice.
  const TokenMask& mask = constraint.allowed();
  for (std::size_t id = 0; id < vocabulary_->size(); ++id) {
    EXPECT_EQ(mask_allows(mask, static_cast<TokenId>(id)), vocabulary_->is_end_of_generation(static_cast<TokenId>(id)));
  }
}

// With control tokens as their text, a grammar's marker can be the one token the model knows it by; without, only
// ordinary tokens spelling it out. End-of-generation tokens stay out of the text either way.
TEST_F(GrammarSampling, ControlTokensStandForTheirTextWhenShown) {
  const auto with_special = Vocabulary::from_tokenizer(*tokenizer_, /*show_special=*/true);
  const std::vector<int32_t> tag = tokenizer_->tokenize("<|start_header_id|>", false, true);
  ASSERT_EQ(tag.size(), 1u);
  const Grammar grammar = Grammar::parse(R"(root ::= "<|start_header_id|>" [a-z]+)");
  EXPECT_TRUE(mask_allows(TokenConstraint(grammar, with_special).allowed(), tag[0]));
  EXPECT_FALSE(mask_allows(TokenConstraint(grammar, vocabulary_).allowed(), tag[0]));
  TokenConstraint constraint(grammar, with_special);
  constraint.accept(tag[0]);
  EXPECT_TRUE(constraint.matcher().state() != TokenConstraint(grammar, with_special).matcher().state());
  // "<|eot_id|>" (end of generation) is never text, even where the grammar would take its characters.
  const TokenConstraint any_text(Grammar::parse(R"(root ::= [^\x00]*)"), with_special);
  const int32_t eot = tokenizer_->tokenize("<|eot_id|>", false, true).front();
  ASSERT_TRUE(with_special->is_end_of_generation(eot));
  EXPECT_TRUE(mask_allows(any_text.allowed(), eot));  // as the end, which the grammar accepts here
  TokenConstraint closed(Grammar::parse(R"(root ::= "<" [^\x00]+)"), with_special);
  EXPECT_FALSE(mask_allows(closed.allowed(), eot));  // the text "<|eot_id|>" would fit, the end does not
}

}  // namespace
}  // namespace hearth::grammar
