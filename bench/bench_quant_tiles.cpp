// Single-thread throughput of the quantized matrix-product kernels: the tile kernels of each instruction set and the
// scalar references, for one token (generation: weight bytes streamed per second) and for groups of four tokens
// (prompt processing: multiply-adds per second). Weights 2048 x 2048 (a 1B model's attention projection) fit
// in L2/L3 here, so that generation figure is the kernel's own speed, above what memory bandwidth allows; the
// "from_memory" cases multiply 32768 x 4096 weights (75 MB and up, past any L3) by one token, as generation
// streams a layer's weights from memory: the gap between the two is what the memory system costs the kernel.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_tiles.h"
#include "tensor/quant.h"

namespace {

using namespace hearth;
using namespace hearth::kernels::cpu;

struct Shape {
  int64_t rows, cols;
};
constexpr Shape kCached{2048, 2048}, kFromMemory{32768, 4096};

void run_matmul(benchmark::State& state, TensorType type, Isa isa, int64_t tokens, Shape shape) {
  const auto [rows, cols] = shape;
  if (!isa_supported(isa)) {
    state.SkipWithError("instruction set not supported here");
    return;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(tokens * cols));
  for (float& v : w) v = dist(rng);
  for (float& v : x) v = dist(rng);
  const uint64_t w_row = *row_bytes(type, cols);
  std::vector<std::byte> weight(w_row * rows);
  for (int64_t r = 0; r < rows; ++r) tensor::quantize_row(type, w.data() + r * cols, weight.data() + r * w_row, cols);
  const TensorType format = activation_format(type);
  const uint64_t x_row = activation_row_bytes(format, cols);
  std::vector<std::byte> blocks(x_row * static_cast<uint64_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) quantize_activations(format, x.data() + t * cols, blocks.data() + t * x_row, cols);
  std::vector<float> y(static_cast<size_t>(rows * tokens));
  const QuantMatrix matrix{type, weight.data(), w_row, rows, cols};
  const QuantTile tile = quant_tile(type, isa);
  const QuantRowTile row_tile = quant_row_tile(type, isa);
  for (auto _ : state) {
    for (int64_t r = 0; r < rows; r += kMatmulTileRows) {
      matmul_quant_rows(matrix, quant_dot_kernel(type), tile, row_tile, blocks.data(), x_row, tokens, y.data(), rows, r,
                        r + kMatmulTileRows);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(weight.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * tokens) / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  for (TensorType type : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::Q5_K, TensorType::Q4_0}) {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
      for (int64_t tokens : {int64_t{1}, int64_t{16}}) {
        const std::string name =
            std::string(type_name(type)) + "/" + std::string(isa_name(isa)) + "/tokens:" + std::to_string(tokens);
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_matmul(s, type, isa, tokens, kCached); })
            ->Unit(benchmark::kMicrosecond);
      }
      if (isa != Isa::scalar) {
        const std::string name = std::string(type_name(type)) + "/" + std::string(isa_name(isa)) + "/from_memory";
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_matmul(s, type, isa, 1, kFromMemory); })
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
}
