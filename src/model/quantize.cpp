#include "model/quantize.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "tensor/quant.h"

namespace hearth::model {
namespace {

struct FileTypeEntry {
  FileType type;
  std::string_view name;
  TensorType base;
};

constexpr FileTypeEntry kFileTypes[] = {
    {FileType::F32, "F32", TensorType::F32},         {FileType::F16, "F16", TensorType::F16},
    {FileType::BF16, "BF16", TensorType::BF16},      {FileType::Q8_0, "Q8_0", TensorType::Q8_0},
    {FileType::Q4_0, "Q4_0", TensorType::Q4_0},      {FileType::Q4_1, "Q4_1", TensorType::Q4_1},
    {FileType::Q5_0, "Q5_0", TensorType::Q5_0},      {FileType::Q5_1, "Q5_1", TensorType::Q5_1},
    {FileType::Q2_K, "Q2_K", TensorType::Q2_K},      {FileType::Q3_K_S, "Q3_K_S", TensorType::Q3_K},
    {FileType::Q3_K_M, "Q3_K_M", TensorType::Q3_K},  {FileType::Q3_K_L, "Q3_K_L", TensorType::Q3_K},
    {FileType::Q4_K_S, "Q4_K_S", TensorType::Q4_K},  {FileType::Q4_K_M, "Q4_K_M", TensorType::Q4_K},
    {FileType::Q5_K_S, "Q5_K_S", TensorType::Q5_K},  {FileType::Q5_K_M, "Q5_K_M", TensorType::Q5_K},
    {FileType::Q6_K, "Q6_K", TensorType::Q6_K},      {FileType::IQ4_NL, "IQ4_NL", TensorType::IQ4_NL},
    {FileType::IQ4_XS, "IQ4_XS", TensorType::IQ4_XS},
};

constexpr FileType kFileTypeOrder[] = {
    FileType::F32,    FileType::F16,    FileType::BF16,   FileType::Q8_0,   FileType::Q4_0,   FileType::Q4_1,
    FileType::Q5_0,   FileType::Q5_1,   FileType::Q2_K,   FileType::Q3_K_S, FileType::Q3_K_M, FileType::Q3_K_L,
    FileType::Q4_K_S, FileType::Q4_K_M, FileType::Q5_K_S, FileType::Q5_K_M, FileType::Q6_K,   FileType::IQ4_NL,
    FileType::IQ4_XS,
};

const FileTypeEntry& entry_of(FileType type) {
  for (const FileTypeEntry& entry : kFileTypes) {
    if (entry.type == type) return entry;
  }
  throw std::invalid_argument(fmt::format("unsupported file type {}", static_cast<uint32_t>(type)));
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

bool ends_with(std::string_view text, std::string_view tail) {
  return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

// Which tensors a quantizer converts at all: 2-D (or more) weights, except norms, expert routers and the small
// embeddings some architectures keep exact.
bool is_quantizable(const PlannedTensor& t) {
  return ends_with(t.name, "weight") && t.n_dims >= 2 && !contains(t.name, "_norm.weight") &&
         !contains(t.name, "ffn_gate_inp.weight") && t.name != "position_embd.weight" && t.name != "token_types.weight" &&
         !contains(t.name, "ssm_conv1d.weight");
}

// The layers that get more bits in the _M mixes: the first and last eighth, and every third one in between.
bool use_more_bits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// A K type whose 256-element blocks do not divide the row falls back to a 32-element type of similar size.
TensorType fallback_for_row(TensorType type, int64_t row) {
  const int64_t block = type_traits(type).block_size;
  if (row % block == 0) return type;
  TensorType fallback;
  switch (type) {
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::IQ4_XS: fallback = TensorType::IQ4_NL; break;
    case TensorType::Q4_K: fallback = TensorType::Q5_0; break;
    case TensorType::Q5_K: fallback = TensorType::Q5_1; break;
    case TensorType::Q6_K: fallback = TensorType::Q8_0; break;
    default: fallback = TensorType::F16; break;
  }
  return row % type_traits(fallback).block_size == 0 ? fallback : TensorType::F16;
}

// Walks the tensors in file order, since the mixes count attn_v and ffn_down layers as they appear.
class MixPlanner {
 public:
  MixPlanner(FileType file_type, std::span<const PlannedTensor> tensors, const ModelHints& hints)
      : file_type_(file_type), hints_(hints) {
    for (const PlannedTensor& t : tensors) {
      if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight")) ++attention_v_count_;
      if (t.name == "output.weight") has_output_ = true;
    }
    group_query_ratio_ = hints.head_count_kv > 0 ? hints.head_count / hints.head_count_kv : 1;
    falcon_ = hints.architecture == "falcon";
    // llama.cpp's 70B rule keys on the model size; 80 llama blocks is that model.
    seventy_b_ = hints.architecture == "llama" && hints.block_count == 80;
  }

  TensorType choose(const PlannedTensor& t) {
    TensorType type = base_tensor_type(file_type_);
    const std::string_view name = t.name;
    using FT = FileType;
    const FT ft = file_type_;
    if (name == "output.weight" || (!has_output_ && name == "token_embd.weight")) {
      if (falcon_ || t.ne[0] % 256 != 0) type = TensorType::Q8_0;
      else if (type != TensorType::Q8_0) type = TensorType::Q6_K;
    } else if (contains(name, "attn_v.weight")) {
      const int64_t i = attention_v_index_++;
      if (ft == FT::Q2_K) type = group_query_ratio_ >= 4 ? TensorType::Q4_K : TensorType::Q3_K;
      else if (ft == FT::Q3_K_M) type = i < 2 ? TensorType::Q5_K : TensorType::Q4_K;
      else if (ft == FT::Q3_K_L) type = TensorType::Q5_K;
      else if ((ft == FT::IQ4_NL || ft == FT::IQ4_XS) && group_query_ratio_ >= 4) type = TensorType::Q5_K;
      else if ((ft == FT::Q4_K_M || ft == FT::Q5_K_M) && use_more_bits(i, attention_v_count_)) type = TensorType::Q6_K;
      else if (ft == FT::Q4_K_S && i < 4) type = TensorType::Q5_K;
      if (seventy_b_ && (type == TensorType::Q3_K || type == TensorType::Q4_K)) type = TensorType::Q5_K;
      if (hints_.expert_count == 8) type = TensorType::Q8_0;
    } else if (contains(name, "attn_k.weight")) {
      if (hints_.expert_count == 8) type = TensorType::Q8_0;
    } else if (contains(name, "ffn_down")) {
      const int64_t i = ffn_down_index_++;
      const int64_t n = hints_.block_count;
      if (ft == FT::Q2_K) type = TensorType::Q3_K;
      else if (ft == FT::Q3_K_M) {
        type = i < n / 16 ? TensorType::Q5_K : (!falcon_ || use_more_bits(i, n)) ? TensorType::Q4_K : TensorType::Q3_K;
      } else if (ft == FT::Q3_K_L) type = falcon_ ? TensorType::Q4_K : TensorType::Q5_K;
      else if (ft == FT::Q4_K_M) {
        if (falcon_) type = i < n / 16 ? TensorType::Q6_K : use_more_bits(i, n) ? TensorType::Q5_K : TensorType::Q4_K;
        else if (use_more_bits(i, n)) type = TensorType::Q6_K;
      } else if (ft == FT::Q5_K_M && use_more_bits(i, n)) type = TensorType::Q6_K;
      else if (ft == FT::Q4_K_S && !falcon_ && i < n / 8) type = TensorType::Q5_K;
      else if ((ft == FT::IQ4_NL || ft == FT::IQ4_XS) && i < n / 8) type = TensorType::Q5_K;
    } else if (contains(name, "attn_output.weight")) {
      if (falcon_) {
        if (ft == FT::Q3_K_L) type = TensorType::Q4_K;
      } else if (hints_.expert_count == 8) {
        if (ft == FT::Q2_K || ft == FT::Q3_K_S || ft == FT::Q3_K_M || ft == FT::IQ4_NL || ft == FT::Q4_K_S ||
            ft == FT::Q4_K_M || ft == FT::IQ4_XS) {
          type = TensorType::Q5_K;
        }
      } else if (ft == FT::Q2_K) type = TensorType::Q3_K;
      else if (ft == FT::Q3_K_M) type = TensorType::Q4_K;
      else if (ft == FT::Q3_K_L) type = TensorType::Q5_K;
    } else if (contains(name, "attn_qkv.weight")) {
      if (ft == FT::Q3_K_M || ft == FT::Q3_K_L) type = TensorType::Q4_K;
      else if (ft == FT::Q4_K_M) type = TensorType::Q5_K;
      else if (ft == FT::Q5_K_M) type = TensorType::Q6_K;
    }
    return fallback_for_row(type, t.ne[0]);
  }

 private:
  FileType file_type_;
  const ModelHints& hints_;
  bool has_output_ = false;
  bool falcon_ = false;
  bool seventy_b_ = false;
  int64_t group_query_ratio_ = 1;
  int64_t attention_v_count_ = 0;
  int64_t attention_v_index_ = 0;
  int64_t ffn_down_index_ = 0;
};

int64_t metadata_int(const gguf::File& file, const std::string& key) {
  const gguf::Value* value = file.find(key);
  return value != nullptr && value->is_integer() ? value->as_int() : 0;
}

std::array<int64_t, gguf::kMaxDims> shape_of(const gguf::TensorInfo& t) { return t.ne; }

}  // namespace

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const FileTypeEntry& entry : kFileTypes) {
    if (entry.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      same = std::toupper(static_cast<unsigned char>(name[i])) == static_cast<unsigned char>(entry.name[i]);
    }
    if (same) return entry.type;
  }
  return std::nullopt;
}

std::string_view file_type_name(FileType type) { return entry_of(type).name; }
std::span<const FileType> all_file_types() { return kFileTypeOrder; }
TensorType base_tensor_type(FileType type) { return entry_of(type).base; }

ModelHints ModelHints::from_metadata(const gguf::File& file) {
  ModelHints hints;
  if (const gguf::Value* arch = file.find("general.architecture"); arch != nullptr && arch->type() == gguf::ValueType::STRING) {
    hints.architecture = std::string(arch->string());
  }
  const std::string prefix = hints.architecture + ".";
  hints.block_count = metadata_int(file, prefix + "block_count");
  hints.head_count = metadata_int(file, prefix + "attention.head_count");
  hints.head_count_kv = metadata_int(file, prefix + "attention.head_count_kv");
  hints.expert_count = metadata_int(file, prefix + "expert_count");
  if (hints.head_count_kv == 0) hints.head_count_kv = hints.head_count;
  return hints;
}

std::vector<TensorType> plan_tensor_types(FileType file_type, std::span<const PlannedTensor> tensors,
                                          const ModelHints& hints) {
  const TensorType base = base_tensor_type(file_type);
  const bool mixed = type_traits(base).quantized;
  MixPlanner planner(file_type, tensors, hints);
  std::vector<TensorType> types;
  types.reserve(tensors.size());
  for (const PlannedTensor& t : tensors) {
    if (!is_quantizable(t)) types.push_back(t.source_type);
    else if (!mixed) types.push_back(fallback_for_row(base, t.ne[0]));
    else types.push_back(planner.choose(t));
  }
  return types;
}

uint64_t planned_data_bytes(std::span<const PlannedTensor> tensors, std::span<const TensorType> types, uint64_t alignment) {
  uint64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PlannedTensor& t = tensors[i];
    const uint64_t rows = static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3]);
    const uint64_t bytes = rows * row_bytes(types[i], t.ne[0]).value();
    total += (bytes + alignment - 1) / alignment * alignment;
  }
  return total;
}

void convert_rows(int64_t rows, int64_t row_length, TensorType to, const RowSource& source, std::span<std::byte> out,
                  const ConvertOptions& options) {
  const std::optional<uint64_t> row_size = row_bytes(to, row_length);
  if (!row_size || out.size() != *row_size * static_cast<uint64_t>(rows)) {
    throw std::invalid_argument(fmt::format("convert_rows: {} rows of {} {} do not fill {} bytes", rows, row_length,
                                            type_name(to), out.size()));
  }
  // Chunks small enough to share work evenly and notice a cancel quickly.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(64, (1 << 20) / std::max<int64_t>(row_length, 1)));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto work = [&] {
    try {
      std::vector<float> values(static_cast<size_t>(row_length));
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) return;
        if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) throw Cancelled();
        const int64_t begin = next.fetch_add(chunk);
        if (begin >= rows) return;
        const int64_t end = std::min(rows, begin + chunk);
        for (int64_t r = begin; r < end; ++r) {
          source(r, values.data());
          tensor::quantize_row(to, values.data(), out.data() + static_cast<uint64_t>(r) * *row_size, row_length);
        }
      }
    } catch (...) {
      const std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  const int64_t wanted = std::max(1, options.threads);
  const int threads = static_cast<int>(std::min<int64_t>(wanted, (rows + chunk - 1) / chunk));
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    pool.reserve(static_cast<size_t>(threads - 1));
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  if (error) std::rethrow_exception(error);
}

void check_output_destination(const std::filesystem::path& path, bool replace_existing) {
  if (path.empty()) throw std::runtime_error("the output path is empty");
  struct stat st {};
  // lstat: a symlink is refused as itself, never followed to whatever it names.
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error(fmt::format("{}: cannot check the output: {}", path.string(), std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "not a regular file";
    throw std::runtime_error(fmt::format("{} exists and is {}; refusing to replace it", path.string(), kind));
  }
  if (!replace_existing) {
    throw std::runtime_error(fmt::format("{} already exists; pass --force to replace it", path.string()));
  }
}

namespace {

// Removes PATH.hearth-partial-PID files whose process is gone: what a SIGKILL or power loss left behind.
void remove_stale_partials(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::string prefix = path.filename().string() + std::string(kPartialSuffix);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) continue;
    const long pid = std::strtol(digits.c_str(), nullptr, 10);
    if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running (or not ours to judge)
    std::error_code ignored;
    std::filesystem::remove(entry.path(), ignored);
  }
}

}  // namespace

void write_atomically(const gguf::Writer& writer, const std::filesystem::path& path, const gguf::Writer::FillTensor& fill,
                      bool replace_existing) {
  check_output_destination(path, replace_existing);
  remove_stale_partials(path);
  std::filesystem::path temp = path;
  temp += fmt::format("{}{}", kPartialSuffix, ::getpid());
  try {
    writer.write(temp, fill);
    // Again: the destination may have appeared, or changed kind, during a long conversion.
    check_output_destination(path, replace_existing);
    std::filesystem::rename(temp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
}

QuantizeSummary quantize_file(const std::filesystem::path& input, const std::filesystem::path& output,
                              FileType file_type, const ConvertOptions& options) {
  const gguf::File in = gguf::File::open(input);
  std::vector<PlannedTensor> planned;
  planned.reserve(in.tensors().size());
  for (const gguf::TensorInfo& t : in.tensors()) planned.push_back({t.name, t.n_dims, shape_of(t), t.type});
  const std::vector<TensorType> types = plan_tensor_types(file_type, planned, ModelHints::from_metadata(in));

  QuantizeSummary summary;
  summary.input_bytes = in.file_size();
  gguf::Writer writer(in.alignment());
  writer.copy_metadata(in);
  writer.set("general.file_type", static_cast<uint32_t>(file_type));
  const bool any_quantized = std::any_of(types.begin(), types.end(), [](TensorType t) { return type_traits(t).quantized; });
  if (any_quantized) writer.set("general.quantization_version", uint32_t{2});
  else writer.remove("general.quantization_version");
  for (size_t i = 0; i < planned.size(); ++i) {
    const gguf::TensorInfo& t = in.tensors()[i];
    if (types[i] != t.type) {
      if (!tensor::can_dequantize(t.type)) {
        throw std::runtime_error(fmt::format("tensor '{}': cannot convert from type {}", t.name, type_name(t.type)));
      }
      ++summary.converted;
      if (type_traits(t.type).quantized) ++summary.requantized;
    }
    writer.add_tensor(t.name, types[i], std::span<const int64_t>(t.ne.data(), static_cast<size_t>(t.n_dims)));
  }

  if (in.tensors().empty()) throw std::runtime_error(fmt::format("{} has no tensors to quantize", input.string()));
  write_atomically(writer, output, [&](size_t index, std::span<std::byte> out) {
    const gguf::TensorInfo& t = in.tensors()[index];
    if (options.on_tensor) options.on_tensor(index, planned.size(), t.name, t.type, types[index]);
    if (options.cancel != nullptr && options.cancel->load()) throw Cancelled();
    if (types[index] == t.type) {
      std::memcpy(out.data(), t.data, out.size());
      return;
    }
    const uint64_t source_row = *row_bytes(t.type, t.ne[0]);
    convert_rows(
        t.n_rows(), t.ne[0], types[index],
        [&](int64_t row, float* values) {
          tensor::dequantize_row(t.type, t.data + static_cast<uint64_t>(row) * source_row, values, t.ne[0]);
        },
        out, options);
  }, options.replace_existing);
  summary.output_bytes = std::filesystem::file_size(output);
  return summary;
}

}  // namespace hearth::model
