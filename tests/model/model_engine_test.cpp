// Loading models: hyperparameters checked against tensor shapes with errors that name the problem; the demo
// model's greedy continuation and perplexity (as llama.cpp computes it); `hearth run` and `hearth perplexity`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cli/run_command.h"
#include "hearth/context.h"
#include "hearth/model.h"
#include "model/temp_dir.h"
#include "model/tiny_model.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

std::filesystem::path demo_path() { return test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf"; }

std::string hearth_cli() { return (test::bin_dir() / "hearth").string(); }

TEST(ModelLoad, DemoModelHyperparameters) {
  const auto model = Model::load(demo_path());
  const ModelInfo& info = model->info();
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.name, "hearth-demo-13m");
  EXPECT_EQ(info.n_vocab, 32000);
  EXPECT_EQ(info.n_ctx_train, 512);
  EXPECT_EQ(info.n_embd, 256);
  EXPECT_EQ(info.n_layer, 6);
  EXPECT_EQ(info.n_head, 4);
  EXPECT_EQ(info.n_head_kv, 2);
  EXPECT_EQ(info.head_dim, 64);
  EXPECT_EQ(info.n_ff, 768);
  EXPECT_EQ(info.n_rot, 64);
  EXPECT_FLOAT_EQ(info.rms_eps, 1e-5f);
  EXPECT_FLOAT_EQ(info.rope_freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(info.rope_freq_scale, 1.0f);
  EXPECT_TRUE(info.tied_output);
  EXPECT_EQ(info.n_params, 12913920u);
  EXPECT_EQ(info.file_bytes, std::filesystem::file_size(demo_path()));
  EXPECT_EQ(model->tokenizer().vocab_size(), 32000u);
}

// A tiny model with one thing broken, and a piece of the error message it must produce.
struct BrokenCase {
  std::string name;
  std::function<void(test::TinyModelSpec&)> breakage;
  std::string expected;
};

void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }

class ModelLoadError : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(ModelLoadError, NamesWhatIsWrong) {
  test::TempDir dir("engine-broken");
  test::TinyModelSpec spec;
  spec.n_layer = 2;
  GetParam().breakage(spec);
  test::write_tiny_model(spec, dir / "broken.gguf");
  try {
    Model::load(dir / "broken.gguf");
    FAIL() << "expected a load error containing: " << GetParam().expected;
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("broken.gguf"), std::string::npos) << e.what();
  }
}

void set_u32(test::TinyModelSpec& spec, std::string key, uint32_t value) {
  spec.edit_metadata = [key, value](gguf::Writer& w) { w.set(key, value); };
}

INSTANTIATE_TEST_SUITE_P(
    Files, ModelLoadError,
    ::testing::Values(
        BrokenCase{"missing_tensor", [](auto& s) { s.drop_tensors = {"blk.1.ffn_up.weight"}; },
                   "tensor 'blk.1.ffn_up.weight' is missing"},
        BrokenCase{"missing_embedding", [](auto& s) { s.drop_tensors = {"token_embd.weight"}; },
                   "tensor 'token_embd.weight' is missing"},
        BrokenCase{"wrong_shape", [](auto& s) { s.shape_changes = {{"blk.0.attn_k.weight", {64, 64}}}; },
                   "tensor 'blk.0.attn_k.weight' has shape [64, 64], expected [64, 32]"},
        BrokenCase{"wrong_norm_length", [](auto& s) { s.shape_changes = {{"output_norm.weight", {32}}}; },
                   "tensor 'output_norm.weight' has shape [32], expected [64]"},
        BrokenCase{"norm_not_f32", [](auto& s) { s.type_changes = {{"blk.1.attn_norm.weight", TensorType::F16}}; },
                   "tensor 'blk.1.attn_norm.weight' has type f16, expected f32"},
        BrokenCase{"layer_count_beyond_tensors", [](auto& s) { set_u32(s, "llama.block_count", 3); },
                   "tensor 'blk.2.attn_norm.weight' is missing"},
        BrokenCase{"heads_do_not_divide", [](auto& s) { set_u32(s, "llama.attention.head_count_kv", 3); },
                   "'llama.attention.head_count_kv' is 3, which does not divide head_count 4"},
        BrokenCase{"more_kv_heads_than_heads", [](auto& s) { set_u32(s, "llama.attention.head_count_kv", 8); },
                   "'llama.attention.head_count_kv' is 8, expected 1..4"},
        BrokenCase{"zero_layers", [](auto& s) { set_u32(s, "llama.block_count", 0); },
                   "'llama.block_count' is 0, expected 1..4096"},
        BrokenCase{"missing_key",
                   [](auto& s) { s.edit_metadata = [](gguf::Writer& w) { w.remove("llama.embedding_length"); }; },
                   "metadata key 'llama.embedding_length' is missing"},
        BrokenCase{"key_of_wrong_type",
                   [](auto& s) {
                     s.edit_metadata = [](gguf::Writer& w) { w.set("llama.block_count", gguf::Value("two")); };
                   },
                   "'llama.block_count' is string, expected an integer"},
        BrokenCase{"vocab_size_mismatch", [](auto& s) { set_u32(s, "llama.vocab_size", 1000); },
                   "'llama.vocab_size' is 1000, but token_embd.weight has 32000 rows"},
        BrokenCase{"partial_rotary", [](auto& s) { set_u32(s, "llama.rope.dimension_count", 8); },
                   "'llama.rope.dimension_count' is 8, expected the (even) head size 16"},
        BrokenCase{"yarn",
                   [](auto& s) {
                     s.edit_metadata = [](gguf::Writer& w) { w.set("llama.rope.scaling.type", gguf::Value("yarn")); };
                   },
                   "'llama.rope.scaling.type' is 'yarn': only linear RoPE scaling is supported"},
        BrokenCase{"mixture_of_experts", [](auto& s) { set_u32(s, "llama.expert_count", 8); },
                   "mixture-of-experts models are not supported"},
        BrokenCase{"unsupported_architecture", [](auto& s) { s.arch = "gpt2"; },
                   "architecture 'gpt2' is not supported (supported: llama, qwen2, qwen3)"},
        BrokenCase{"qwen2_without_bias",
                   [](auto& s) {
                     s.arch = "qwen2";
                     s.qkv_bias = true;
                     s.drop_tensors = {"blk.0.attn_v.bias"};
                   },
                   "tensor 'blk.0.attn_v.bias' is missing"},
        BrokenCase{"qwen3_without_qk_norm", [](auto& s) { s.arch = "qwen3"; }, "tensor 'blk.0.attn_q_norm.weight' is missing"},
        BrokenCase{"unusable_weight_type",
                   [](auto& s) { s.type_changes = {{"blk.0.ffn_gate.weight", TensorType::I32}}; },
                   "tensor 'blk.0.ffn_gate.weight' has type i32, which Hearth cannot compute with"}),
    [](const auto& info) { return info.param.name; });

TEST(ModelLoad, OptionalTensorsAreFoundWhenPresent) {
  test::TempDir dir("engine-optional");
  test::TinyModelSpec spec;
  spec.tied_output = false;
  spec.qkv_bias = true;  // llama allows biases
  spec.rope_freqs = true;
  spec.edit_metadata = [](gguf::Writer& w) { w.set("llama.rope.scaling.factor", 4.0f); };
  test::write_tiny_model(spec, dir / "m.gguf");
  const auto model = Model::load(dir / "m.gguf");
  EXPECT_FALSE(model->info().tied_output);
  EXPECT_TRUE(model->info().rope_freq_factors);
  EXPECT_FLOAT_EQ(model->info().rope_freq_scale, 0.25f);
}

TEST(ModelLoad, NotAModelFile) {
  EXPECT_THROW(Model::load(test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf"), LoadError);
  EXPECT_ANY_THROW(Model::load(test::shared_dir() / "text" / "python-debian-heldout.txt"));
}

// The greedy continuation of the demo model, through the public API only.
TEST(DemoModel, GreedyContinuationMatchesLlamaCpp) {
  const auto model = Model::load(demo_path());
  Context ctx(model, {.n_ctx = 64});
  const tokenizer::Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> prompt = tok.tokenize("The Python interpreter", true, false);
  ASSERT_EQ(prompt, (std::vector<int32_t>{1, 450, 5132, 26997}));
  Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  ctx.decode(batch);
  std::vector<int32_t> generated;
  size_t index = prompt.size() - 1;
  for (int step = 0; step < 12; ++step) {
    const auto logits = ctx.logits(index);
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    generated.push_back(next);
    batch.clear();
    batch.add(next, static_cast<int32_t>(prompt.size() + generated.size() - 1), 0, true);
    ctx.decode(batch);
    index = 0;
  }
  // llama.cpp's greedy tokens for this prompt (tools/peer/evaluate.mjs).
  EXPECT_EQ(generated, (std::vector<int32_t>{1286, 11286, 278, 584, 26766, 18078, 5215, 29952, 3229, 29889, 13, 13}));
  tokenizer::StreamingDetokenizer text(tok, false, false);
  std::string out;
  for (int32_t t : generated) out += text.push(t);
  EXPECT_EQ(out, " now supports the :keyword:`import` statement.\n\n");
}

TEST(Cli, RunStreamsTheContinuationAndReportsTimingAndMemory) {
  const auto result = test::run_command(hearth_cli() + " run -m " + demo_path().string() +
                                        " -p 'The Python interpreter' -n 10 --temp 0 -c 128 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_EQ(result.out.rfind("The Python interpreter now supports the :keyword:`import` statement.", 0), 0u) << result.out;
  for (const char* line : {"prompt:       4 tokens", "first token:", "generation:   10 tokens", "loaded in",
                           "memory:       weights 13.8 MiB mapped, KV cache 0.4 MiB, scratch"}) {
    EXPECT_NE(result.out.find(line), std::string::npos) << "missing '" << line << "' in:\n" << result.out;
  }
}

TEST(Cli, RunUsesTheDefaultModel) {
  test::TempDir models("engine-default-model");
  std::filesystem::create_symlink(demo_path(), models / "default.gguf");
  const auto result = test::run_command("HEARTH_MODELS=" + models.path().string() + " " + hearth_cli() +
                                        " run -p 'The Python interpreter' -n 3 --temp 0 2>/dev/null");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "The Python interpreter now supports the\n");

  test::TempDir empty("engine-no-model");
  const auto missing = test::run_command("HEARTH_MODELS=" + empty.path().string() + " " + hearth_cli() +
                                         " run -p hello 2>&1");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("no default model in " + empty.path().string()), std::string::npos) << missing.out;
}

TEST(Cli, ContextOverflowIsAnErrorUnlessAPolicyIsChosen) {
  const std::string base = hearth_cli() + " run -m " + demo_path().string() +
                           " -p 'The Python interpreter reads' -c 16 --temp 0 ";
  const auto refused = test::run_command(base + "-n 20 2>&1");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("the prompt (5 tokens) plus max_tokens (20) needs 25 tokens of context, but the "
                             "context holds 16"),
            std::string::npos)
      << refused.out;

  const auto truncated = test::run_command(base + "-n 14 --context-overflow=truncate-left 2>&1");
  EXPECT_EQ(truncated.exit_code, 0) << truncated.out;
  EXPECT_NE(truncated.out.find("prompt:       2 tokens"), std::string::npos) << truncated.out;

  const auto shifted = test::run_command(base + "-n 40 --context-overflow=shift 2>&1");
  EXPECT_EQ(shifted.exit_code, 0) << shifted.out;
  EXPECT_NE(shifted.out.find("generation:   40 tokens"), std::string::npos) << shifted.out;
  EXPECT_NE(shifted.out.find("positions shifted out"), std::string::npos) << shifted.out;
}

}  // namespace
}  // namespace hearth
