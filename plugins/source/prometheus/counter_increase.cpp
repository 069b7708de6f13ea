#include "counter_increase.hpp"

#include <cmath>
#include <utility>

namespace warmup::plugins {

CounterIncrease::Result CounterIncrease::update(const std::vector<ExpositionSample>& samples) {
    Result result;
    result.baseline = !have_baseline_;
    // This scrape's value per series (a series listed twice by a broken exporter counts as their sum), with its model.
    std::map<std::string, std::pair<std::string, double>> now_by_series;
    for (const ExpositionSample& sample : samples) {
        std::string key = sample.series_key();
        const std::string* model = sample.label(model_label_);
        if (model == nullptr || model->empty()) {
            if (reported_without_model_.emplace(key, true).second) result.series_without_model.push_back(key);
            continue;
        }
        auto& [series_model, value] = now_by_series[std::move(key)];
        series_model = *model;
        value += sample.value;
    }

    std::map<std::string, double> increase_by_model;
    std::map<std::string, double> before_reset_by_series;  // the series reset in this scrape, with their last value
    if (have_baseline_)
        for (const auto& [key, model_and_value] : now_by_series) {
            const auto& [model, value] = model_and_value;
            const auto last = last_by_series_.find(key);
            double increase = value;  // a new series, or one that was reset: all of it is new
            if (last != last_by_series_.end()) {
                if (value >= last->second.value) {
                    increase = value - last->second.value;
                    if (last->second.before_reset >= 0 && value >= last->second.before_reset)
                        result.bounced_series.push_back(key);
                } else {
                    ++result.resets;
                    before_reset_by_series[key] = last->second.value;
                }
            }
            if (increase > 0) increase_by_model[model] += increase;
        }
    for (const auto& [model, increase] : increase_by_model) {
        double& carry = carry_by_model_[model];
        const double total = increase + carry;
        const double whole = std::floor(total);
        carry = total - whole;
        if (whole >= 1) result.requests_by_model[model] = static_cast<uint64_t>(whole);
    }

    // A series missing from this scrape keeps its last value for a while: one page without it (a proxy's empty 200,
    // another replica behind a load balancer) must not make its next value count whole.
    for (auto it = last_by_series_.begin(); it != last_by_series_.end();) {
        if (!now_by_series.count(it->first) && ++it->second.scrapes_missing > kMaxScrapesMissing)
            it = last_by_series_.erase(it);
        else
            ++it;
    }
    for (auto& [key, model_and_value] : now_by_series) {
        const auto reset = before_reset_by_series.find(key);
        last_by_series_[key] = {model_and_value.second, 0,
                                reset == before_reset_by_series.end() ? -1.0 : reset->second};
    }
    have_baseline_ = true;
    return result;
}

}  // namespace warmup::plugins
