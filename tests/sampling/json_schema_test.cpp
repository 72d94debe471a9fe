// JSON Schema to grammar: what each keyword's grammar accepts and refuses on handwritten strings (integer ranges
// exhaustively), the errors for what is not supported, and random walks through the grammars that must parse as
// JSON. The validation of sampled outputs by a real validator over a corpus of schemas is json_schema_corpus_test.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hearth/json_schema.h"
#include "support/grammar_walk.h"

namespace hearth::grammar {
namespace {

bool matches(const Grammar& grammar, std::string_view text) {
  Matcher matcher(grammar);
  return matcher.accept(text) && matcher.can_end();
}

Grammar compact(std::string_view schema) { return json_schema_grammar(schema, {.whitespace = JsonWhitespace::compact}); }

std::string pointer_of_error(std::string_view schema) {
  try {
    json_schema_grammar(schema);
  } catch (const JsonSchemaError& e) {
    return e.pointer();
  }
  return "(no error)";
}

TEST(JsonSchema, IntegerRangesAcceptExactlyTheirIntegers) {
  std::mt19937_64 random(7);
  const std::vector<std::pair<std::int64_t, std::int64_t>> fixed = {
      {0, 0}, {0, 9}, {1, 10}, {-1, 1}, {-99, -10}, {7, 1234}, {-4321, 987}, {100, 199}, {99, 100}, {-10, -10}, {19, 91}};
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges = fixed;
  for (int i = 0; i < 40; ++i) {
    std::int64_t lo = static_cast<std::int64_t>(random() % 20001) - 10000;
    std::int64_t hi = lo + static_cast<std::int64_t>(random() % 3000);
    ranges.emplace_back(lo, hi);
  }
  for (const auto& [lo, hi] : ranges) {
    const Grammar grammar = compact(nlohmann::json{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}}.dump());
    for (std::int64_t x = lo - 120; x <= hi + 120; ++x) {
      ASSERT_EQ(matches(grammar, std::to_string(x)), lo <= x && x <= hi) << x << " in [" << lo << ", " << hi << "]";
    }
    EXPECT_FALSE(matches(grammar, "0" + std::to_string(std::abs(lo) + 1)));  // no leading zeros
    EXPECT_FALSE(matches(grammar, "-0"));
  }
  // Open ends and exclusive bounds (both drafts' spellings); non-integral bounds round inwards.
  const Grammar at_least = compact(R"({"type": "integer", "minimum": 18})");
  EXPECT_TRUE(matches(at_least, "18"));
  EXPECT_TRUE(matches(at_least, "123456789012"));
  EXPECT_FALSE(matches(at_least, "17"));
  EXPECT_FALSE(matches(at_least, "-20"));
  const Grammar below = compact(R"({"type": "integer", "exclusiveMaximum": 0})");
  EXPECT_TRUE(matches(below, "-1"));
  EXPECT_TRUE(matches(below, "-987654"));
  EXPECT_FALSE(matches(below, "0"));
  const Grammar draft4 = compact(R"({"type": "integer", "minimum": 5, "exclusiveMinimum": true, "maximum": 7.5})");
  EXPECT_FALSE(matches(draft4, "5"));
  EXPECT_TRUE(matches(draft4, "6"));
  EXPECT_TRUE(matches(draft4, "7"));
  EXPECT_FALSE(matches(draft4, "8"));
}

TEST(JsonSchema, NumbersWithBoundsFromZero) {
  const Grammar unit = compact(R"({"type": "number", "minimum": 0, "maximum": 1})");
  for (const char* ok : {"0", "0.5", "0.999", "1", "1.0", "1.000"}) EXPECT_TRUE(matches(unit, ok)) << ok;
  for (const char* bad : {"1.5", "1.01", "-0.5", "2", "1e1", "01"}) EXPECT_FALSE(matches(unit, bad)) << bad;
  const Grammar any = compact(R"({"type": "number"})");
  for (const char* ok : {"0", "-1.5", "3e10", "2.5E-3", "-0"}) EXPECT_TRUE(matches(any, ok)) << ok;
  for (const char* bad : {"+1", ".5", "1.", "01", "NaN", "1e"}) EXPECT_FALSE(matches(any, bad)) << bad;
}

TEST(JsonSchema, ObjectsKeepOrderRequiredAndOptional) {
  const Grammar grammar = compact(R"({"type": "object", "properties": {
      "id": {"type": "integer"}, "name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
      "ok": {"type": "boolean"}}, "required": ["name", "ok"]})");
  for (const char* ok : {R"({"name":"x","ok":true})", R"({"id":1,"name":"x","ok":false})",
                         R"({"id":1,"name":"x","tags":["a","b"],"ok":true})", R"({"name":"","tags":[],"ok":true})"}) {
    EXPECT_TRUE(matches(grammar, ok)) << ok;
  }
  for (const char* bad : {R"({"ok":true})", R"({"name":"x"})", R"({"ok":true,"name":"x"})", R"({"name":"x","ok":true,"id":1})",
                          R"({"name":"x","ok":true,"extra":1})", R"({})", R"({"name":"x",,"ok":true})"}) {
    EXPECT_FALSE(matches(grammar, bad)) << bad;
  }
  const Grammar all_optional = compact(R"({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})");
  for (const char* ok : {"{}", R"({"a":1})", R"({"b":2})", R"({"a":1,"b":2})"}) EXPECT_TRUE(matches(all_optional, ok)) << ok;
  EXPECT_FALSE(matches(all_optional, R"({"b":2,"a":1})"));
  EXPECT_FALSE(matches(all_optional, R"({,"a":1})"));
  // A required name with no schema of its own takes any value.
  const Grammar required_only = compact(R"({"type": "object", "required": ["x"]})");
  EXPECT_TRUE(matches(required_only, R"({"x":[1,{"y":null}]})"));
  EXPECT_FALSE(matches(required_only, "{}"));
  // {"type": "object"} alone: any object.
  EXPECT_TRUE(matches(compact(R"({"type": "object"})"), R"({"k":{"n":[1,2.5,"s",true,null]},"k2":"v"})"));
}

TEST(JsonSchema, AdditionalPropertiesNeverSpellADeclaredName) {
  const Grammar grammar = compact(R"({"properties": {"ab": {"type": "integer"}, "a": {"type": "integer"}},
                                      "additionalProperties": {"type": "integer"}})");
  for (const char* ok : {R"({"ab":1,"x":2})", R"({"abc":3})", R"({"b":1,"ba":2})", R"({"a":1,"":5})", "{}"}) {
    EXPECT_TRUE(matches(grammar, ok)) << ok;
  }
  for (const char* bad : {R"({"x":1,"ab":2})", R"({"ab":1,"ab":2})", R"({"ab":1,"a":2,"a":3})", R"({"a\u0062":1})",
                          R"({"x":"not an integer"})"}) {
    EXPECT_FALSE(matches(grammar, bad)) << bad;
  }
}

TEST(JsonSchema, StringLengthsFormatsAndPatterns) {
  const Grammar lengths = compact(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  for (const char* ok : {R"("ab")", R"("é€x")", R"("\n1")", R"("\u00e9z")"}) EXPECT_TRUE(matches(lengths, ok)) << ok;
  // A surrogate pair in escapes would be one character written as two: never generated.
  for (const char* bad : {R"("a")", R"("abcd")", R"("\ud83d\ude00")", R"("ab)"}) EXPECT_FALSE(matches(lengths, bad)) << bad;

  const Grammar date = compact(R"({"type": "string", "format": "date"})");
  for (const char* ok : {R"("2024-02-28")", R"("1999-12-31")", R"("2000-04-30")"}) EXPECT_TRUE(matches(date, ok)) << ok;
  for (const char* bad : {R"("2024-02-30")", R"("2024-04-31")", R"("2024-13-01")", R"("0000-01-01")", R"("2024-1-01")"}) {
    EXPECT_FALSE(matches(date, bad)) << bad;
  }
  EXPECT_TRUE(matches(compact(R"({"format": "date-time"})"), R"("2026-12-03T18:22:06.5+01:00")"));
  EXPECT_FALSE(matches(compact(R"({"format": "date-time"})"), R"("2026-12-03T24:00:00Z")"));
  EXPECT_TRUE(matches(compact(R"({"format": "uuid"})"), R"("123e4567-e89b-12d3-a456-426614174000")"));
  EXPECT_TRUE(matches(compact(R"({"format": "email"})"), R"("ada.lovelace@example.org")"));

  const Grammar code = compact(R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"})");
  EXPECT_TRUE(matches(code, R"("AB-123")"));
  for (const char* bad : {R"("AB-12")", R"("ab-123")", R"("AB-1234")", R"("xAB-123")"}) EXPECT_FALSE(matches(code, bad)) << bad;
  const Grammar alternation = compact(R"({"pattern": "^(foo|ba[rz])?(\\.x)+$"})");
  for (const char* ok : {R"(".x")", R"("foo.x.x")", R"("baz.x")"}) EXPECT_TRUE(matches(alternation, ok)) << ok;
  for (const char* bad : {R"("foo")", R"("bax.x")", R"("foo.y")"}) EXPECT_FALSE(matches(alternation, bad)) << bad;
  // Characters JSON escapes: a quote, a backslash, a newline in the pattern are written escaped in the output.
  const Grammar quoted = compact(R"({"pattern": "^\"[^\"\\\\]*\"\\n$"})");
  EXPECT_TRUE(matches(quoted, R"("\"hi\"\n")"));
  EXPECT_FALSE(matches(quoted, "\"\"hi\"\n\""));
  const Grammar negated = compact(R"({"pattern": "^[^a-c]+$"})");
  EXPECT_TRUE(matches(negated, R"("xyz€")"));
  EXPECT_FALSE(matches(negated, R"("xaz")"));
}

TEST(JsonSchema, ArraysTuplesAndCounts) {
  const Grammar counted = compact(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3})");
  for (const char* ok : {"[1,2]", "[1,2,3]"}) EXPECT_TRUE(matches(counted, ok)) << ok;
  for (const char* bad : {"[]", "[1]", "[1,2,3,4]", "[1,\"a\"]"}) EXPECT_FALSE(matches(counted, bad)) << bad;
  const Grammar tuple = compact(R"({"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": false, "minItems": 1})");
  for (const char* ok : {R"(["a"])", R"(["a",1])"}) EXPECT_TRUE(matches(tuple, ok)) << ok;
  for (const char* bad : {"[]", R"([1])", R"(["a",1,2])"}) EXPECT_FALSE(matches(tuple, bad)) << bad;
  const Grammar open_tuple = compact(R"({"prefixItems": [{"const": "head"}], "items": {"type": "boolean"}})");
  for (const char* ok : {"[]", R"(["head"])", R"(["head",true,false])"}) EXPECT_TRUE(matches(open_tuple, ok)) << ok;
  EXPECT_FALSE(matches(open_tuple, "[true]"));
  const Grammar old_tuple = compact(R"({"items": [{"type": "null"}], "additionalItems": {"type": "integer"}})");
  EXPECT_TRUE(matches(old_tuple, "[null,1,2]"));
  EXPECT_FALSE(matches(old_tuple, "[1]"));
}

TEST(JsonSchema, ReferencesIncludingRecursionAndArrayPointers) {
  const Grammar tree = compact(R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
      "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
      "required": ["value"]}}})");
  EXPECT_TRUE(matches(tree, R"({"value":1,"children":[{"value":2},{"value":3,"children":[{"value":4}]}]})"));
  EXPECT_FALSE(matches(tree, R"({"value":1,"children":[{"children":[]}]})"));
  const Grammar array_ref = compact(R"({"prefixItems": [{"type": "integer"}, {"$ref": "#/prefixItems/0"}], "items": false})");
  EXPECT_TRUE(matches(array_ref, "[1,2]"));
  EXPECT_FALSE(matches(array_ref, R"([1,"2"])"));
  const Grammar root_recursion = compact(R"({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]}})");
  EXPECT_TRUE(matches(root_recursion, "[1,[2,[3,[]]]]"));
  const Grammar escaped = compact(R"({"$defs": {"a/b": {"type": "null"}}, "$ref": "#/$defs/a~1b"})");
  EXPECT_TRUE(matches(escaped, "null"));
}

TEST(JsonSchema, CombinationsEnumsAndNullable) {
  const Grammar either = compact(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})");
  EXPECT_TRUE(matches(either, "12"));
  EXPECT_TRUE(matches(either, R"("a")"));
  EXPECT_FALSE(matches(either, R"("ab")"));
  const Grammar choices = compact(R"({"enum": ["red", 2, null, {"k": [1]}]})");
  for (const char* ok : {R"("red")", "2", "null", R"({"k":[1]})"}) EXPECT_TRUE(matches(choices, ok)) << ok;
  EXPECT_FALSE(matches(choices, R"("blue")"));
  EXPECT_TRUE(matches(compact(R"({"const": "x\"y"})"), R"("x\"y")"));
  const Grammar nullable = compact(R"({"type": ["string", "null"]})");
  EXPECT_TRUE(matches(nullable, "null"));
  EXPECT_TRUE(matches(nullable, R"("s")"));
  EXPECT_FALSE(matches(nullable, "1"));
  EXPECT_TRUE(matches(compact(R"({"type": "integer", "nullable": true})"), "null"));
  const Grammar merged = compact(R"({"allOf": [{"$ref": "#/$defs/base"}, {"properties": {"b": {"type": "integer"}}, "required": ["b"]}],
      "$defs": {"base": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}})");
  EXPECT_TRUE(matches(merged, R"({"a":"x","b":1})"));
  EXPECT_FALSE(matches(merged, R"({"b":1})"));
  EXPECT_TRUE(matches(compact("{}"), R"([{"any":"thing"}])"));
  EXPECT_TRUE(matches(compact("true"), "false"));
}

TEST(JsonSchema, WhitespaceIsAnOption) {
  const char* schema = R"({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}, "required": ["a"]})";
  const Grammar tight = compact(schema);
  const Grammar loose = json_schema_grammar(schema);
  EXPECT_TRUE(matches(tight, R"({"a":[1,2]})"));
  EXPECT_FALSE(matches(tight, R"({ "a": [1, 2] })"));
  EXPECT_TRUE(matches(loose, R"({"a":[1,2]})"));
  EXPECT_TRUE(matches(loose, "{\n  \"a\": [\n    1,\n    2\n  ]\n}"));
  EXPECT_FALSE(matches(loose, std::string("{") + std::string(30, ' ') + R"("a":[]})"));  // bounded: no endless spaces
}

TEST(JsonSchema, UnsupportedKeywordsAreErrorsNamingWhere) {
  EXPECT_EQ(pointer_of_error(R"({"not": {}})"), "/not");
  EXPECT_EQ(pointer_of_error(R"({"properties": {"a/b": {"type": "array", "uniqueItems": true}}})"), "/properties/a~1b/uniqueItems");
  EXPECT_EQ(pointer_of_error(R"({"$defs": {"x": {"type": "string", "pattern": "(?=a)b"}}, "$ref": "#/$defs/x"})"), "/$defs/x/pattern");
  EXPECT_EQ(pointer_of_error(R"({"type": "string", "format": "hostname"})"), "/format");
  EXPECT_EQ(pointer_of_error(R"({"$ref": "https://example.com/schema.json"})"), "/$ref");
  EXPECT_EQ(pointer_of_error(R"({"$ref": "#/$defs/missing"})"), "/$ref");
  EXPECT_EQ(pointer_of_error(R"({"type": "number", "minimum": -1.5})"), "");
  EXPECT_EQ(pointer_of_error(R"({"items": {"type": "wat"}})"), "/items/type");
  EXPECT_EQ(pointer_of_error(R"({"type": "array", "items": false, "minItems": 1})"), "");
  EXPECT_EQ(pointer_of_error(R"({"type": "string", "minLength": 5, "maxLength": 2})"), "");
  EXPECT_EQ(pointer_of_error("false"), "");
  EXPECT_EQ(pointer_of_error(R"({"$ref": "#"})"), "");  // a cycle that consumes nothing
  EXPECT_EQ(pointer_of_error("{not json"), "");
  EXPECT_EQ(pointer_of_error(R"({"type": "string", "maxLength": 100000000})"), "/maxLength");
  EXPECT_EQ(pointer_of_error(R"({"type": "string", "nullable": "yes"})"), "/nullable");  // found by fuzz_json_schema
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += R"({"items": )";
  deep += "{}" + std::string(200, '}');
  EXPECT_EQ(pointer_of_error(deep).substr(0, 7), "/items/");
  try {
    json_schema_grammar(R"({"properties": {"a": {"contains": {}}}})");
    FAIL() << "no error";
  } catch (const JsonSchemaError& e) {
    EXPECT_NE(std::string(e.what()).find("'contains'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("#/properties/a/contains"), std::string::npos) << e.what();
  }
}

TEST(JsonSchema, RandomWalksParseAsJsonOfTheRightShape) {
  const char* schema = R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "email": {"type": "string", "format": "email"}, "scores": {"type": "array", "items": {"type": "number"}, "maxItems": 4},
      "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"pattern": "^[0-9]{5}$"}},
                  "required": ["zip"]}}, "required": ["name", "age"]})";
  for (const JsonWhitespace whitespace : {JsonWhitespace::compact, JsonWhitespace::flexible}) {
    const Grammar grammar = json_schema_grammar(schema, {.whitespace = whitespace});
    std::mt19937_64 random(whitespace == JsonWhitespace::compact ? 1 : 2);
    int finished = 0;
    for (int i = 0; i < 200; ++i) {
      const std::optional<std::string> text = test::random_sentence(grammar, random, 4000);
      if (!text) continue;
      ++finished;
      const nlohmann::json value = nlohmann::json::parse(*text);  // throws on anything but JSON
      ASSERT_TRUE(value.contains("name") && value.contains("age")) << *text;
      EXPECT_LE(value["age"].get<int>(), 150);
      EXPECT_GE(value["age"].get<int>(), 0);
      if (value.contains("address")) {
        EXPECT_EQ(value["address"]["zip"].get<std::string>().size(), 5u) << *text;
      }
    }
    EXPECT_GE(finished, 150);
  }
}

}  // namespace
}  // namespace hearth::grammar
