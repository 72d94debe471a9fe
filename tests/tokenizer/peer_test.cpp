// Conformance with the peer (llama.cpp through node-llama-cpp, tools/peer/tokenize.mjs) on a few hundred
// generated texts: every shared vocabulary, the same vocabularies re-labelled with the pre-tokenizers that have
// no test vectors of their own, and special-token parsing. One node process answers every job.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"
#include "tokenizer/text_corpus.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

namespace fs = std::filesystem;

struct Job {
  std::string label;
  std::string base;  // shared vocabulary
  std::string pre;   // replacement tokenizer.ggml.pre, or "" to keep the file's
  std::vector<std::string> texts;
  std::vector<std::string> special_texts;  // tokenized with special-token parsing
  fs::path model;
  std::optional<Tokenizer> tokenizer;
  std::vector<std::vector<int32_t>> peer_ids;
  std::vector<std::vector<int32_t>> peer_special_ids;
  // When set, the texts we tokenize, with `texts` their reading by llama.cpp (broken UTF-8, which JSON cannot
  // carry to the peer, with U+FFFD where llama.cpp puts it).
  std::vector<std::string> broken_texts;
};

std::string run_command(const std::string& command, int& status) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string out;
  char buffer[65536];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe.get())) > 0;) out.append(buffer, n);
  status = pclose(pipe.release());
  return out;
}

// Texts with special-token spellings of `tokenizer` spliced in (some glued to words, some spaced).
std::vector<std::string> texts_with_specials(const Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  std::vector<std::string> specials;
  for (int32_t id = 0; id < static_cast<int32_t>(tokenizer.vocab_size()); ++id) {
    const TokenType type = tokenizer.token_type(id);
    if (type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown) {
      specials.emplace_back(tokenizer.token_text(id));
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& special = specials[(i * 7919) % specials.size()];
    const std::string& other = specials[(i * 104729 + 3) % specials.size()];
    switch (i % 4) {
      case 0: out.push_back(special + texts[i]); break;
      case 1: out.push_back(texts[i] + " " + special + " \n" + other); break;
      case 2: out.push_back(texts[i] + special + special + texts[(i + 1) % texts.size()]); break;
      default: out.push_back(" " + special + "  " + texts[i] + other); break;
    }
  }
  return out;
}

// Broken UTF-8 as llama.cpp reads it for byte-level BPE (unicode_cpts_from_utf8): a byte that does not start a
// complete sequence of the length its high bits announce becomes U+FFFD, and reading goes on at the next byte.
// Only for texts whose complete sequences are valid UTF-8 (no overlongs or surrogates, which llama.cpp decodes
// unchecked and JSON cannot carry).
std::string as_llama_cpp_reads_it(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const size_t length = lead < 0x80 ? 1 : (lead & 0x40) == 0 ? 0 : (lead & 0x20) == 0 ? 2 : (lead & 0x10) == 0 ? 3
                                                                     : (lead & 0x08) == 0 ? 4 : 0;
    bool complete = length > 0 && i + length <= text.size();
    for (size_t k = 1; complete && k < length; ++k) complete = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (complete) {
      out.append(text, i, length);
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

const std::vector<std::string>& broken_utf8_texts() {
  static const std::vector<std::string> texts = {
      "\xFF", "\x80", "a\x80z", "\xC3", "\xC3(", "\xE2\x82", "\xE2\x82(", "\xF0\x9F\xA6", "\xF0\x9F\xA6 z",
      "\xFE\xFF", "ok \xE2\x96 then \xE2\x96\x81", "caf\xE9 au lait", "\xE2\x82\xAC\xE2 100", "x\xF8\x88\x80y",
      "  \x80\x80  \xC3\xA9\xC3", "Hello\xFFworld \xF0\x9F\x98\x80\xF0"};
  return texts;
}

// GPT-2's vocabulary cut to its first `n_tokens` tokens (bytes first, then merge results in merge order)
// and the merges among them, labelled with pre-tokenizer `pre`: a real BPE vocabulary that both tokenizers
// load in a fraction of the time, for testing pre-tokenizers.
void write_gpt2_variant(const fs::path& path, const std::string& pre, size_t n_tokens) {
  const gguf::File base = gguf::File::open(test::vocab_path("gpt-2"));  // the writer's strings view its bytes
  const auto tokens = base.get_array<std::string_view>("tokenizer.ggml.tokens");
  const auto merges = base.get_array<std::string_view>("tokenizer.ggml.merges");
  std::vector<std::string> kept_tokens(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n_tokens));
  std::set<std::string_view> kept(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n_tokens));
  std::vector<std::string> kept_merges;
  for (const auto merge : merges) {
    const size_t space = merge.find(' ', 1);
    const std::string joined = std::string(merge.substr(0, space)) + std::string(merge.substr(space + 1));
    if (kept.count(merge.substr(0, space)) && kept.count(merge.substr(space + 1)) && kept.count(joined)) {
      kept_merges.emplace_back(merge);
    }
  }
  gguf::Writer writer;
  writer.copy_metadata(base);
  writer.set("tokenizer.ggml.pre", gguf::Value(pre));
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(kept_tokens));
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(std::vector<int32_t>(n_tokens, 1)));
  writer.set("tokenizer.ggml.merges", gguf::Value::array_of(kept_merges));
  writer.remove("tokenizer.ggml.bos_token_id");
  writer.remove("tokenizer.ggml.eos_token_id");
  writer.write(path);
}

// The vocabularies and texts to compare, in a scratch directory that goes away with it.
class Jobs {
 public:
  Jobs() : dir_(fs::temp_directory_path() / ("hearth-tokenizer-peer-" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
    const std::vector<std::string> texts = test::TextCorpus(20240611).texts(300);
    for (const auto* name : {"llama-spm", "llama-bpe", "qwen2", "phi-3", "bert-bge"}) add(name, name, "", texts, true);
    for (const auto* name : {"gpt-2", "deepseek-llm", "falcon"}) add(name, name, "", texts, false);
    // Pre-tokenizers without test vectors of their own, each on a cut-down GPT-2 vocabulary.
    for (const auto* pre : {"starcoder", "mpt", "refact", "command-r", "smollm", "default", "olmo", "poro-chat",
                            "viking", "chameleon", "dbrx", "smaug-bpe", "gpt-4o", "tekken", "chatglm-bpe",
                            "seed-coder", "bailingmoe", "exaone-moe", "minicpm5", "laguna", "qwen35",
                            "deepseek-v3", "llama3", "qwen2", "falcon", "deepseek-llm"}) {
      add(std::string(pre) + "@gpt-2", "gpt-2", pre, texts, false);
    }
    add("deepseek-coder", "deepseek-llm", "deepseek-coder", texts, false);
    // Broken UTF-8 (issue 19, finding 15): byte-level BPE reads it as llama.cpp does, and WordPiece drops what
    // llama.cpp drops (U+FFFD among them).
    for (const auto* name : {"llama-bpe", "qwen2", "gpt-2", "bert-bge"}) {
      std::vector<std::string> read;
      for (const std::string& text : broken_utf8_texts()) read.push_back(as_llama_cpp_reads_it(text));
      add(std::string("broken-utf8@") + name, name, "", read, false);
      jobs_.back().broken_texts = broken_utf8_texts();
    }
  }
  ~Jobs() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  std::vector<Job>& all() { return jobs_; }

  // Runs the peer on every job at once and stores its ids in the jobs.
  void run_peer() {
    const fs::path peer_dir = fs::path(HEARTH_SOURCE_DIR) / "tools" / "peer";
    if (!fs::exists(peer_dir / "node_modules" / "node-llama-cpp")) {
      throw std::runtime_error("the peer is not installed (tools/peer/node_modules/node-llama-cpp): run scripts/setup");
    }
    int status = 0;
    run_command("node --version", status);
    if (status != 0) throw std::runtime_error("node is not installed: the peer tests need it (scripts/setup)");

    nlohmann::json request;
    request["jobs"] = nlohmann::json::array();
    for (const auto& job : jobs_) {
      nlohmann::json entry = {{"model", job.model.string()}, {"texts", job.texts}};
      if (!job.special_texts.empty()) entry["special_texts"] = job.special_texts;
      request["jobs"].push_back(std::move(entry));
    }
    const fs::path request_path = dir_ / "jobs.json";
    std::ofstream(request_path) << request.dump();
    const std::string output = run_command(
        "node '" + (peer_dir / "tokenize.mjs").string() + "' --jobs '" + request_path.string() + "' 2>&1", status);
    const size_t start = output.find("{\"results\"");
    if (status != 0 || start == std::string::npos) {
      throw std::runtime_error("the peer failed (status " + std::to_string(status) + "): " + output.substr(0, 2000));
    }
    const auto response = nlohmann::json::parse(output.substr(start, output.find('\n', start) - start));
    for (size_t i = 0; i < jobs_.size(); ++i) {
      const auto& result = response["results"][i];
      jobs_[i].peer_ids = result["ids"].get<std::vector<std::vector<int32_t>>>();
      if (result.contains("special_ids")) {
        jobs_[i].peer_special_ids = result["special_ids"].get<std::vector<std::vector<int32_t>>>();
      }
    }
  }

 private:
  void add(const std::string& label, const std::string& base, const std::string& pre,
           const std::vector<std::string>& texts, bool specials) {
    Job job{label, base, pre, texts, {}, test::vocab_path(base), {}, {}, {}};
    if (!pre.empty()) {
      job.model = dir_ / (label + ".gguf");
      if (base == "gpt-2") {
        write_gpt2_variant(job.model, pre, 12000);
      } else {
        const gguf::File file = gguf::File::open(test::vocab_path(base));  // the writer's strings view its bytes
        gguf::Writer writer;
        writer.copy_metadata(file);
        writer.set("tokenizer.ggml.pre", gguf::Value(pre));
        writer.write(job.model);
      }
    }
    job.tokenizer = Tokenizer::from_gguf(gguf::File::open(job.model));
    if (specials) job.special_texts = texts_with_specials(*job.tokenizer, texts);
    jobs_.push_back(std::move(job));
  }

  fs::path dir_;
  std::vector<Job> jobs_;
};

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string out;
  for (const int32_t id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

// Compares our ids for `texts` with the peer's; reports the first few differences.
void expect_same_ids(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                     const std::vector<std::vector<int32_t>>& peer_ids, bool parse_special) {
  ASSERT_EQ(peer_ids.size(), texts.size());
  int mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = tokenizer.tokenize(texts[i], false, parse_special);
    if (ids != peer_ids[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "text " << i << ": '" << escaped(texts[i]) << "'\n  ours: " << ids_string(ids)
                    << "\n  peer: " << ids_string(peer_ids[i]);
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << texts.size() << " texts";
}

// The round trip for a job's texts: the text comes back, except bytes the vocabulary has no token for, which
// the reference drops too (Falcon lacks \v, for one). WordPiece normalizes, so it is not checked here.
void expect_round_trip(const Tokenizer& tokenizer, const std::vector<std::string>& texts) {
  if (tokenizer.kind() == Kind::WordPiece) return;
  std::string missing;
  if (tokenizer.kind() == Kind::BytePair) {
    for (int byte = 0; byte < 256; ++byte) {
      if (tokenizer.find_token(unicode::byte_to_utf8(static_cast<uint8_t>(byte))) == kNoToken) missing += static_cast<char>(byte);
    }
  }
  for (const auto& text : texts) {
    std::string expected;
    for (const char c : text) {
      if (missing.find(c) == std::string::npos) expected += c;
    }
    EXPECT_EQ(escaped(tokenizer.detokenize(tokenizer.tokenize(text, false, false), false)), escaped(expected));
  }
}

// One test, so that one process runs the peer once for all 35 vocabularies (ctest runs each test alone).
TEST(PeerConformance, EveryVocabularyAndPreTokenizer) {
  Jobs jobs;
  jobs.run_peer();
  ASSERT_EQ(jobs.all().size(), 39u);
  for (const Job& job : jobs.all()) {
    SCOPED_TRACE("vocabulary " + job.label);
    if (!job.broken_texts.empty()) {
      // Our ids for the broken bytes are llama.cpp's for its reading of them.
      expect_same_ids(*job.tokenizer, job.broken_texts, job.peer_ids, false);
      continue;
    }
    expect_same_ids(*job.tokenizer, job.texts, job.peer_ids, false);
    if (!job.special_texts.empty()) expect_same_ids(*job.tokenizer, job.special_texts, job.peer_special_ids, true);
    expect_round_trip(*job.tokenizer, job.texts);
  }
}

}  // namespace
}  // namespace hearth::tokenizer
