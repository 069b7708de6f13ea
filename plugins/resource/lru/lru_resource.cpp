#include "lru_resource.hpp"

namespace warmup::plugins {

LruResource::LruResource(sdk::Host host, sdk::Params& params) : sdk::Resource(host), admission_(params) {}

double LruResource::effective_budget_mb(double configured_budget_mb) {
    return admission_.effective_budget_mb(configured_budget_mb);
}

void LruResource::admit(const warmup_admission_request& request, warmup_admission& out) {
    admission_.admit(request, out);
}

void LruResource::on_ready(warmup_model_index model, double /*memory_mb*/, double /*load_ms*/,
                           warmup_time_ms /*now_ms*/) {
    if (model == WARMUP_NO_MODEL) return;
    if (model >= links_.size()) links_.resize(static_cast<std::size_t>(model) + 1);
    // A model reported ready twice (e.g. reloaded) simply becomes the most recent again.
    if (links_[model].linked) unlink(model);
    append_most_recent(model);
}

void LruResource::on_used(warmup_model_index model, warmup_time_ms /*now_ms*/) {
    // A use of a model that is not ready (the host serves it after a load we have not been told about yet) is ignored:
    // on_ready will put it at the most recent end anyway.
    if (model >= links_.size() || !links_[model].linked) return;
    if (model == most_recent_) return;
    unlink(model);
    append_most_recent(model);
}

void LruResource::on_removed(warmup_model_index model, warmup_time_ms /*now_ms*/) {
    if (model >= links_.size() || !links_[model].linked) return;
    unlink(model);
}

warmup_model_index LruResource::pick_victim(warmup_time_ms /*now_ms*/) { return least_recent_; }

std::vector<warmup_model_index> LruResource::order_least_recent_first() const {
    std::vector<warmup_model_index> order;
    for (warmup_model_index model = least_recent_; model != WARMUP_NO_MODEL; model = links_[model].next)
        order.push_back(model);
    return order;
}

void LruResource::unlink(warmup_model_index model) {
    Link& link = links_[model];
    if (link.previous != WARMUP_NO_MODEL)
        links_[link.previous].next = link.next;
    else
        least_recent_ = link.next;
    if (link.next != WARMUP_NO_MODEL)
        links_[link.next].previous = link.previous;
    else
        most_recent_ = link.previous;
    link = Link{};
}

void LruResource::append_most_recent(warmup_model_index model) {
    Link& link = links_[model];
    link.previous = most_recent_;
    link.next = WARMUP_NO_MODEL;
    link.linked = true;
    if (most_recent_ != WARMUP_NO_MODEL)
        links_[most_recent_].next = model;
    else
        least_recent_ = model;
    most_recent_ = model;
}

}  // namespace warmup::plugins
