// Threads requested in a build without OpenMP are reported once (detail/parallel.hpp).
#include <ilvr/detail/parallel.hpp>

#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>
#include <string>

TEST_CASE("more than one thread without OpenMP prints one warning, and the work still runs", "[parallel]")
{
    std::ostringstream captured;
    auto* old = std::cerr.rdbuf(captured.rdbuf());
    ilvr::detail::threads_warning_printed = false;
    int sum = 0;
    ilvr::detail::parallel_for(4, 1, [&](std::int64_t i, int) { sum += static_cast<int>(i); });
    const std::string after_one = captured.str();
    ilvr::detail::parallel_for(4, 3, [&](std::int64_t i, int) { sum += static_cast<int>(i); });
    ilvr::detail::parallel_for(4, 2, [&](std::int64_t i, int) { sum += static_cast<int>(i); });
    std::cerr.rdbuf(old);
    REQUIRE(after_one.empty());
    REQUIRE(sum == 18);
    const std::string text = captured.str();
    if (ilvr::detail::has_threads()) {
        REQUIRE(text.empty());
    } else {
        REQUIRE(text == "ilvr: warning: 3 threads requested, but this build has no OpenMP (link ilvr::openmp or "
                        "compile with -fopenmp); running on one thread\n");
    }
}
