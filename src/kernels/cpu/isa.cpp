#include "kernels/cpu/isa.h"

#include <cpuid.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace hearth::kernels::cpu {
namespace {

bool cpu_has_f16c() {
  // clang 14 has no "f16c" for __builtin_cpu_supports: CPUID leaf 1, ECX bit 29.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

Isa detect_isa() {
  // __builtin_cpu_supports also checks that the OS saves the registers (XCR0).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
    return Isa::avx512;
  }
  return avx2 ? Isa::avx2 : Isa::scalar;
}

Isa chosen_isa() {
  const Isa best = detect_isa();
  const char* requested = std::getenv("HEARTH_CPU_ISA");
  if (requested == nullptr || *requested == '\0') return best;
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (isa_name(isa) != requested) continue;
    if (!isa_supported(isa)) {
      throw std::runtime_error("HEARTH_CPU_ISA=" + std::string(requested) + ": this CPU does not support it (best: " +
                               std::string(isa_name(best)) + ")");
    }
    return isa;
  }
  throw std::runtime_error("HEARTH_CPU_ISA=" + std::string(requested) + ": expected avx512, avx2 or scalar");
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::scalar: return "scalar";
  }
  return "scalar";
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) >= static_cast<int>(detect_isa()); }

Isa cpu_isa() {
  static const Isa isa = chosen_isa();
  return isa;
}

}  // namespace hearth::kernels::cpu
