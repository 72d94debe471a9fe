// e^x the way llama.cpp's vectorized CPU code computes it, in scalar form.
//
// llama.cpp's softmax and SiLU do not call libm's expf: they evaluate a degree-5 polynomial after a range reduction
// (ggml_v_expf, after Arm's optimized-routines expf; at most about 1.5 ulp from e^x). Its last bit differs from
// expf's on a good share of inputs, and softmax weights and SiLU outputs are rounded to f16 or 8 bits right after,
// so the engines agree only if they use the same function. This is the AVX-512 form (the one every AVX-512 CPU
// runs: the polynomial includes the leading 1 and the result is scaled by 2^n exactly).
#pragma once

namespace hearth::kernels::cpu {

float poly_exp(float x);

// Lanes of llama.cpp's AVX-512 vectors: its softmax and SiLU use poly_exp on whole 16-value chunks and libm's expf
// on the remainder of a row.
inline constexpr int kPolyExpLanes = 16;

}  // namespace hearth::kernels::cpu
