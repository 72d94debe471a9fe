// Open-addressing hash maps for the tokenizers' hot lookups (token texts, cached words, merge pairs): one
// probe usually touches one slot and the key bytes, where a node-based map chases two more pointers.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace hearth::tokenizer {

// A 64-bit hash of bytes: 8-byte words folded with multiply-xorshift rounds (keys are short).
inline uint64_t hash_bytes(std::string_view text) {
  uint64_t hash = 0x9E3779B97F4A7C15ull ^ (text.size() * 0xFF51AFD7ED558CCDull);
  const char* p = text.data();
  size_t n = text.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    hash = (hash ^ word) * 0xBF58476D1CE4E5B9ull;
    hash ^= hash >> 31;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, n);
    hash = (hash ^ word) * 0x94D049BB133111EBull;
    hash ^= hash >> 29;
  }
  hash *= 0xD6E8FEB86659FD93ull;
  return hash ^ (hash >> 32);
}

inline uint64_t hash_u64(uint64_t key) {
  key ^= key >> 33;
  key *= 0xFF51AFD7ED558CCDull;
  key ^= key >> 33;
  key *= 0xC4CEB9FE1A85EC53ull;
  return key ^ (key >> 33);
}

// Byte strings (viewed, not owned: they must outlive the map) to values; insert-only.
template <typename Value>
class TextMap {
 public:
  const Value* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const uint64_t hash = hash_bytes(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.data == nullptr) return nullptr;
      if (slot.hash == hash && slot.size == key.size() && std::memcmp(slot.data, key.data(), key.size()) == 0) {
        return &slot.value;
      }
    }
  }

  // Inserts unless present; returns the value stored for `key` and whether it was inserted.
  std::pair<Value*, bool> insert(std::string_view key, const Value& value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    const uint64_t hash = hash_bytes(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.data == nullptr) {
        // Empty keys still need a non-null pointer to mark the slot used.
        slot = {hash, key.empty() ? kEmptyKey : key.data(), static_cast<uint32_t>(key.size()), value};
        ++size_;
        return {&slot.value, true};
      }
      if (slot.hash == hash && slot.size == key.size() && std::memcmp(slot.data, key.data(), key.size()) == 0) {
        return {&slot.value, false};
      }
    }
  }

  void reserve(size_t n) {
    while (n * 4 > slots_.size() * 3) grow();
  }
  size_t size() const { return size_; }

 private:
  static constexpr const char* kEmptyKey = "";
  struct Slot {
    uint64_t hash = 0;
    const char* data = nullptr;
    uint32_t size = 0;
    Value value{};
  };

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.empty() ? 16 : old.size() * 2);
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.data == nullptr) continue;
      size_t i = slot.hash & mask_;
      while (slots_[i].data != nullptr) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// 64-bit keys to values; insert-only. The key ~0 is reserved (marks empty slots).
template <typename Value>
class U64Map {
 public:
  const Value* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = hash_u64(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.value;
      if (slot.key == kEmpty) return nullptr;
    }
  }

  // Inserts unless present (the first value for a key stays).
  void insert(uint64_t key, const Value& value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = hash_u64(key) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.key == key) return;
      if (slot.key == kEmpty) {
        slot = {key, value};
        ++size_;
        return;
      }
    }
  }

  void reserve(size_t n) {
    while (n * 2 > slots_.size()) grow();
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key = kEmpty;
    Value value{};
  };

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(old.empty() ? 16 : old.size() * 2);
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.key == kEmpty) continue;
      size_t i = hash_u64(slot.key) & mask_;
      while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace hearth::tokenizer
