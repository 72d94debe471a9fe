// Seeded random inputs for kernel tests: values in [-1, 1) (never all zeros), reproducible across runs.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace hearth::test {

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

}  // namespace hearth::test
