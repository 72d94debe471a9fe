// Bookkeeping of the KV cache: which (sequence, position) each cell holds. The keys and values themselves live in
// backend memory, addressed by cell index.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <vector>

namespace hearth::runtime {

class KvCells {
 public:
  KvCells(int32_t n_cells, int32_t n_seq);

  int32_t size() const { return n_cells_; }
  int32_t used() const { return n_cells_ - static_cast<int32_t>(free_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_seq() const { return static_cast<int32_t>(sequences_.size()); }

  // Highest position held by the sequence, or -1.
  int32_t seq_pos_max(int32_t seq) const;
  int32_t seq_length(int32_t seq) const { return static_cast<int32_t>(sequences_[seq].size()); }

  // Takes the lowest free cell for (seq, pos) and returns it. The caller ensures a cell is free and that the
  // sequence does not hold pos.
  int32_t insert(int32_t seq, int32_t pos);
  // Frees the cell holding (seq, pos), which must exist.
  void erase(int32_t seq, int32_t pos);
  // Frees the cells of positions [p0, p1) of the sequence (p1 < 0: no upper bound).
  void remove(int32_t seq, int32_t p0, int32_t p1);

  struct Moved {
    std::vector<int32_t> cells;
    std::vector<int32_t> deltas;
  };
  // Moves positions [p0, p1) by delta (p1 < 0: no upper bound). Throws std::invalid_argument, changing nothing,
  // when a moved position would fall below 0 or onto a position outside the range. Returns the moved cells.
  Moved shift(int32_t seq, int32_t p0, int32_t p1, int32_t delta);

  // The sequence's cells and their positions, in position order.
  void sequence(int32_t seq, std::vector<int32_t>& cells, std::vector<int32_t>& positions) const;

  void clear();

 private:
  int32_t n_cells_;
  std::vector<std::map<int32_t, int32_t>> sequences_;  // per sequence: position -> cell
  std::priority_queue<int32_t, std::vector<int32_t>, std::greater<>> free_;
};

}  // namespace hearth::runtime
