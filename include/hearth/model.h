// Models: a GGUF file of a supported architecture, checked and bound for inference.
//
//   auto model = hearth::Model::load("model.gguf");        // throws hearth::LoadError naming what is wrong
//   hearth::Context ctx(model, {.n_ctx = 2048});            // see hearth/context.h
//
// Supported architectures (general.architecture): llama (Llama 1/2/3, Mistral, TinyLlama, SmolLM), qwen2, qwen3.
// Weights are used where the file is mapped (nothing is copied); every hyperparameter is checked against the
// shapes of the tensors that use it before anything runs. A Model is immutable once loaded and may be shared by
// any number of Contexts on any threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"

namespace hearth {

// The file is not a model Hearth can run: unsupported architecture, missing or mis-shaped tensor, missing or
// inconsistent hyperparameter. The message names the file and the key or tensor.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the file says about the model, after checking.
struct ModelInfo {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, else the file's stem
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;   // context length the model was trained for
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;      // of queries and keys
  int64_t head_dim_v = 0;    // of values
  int64_t n_ff = 0;
  int64_t n_rot = 0;         // rotated dimensions of each head
  float rms_eps = 0.0f;
  float rope_freq_base = 0.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  bool rope_freq_factors = false;  // a rope_freqs.weight tensor (Llama 3.1+) scales each frequency
  bool tied_output = false;        // no output.weight: the token embedding doubles as output projection
  uint64_t n_params = 0;           // elements of every weight the forward pass uses
  uint64_t file_bytes = 0;         // the whole mapped file
};

class Model {
 public:
  struct Impl;  // the bound weights and configuration (internal: src/model/model_impl.h)

  // Maps the file, checks it and binds its weights and tokenizer. Throws LoadError (or gguf::FormatError for a
  // malformed file, tokenizer::LoadError for a broken vocabulary).
  static std::shared_ptr<const Model> load(const std::filesystem::path& path);

  explicit Model(std::unique_ptr<Impl> impl);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  const gguf::File& file() const;  // all metadata, e.g. tokenizer.chat_template
  const tokenizer::Tokenizer& tokenizer() const;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth
