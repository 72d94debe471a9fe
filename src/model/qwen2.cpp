// Qwen2 / Qwen2.5: Llama's block with biases on the q, k and v projections and NeoX-style RoPE (halves).
#include "model/model_impl.h"

namespace hearth::model {

const Architecture& qwen2_architecture() {
  static constexpr Architecture kQwen2{
      .name = "qwen2",
      .rope_pairing = kernels::RopePairing::Halves,
      .qkv_bias = Presence::required,
      .output_bias = Presence::absent,
      .qk_norm = Presence::absent,
  };
  return kQwen2;
}

}  // namespace hearth::model
