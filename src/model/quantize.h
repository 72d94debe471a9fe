// Model file types (llama.cpp's LLAMA_FTYPE numbering), the per-tensor type mix each one stands for, and the
// multi-threaded conversion of a whole GGUF file from one file type to another.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/gguf.h"
#include "hearth/tensor_type.h"

namespace hearth::model {

// Values are what general.file_type holds.
enum class FileType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 7,
  Q5_0 = 8,
  Q5_1 = 9,
  Q2_K = 10,
  Q3_K_S = 11,
  Q3_K_M = 12,
  Q3_K_L = 13,
  Q4_K_S = 14,
  Q4_K_M = 15,
  Q5_K_S = 16,
  Q5_K_M = 17,
  Q6_K = 18,
  IQ4_NL = 25,
  IQ4_XS = 30,
  BF16 = 32,
};

// Case-insensitive: "Q4_K_M", "q8_0", "f16".
std::optional<FileType> file_type_from_name(std::string_view name);
std::string_view file_type_name(FileType type);
// Every file type this module writes, in the order users usually list them.
std::span<const FileType> all_file_types();
// The tensor type most weights get.
TensorType base_tensor_type(FileType type);

// What the type mix needs to know of the model besides tensor names and shapes.
struct ModelHints {
  std::string architecture;
  int64_t block_count = 0;
  int64_t head_count = 0;
  int64_t head_count_kv = 0;
  int64_t expert_count = 0;

  static ModelHints from_metadata(const gguf::File& file);
};

// A tensor as the planner sees it.
struct PlannedTensor {
  std::string name;
  int n_dims = 1;
  std::array<int64_t, gguf::kMaxDims> ne{1, 1, 1, 1};
  TensorType source_type = TensorType::F32;
};

// The type of each tensor (same order) in a file of `file_type`, as llama.cpp's quantizer chooses it: 1-D tensors
// and norms keep their type; the _S/_M/_L mixes give attn_v, ffn_down, attn_output and output.weight (or a tied
// token_embd) more bits by layer position; rows that are not a multiple of a K type's 256 fall back to a
// 32-element type.
std::vector<TensorType> plan_tensor_types(FileType file_type, std::span<const PlannedTensor> tensors,
                                          const ModelHints& hints);

// Bytes of the tensor data a file would hold (each tensor padded to `alignment`).
uint64_t planned_data_bytes(std::span<const PlannedTensor> tensors, std::span<const TensorType> types,
                            uint64_t alignment = gguf::kDefaultAlignment);

// Thrown when a conversion stops because its cancel flag was raised.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

struct ConvertOptions {
  int threads = 1;
  // Called before each tensor is converted or copied: index, count, name, from, to.
  std::function<void(size_t, size_t, const std::string&, TensorType, TensorType)> on_tensor;
  // Polled between chunks of rows; when it reads true the conversion throws Cancelled.
  const std::atomic<bool>* cancel = nullptr;
  // Whether an existing regular file at the output may be replaced (`--force`); anything else that exists there
  // (a FIFO, device, symlink, directory) is refused either way.
  bool replace_existing = false;
};

// Fills `out` with `rows` rows of `to`, each made from `row_length` floats that `source(row, floats)` produces.
// Rows are split over `threads` threads (each calls `source` with its own buffer).
using RowSource = std::function<void(int64_t row, float* values)>;
void convert_rows(int64_t rows, int64_t row_length, TensorType to, const RowSource& source, std::span<std::byte> out,
                  const ConvertOptions& options);

// The suffix (before ".PID") of the temporary file a write goes to before it is renamed into place.
inline constexpr std::string_view kPartialSuffix = ".hearth-partial-";

// Throws std::runtime_error unless `path` may become an output: it does not exist, or it is a regular file (not
// a symlink) and `replace_existing` is set.
void check_output_destination(const std::filesystem::path& path, bool replace_existing);

// Writes `writer`'s file next to `path` as PATH.hearth-partial-PID and renames it into place, so `path` is either
// untouched or complete; the temporary file is removed on any failure (including Cancelled), and is no GGUF
// while it is being written (the writer puts the magic last). Temporary files of `path` left by processes that
// no longer run (killed by SIGKILL) are removed first. The destination is checked before and after the write.
void write_atomically(const gguf::Writer& writer, const std::filesystem::path& path, const gguf::Writer::FillTensor& fill,
                      bool replace_existing);

struct QuantizeSummary {
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
  size_t converted = 0;      // tensors whose type changed
  size_t requantized = 0;    // of those, tensors that were already block-quantized (quality loss)
};

// Converts every tensor of `input` to the types `file_type` plans, copies all metadata and sets
// general.file_type (and general.quantization_version for quantized types).
QuantizeSummary quantize_file(const std::filesystem::path& input, const std::filesystem::path& output,
                              FileType file_type, const ConvertOptions& options);

}  // namespace hearth::model
