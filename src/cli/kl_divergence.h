// The KL-divergence mode of `hearth perplexity`, in llama.cpp's format and with llama.cpp's statistics, so a base
// made by `llama-perplexity --kl-divergence-base` can be compared against Hearth and the reverse.
//
// Base file (native little-endian): the 8 bytes "_logits_", int32 n_ctx, int32 n_vocab, int32 n_chunk, then
// n_chunk * n_ctx int32 tokens (the text as tokenized, BOS included), then per chunk one record for each scored
// position (n_ctx/2 .. n_ctx-2, predicting the token after it). A record is record_words(n_vocab) uint16: two
// floats (scale, min_log_prob) in the first four, then n_vocab quantized log-probabilities q, decoded as
// scale * q + min_log_prob; log-probabilities more than 16 below the top one are clamped to the bottom (q = 0).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace hearth::cli::kld {

// A base file that is not what it claims to be (bad magic, header out of range, size not matching, a token
// outside the vocabulary, a record whose floats are not finite). The message names the file.
class BaseFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
inline constexpr int32_t kMaxCtx = 1 << 24;    // far beyond any model's context; refuses nonsense headers
inline constexpr int32_t kMaxVocab = 1 << 24;  // likewise for vocabularies

struct BaseHeader {
  int32_t n_ctx = 0;
  int32_t n_vocab = 0;
  int32_t n_chunk = 0;
};

// The first scored position of a chunk and how many follow: the second half of the chunk, last position excluded
// (it has no next token).
constexpr int32_t first_scored(int32_t n_ctx) { return n_ctx / 2; }
constexpr int32_t scored_per_chunk(int32_t n_ctx) { return n_ctx - 1 - n_ctx / 2; }
// uint16 words per record: 4 for the two floats, n_vocab rounded up to even.
constexpr int64_t record_words(int32_t n_vocab) { return 2 * ((int64_t{n_vocab} + 1) / 2) + 4; }
// Bytes of a base file with this header; BaseFileError when it does not fit in 64 bits.
uint64_t base_file_size(const BaseHeader& header);

// Writes log-softmax(logits) into `record` (record_words(logits.size()) words), as llama.cpp does.
void encode_record(std::span<const float> logits, std::span<uint16_t> record);

// One record read back.
class RecordView {
 public:
  // `record` holds record_words(n_vocab) words.
  RecordView(std::span<const uint16_t> record, int32_t n_vocab);
  float scale() const { return scale_; }
  float min_log_prob() const { return min_log_prob_; }
  float log_prob(size_t token) const { return scale_ * static_cast<float>(values_[token]) + min_log_prob_; }
  size_t size() const { return values_.size(); }

 private:
  float scale_;
  float min_log_prob_;
  std::span<const uint16_t> values_;
};

// One scored position of the evaluated model compared with the base.
struct PositionComparison {
  double kld = 0;       // sum over tokens with base log-prob > -16 of p_base * (log p_base - log p)
  float p_diff = 0;     // p(target) - p_base(target)
  float nll = 0;        // -log p(target)
  float nll_base = 0;   // -log p_base(target)
  bool same_top = false;  // the most likely token is the same
};
PositionComparison compare_position(std::span<const float> logits, const RecordView& base, int32_t target);

// llama.cpp's percentile of sorted values: linear interpolation between the ranks around fraction * (n - 1).
float percentile(std::span<const float> sorted, float fraction);
// The middle value, or the mean of the two middle ones.
float median(std::span<const float> sorted);

// The accumulated comparison of every scored position and llama.cpp's report of it.
class Statistics {
 public:
  // llama.cpp computes no statistics on fewer positions.
  static constexpr size_t kMinCount = 100;

  void add(const PositionComparison& position);
  size_t count() const { return count_; }

  // The column titles and the running line printed after each chunk (1-based), as llama.cpp prints them.
  static std::string progress_header();
  std::string progress_line(int64_t chunk) const;
  // The three sections "Perplexity", "KL divergence" and "Token probability statistics"; with fewer than
  // kMinCount positions, one line saying so instead.
  std::string report() const;

 private:
  double sum_nll_ = 0;
  double sum_nll2_ = 0;
  double sum_nll_base_ = 0;
  double sum_nll_base2_ = 0;
  double sum_nll_nll_base_ = 0;
  double sum_kld_ = 0;
  double sum_kld2_ = 0;
  double sum_p_diff_ = 0;
  double sum_p_diff2_ = 0;
  double sum_p_diff4_ = 0;
  size_t n_same_top_ = 0;
  size_t count_ = 0;
  std::vector<float> kld_values_;
  std::vector<float> p_diff_values_;
};

// Writes a base file at `path` through `path`.partial, renamed into place by commit(); an uncommitted writer
// removes the partial file.
class BaseFileWriter {
 public:
  BaseFileWriter(std::filesystem::path path, const BaseHeader& header, std::span<const int32_t> tokens);
  BaseFileWriter(const BaseFileWriter&) = delete;
  BaseFileWriter& operator=(const BaseFileWriter&) = delete;
  ~BaseFileWriter();

  // One chunk's records: scored_per_chunk(n_ctx) * record_words(n_vocab) words.
  void write_chunk(std::span<const uint16_t> records);
  void commit();

 private:
  void write(const void* data, size_t bytes);

  std::filesystem::path path_;
  std::filesystem::path partial_;
  BaseHeader header_;
  std::ofstream out_;
  int32_t chunks_written_ = 0;
  bool committed_ = false;
};

// Reads a base file, checking the header against the real size before allocating anything and every token
// against the vocabulary; records are read one chunk at a time.
class BaseFileReader {
 public:
  static BaseFileReader open(const std::filesystem::path& path);
  // `in` holds `size` bytes; `name` identifies it in errors.
  BaseFileReader(std::unique_ptr<std::istream> in, uint64_t size, std::string name);

  const BaseHeader& header() const { return header_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::string& name() const { return name_; }
  // The next chunk's records into `records` (resized to scored_per_chunk * record_words), each record's floats
  // checked. BaseFileError past the last chunk.
  void read_chunk(std::vector<uint16_t>& records);

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void read(void* data, size_t bytes, const char* what);

  std::unique_ptr<std::istream> in_;
  std::string name_;
  BaseHeader header_;
  std::vector<int32_t> tokens_;
  int32_t chunks_read_ = 0;
};

}  // namespace hearth::cli::kld
