// How long opening a GGUF file takes: parsing and validating its header, metadata and tensor table.
// Opening maps the file; only header pages are read, so the time tracks metadata size, not file size.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "hearth/gguf.h"

namespace {

namespace fs = std::filesystem;

fs::path shared_dir() {
  const char* env = std::getenv("HEARTH_SHARED");
  return env != nullptr && *env != '\0' ? fs::path(env) : fs::path(HEARTH_SHARED_DIR);
}

// A sparse file shaped like an 8B model in F16: 291 tensors, 16 GB, the Llama 3 vocabulary's metadata.
fs::path make_large_file() {
  const fs::path path = fs::temp_directory_path() / "hearth-bench-large.gguf";
  const auto vocab = hearth::gguf::File::open(shared_dir() / "vocab" / "ggml-vocab-llama-bpe.gguf");
  hearth::gguf::Writer writer;
  writer.copy_metadata(vocab);
  const std::vector<int64_t> square{4096, 4096}, kv{4096, 1024}, up{4096, 14336}, down{14336, 4096}, norm{4096};
  for (int layer = 0; layer < 32; ++layer) {
    const std::string blk = "blk." + std::to_string(layer) + ".";
    writer.add_tensor(blk + "attn_q.weight", hearth::TensorType::F16, square);
    writer.add_tensor(blk + "attn_k.weight", hearth::TensorType::F16, kv);
    writer.add_tensor(blk + "attn_v.weight", hearth::TensorType::F16, kv);
    writer.add_tensor(blk + "attn_output.weight", hearth::TensorType::F16, square);
    writer.add_tensor(blk + "ffn_gate.weight", hearth::TensorType::F16, up);
    writer.add_tensor(blk + "ffn_up.weight", hearth::TensorType::F16, up);
    writer.add_tensor(blk + "ffn_down.weight", hearth::TensorType::F16, down);
    writer.add_tensor(blk + "attn_norm.weight", hearth::TensorType::F32, norm);
    writer.add_tensor(blk + "ffn_norm.weight", hearth::TensorType::F32, norm);
  }
  writer.write(path, [](size_t, std::span<std::byte>) {});  // data pages left unwritten
  return path;
}

void BM_OpenLlama3Vocab(benchmark::State& state) {
  const fs::path path = shared_dir() / "vocab" / "ggml-vocab-llama-bpe.gguf";
  for (auto _ : state) benchmark::DoNotOptimize(hearth::gguf::File::open(path).metadata().size());
}
BENCHMARK(BM_OpenLlama3Vocab)->Unit(benchmark::kMillisecond);

void BM_OpenLargeModel(benchmark::State& state) {
  static const fs::path path = make_large_file();
  state.counters["file_GB"] = static_cast<double>(fs::file_size(path)) / 1e9;
  for (auto _ : state) benchmark::DoNotOptimize(hearth::gguf::File::open(path).tensors().size());
}
BENCHMARK(BM_OpenLargeModel)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove(fs::temp_directory_path() / "hearth-bench-large.gguf");
}
