// Llama 1/2/3 and the models converted as "llama" (Mistral, TinyLlama, SmolLM, ...): RoPE on adjacent pairs (the
// converter permutes q/k rows into that layout), biases optional (a few fine-tunes carry them), tied or untied
// output, Llama 3.1+ frequency factors from rope_freqs.weight.
#include "model/model_impl.h"

namespace hearth::model {

const Architecture& llama_architecture() {
  static constexpr Architecture kLlama{
      .name = "llama",
      .rope_pairing = kernels::RopePairing::Adjacent,
      .qkv_bias = Presence::optional,
      .output_bias = Presence::optional,
      .qk_norm = Presence::absent,
  };
  return kLlama;
}

}  // namespace hearth::model
