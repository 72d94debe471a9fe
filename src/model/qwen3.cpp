// Qwen3 (dense): no biases, an RMS norm over each head of q and k before RoPE (NeoX-style halves), and a head
// size given by attention.key_length that need not be embedding_length / head_count.
#include "model/model_impl.h"

namespace hearth::model {

const Architecture& qwen3_architecture() {
  static constexpr Architecture kQwen3{
      .name = "qwen3",
      .rope_pairing = kernels::RopePairing::Halves,
      .qkv_bias = Presence::absent,
      .output_bias = Presence::absent,
      .qk_norm = Presence::required,
  };
  return kQwen3;
}

}  // namespace hearth::model
