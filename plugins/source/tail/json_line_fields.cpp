#include "json_line_fields.hpp"

#include <cmath>

namespace warmup::plugins {
namespace {

/// Epoch milliseconds below this are taken for epoch seconds (1e11 ms is March 1973; 1e11 s is the year 5138).
constexpr double kSmallestEpochMs = 1e11;

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
    year -= month <= 2 ? 1 : 0;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

unsigned days_in_month(int64_t year, unsigned month) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : kDays[month - 1];
}

// Reads exactly `width` digits at `at`, advancing it.
std::optional<unsigned> digits(std::string_view text, std::size_t& at, std::size_t width) {
    if (at + width > text.size()) return std::nullopt;
    unsigned value = 0;
    for (std::size_t i = 0; i < width; ++i) {
        const char c = text[at + i];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    at += width;
    return value;
}

bool expect(std::string_view text, std::size_t& at, char wanted) {
    if (at >= text.size() || text[at] != wanted) return false;
    ++at;
    return true;
}

std::optional<int64_t> epoch_ms_of_number(double value) {
    if (!std::isfinite(value) || value < kSmallestEpochMs || value > 9.2e18) return std::nullopt;
    return static_cast<int64_t>(value);
}

std::string describe(const nlohmann::json& value) {
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return text;
}

}  // namespace

std::optional<int64_t> parse_rfc3339_ms(std::string_view text) {
    std::size_t at = 0;
    const auto year = digits(text, at, 4);
    if (!year || !expect(text, at, '-')) return std::nullopt;
    const auto month = digits(text, at, 2);
    if (!month || *month < 1 || *month > 12 || !expect(text, at, '-')) return std::nullopt;
    const auto day = digits(text, at, 2);
    if (!day || *day < 1 || *day > days_in_month(*year, *month)) return std::nullopt;
    if (at >= text.size() || (text[at] != 'T' && text[at] != 't' && text[at] != ' ')) return std::nullopt;
    ++at;
    const auto hour = digits(text, at, 2);
    if (!hour || *hour > 23 || !expect(text, at, ':')) return std::nullopt;
    const auto minute = digits(text, at, 2);
    if (!minute || *minute > 59 || !expect(text, at, ':')) return std::nullopt;
    const auto second = digits(text, at, 2);
    if (!second || *second > 60) return std::nullopt;  // 60: a leap second, counted as the next second's start
    int64_t fraction_ms = 0;
    if (at < text.size() && text[at] == '.') {
        ++at;
        const std::size_t first = at;
        int64_t scale = 100;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            fraction_ms += (text[at] - '0') * scale;  // digits past milliseconds are dropped
            scale /= 10;
            ++at;
        }
        if (at == first) return std::nullopt;
    }
    int64_t offset_minutes = 0;
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        ++at;
    } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        const int64_t sign = text[at] == '-' ? -1 : 1;
        ++at;
        const auto offset_hours = digits(text, at, 2);
        if (!offset_hours || *offset_hours > 23 || !expect(text, at, ':')) return std::nullopt;
        const auto offset_mins = digits(text, at, 2);
        if (!offset_mins || *offset_mins > 59) return std::nullopt;
        offset_minutes = sign * (static_cast<int64_t>(*offset_hours) * 60 + *offset_mins);
    } else {
        return std::nullopt;  // RFC 3339 requires the zone: a local time would be a guess
    }
    if (at != text.size()) return std::nullopt;
    const int64_t seconds = days_from_civil(*year, *month, *day) * 86400 + static_cast<int64_t>(*hour) * 3600 +
                            static_cast<int64_t>(*minute) * 60 + *second - offset_minutes * 60;
    return seconds * 1000 + fraction_ms;
}

const nlohmann::json* find_field(const nlohmann::json& object, std::string_view path) {
    const nlohmann::json* node = &object;
    while (true) {
        if (!node->is_object()) return nullptr;
        if (const auto whole = node->find(std::string(path)); whole != node->end()) return &*whole;
        const auto dot = path.find('.');
        if (dot == std::string_view::npos) return nullptr;
        const auto step = node->find(std::string(path.substr(0, dot)));
        if (step == node->end()) return nullptr;
        node = &*step;
        path.remove_prefix(dot + 1);
    }
}

std::optional<LineEvent> parse_line(std::string_view line, const LineFields& fields, int64_t read_time_ms,
                                    std::string& problem) {
    const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!object.is_object()) {
        problem = object.is_discarded() ? "not JSON" : "not a JSON object";
        return std::nullopt;
    }
    LineEvent event;
    const nlohmann::json* model = find_field(object, fields.model_field);
    if (model == nullptr) {
        problem = "no field '" + fields.model_field + "'";
        return std::nullopt;
    }
    if (!model->is_string() || model->get_ref<const std::string&>().empty()) {
        problem = "field '" + fields.model_field + "' is " + describe(*model) + ", expected a non-empty string";
        return std::nullopt;
    }
    event.model = model->get<std::string>();

    event.ts_ms = read_time_ms;
    if (const nlohmann::json* time = find_field(object, fields.time_field); time != nullptr && !time->is_null()) {
        std::optional<int64_t> ts_ms;
        if (time->is_number()) {
            ts_ms = epoch_ms_of_number(time->get<double>());
        } else if (time->is_string()) {
            const auto& text = time->get_ref<const std::string&>();
            const bool all_digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
            ts_ms = all_digits && text.size() <= 18 ? epoch_ms_of_number(std::stod(text)) : parse_rfc3339_ms(text);
        }
        if (!ts_ms) {
            problem = "field '" + fields.time_field + "' is " + describe(*time) +
                      ", expected an RFC 3339 time or epoch milliseconds (>= 1e11)";
            return std::nullopt;
        }
        event.ts_ms = *ts_ms;
    }

    if (!fields.tenant_field.empty())
        if (const nlohmann::json* tenant = find_field(object, fields.tenant_field); tenant != nullptr) {
            if (tenant->is_string())
                event.tenant = tenant->get<std::string>();
            else if (tenant->is_number())
                event.tenant = tenant->dump();
            else if (!tenant->is_null()) {
                problem = "field '" + fields.tenant_field + "' is " + describe(*tenant) + ", expected a string";
                return std::nullopt;
            }
        }
    return event;
}

}  // namespace warmup::plugins
