// The packed block layouts of the ggml formats, byte for byte as GGUF files store them (little-endian).
// fp16 fields are raw IEEE binary16 bits.
#pragma once

#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::tensor {

inline constexpr int kQK = 32;    // elements per block of the legacy formats and IQ4_NL
inline constexpr int kQK_K = 256;  // elements per super-block of the K formats and IQ4_XS
inline constexpr int kKScaleBytes = 12;  // Q3_K..Q5_K pack their 6-bit sub-block scales into 12 bytes

// x = d * (q - 8), q in 0..15: element j in the low nibble of qs[j], element j+16 in the high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// x = d * q + m, q in 0..15, same nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// x = d * (q - 16), q in 0..31: low four bits as in Q4_0, bit 4 of element j is bit j of the 32-bit qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q + m, q in 0..31, bits as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// x = d * q; s = d * sum(q) is kept for dot products.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};

// 16 groups of 16: x = d * (scales & 15) * q - dmin * (scales >> 4), q in 0..3.
// qs byte 32*h + l holds, in bit pairs 0-1, 2-3, 4-5, 6-7, the elements 128*h + l, +32, +64, +96.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 16 groups of 16 with signed 6-bit scales (stored + 32): x = d * (scale - 32) * (q - 4), q in 0..7.
// The low two bits of q are packed like Q2_K; bit 2 of element i is bit (i / 32) of hmask[i % 32].
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[kKScaleBytes];
  uint16_t d;
};

// 8 groups of 32 with 6-bit scales and mins: x = d * scale * q - dmin * min, q in 0..15.
// qs byte 32*h + l holds element 64*h + l (low nibble) and 64*h + 32 + l (high nibble).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K with q in 0..31: bit 4 of element 64*h + l is bit 2h of qh[l], of element 64*h + 32 + l bit 2h+1.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 groups of 16 with int8 scales: x = d * scale * (q - 32), q in 0..63.
// Per half h (128 elements), element 128*h + 32*k + l has its low nibble in ql[64*h + l + 32*(k & 1)]
// (low nibble for k < 2, high for k >= 2) and its top two bits in bits 2k..2k+1 of qh[32*h + l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// The intermediate format of K-quant dot products: x = d * q with an f32 d, plus the sums of each 16 q.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// A non-linear 4-bit grid: x = d * kIQ4Values[q], nibbles ordered as Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// 8 groups of 32 on the IQ4_NL grid with 6-bit scales (stored + 32): low nibbles in scales_l (group g in
// nibble g % 2 of byte g / 2), high bit pairs in scales_h (bits 2g..2g+1). Each group's qs as IQ4_NL.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

inline constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// The GGUF format fixes these sizes; tests also check each against the type table (type_traits).
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);

}  // namespace hearth::tensor
