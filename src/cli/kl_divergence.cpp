#include "cli/kl_divergence.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/printf.h>

#include "model/quantize.h"

namespace hearth::cli::kld {

// The file stores integers and floats in the writer's byte order; llama.cpp and Hearth run little-endian.
static_assert(std::endian::native == std::endian::little);

namespace {

uint64_t checked_multiply(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) throw BaseFileError("base file sizes overflow 64 bits");
  return product;
}

uint64_t checked_add(uint64_t a, uint64_t b) {
  uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) throw BaseFileError("base file sizes overflow 64 bits");
  return sum;
}

constexpr uint64_t kHeaderBytes = sizeof(kMagic) + 3 * sizeof(int32_t);

uint64_t chunk_record_words(const BaseHeader& header) {
  return checked_multiply(static_cast<uint64_t>(scored_per_chunk(header.n_ctx)),
                          static_cast<uint64_t>(record_words(header.n_vocab)));
}

// The records' two floats share the first four words.
std::pair<float, float> record_floats(std::span<const uint16_t> record) {
  float floats[2];
  std::memcpy(floats, record.data(), sizeof(floats));
  return {floats[0], floats[1]};
}

// Mean and standard error of the mean from a sum and a sum of squares; no error below 11 values (llama.cpp's rule).
std::pair<double, double> mean_and_uncertainty(double sum, double sum2, size_t count) {
  if (count < 1) return {0.0, 0.0};
  const double mean = sum / static_cast<double>(count);
  const double variance = sum2 / static_cast<double>(count) - mean * mean;
  const double error = variance > 0 && count > 10 ? std::sqrt(variance / static_cast<double>(count - 1)) : 0.0;
  return {mean, error};
}

// Covariance of the two means (llama.cpp's estimate), 0 below 10 values.
double covariance(double sum_a, double sum_b, double sum_ab, size_t count) {
  if (count < 10) return 0.0;
  const auto n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

// sqrt of a difference of variances that cancels to a rounding error of either sign for identical models;
// llama.cpp prints nan there, the figure is 0.
double non_negative_sqrt(double value) { return std::sqrt(std::max(0.0, value)); }

}  // namespace

uint64_t base_file_size(const BaseHeader& header) {
  const uint64_t token_bytes = checked_multiply(
      checked_multiply(static_cast<uint64_t>(header.n_ctx), static_cast<uint64_t>(header.n_chunk)), sizeof(int32_t));
  const uint64_t record_bytes =
      checked_multiply(checked_multiply(chunk_record_words(header), static_cast<uint64_t>(header.n_chunk)),
                       sizeof(uint16_t));
  return checked_add(checked_add(kHeaderBytes, token_bytes), record_bytes);
}

void encode_record(std::span<const float> logits, std::span<uint16_t> record) {
  // Same float and double steps as llama.cpp's writer, so both write the same words for the same logits.
  float max_logit = logits[0];
  float min_logit = logits[0];
  for (float l : logits) {
    max_logit = std::max(max_logit, l);
    min_logit = std::min(min_logit, l);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  double sum_exp = 0.0;
  for (float l : logits) sum_exp += std::exp(l - max_logit);
  const auto log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float floats[2] = {(max_logit - min_logit) / 65535.f, min_logit - max_logit - log_sum_exp};
  std::memcpy(record.data(), floats, sizeof(floats));
  const float scale = floats[0];
  std::span<uint16_t> values = record.subspan(4, logits.size());
  if (scale == 0) {
    std::fill(values.begin(), values.end(), uint16_t{0});
    return;
  }
  const float inv_scale = 1 / scale;
  for (size_t i = 0; i < logits.size(); ++i) {
    // Round half to even, as llama.cpp's nearest_int; the clamp guards the top against float rounding.
    values[i] = logits[i] > min_logit
                    ? static_cast<uint16_t>(std::clamp(std::nearbyint(inv_scale * (logits[i] - min_logit)), 0.f, 65535.f))
                    : uint16_t{0};
  }
  // The padding word of an odd vocabulary, so files are reproducible.
  if (record.size() > 4 + logits.size()) record[4 + logits.size()] = 0;
}

RecordView::RecordView(std::span<const uint16_t> record, int32_t n_vocab)
    : values_(record.subspan(4, static_cast<size_t>(n_vocab))) {
  std::tie(scale_, min_log_prob_) = record_floats(record);
}

PositionComparison compare_position(std::span<const float> logits, const RecordView& base, int32_t target) {
  // llama.cpp's steps and precisions (float log-probabilities, double sum), so the figures agree with its own.
  float max_logit = logits[0];
  size_t top = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      top = i;
    }
  }
  double sum_exp = 0.0;
  for (float l : logits) sum_exp += std::exp(l - max_logit);
  const auto log_sum_exp = static_cast<float>(std::log(sum_exp));
  const auto t = static_cast<size_t>(target);

  PositionComparison result;
  result.nll = max_logit + log_sum_exp - logits[t];
  result.nll_base = -base.log_prob(t);
  const float log_normalizer = max_logit + log_sum_exp;
  size_t top_base = 0;
  float top_base_log_prob = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float log_prob_base = base.log_prob(i);
    if (i == 0 || log_prob_base > top_base_log_prob) {
      top_base_log_prob = log_prob_base;
      top_base = i;
    }
    if (log_prob_base > -16.f) {
      result.kld += std::exp(log_prob_base) * (log_prob_base - logits[i] + log_normalizer);
    }
  }
  result.same_top = top == top_base;
  result.p_diff = std::exp(-result.nll) - std::exp(-result.nll_base);
  return result;
}

float percentile(std::span<const float> sorted, float fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  float position = fraction * static_cast<float>(sorted.size() - 1);
  const auto below = static_cast<size_t>(position);
  position -= static_cast<float>(below);
  return (1 - position) * sorted[below] + position * sorted[std::min(below + 1, sorted.size() - 1)];
}

float median(std::span<const float> sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

void Statistics::add(const PositionComparison& position) {
  // nll and nll_base enter the sums as floats, as in llama.cpp.
  sum_nll_ += position.nll;
  sum_nll2_ += position.nll * position.nll;
  sum_nll_base_ += position.nll_base;
  sum_nll_base2_ += position.nll_base * position.nll_base;
  sum_nll_nll_base_ += position.nll * position.nll_base;
  sum_kld_ += position.kld;
  sum_kld2_ += position.kld * position.kld;
  sum_p_diff_ += position.p_diff;
  const double p_diff2 = position.p_diff * position.p_diff;  // squared in float, as llama.cpp does
  sum_p_diff2_ += p_diff2;
  sum_p_diff4_ += p_diff2 * p_diff2;
  n_same_top_ += position.same_top ? 1 : 0;
  ++count_;
  kld_values_.push_back(static_cast<float>(position.kld));
  p_diff_values_.push_back(position.p_diff);
}

std::string Statistics::progress_header() {
  return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS"
         "            Same top p\n";
}

std::string Statistics::progress_line(int64_t chunk) const {
  const auto log_ppl = mean_and_uncertainty(sum_nll_, sum_nll2_, count_);
  const double ppl = std::exp(log_ppl.first);
  const auto log_ppl_base = mean_and_uncertainty(sum_nll_base_, sum_nll_base2_, count_);
  const double log_ppl_cov = covariance(sum_nll_, sum_nll_base_, sum_nll_nll_base_, count_);
  const double log_ratio_error = non_negative_sqrt(log_ppl.second * log_ppl.second +
                                                   log_ppl_base.second * log_ppl_base.second - 2.0 * log_ppl_cov);
  const auto kl = mean_and_uncertainty(sum_kld_, sum_kld2_, count_);
  const auto p_diff_mse = mean_and_uncertainty(sum_p_diff2_, sum_p_diff4_, count_);
  const double p_diff_rms = std::sqrt(p_diff_mse.first);
  const double same_top = static_cast<double>(n_same_top_) / static_cast<double>(count_);
  const double same_top_error = count_ > 1 ? std::sqrt(same_top * (1 - same_top) / static_cast<double>(count_ - 1)) : 0;
  return fmt::sprintf("%4d", chunk) + fmt::sprintf("    %9.4lf ± %9.4lf", ppl, ppl * log_ppl.second) +
         fmt::sprintf("    %10.5lf ± %10.5lf", log_ppl.first - log_ppl_base.first, log_ratio_error) +
         fmt::sprintf("    %10.5lf ± %10.5lf", kl.first, kl.second) +
         fmt::sprintf("    %6.3lf ± %6.3lf %%", 100.0 * p_diff_rms, 100.0 * 0.5 / p_diff_rms * p_diff_mse.second) +
         fmt::sprintf("    %6.3lf ± %6.3lf %%", 100.0 * same_top, 100.0 * same_top_error) + "\n";
}

std::string Statistics::report() const {
  if (count_ < kMinCount) {
    return fmt::format(
        "No statistics: only {} positions were compared; llama.cpp's statistics need at least {} (use more or "
        "longer chunks).\n",
        count_, kMinCount);
  }
  std::vector<float> kld = kld_values_;
  std::vector<float> p_diff = p_diff_values_;
  std::sort(kld.begin(), kld.end());
  std::sort(p_diff.begin(), p_diff.end());

  std::string out = "====== Perplexity statistics ======\n";
  const auto log_ppl = mean_and_uncertainty(sum_nll_, sum_nll2_, count_);
  const double ppl = std::exp(log_ppl.first);
  const double ppl_error = ppl * log_ppl.second;  // through d exp(x)/dx
  out += fmt::sprintf("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", ppl, ppl_error);
  const auto log_ppl_base = mean_and_uncertainty(sum_nll_base_, sum_nll_base2_, count_);
  const double ppl_base = std::exp(log_ppl_base.first);
  const double ppl_base_error = ppl_base * log_ppl_base.second;
  out += fmt::sprintf("Mean PPL(base)                : %10.6lf ± %10.6lf\n", ppl_base, ppl_base_error);
  const double log_ppl_cov = covariance(sum_nll_, sum_nll_base_, sum_nll_nll_base_, count_);
  out += fmt::sprintf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n",
                      100.0 * log_ppl_cov / (log_ppl.second * log_ppl_base.second));
  const double log_ratio = log_ppl.first - log_ppl_base.first;
  const double log_ratio_error = non_negative_sqrt(log_ppl.second * log_ppl.second +
                                                   log_ppl_base.second * log_ppl_base.second - 2.0 * log_ppl_cov);
  out += fmt::sprintf("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", log_ratio, log_ratio_error);
  const double ratio = std::exp(log_ratio);
  out += fmt::sprintf("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", ratio, ratio * log_ratio_error);
  const double ppl_cov = ppl * ppl_base * log_ppl_cov;
  out += fmt::sprintf("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", ppl - ppl_base,
                      non_negative_sqrt(ppl_error * ppl_error + ppl_base_error * ppl_base_error - 2.0 * ppl_cov));

  out += "\n====== KL divergence statistics ======\n";
  const auto kl = mean_and_uncertainty(sum_kld_, sum_kld2_, count_);
  out += fmt::sprintf("Mean    KLD: %10.6lf ± %10.6lf\n", kl.first, kl.second);
  out += fmt::sprintf("Maximum KLD: %10.6f\n", kld.back());
  out += fmt::sprintf("99.9%%   KLD: %10.6f\n", percentile(kld, 0.999f));
  out += fmt::sprintf("99.0%%   KLD: %10.6f\n", percentile(kld, 0.990f));
  out += fmt::sprintf("95.0%%   KLD: %10.6f\n", percentile(kld, 0.950f));
  out += fmt::sprintf("90.0%%   KLD: %10.6f\n", percentile(kld, 0.900f));
  out += fmt::sprintf("Median  KLD: %10.6f\n", median(kld));
  out += fmt::sprintf("10.0%%   KLD: %10.6f\n", percentile(kld, 0.100f));
  out += fmt::sprintf(" 5.0%%   KLD: %10.6f\n", percentile(kld, 0.050f));
  out += fmt::sprintf(" 1.0%%   KLD: %10.6f\n", percentile(kld, 0.010f));
  out += fmt::sprintf(" 0.1%%   KLD: %10.6f\n", percentile(kld, 0.001f));
  out += fmt::sprintf("Minimum KLD: %10.6f\n", kld.front());

  out += "\n====== Token probability statistics ======\n";
  const auto p_diff_mean = mean_and_uncertainty(sum_p_diff_, sum_p_diff2_, count_);
  out += fmt::sprintf("Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * p_diff_mean.first, 100.0 * p_diff_mean.second);
  out += fmt::sprintf("Maximum Δp: %6.3lf%%\n", 100.0 * p_diff.back());
  out += fmt::sprintf("99.9%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.999f));
  out += fmt::sprintf("99.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.990f));
  out += fmt::sprintf("95.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.950f));
  out += fmt::sprintf("90.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.900f));
  out += fmt::sprintf("75.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.750f));
  out += fmt::sprintf("Median  Δp: %6.3lf%%\n", 100.0 * median(p_diff));
  out += fmt::sprintf("25.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.250f));
  out += fmt::sprintf("10.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.100f));
  out += fmt::sprintf(" 5.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.050f));
  out += fmt::sprintf(" 1.0%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.010f));
  out += fmt::sprintf(" 0.1%%   Δp: %6.3lf%%\n", 100.0 * percentile(p_diff, 0.001f));
  out += fmt::sprintf("Minimum Δp: %6.3lf%%\n", 100.0 * p_diff.front());
  const auto p_diff_mse = mean_and_uncertainty(sum_p_diff2_, sum_p_diff4_, count_);
  const double p_diff_rms = std::sqrt(p_diff_mse.first);
  out += fmt::sprintf("RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * p_diff_rms,
                      100.0 * 0.5 / p_diff_rms * p_diff_mse.second);
  const double same_top = static_cast<double>(n_same_top_) / static_cast<double>(count_);
  out += fmt::sprintf("Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * same_top,
                      100.0 * std::sqrt(same_top * (1.0 - same_top) / static_cast<double>(count_ - 1)));
  return out;
}

BaseFileWriter::BaseFileWriter(std::filesystem::path path, const BaseHeader& header, std::span<const int32_t> tokens)
    : path_(std::move(path)), partial_(path_.string() + ".partial"), header_(header) {
  // Rewriting an earlier base is the usual workflow, so a regular file is replaced; a symlink, FIFO or device
  // at the path is not (the same rule as every other output).
  model::check_output_destination(path_, /*replace_existing=*/true);
  out_.open(partial_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot write " + partial_.string());
  write(kMagic, sizeof(kMagic));
  write(&header.n_ctx, sizeof(header.n_ctx));
  write(&header.n_vocab, sizeof(header.n_vocab));
  write(&header.n_chunk, sizeof(header.n_chunk));
  write(tokens.data(), static_cast<size_t>(header.n_chunk) * static_cast<size_t>(header.n_ctx) * sizeof(int32_t));
}

BaseFileWriter::~BaseFileWriter() {
  if (committed_) return;
  out_.close();
  std::error_code ignored;
  std::filesystem::remove(partial_, ignored);
}

void BaseFileWriter::write(const void* data, size_t bytes) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out_) throw std::runtime_error("cannot write " + partial_.string() + " (disk full?)");
}

void BaseFileWriter::write_chunk(std::span<const uint16_t> records) {
  if (chunks_written_ == header_.n_chunk) throw std::logic_error("more chunks written than the header announces");
  write(records.data(), records.size_bytes());
  ++chunks_written_;
}

void BaseFileWriter::commit() {
  if (chunks_written_ != header_.n_chunk) throw std::logic_error("fewer chunks written than the header announces");
  out_.close();
  if (!out_) throw std::runtime_error("cannot write " + partial_.string());
  model::check_output_destination(path_, /*replace_existing=*/true);
  std::filesystem::rename(partial_, path_);
  committed_ = true;
}

BaseFileReader BaseFileReader::open(const std::filesystem::path& path) {
  // Checked before the open, which would block on a FIFO.
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    throw BaseFileError("the KL-divergence base " + path.string() + " is not a regular file");
  }
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*in) throw BaseFileError("cannot read the KL-divergence base " + path.string());
  return BaseFileReader(std::move(in), std::filesystem::file_size(path), path.string());
}

BaseFileReader::BaseFileReader(std::unique_ptr<std::istream> in, uint64_t size, std::string name)
    : in_(std::move(in)), name_(std::move(name)) {
  if (size < kHeaderBytes) fail(fmt::format("truncated: {} bytes, shorter than the {}-byte header", size, kHeaderBytes));
  char magic[sizeof(kMagic)];
  read(magic, sizeof(magic), "magic");
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    fail("not a KL-divergence base file (it does not start with \"_logits_\")");
  }
  read(&header_.n_ctx, sizeof(header_.n_ctx), "n_ctx");
  read(&header_.n_vocab, sizeof(header_.n_vocab), "n_vocab");
  read(&header_.n_chunk, sizeof(header_.n_chunk), "n_chunk");
  if (header_.n_ctx < 4 || header_.n_ctx > kMaxCtx) fail(fmt::format("n_ctx {} is outside [4, {}]", header_.n_ctx, kMaxCtx));
  if (header_.n_vocab <= 0 || header_.n_vocab > kMaxVocab) {
    fail(fmt::format("n_vocab {} is outside [1, {}]", header_.n_vocab, kMaxVocab));
  }
  if (header_.n_chunk <= 0) fail(fmt::format("n_chunk {} is not positive", header_.n_chunk));
  uint64_t expected = 0;
  try {
    expected = base_file_size(header_);
  } catch (const BaseFileError&) {
    fail(fmt::format("its header (n_ctx {}, n_vocab {}, n_chunk {}) describes more than 2^64 bytes", header_.n_ctx,
                     header_.n_vocab, header_.n_chunk));
  }
  if (size != expected) {
    fail(fmt::format("{}: {} bytes, but its header (n_ctx {}, n_vocab {}, n_chunk {}) says {}",
                     size < expected ? "truncated" : "too long", size, header_.n_ctx, header_.n_vocab,
                     header_.n_chunk, expected));
  }
  tokens_.resize(static_cast<size_t>(header_.n_ctx) * static_cast<size_t>(header_.n_chunk));
  read(tokens_.data(), tokens_.size() * sizeof(int32_t), "tokens");
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i] < 0 || tokens_[i] >= header_.n_vocab) {
      fail(fmt::format("token {} at index {} is outside the vocabulary of {}", tokens_[i], i, header_.n_vocab));
    }
  }
}

void BaseFileReader::fail(const std::string& what) const { throw BaseFileError(name_ + ": " + what); }

void BaseFileReader::read(void* data, size_t bytes, const char* what) {
  in_->read(static_cast<char*>(data), static_cast<std::streamsize>(bytes));
  if (!*in_) fail(fmt::format("cannot read its {} (truncated?)", what));
}

void BaseFileReader::read_chunk(std::vector<uint16_t>& records) {
  if (chunks_read_ == header_.n_chunk) fail(fmt::format("holds only {} chunks", header_.n_chunk));
  const auto words = static_cast<size_t>(record_words(header_.n_vocab));
  records.resize(static_cast<size_t>(scored_per_chunk(header_.n_ctx)) * words);
  read(records.data(), records.size() * sizeof(uint16_t), "records");
  for (size_t offset = 0; offset < records.size(); offset += words) {
    const auto [scale, min_log_prob] = record_floats(std::span(records).subspan(offset, 4));
    if (!std::isfinite(scale) || scale < 0 || !std::isfinite(min_log_prob)) {
      fail(fmt::format("chunk {} position {} has scale {} and minimum log-probability {}", chunks_read_ + 1,
                       first_scored(header_.n_ctx) + offset / words, scale, min_log_prob));
    }
  }
  ++chunks_read_;
}

}  // namespace hearth::cli::kld
