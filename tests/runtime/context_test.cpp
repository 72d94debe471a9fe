// Context: batching never changes a bit of the results (one batch, token by token, split passes, several sequences
// at once, generation beside seven other sequences),
// cache edits (remove, shift, make_room) keep later logits right, bad batches are refused without side effects,
// and the memory it reserves is what it reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "hearth/context.h"
#include "hearth/model.h"
#include "model/temp_dir.h"
#include "model/tiny_model.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

using Logits = std::vector<std::vector<float>>;

std::shared_ptr<const Model> demo_model() {
  static const std::shared_ptr<const Model> model =
      Model::load(test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf");
  return model;
}

std::vector<int32_t> demo_tokens(const std::string& text) {
  return demo_model()->tokenizer().tokenize(text, true, false);
}

// Decodes `tokens` of one sequence at positions first_pos.. in one batch, with logits for every token.
Logits decode_batch(Context& ctx, const std::vector<int32_t>& tokens, int32_t seq = 0, int32_t first_pos = 0) {
  Batch batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], first_pos + static_cast<int32_t>(i), seq, true);
  ctx.decode(batch);
  Logits out;
  for (size_t i = 0; i < tokens.size(); ++i) out.emplace_back(ctx.logits(i).begin(), ctx.logits(i).end());
  return out;
}

Logits decode_one_by_one(Context& ctx, const std::vector<int32_t>& tokens, int32_t seq = 0, int32_t first_pos = 0) {
  Logits out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Batch batch;
    batch.add(tokens[i], first_pos + static_cast<int32_t>(i), seq, true);
    ctx.decode(batch);
    out.emplace_back(ctx.logits(0).begin(), ctx.logits(0).end());
  }
  return out;
}

float max_difference(const Logits& a, const Logits& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    for (size_t v = 0; v < a[i].size(); ++v) worst = std::max(worst, std::fabs(a[i][v] - b[i][v]));
  }
  return worst;
}

ContextOptions options(int32_t n_ctx, int32_t n_outputs, int32_t n_seq = 1) {
  return {.n_ctx = n_ctx, .n_seq_max = n_seq, .n_outputs_max = n_outputs, .n_threads = 2};
}

TEST(Context, OneBatchEqualsTokenByToken) {
  const auto tokens = demo_tokens("The Python interpreter reads a script and runs it line by line.");
  ASSERT_GT(tokens.size(), 10u);
  Context batched(demo_model(), options(64, 32));
  Context single(demo_model(), options(64, 32));
  const Logits a = decode_batch(batched, tokens);
  const Logits b = decode_one_by_one(single, tokens);
  EXPECT_EQ(max_difference(a, b), 0.0f) << "a token's logits must not depend on its batch";
  EXPECT_EQ(batched.n_cells_used(), static_cast<int32_t>(tokens.size()));
}

TEST(Context, PassesOfFewTokensEqualOneBatch) {
  const auto tokens = demo_tokens("import os, sys; print(sys.argv)");
  Context whole(demo_model(), options(64, 32));
  ContextOptions small = options(64, 32);
  small.n_batch = 3;  // decode() splits the batch into passes of three tokens
  Context split(demo_model(), small);
  EXPECT_EQ(max_difference(decode_batch(whole, tokens), decode_batch(split, tokens)), 0.0f);
}

TEST(Context, TwoSequencesInOneBatchEqualEachRunAlone) {
  const auto first = demo_tokens("Debian packages are managed with apt.");
  const auto second = demo_tokens("A list comprehension builds a new list");
  Context both(demo_model(), options(64, 64, 2));
  // Interleave the two prompts token by token in one batch.
  Batch batch;
  std::vector<std::pair<int, size_t>> order;  // (sequence, index) of each batch token
  for (size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) batch.add(first[i], static_cast<int32_t>(i), 0, true), order.emplace_back(0, i);
    if (i < second.size()) batch.add(second[i], static_cast<int32_t>(i), 1, true), order.emplace_back(1, i);
  }
  both.decode(batch);
  Logits together[2];
  together[0].resize(first.size());
  together[1].resize(second.size());
  for (size_t b = 0; b < order.size(); ++b) {
    together[order[b].first][order[b].second].assign(both.logits(b).begin(), both.logits(b).end());
  }
  Context alone(demo_model(), options(64, 64));
  EXPECT_EQ(max_difference(together[0], decode_batch(alone, first)), 0.0f);
  alone.clear();
  EXPECT_EQ(max_difference(together[1], decode_batch(alone, second)), 0.0f);
  EXPECT_EQ(both.seq_length(0), static_cast<int32_t>(first.size()));
  EXPECT_EQ(both.seq_length(1), static_cast<int32_t>(second.size()));
}

TEST(Context, GenerationBesideSevenOtherSequencesGivesTheSameBitsAsAlone) {
  // As a server decodes: eight sequences with prompts of different lengths, then generation steps of one token per
  // sequence in one batch. Sequence 0's logits must be the bits it gets when it is decoded alone.
  const char* prompts[8] = {"Debian packages", "A list comprehension builds", "import os", "The Python interpreter",
                            "apt-get install", "def main():", "Unit tests", "A dictionary maps keys to"};
  std::vector<std::vector<int32_t>> tokens;
  for (const char* prompt : prompts) tokens.push_back(demo_tokens(prompt));
  const std::vector<int32_t> steps = demo_tokens(" and then it runs the next line");
  Context crowd(demo_model(), options(256, 8, 8));
  for (int32_t seq = 0; seq < 8; ++seq) decode_batch(crowd, tokens[seq], seq);
  Logits beside;
  for (size_t step = 1; step < steps.size(); ++step) {
    Batch batch;
    for (int32_t seq = 0; seq < 8; ++seq) {
      batch.add(steps[step], static_cast<int32_t>(tokens[seq].size() + step - 1), seq, true);
    }
    crowd.decode(batch);
    beside.emplace_back(crowd.logits(0).begin(), crowd.logits(0).end());
  }
  Context alone(demo_model(), options(256, 8));
  decode_batch(alone, tokens[0]);
  const std::vector<int32_t> own_steps(steps.begin() + 1, steps.end());
  const Logits by_itself = decode_one_by_one(alone, own_steps, 0, static_cast<int32_t>(tokens[0].size()));
  EXPECT_EQ(max_difference(beside, by_itself), 0.0f);
}

TEST(Context, EveryArchitecturePathBatchesConsistently) {
  test::TempDir dir("engine-arch");
  std::vector<test::TinyModelSpec> specs(4);
  specs[0].arch = "llama";  // untied output, optional biases, Llama 3 frequency factors
  specs[0].tied_output = false;
  specs[0].qkv_bias = true;
  specs[0].rope_freqs = true;
  specs[1].arch = "qwen2";
  specs[1].qkv_bias = true;
  specs[2].arch = "qwen3";  // heads wider than embedding / heads
  specs[2].qk_norm = true;
  specs[2].head_dim = 32;
  specs[3].arch = "llama";
  specs[3].matrix_type = TensorType::Q4_K;
  specs[3].n_embd = 256;
  specs[3].n_head = 8;
  specs[3].head_dim = 32;
  specs[3].n_ff = 256;
  std::vector<int32_t> tokens{1, 450, 5132, 26997, 338, 29871, 13, 1576, 4086, 29889, 7};
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto path = dir / ("model" + std::to_string(i) + ".gguf");
    test::write_tiny_model(specs[i], path);
    const auto model = Model::load(path);
    Context a(model, options(32, 16));
    Context b(model, options(32, 16));
    const Logits batched = decode_batch(a, tokens);
    EXPECT_EQ(max_difference(batched, decode_one_by_one(b, tokens)), 0.0f) << specs[i].arch << " model " << i;
    // The logits depend on the input: not constant, finite.
    const auto [lo, hi] = std::minmax_element(batched.back().begin(), batched.back().end());
    EXPECT_TRUE(std::isfinite(*lo) && std::isfinite(*hi));
    EXPECT_GT(*hi - *lo, 1e-3f) << specs[i].arch;
    EXPECT_GT(max_difference({batched[0]}, {batched[1]}), 1e-4f) << specs[i].arch;
  }
}

TEST(Context, RemovedPositionsCanBeDecodedAgain) {
  const auto text = demo_tokens("The quick brown fox jumps over the lazy dog");
  const std::vector<int32_t> prefix(text.begin(), text.begin() + 5);
  const std::vector<int32_t> old_tail(text.begin() + 5, text.end());
  const std::vector<int32_t> new_tail = demo_tokens("Debian");  // BOS + "Debian": any tokens will do
  Context edited(demo_model(), options(64, 32));
  decode_batch(edited, prefix);
  decode_batch(edited, old_tail, 0, 5);
  edited.remove(0, 5, -1);
  EXPECT_EQ(edited.seq_pos_max(0), 4);
  const Logits after_edit = decode_batch(edited, new_tail, 0, 5);

  Context fresh(demo_model(), options(64, 32));
  decode_batch(fresh, prefix);
  EXPECT_LE(max_difference(after_edit, decode_batch(fresh, new_tail, 0, 5)), 1e-4f);
}

TEST(Context, ACopiedPrefixGivesTheBitsOfOneDecodedInPlace) {
  const auto text = demo_tokens("The quick brown fox jumps over the lazy dog");
  const std::vector<int32_t> prefix(text.begin(), text.begin() + 6);
  const std::vector<int32_t> tail(text.begin() + 6, text.end());
  Context ctx(demo_model(), options(64, 32, 3));
  decode_batch(ctx, text, 0);                            // sequence 0 holds the whole text
  ctx.copy_prefix(0, 1, static_cast<int32_t>(prefix.size()));
  EXPECT_EQ(ctx.seq_length(1), static_cast<int32_t>(prefix.size()));
  const Logits copied = decode_batch(ctx, tail, 1, static_cast<int32_t>(prefix.size()));
  decode_batch(ctx, prefix, 2);
  const Logits computed = decode_batch(ctx, tail, 2, static_cast<int32_t>(prefix.size()));
  EXPECT_EQ(copied, computed);  // bit for bit
  // Refused, changing nothing: a source without the prefix, a target that holds it, too few free cells.
  EXPECT_THROW(ctx.copy_prefix(1, 0, 40), std::invalid_argument);
  EXPECT_THROW(ctx.copy_prefix(0, 1, 3), std::invalid_argument);
  Context small(demo_model(), options(12, 12, 2));
  decode_batch(small, std::vector<int32_t>(text.begin(), text.begin() + 8), 0);
  EXPECT_THROW(small.copy_prefix(0, 1, 8), ContextFullError);
  EXPECT_EQ(small.seq_length(1), 0);
}

TEST(Context, ShiftedTokensBehaveAsIfDecodedAtTheirNewPositions) {
  const auto tokens = demo_tokens("Python's standard library is very extensive");
  const std::vector<int32_t> head(tokens.begin(), tokens.end() - 1);
  const std::vector<int32_t> last{tokens.back()};
  ContextOptions f32 = options(64, 32);
  f32.kv_type = KvCacheType::f32;

  Context shifted(demo_model(), f32);
  decode_batch(shifted, head, 0, 20);
  shifted.shift(0, 20, -1, -20);
  EXPECT_EQ(shifted.seq_pos_max(0), static_cast<int32_t>(head.size()) - 1);
  const Logits a = decode_batch(shifted, last, 0, static_cast<int32_t>(head.size()));

  Context direct(demo_model(), f32);
  decode_batch(direct, head);
  const Logits b = decode_batch(direct, last, 0, static_cast<int32_t>(head.size()));
  EXPECT_LE(max_difference(a, b), 2e-3f);
}

TEST(Context, MakeRoomDiscardsHalfOfWhatFollowsTheKeptTokens) {
  Context ctx(demo_model(), options(16, 1));
  const auto tokens = demo_tokens("one two three four five six seven eight nine ten eleven twelve thirteen");
  ASSERT_GE(tokens.size(), 16u);
  Batch batch;
  for (int32_t i = 0; i < 16; ++i) batch.add(tokens[i], i, 0, i == 15);
  ctx.decode(batch);
  EXPECT_EQ(make_room(ctx, 0, 1), 7);  // (16 - 1) / 2
  EXPECT_EQ(ctx.n_cells_used(), 9);
  EXPECT_EQ(ctx.seq_pos_max(0), 8);
  EXPECT_EQ(make_room(ctx, 0, 1), 0);  // room left: nothing to do
  batch.clear();
  batch.add(tokens[0], 9, 0, true);
  ctx.decode(batch);
  EXPECT_EQ(ctx.logits(0).size(), 32000u);
}

TEST(Context, BadBatchesAreRefusedWithoutChangingAnything) {
  Context ctx(demo_model(), options(8, 2, 2));
  Batch ok;
  ok.add(1, 0, 0, true);
  ok.add(450, 1, 0, true);
  ctx.decode(ok);
  auto refused = [&](std::vector<BatchToken> tokens) {
    Batch batch{std::move(tokens)};
    return batch;
  };
  EXPECT_THROW(ctx.decode(refused({})), std::invalid_argument);
  EXPECT_THROW(ctx.decode(refused({{32000, 2, 0, false}})), std::invalid_argument);   // outside the vocabulary
  EXPECT_THROW(ctx.decode(refused({{-1, 2, 0, false}})), std::invalid_argument);
  EXPECT_THROW(ctx.decode(refused({{5, 2, 2, false}})), std::invalid_argument);       // no sequence 2
  EXPECT_THROW(ctx.decode(refused({{5, 1, 0, false}})), std::invalid_argument);       // position already held
  EXPECT_THROW(ctx.decode(refused({{5, 3, 1, false}, {6, 3, 1, false}})), std::invalid_argument);  // repeated
  EXPECT_THROW(ctx.decode(refused({{5, 2, 0, true}, {6, 3, 0, true}, {7, 4, 0, true}})),
               std::invalid_argument);  // three outputs, two allowed
  EXPECT_THROW(ctx.decode(refused({{5, 2, 0, false}, {5, 3, 0, false}, {5, 4, 0, false}, {5, 5, 0, false},
                                   {5, 6, 0, false}, {5, 7, 0, false}, {5, 8, 0, false}})),
               ContextFullError);  // 7 tokens, 6 free cells
  EXPECT_EQ(ctx.n_cells_used(), 2);
  EXPECT_EQ(ctx.seq_pos_max(0), 1);
  EXPECT_EQ(ctx.seq_pos_max(1), -1);
  EXPECT_EQ(ctx.logits(1).size(), 32000u);  // the last good batch's logits are still there
}

TEST(Context, LogitsOnlyForTokensThatAskedForThem) {
  Context ctx(demo_model(), options(8, 1));
  Batch batch;
  batch.add(1, 0, 0, false);
  batch.add(450, 1, 0, true);
  ctx.decode(batch);
  EXPECT_THROW(ctx.logits(0), std::out_of_range);
  EXPECT_THROW(ctx.logits(2), std::out_of_range);
  EXPECT_EQ(ctx.logits(1).size(), 32000u);
}

TEST(Context, DefaultsComeFromTheModel) {
  Context ctx(demo_model(), {.n_ctx = 0, .n_batch = 4096, .n_threads = 1});
  EXPECT_EQ(ctx.n_ctx(), 512);               // the model's training context
  EXPECT_EQ(ctx.options().n_batch, 512);     // no pass larger than the cache
  EXPECT_EQ(ctx.options().n_outputs_max, 1);  // one per sequence
  EXPECT_EQ(ctx.n_vocab(), 32000);
  EXPECT_THROW(Context(demo_model(), {.n_ctx = -1}), std::invalid_argument);
  EXPECT_THROW(Context(demo_model(), {.n_seq_max = 0}), std::invalid_argument);
}

TEST(Context, MemoryReportCountsTheCacheAndRefusesWhatCannotFit) {
  Context f16(demo_model(), options(128, 4));
  const MemoryReport m = f16.memory();
  // 6 layers x 128 cells x (keys + values of 2 heads x 64) x 2 bytes
  EXPECT_EQ(m.kv_cache, 6u * 128u * 2u * 128u * 2u);
  EXPECT_EQ(m.weights_mapped, demo_model()->info().file_bytes);
  // Logits of 4 outputs alone are 4 x 32000 floats.
  EXPECT_GT(m.scratch, 4u * 32000u * 4u);
  ContextOptions wide = options(128, 4);
  wide.kv_type = KvCacheType::f32;
  EXPECT_EQ(Context(demo_model(), wide).memory().kv_cache, 2 * m.kv_cache);

  try {
    Context huge(demo_model(), options(1 << 30, 1));
    FAIL() << "a 2^30-token context should not fit";
  } catch (const ResourceError& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hearth
