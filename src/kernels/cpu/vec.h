// Hot loops get vector clones picked at load time (ifunc), keeping the baseline build portable.
#pragma once

#if defined(__x86_64__)
#define HEARTH_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HEARTH_VECTOR_CLONES
#endif

// Loops of std::fma: a clone for CPUs with FMA instructions (x86-64-v3), where the calls become instructions and
// the lane loops vectorize; the default clone calls the C library's fma (same results, slower). GCC only: the
// Clang build (sanitizers) keeps the default.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HEARTH_FMA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HEARTH_FMA_CLONES
#endif
