// http/model_page.hpp — pagination of the per-model lists of GET /api/warmup/predictions and /api/warmup/status.
//
// Query: `?limit=N&after=MODEL`, both optional. The order is the catalog's: models in the order the daemon first saw
// them (their dense index). An index is never reused or reordered while the daemon runs, so walking the pages with
// the cursor visits every model once, and a model first seen meanwhile is appended after the others (it is on a
// later page, never skipped). `after` is the cursor: the name of the last model of the previous page (the answer's
// `next_after`). `limit` counts the entries of the page, 1..kMaxModelPageLimit; without it the list is complete (the
// answer before pagination existed), with or without `after`.
//
// Two selections for a reader that shows a bounded view (the status page), instead of a page:
//  - predictions `?soonest=N&within_ms=W`: the N models whose next event (predicted next use, planned pre-warm or
//    planned unload) is soonest within [now, now + W] (W defaults to an hour), sorted by that time, with the total
//    number of models that have an event in that window;
//  - status `?per_state=N`: the first N models (catalog order) of each of the warm, loading and queued lists.
// Neither is paginated, so neither combines with `limit` or `after`.
//
// Pure functions of the request and the catalog: any thread (the catalog has its own lock).
#pragma once

#include <warmup/common.h>

#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "core/catalog.hpp"

namespace warmup::host {

/// The largest `limit` a page may ask for (the answer of one page stays a few MiB at most).
inline constexpr std::size_t kMaxModelPageLimit = 10'000;

/// The default and the largest window of the predictions' `soonest` selection (`within_ms`).
inline constexpr warmup_time_ms kDefaultSoonestWindowMs = 3'600'000;
inline constexpr warmup_time_ms kMaxSoonestWindowMs = 7 * 24 * 3'600'000LL;

/// Which endpoint's list is read: the selections each takes besides `limit` and `after`.
enum class ModelList { Predictions, Status };

/// Where a page starts and how many entries it may hold, or the bounded selection asked for instead.
struct ModelPage {
    warmup_model_index first = 0;                                 ///< first catalog index to consider
    std::size_t limit = std::numeric_limits<std::size_t>::max();  ///< entries at most (max: no limit given)
    bool limited = false;                                         ///< `limit` was given
    std::size_t soonest = 0;                                      ///< predictions: `soonest` (0: not asked)
    warmup_time_ms within_ms = kDefaultSoonestWindowMs;           ///< predictions: the window of `soonest`
    std::size_t per_state = 0;                                    ///< status: `per_state` (0: not asked)
};

/// The page of a request's query parameters (`params`: name -> value, as cpp-httplib parses them; a repeated
/// parameter is refused). Returns the error text of a 400 answer for a bad value instead, starting with the
/// parameter's name: a limit, soonest or per_state that is not an integer in 1..kMaxModelPageLimit, a within_ms that
/// is not an integer in 1..kMaxSoonestWindowMs (or comes without soonest), a selection combined with `limit` or
/// `after`, an empty `after`, or an `after` that names no model the daemon knows.
[[nodiscard]] std::optional<std::string> parse_model_page(const std::multimap<std::string, std::string>& params,
                                                          const Catalog& catalog, ModelList list, ModelPage& page);

}  // namespace warmup::host
