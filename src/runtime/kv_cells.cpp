#include "runtime/kv_cells.h"

#include <stdexcept>
#include <string>

namespace hearth::runtime {

KvCells::KvCells(int32_t n_cells, int32_t n_seq) : n_cells_(n_cells), sequences_(n_seq) { clear(); }

int32_t KvCells::seq_pos_max(int32_t seq) const {
  const auto& positions = sequences_[seq];
  return positions.empty() ? -1 : positions.rbegin()->first;
}

int32_t KvCells::insert(int32_t seq, int32_t pos) {
  const int32_t cell = free_.top();
  free_.pop();
  sequences_[seq].emplace(pos, cell);
  return cell;
}

void KvCells::erase(int32_t seq, int32_t pos) {
  auto& positions = sequences_[seq];
  const auto it = positions.find(pos);
  free_.push(it->second);
  positions.erase(it);
}

void KvCells::remove(int32_t seq, int32_t p0, int32_t p1) {
  auto& positions = sequences_[seq];
  const auto end = p1 < 0 ? positions.end() : positions.lower_bound(p1);
  auto it = positions.lower_bound(p0);
  while (it != end) {
    free_.push(it->second);
    it = positions.erase(it);
  }
}

KvCells::Moved KvCells::shift(int32_t seq, int32_t p0, int32_t p1, int32_t delta) {
  auto& positions = sequences_[seq];
  const auto begin = positions.lower_bound(p0);
  const auto end = p1 < 0 ? positions.end() : positions.lower_bound(p1);
  Moved moved;
  std::map<int32_t, int32_t> kept;
  std::map<int32_t, int32_t> shifted;
  for (auto it = positions.begin(); it != positions.end(); ++it) kept.insert(*it);
  for (auto it = begin; it != end; ++it) {
    kept.erase(it->first);
    const int64_t target = int64_t{it->first} + delta;
    if (target < 0 || target > INT32_MAX) {
      throw std::invalid_argument("shifting position " + std::to_string(it->first) + " by " + std::to_string(delta) +
                                  " leaves the valid range");
    }
    shifted.emplace(static_cast<int32_t>(target), it->second);
    moved.cells.push_back(it->second);
    moved.deltas.push_back(delta);
  }
  for (const auto& [pos, cell] : shifted) {
    if (kept.count(pos) != 0) {
      throw std::invalid_argument("shifting by " + std::to_string(delta) + " moves a token onto position " +
                                  std::to_string(pos) + ", which the sequence keeps");
    }
  }
  kept.merge(shifted);
  positions = std::move(kept);
  return moved;
}

void KvCells::sequence(int32_t seq, std::vector<int32_t>& cells, std::vector<int32_t>& positions) const {
  cells.clear();
  positions.clear();
  for (const auto& [pos, cell] : sequences_[seq]) {
    positions.push_back(pos);
    cells.push_back(cell);
  }
}

void KvCells::clear() {
  for (auto& positions : sequences_) positions.clear();
  free_ = {};
  for (int32_t cell = 0; cell < n_cells_; ++cell) free_.push(cell);
}

}  // namespace hearth::runtime
