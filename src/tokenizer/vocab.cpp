#include "tokenizer/vocab.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "hearth/gguf.h"
#include "tokenizer/pretokenizer.h"

namespace hearth::tokenizer {

namespace {

const gguf::Value* find_typed(const gguf::File& file, std::string_view key, gguf::ValueType type) {
  const gguf::Value* value = file.find(key);
  if (value != nullptr && value->type() != type) {
    throw LoadError(fmt::format("{} must be {}, not {}", key, gguf::value_type_name(type),
                                gguf::value_type_name(value->type())));
  }
  return value;
}

const gguf::Value* find_array(const gguf::File& file, std::string_view key,
                              std::initializer_list<gguf::ValueType> element_types) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return nullptr;
  const bool ok = value->is_array() && std::find(element_types.begin(), element_types.end(),
                                                 value->element_type()) != element_types.end();
  if (!ok) {
    std::string expected;
    for (const auto type : element_types) {
      expected += expected.empty() ? "" : " or ";
      expected += gguf::value_type_name(type);
    }
    throw LoadError(fmt::format("{} must be an array of {}, not {}{}", key, expected,
                                value->is_array() ? "an array of " : "",
                                gguf::value_type_name(value->is_array() ? value->element_type() : value->type())));
  }
  return value;
}

void read_flag(const gguf::File& file, std::string_view key, bool& flag) {
  if (const gguf::Value* value = find_typed(file, key, gguf::ValueType::BOOL)) flag = value->as<bool>();
}

// Reads an id key; -1 means "none". Anything else outside the vocabulary is an error.
void read_id(const gguf::File& file, std::string_view key, size_t n_tokens, int32_t& id) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return;
  if (value->is_array() || !value->is_integer()) {
    throw LoadError(fmt::format("{} must be an integer, not {}", key, gguf::value_type_name(value->type())));
  }
  int64_t raw;
  try {
    raw = value->as_int();
  } catch (const std::exception&) {
    throw LoadError(fmt::format("{} is out of range", key));
  }
  if (raw == -1) {
    id = kNoToken;
    return;
  }
  if (raw < 0 || static_cast<uint64_t>(raw) >= n_tokens) {
    throw LoadError(fmt::format("{} = {} is outside the vocabulary of {} tokens", key, raw, n_tokens));
  }
  id = static_cast<int32_t>(raw);
}

// The texts by which the reference finds end-of-turn and fill-in-the-middle tokens the file does not name.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                          "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
                                          "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                          "<end_of_utterance>"};
constexpr std::string_view kFimTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
    "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
    "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>",
    "<|suffix|>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>",
    "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>",
    "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
// Tokens that end generation wherever they appear in a vocabulary.
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~["};

// The reference treats tokens it recognizes as end-of-turn, FIM or end-of-generation markers as control
// tokens whatever their type in the file (so they are hidden, and parsed only with parse_special).
void make_control(Vocab& vocab, int32_t id) { vocab.types[id] = TokenType::Control; }

// The first of `texts` the vocabulary has, made a control token.
template <size_t N>
int32_t detect(Vocab& vocab, const std::string_view (&texts)[N]) {
  for (const auto text : texts) {
    const int32_t id = vocab.find(text);
    if (id != kNoToken) {
      make_control(vocab, id);
      return id;
    }
  }
  return kNoToken;
}

void detect_special_tokens(Vocab& vocab) {
  if (vocab.eot == kNoToken) vocab.eot = detect(vocab, kEotTexts);
  if (vocab.eom == kNoToken) {
    const std::string_view eom[] = {"<|eom_id|>"};
    vocab.eom = detect(vocab, eom);
  }
  for (const auto text : kFimTexts) {
    if (const int32_t id = vocab.find(text); id != kNoToken) make_control(vocab, id);
  }
  if (vocab.fim_pad == kNoToken) vocab.fim_pad = detect(vocab, kFimPadTexts);
  if (vocab.fim_rep == kNoToken) vocab.fim_rep = detect(vocab, kFimRepTexts);
  if (vocab.fim_sep == kNoToken) vocab.fim_sep = detect(vocab, kFimSepTexts);

  std::vector<int32_t> eog;
  for (const int32_t id : {vocab.fim_pad, vocab.fim_rep, vocab.fim_sep, vocab.eos, vocab.eot, vocab.eom}) {
    if (id != kNoToken) eog.push_back(id);
  }
  for (const auto text : kEogTexts) {
    if (const int32_t id = vocab.find(text); id != kNoToken) {
      eog.push_back(id);
      make_control(vocab, id);
    }
  }
  // gpt-oss renders its message-structure tokens as text.
  for (const auto text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    if (const int32_t id = vocab.find(text); id != kNoToken) vocab.types[id] = TokenType::UserDefined;
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  auto in_eog = [&](std::string_view text) {
    const int32_t id = vocab.find(text);
    return id != kNoToken && std::binary_search(eog.begin(), eog.end(), id) ? id : kNoToken;
  };
  // Harmony-style vocabularies end a message with <|end|> but a turn with <|return|> or <|call|>.
  const int32_t end = in_eog("<|end|>");
  if (end != kNoToken && ((in_eog("<|return|>") != kNoToken && in_eog("<|call|>") != kNoToken) ||
                          (in_eog("<|calls|>") != kNoToken && in_eog("<|flush|>") != kNoToken))) {
    eog.erase(std::find(eog.begin(), eog.end(), end));
    vocab.types[end] = TokenType::UserDefined;
  }
  // Gemma 4 uses </s> as ordinary text.
  const int32_t end_s = in_eog("</s>");
  if (end_s != kNoToken && in_eog("<|tool_response>") != kNoToken) {
    eog.erase(std::find(eog.begin(), eog.end(), end_s));
    vocab.types[end_s] = TokenType::Normal;
  }
  vocab.eog = std::move(eog);
}

// Per-model whitespace stripping around special tokens, keyed by name as the reference does.
void set_strip_attributes(Vocab& vocab, const gguf::File& file) {
  vocab.strip_left.assign(vocab.size(), 0);
  vocab.strip_right.assign(vocab.size(), 0);
  const auto* name_value = find_typed(file, "general.name", gguf::ValueType::STRING);
  std::string name(name_value != nullptr ? name_value->string() : "");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto* arch_value = find_typed(file, "general.architecture", gguf::ValueType::STRING);
  const std::string_view arch = arch_value != nullptr ? arch_value->string() : "";
  const std::string_view pre = vocab.pre_tokenizer;
  auto contains = [](std::string_view haystack, std::initializer_list<std::string_view> needles) {
    return std::any_of(needles.begin(), needles.end(),
                       [&](std::string_view needle) { return haystack.find(needle) != std::string_view::npos; });
  };
  auto set = [&](std::vector<uint8_t>& side, std::string_view text, bool value) {
    if (const int32_t id = vocab.find(text); id != kNoToken) side[id] = value;
  };
  if (contains(pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) || contains(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
    set(vocab.strip_left, "<mask>", true);
  } else if (contains(name, {"phi-3", "phi3"})) {
    for (size_t id = 0; id < vocab.size(); ++id) {
      const TokenType type = vocab.types[id];
      if (type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown) {
        vocab.strip_right[id] = true;
      }
    }
    set(vocab.strip_right, "</s>", true);
    for (const auto text : {"<unk>", "<s>", "<|endoftext|>"}) set(vocab.strip_right, text, false);
  } else if (contains(name, {"modern-bert"})) {
    set(vocab.strip_left, "[MASK]", true);
  }
}

}  // namespace

int byte_token_value(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  const int high = hex(text[3]);
  const int low = hex(text[4]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

Vocab load_vocab(const gguf::File& file) {
  Vocab vocab;
  const gguf::Value* model = find_typed(file, "tokenizer.ggml.model", gguf::ValueType::STRING);
  if (model == nullptr) throw LoadError("tokenizer.ggml.model is missing: the file has no vocabulary");
  vocab.model = std::string(model->string());
  if (const auto* pre = find_typed(file, "tokenizer.ggml.pre", gguf::ValueType::STRING)) {
    vocab.pre_tokenizer = std::string(pre->string());
  }
  if (vocab.pre_tokenizer.empty()) vocab.pre_tokenizer = "default";

  const gguf::Value* tokens = find_array(file, "tokenizer.ggml.tokens", {gguf::ValueType::STRING});
  if (tokens == nullptr) throw LoadError("tokenizer.ggml.tokens is missing");
  const std::vector<std::string_view> token_texts = tokens->strings();
  const size_t n = token_texts.size();
  if (n == 0) throw LoadError("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw LoadError(fmt::format("tokenizer.ggml.tokens has {} entries, more than token ids can number", n));
  }

  // Family defaults, overridden below by whatever the file says.
  PreTokenizerTraits traits;
  if (vocab.model == "llama") {
    vocab.kind = Kind::SentencePiece;
    vocab.bos = 1;
    vocab.eos = 2;
    vocab.unk = 0;
    vocab.add_space_prefix = true;
    vocab.add_bos = true;
  } else if (vocab.model == "bert") {
    vocab.kind = Kind::WordPiece;
    vocab.bos = 101;
    vocab.unk = 100;
    vocab.sep = 102;
    vocab.pad = 0;
    vocab.mask = 103;
    vocab.add_bos = true;
  } else if (vocab.model == "gpt2") {
    vocab.kind = Kind::BytePair;
    traits = PreTokenizer::create(vocab.pre_tokenizer).traits();
    vocab.bos = traits.no_bos ? kNoToken : 11;
    vocab.eos = 11;
    vocab.add_bos = traits.add_bos;
    vocab.ignore_merges = traits.ignore_merges;
  } else {
    throw LoadError(fmt::format("tokenizer.ggml.model: unsupported tokenizer '{}' (supported: llama, gpt2, bert)",
                                vocab.model));
  }
  for (int32_t* id : {&vocab.bos, &vocab.eos, &vocab.unk, &vocab.sep, &vocab.pad, &vocab.mask}) {
    if (*id != kNoToken && static_cast<size_t>(*id) >= n) *id = kNoToken;  // a default the vocabulary lacks
  }

  vocab.texts.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string_view text = token_texts[i];
    // The reference names empty entries so that they stay distinct and unreachable from text.
    vocab.texts.push_back(text.empty() ? fmt::format("[EMPTY_{}]", i) : std::string(text));
    vocab.max_token_length = std::max(vocab.max_token_length, vocab.texts.back().size());
  }
  vocab.index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto [id, inserted] = vocab.index.insert(vocab.texts[i], static_cast<int32_t>(i));
    if (!inserted) {
      throw LoadError(fmt::format("tokenizer.ggml.tokens: '{}' appears twice (ids {} and {})", vocab.texts[i], *id, i));
    }
  }

  vocab.scores.assign(n, 0.0f);
  if (const auto* scores = find_array(file, "tokenizer.ggml.scores", {gguf::ValueType::FLOAT32, gguf::ValueType::INT32})) {
    if (scores->size() != n) {
      throw LoadError(fmt::format("tokenizer.ggml.scores has {} entries but there are {} tokens", scores->size(), n));
    }
    if (scores->element_type() == gguf::ValueType::FLOAT32) {
      vocab.scores = scores->as_vector<float>();
    } else {
      const std::vector<int32_t> integer_scores = scores->as_vector<int32_t>();
      std::copy(integer_scores.begin(), integer_scores.end(), vocab.scores.begin());
    }
  }

  vocab.types.assign(n, TokenType::Normal);
  if (const auto* types = find_array(file, "tokenizer.ggml.token_type", {gguf::ValueType::INT32})) {
    if (types->size() != n) {
      throw LoadError(fmt::format("tokenizer.ggml.token_type has {} entries but there are {} tokens", types->size(), n));
    }
    const std::vector<int32_t> type_values = types->as_vector<int32_t>();
    for (size_t i = 0; i < n; ++i) {
      const int32_t type = type_values[i];
      if (type < 0 || type > static_cast<int32_t>(TokenType::Byte)) {
        throw LoadError(fmt::format("tokenizer.ggml.token_type[{}] = {} is not a token type (0..6)", i, type));
      }
      vocab.types[i] = static_cast<TokenType>(type);
    }
  }

  read_id(file, "tokenizer.ggml.bos_token_id", n, vocab.bos);
  read_id(file, "tokenizer.ggml.eos_token_id", n, vocab.eos);
  read_id(file, "tokenizer.ggml.eot_token_id", n, vocab.eot);
  read_id(file, "tokenizer.ggml.eom_token_id", n, vocab.eom);
  read_id(file, "tokenizer.ggml.unknown_token_id", n, vocab.unk);
  read_id(file, "tokenizer.ggml.seperator_token_id", n, vocab.sep);
  read_id(file, "tokenizer.ggml.padding_token_id", n, vocab.pad);
  read_id(file, "tokenizer.ggml.mask_token_id", n, vocab.mask);
  read_id(file, "tokenizer.ggml.fim_pad_token_id", n, vocab.fim_pad);
  read_id(file, "tokenizer.ggml.fim_rep_token_id", n, vocab.fim_rep);
  read_id(file, "tokenizer.ggml.fim_sep_token_id", n, vocab.fim_sep);
  int32_t ignored = kNoToken;  // validated only: the tokenizer does not use these
  for (const auto key : {"tokenizer.ggml.cls_token_id", "tokenizer.ggml.fim_pre_token_id",
                         "tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.fim_mid_token_id"}) {
    read_id(file, key, n, ignored);
  }

  read_flag(file, "tokenizer.ggml.add_bos_token", vocab.add_bos);
  read_flag(file, "tokenizer.ggml.add_eos_token", vocab.add_eos);
  read_flag(file, "tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
  read_flag(file, "tokenizer.ggml.normalizer.lowercase", vocab.lowercase);
  vocab.strip_accents = vocab.lowercase;
  read_flag(file, "tokenizer.ggml.normalizer.strip_accents", vocab.strip_accents);
  if (vocab.kind == Kind::BytePair) vocab.add_space_prefix = false;  // no byte-level BPE adds one

  if (vocab.kind == Kind::WordPiece) {
    // BERT input is always framed as [CLS] text [SEP].
    if (vocab.bos == kNoToken) throw LoadError("a WordPiece vocabulary needs a CLS token (tokenizer.ggml.bos_token_id)");
    if (vocab.sep == kNoToken) throw LoadError("a WordPiece vocabulary needs tokenizer.ggml.seperator_token_id");
  }
  if (vocab.add_bos && vocab.bos == kNoToken) {
    throw LoadError("tokenizer.ggml.add_bos_token is set but the vocabulary has no BOS token");
  }
  if (vocab.add_eos && vocab.eos == kNoToken) {
    throw LoadError("tokenizer.ggml.add_eos_token is set but the vocabulary has no EOS token");
  }

  for (size_t i = 0; i < n; ++i) {
    if (vocab.types[i] == TokenType::Byte && byte_token_value(vocab.texts[i]) < 0) {
      throw LoadError(fmt::format("token {} has type BYTE but its text '{}' is not of the form <0xXX>", i,
                                  vocab.texts[i]));
    }
  }

  detect_special_tokens(vocab);
  set_strip_attributes(vocab, file);
  return vocab;
}

}  // namespace hearth::tokenizer
