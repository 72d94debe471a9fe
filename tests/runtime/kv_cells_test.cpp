// KV cache bookkeeping: lowest free cell first, per-sequence position order, removal and shifting.
#include <gtest/gtest.h>

#include "runtime/kv_cells.h"

namespace hearth::runtime {
namespace {

TEST(KvCells, InsertsIntoTheLowestFreeCellAndTracksEachSequence) {
  KvCells cells(4, 2);
  EXPECT_EQ(cells.insert(0, 0), 0);
  EXPECT_EQ(cells.insert(1, 5), 1);
  EXPECT_EQ(cells.insert(0, 1), 2);
  EXPECT_EQ(cells.used(), 3);
  EXPECT_EQ(cells.n_free(), 1);
  EXPECT_EQ(cells.seq_pos_max(0), 1);
  EXPECT_EQ(cells.seq_pos_max(1), 5);
  EXPECT_EQ(cells.seq_length(0), 2);

  cells.erase(1, 5);  // frees cell 1, which is taken next
  EXPECT_EQ(cells.seq_pos_max(1), -1);
  EXPECT_EQ(cells.insert(1, 0), 1);
  EXPECT_EQ(cells.insert(1, 1), 3);
}

TEST(KvCells, SequenceListsCellsInPositionOrder) {
  KvCells cells(5, 1);
  cells.insert(0, 10);
  cells.insert(0, 2);
  cells.insert(0, 7);
  std::vector<int32_t> order, positions;
  cells.sequence(0, order, positions);
  EXPECT_EQ(positions, (std::vector<int32_t>{2, 7, 10}));
  EXPECT_EQ(order, (std::vector<int32_t>{1, 2, 0}));
}

TEST(KvCells, RemoveFreesARangeOfPositions) {
  KvCells cells(6, 2);
  for (int32_t p = 0; p < 4; ++p) cells.insert(0, p);
  cells.insert(1, 0);
  cells.remove(0, 1, 3);
  std::vector<int32_t> order, positions;
  cells.sequence(0, order, positions);
  EXPECT_EQ(positions, (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(cells.used(), 3);
  cells.remove(0, 0, -1);
  EXPECT_EQ(cells.seq_length(0), 0);
  EXPECT_EQ(cells.seq_length(1), 1);
}

TEST(KvCells, ShiftMovesPositionsAndRefusesCollisions) {
  KvCells cells(8, 1);
  for (int32_t p = 0; p < 6; ++p) cells.insert(0, p);
  cells.remove(0, 1, 3);  // holds 0, 3, 4, 5
  const KvCells::Moved moved = cells.shift(0, 3, -1, -2);
  EXPECT_EQ(moved.cells, (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ(moved.deltas, (std::vector<int32_t>{-2, -2, -2}));
  std::vector<int32_t> order, positions;
  cells.sequence(0, order, positions);
  EXPECT_EQ(positions, (std::vector<int32_t>{0, 1, 2, 3}));

  EXPECT_THROW(cells.shift(0, 1, -1, -1), std::invalid_argument);  // 1 would land on 0, which stays
  EXPECT_THROW(cells.shift(0, 0, -1, -1), std::invalid_argument);  // below position 0
  cells.sequence(0, order, positions);
  EXPECT_EQ(positions, (std::vector<int32_t>{0, 1, 2, 3}));  // unchanged after a refused shift
}

TEST(KvCells, ClearFreesEverything) {
  KvCells cells(3, 2);
  cells.insert(0, 0);
  cells.insert(1, 0);
  cells.clear();
  EXPECT_EQ(cells.used(), 0);
  EXPECT_EQ(cells.insert(1, 4), 0);
}

}  // namespace
}  // namespace hearth::runtime
