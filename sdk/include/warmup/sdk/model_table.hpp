// warmup/sdk/model_table.hpp — how far to grow a table indexed by model (per-model state a plugin keeps).
//
// Model indexes are dense and only grow (host.h: model_count), so plugins keep per-model state in arrays indexed by
// model and grow them when a higher index appears. Doubling wastes up to half of the table: at 10 k models and a
// kilobyte or two per model, megabytes. grown_model_capacity() grows by a quarter (amortised O(1) per new model, as
// with doubling), and to exactly the catalog's size when the host already knows more models than needed and that is
// still a real step (an eighth, and at least 16 slots): a burst of new models ends with no unused slot.
//
// Pure function, any thread. Use with reserve() before resize(): resize() alone lets std::vector double.
//
// ModelTable<T> is the table itself for per-model entries of a kilobyte or more: it grows a chunk of 64 entries at a
// time and never moves an entry. A std::vector of such entries copies the whole table when it grows (at 100 k models
// about 100 MiB, tens of ms inside one plugin call, over the host's call budget); this one never copies, and
// references to entries stay valid while it grows. Not thread-safe: one thread at a time, as a plugin's calls are.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <vector>

namespace warmup::sdk {

/// The capacity for a table of `capacity` models that must hold `needed` (> capacity: else `capacity` is returned),
/// when the host's catalog has `catalog_models` models (host().model_count()).
[[nodiscard]] constexpr std::size_t grown_model_capacity(std::size_t capacity, std::size_t needed,
                                                         std::size_t catalog_models) noexcept {
    if (needed <= capacity) return capacity;
    const std::size_t geometric = capacity + capacity / 4 + 16;
    const std::size_t real_step = capacity + std::max<std::size_t>(capacity / 8, 16);
    if (catalog_models >= needed && catalog_models >= real_step && catalog_models < geometric) return catalog_models;
    return std::max(needed, geometric);
}

/// Per-model entries by model index, in chunks of kChunk: growing allocates new chunks only (no entry is moved or
/// copied), at most kChunk - 1 entries unused. Entries are value-initialised. O(1) access (two loads).
template <class T>
class ModelTable {
  public:
    static constexpr std::size_t kChunkBits = 6;
    static constexpr std::size_t kChunk = std::size_t{1} << kChunkBits;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t index) noexcept { return chunks_[index >> kChunkBits][index & (kChunk - 1)]; }
    const T& operator[](std::size_t index) const noexcept { return chunks_[index >> kChunkBits][index & (kChunk - 1)]; }

    /// Grows to `count` entries (new ones value-initialised) or shrinks to it (the entries past it are reset, and
    /// the chunks no entry uses any more freed).
    void resize(std::size_t count) {
        const std::size_t chunks = (count + kChunk - 1) >> kChunkBits;
        if (count < size_) {
            for (std::size_t index = count; index < std::min(size_, chunks * kChunk); ++index) (*this)[index] = T{};
            chunks_.resize(chunks);
        }
        while (chunks_.size() < chunks) chunks_.push_back(std::make_unique<T[]>(kChunk));
        size_ = count;
    }
    void clear() noexcept {
        chunks_.clear();
        size_ = 0;
    }

    template <bool kConst>
    class Iterator {
      public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using pointer = std::conditional_t<kConst, const T*, T*>;
        using reference = std::conditional_t<kConst, const T&, T&>;
        using Table = std::conditional_t<kConst, const ModelTable, ModelTable>;

        Iterator() = default;
        Iterator(Table* table, std::size_t index) noexcept : table_(table), index_(index) {}
        reference operator*() const noexcept { return (*table_)[index_]; }
        pointer operator->() const noexcept { return &(*table_)[index_]; }
        Iterator& operator++() noexcept {
            ++index_;
            return *this;
        }
        Iterator operator++(int) noexcept {
            Iterator before = *this;
            ++index_;
            return before;
        }
        friend bool operator==(const Iterator& a, const Iterator& b) noexcept { return a.index_ == b.index_; }

      private:
        Table* table_ = nullptr;
        std::size_t index_ = 0;
    };
    Iterator<false> begin() noexcept { return {this, 0}; }
    Iterator<false> end() noexcept { return {this, size_}; }
    Iterator<true> begin() const noexcept { return {this, 0}; }
    Iterator<true> end() const noexcept { return {this, size_}; }

  private:
    std::vector<std::unique_ptr<T[]>> chunks_;
    std::size_t size_ = 0;
};

/// Per-model rows of `width` entries (a histogram, a calendar), by model index, in chunks of ModelTable's kChunk
/// models: a model's row is contiguous, growing never moves a row, entries are value-initialised. Width 0 holds
/// nothing (row() is then never to be dereferenced).
template <class T>
class ModelRows {
  public:
    static constexpr std::size_t kChunkBits = ModelTable<T>::kChunkBits;
    static constexpr std::size_t kChunk = ModelTable<T>::kChunk;

    ModelRows() = default;
    explicit ModelRows(std::size_t width) : width_(width) {}

    [[nodiscard]] std::size_t width() const noexcept { return width_; }
    [[nodiscard]] std::size_t models() const noexcept { return models_; }
    T* row(std::size_t model) noexcept { return chunks_[model >> kChunkBits].get() + (model & (kChunk - 1)) * width_; }
    const T* row(std::size_t model) const noexcept {
        return chunks_[model >> kChunkBits].get() + (model & (kChunk - 1)) * width_;
    }

    /// Grows to `count` models' rows (new ones value-initialised) or shrinks to it (the rows past it are reset, and
    /// the chunks no row uses any more freed).
    void resize(std::size_t count) {
        const std::size_t chunks = (count + kChunk - 1) >> kChunkBits;
        if (count < models_) {
            for (std::size_t model = count; model < std::min(models_, chunks * kChunk); ++model)
                std::fill_n(row(model), width_, T{});
            chunks_.resize(chunks);
        }
        while (chunks_.size() < chunks) chunks_.push_back(std::make_unique<T[]>(kChunk * width_));
        models_ = count;
    }
    void clear() noexcept {
        chunks_.clear();
        models_ = 0;
    }

  private:
    std::size_t width_ = 0;
    std::size_t models_ = 0;
    std::vector<std::unique_ptr<T[]>> chunks_;
};

}  // namespace warmup::sdk
