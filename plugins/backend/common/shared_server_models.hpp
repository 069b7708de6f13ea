// plugins/backend/common/shared_server_models.hpp — which catalog names hold each server model, for backends whose
// model_names map several catalog names to one model of the server (Ollama's "embed/*" -> nomic-embed-text, Triton's
// "vision/resnet*" -> resnet50_trt). The server holds such a model once; the host loads and unloads each catalog name
// on its own. So a backend counts the catalog names that hold a server model and asks the server to unload it only
// when the last one is unloaded, and a listing reports every holder of a resident server model.
//
// A holder is counted from the start of its load (so an unload of another name meanwhile leaves the model in place)
// and confirmed when the load succeeded; a failed load removes it. An unload of the last holder is "in flight" until
// the server answered: a load of the same server model waits for it, so the unload never overtakes that load.
//
// Header-only and included by each backend's own .so (no shared library between plugins: each plugin stays one
// self-contained file the host can hot-swap). Threads: every method may be called from any thread; one mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>
#include <warmup/sdk/http_client.hpp>

namespace warmup::plugins::backend {

class SharedServerModels {
  public:
    /// [worker] Before the load of `catalog_name` (server model `server_name`) sends anything: waits while an unload
    /// of that server model is in flight (polling `cancel` every 10 ms), then counts `catalog_name` as a holder.
    /// Returns false, recording nothing, when cancelled while waiting. `others_held` tells whether another catalog
    /// name already held the server model (then the server's memory figure belongs to that name).
    bool begin_load(const std::string& server_name, const std::string& catalog_name, const warmup_cancel_token& cancel,
                    bool& others_held) {
        std::unique_lock lock(mutex_);
        while (unloading_.count(server_name) != 0) {
            if (sdk::is_cancelled(&cancel)) return false;
            changed_.wait_for(lock, std::chrono::milliseconds(10));
        }
        auto& holders = holders_[server_name];
        others_held = std::any_of(holders.begin(), holders.end(),
                                  [&](const auto& holder) { return holder.first != catalog_name; });
        holders[catalog_name] = 0;  // pending until load_succeeded
        return true;
    }
    /// [worker] The load succeeded: the holder is confirmed (a listing may now take its absence from the server as
    /// the server having dropped it).
    void load_succeeded(const std::string& server_name, const std::string& catalog_name) {
        std::lock_guard lock(mutex_);
        holders_[server_name][catalog_name] = ++sequence_;
    }
    /// [worker] The load failed: `catalog_name` holds nothing. Returns true when no other name holds the server model
    /// (so the caller may take out what the failed load left on the server). With `cleaning_up`, such a take-out is
    /// counted as an unload in flight from here, in the same step, so that a load of another name mapped to the
    /// model cannot start before it (the caller calls unload_finished(server_name) once the server answered).
    bool load_failed(const std::string& server_name, const std::string& catalog_name, bool cleaning_up = false) {
        std::lock_guard lock(mutex_);
        if (!drop(server_name, catalog_name)) return false;
        if (cleaning_up) unloading_.insert(server_name);
        return true;
    }
    /// [worker] An unload of `catalog_name`: it holds nothing from now. True when no other name holds the server model:
    /// the caller must then ask the server to unload it and call unload_finished(server_name) afterwards, whatever
    /// the answer. False: other names still hold it, so the server is not asked and the unload succeeds as it is.
    bool begin_unload(const std::string& server_name, const std::string& catalog_name) {
        std::lock_guard lock(mutex_);
        if (!drop(server_name, catalog_name)) return false;
        unloading_.insert(server_name);
        return true;
    }
    void unload_finished(const std::string& server_name) {
        {
            std::lock_guard lock(mutex_);
            unloading_.erase(server_name);
        }
        changed_.notify_all();
    }

    /// [any] For a listing: call before asking the server, pass to forget_gone() afterwards.
    [[nodiscard]] uint64_t listing_started() const {
        std::lock_guard lock(mutex_);
        return sequence_;
    }
    /// [any] The catalog names that hold a server model the server lists, for a listing; empty when none (the model
    /// was loaded by another client) or when an unload of it is in flight (the listing may show it either way).
    [[nodiscard]] std::vector<std::string> holders(const std::string& server_name) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> names;
        const auto found = holders_.find(server_name);
        if (found == holders_.end() || unloading_.count(server_name) != 0) return names;
        for (const auto& holder : found->second) names.push_back(holder.first);
        return names;
    }
    /// [any] A server model the server lists and no name holds: the listing reports it under `catalog_name` (the
    /// host adopts it), which holds it from now, so the host's unload of that name is what takes it out. False when
    /// it is held meanwhile or being unloaded.
    bool adopt(const std::string& server_name, const std::string& catalog_name) {
        std::lock_guard lock(mutex_);
        if (unloading_.count(server_name) != 0) return false;
        auto& holders = holders_[server_name];
        if (!holders.empty()) return false;
        holders[catalog_name] = ++sequence_;
        return true;
    }
    /// [any] Server models held here that a listing started at `started` did not find: gone behind the host's back
    /// (the host marks their names unloaded). Their confirmed holders are forgotten; loads still running stay.
    void forget_gone(uint64_t started, const std::set<std::string>& listed_server_names) {
        std::lock_guard lock(mutex_);
        for (auto server = holders_.begin(); server != holders_.end();) {
            if (listed_server_names.count(server->first) == 0 && unloading_.count(server->first) == 0)
                std::erase_if(server->second,
                              [&](const auto& holder) { return holder.second != 0 && holder.second <= started; });
            server = server->second.empty() ? holders_.erase(server) : std::next(server);
        }
    }

  private:
    /// Removes one holder; true when the server model has no holder left. Caller holds mutex_.
    bool drop(const std::string& server_name, const std::string& catalog_name) {
        const auto found = holders_.find(server_name);
        if (found == holders_.end()) return true;
        found->second.erase(catalog_name);
        if (!found->second.empty()) return false;
        holders_.erase(found);
        return true;
    }

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    /// server model name -> (catalog name -> sequence number of its confirmation, 0 while its load runs).
    std::map<std::string, std::map<std::string, uint64_t>> holders_;
    std::set<std::string> unloading_;  // server models whose last holder's unload is being sent
    uint64_t sequence_ = 0;
};

}  // namespace warmup::plugins::backend
