// The x86 instruction sets Hearth has vector kernels for, and the one dispatch point that picks them: each kernel
// family (quant_tiles.h, attention.h) has one implementation file per set, compiled with that set's flags only,
// and asks for the set chosen here.
#pragma once

#include <string_view>

namespace hearth::kernels::cpu {

// Best first; `scalar` means the plain reference kernels, which run everywhere.
enum class Isa { avx512, avx2, scalar };

// The best set this CPU and OS support, lowered by HEARTH_CPU_ISA=avx2|scalar (to measure or test the slower
// paths on a fast machine; a request above what the CPU has is an error at first use).
Isa cpu_isa();
std::string_view isa_name(Isa isa);
bool isa_supported(Isa isa);

}  // namespace hearth::kernels::cpu
