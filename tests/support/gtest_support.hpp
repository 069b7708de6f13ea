// gtest_support.hpp — GoogleTest helpers shared by test folders (test_support.hpp stays free of GoogleTest, since the
// benchmarks include it too).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

namespace warmup::test {

/// Runs `call`, which must throw exactly `Exception` (or a subclass); returns what(). Records a test failure (and
/// returns "") when it throws nothing or something else.
template <class Exception, class Call>
std::string message_of(Call&& call) {
    try {
        call();
    } catch (const Exception& expected) {
        return expected.what();
    } catch (const std::exception& other) {
        ADD_FAILURE() << "expected " << typeid(Exception).name() << ", got another exception: " << other.what();
        return {};
    }
    ADD_FAILURE() << "expected " << typeid(Exception).name() << ", but nothing was thrown";
    return {};
}

}  // namespace warmup::test

/// Checks that `text` contains `part`, printing both when it does not.
#define EXPECT_CONTAINS(text, part)                                      \
    EXPECT_NE(std::string_view(text).find(part), std::string_view::npos) \
        << "expected to find: " << (part) << "\nin: " << (text)
