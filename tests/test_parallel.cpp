// Threads requested in a build without OpenMP are reported once, and so are
// threads that would oversubscribe the machine (detail/parallel.hpp). Built
// twice: without OpenMP (test_random) and with it (test_parallel_openmp).
#include <ilvr/detail/parallel.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

namespace {

/// What `f` writes to the stderr file descriptor.
template <class F>
std::string captured_stderr(F&& f)
{
    char name[] = "/tmp/ilvr-test-parallel-XXXXXX";
    const int file = ::mkstemp(name);
    REQUIRE(file >= 0);
    std::fflush(stderr);
    const int saved = ::dup(2);
    ::dup2(file, 2);
    f();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(file);
    std::ifstream in(name);
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::remove(name);
    return text;
}

} // namespace

TEST_CASE("more than one thread without OpenMP prints one warning, and the work still runs", "[parallel]")
{
    ilvr::detail::threads_warning_printed = false;
    std::atomic<int> sum{0};
    auto add = [&](std::int64_t i, int) { sum += static_cast<int>(i); };
    const std::string after_one = captured_stderr([&] { ilvr::detail::parallel_for(4, 1, add); });
    const std::string text = captured_stderr([&] {
        ilvr::detail::parallel_for(4, 2, add);
        ilvr::detail::parallel_for(4, 2, add);
    });
    REQUIRE(after_one.empty());
    REQUIRE(sum == 18);
    if (ilvr::detail::has_threads()) {
        REQUIRE(text.find("no OpenMP") == std::string::npos);
    } else {
        REQUIRE(text == "ilvr: warning: 2 threads requested, but this build has no OpenMP (link ilvr::openmp or "
                        "compile with -fopenmp); running on one thread\n");
    }
}

TEST_CASE("threads that would oversubscribe the machine are named, with what to set", "[parallel]")
{
    using ilvr::detail::oversubscription;
    CHECK(oversubscription(2, 2, 2, nullptr).empty());  // the library and LibTorch alternate on the same cores
    CHECK(oversubscription(2, 0, 4, "2").empty());
    CHECK(oversubscription(3, 0, 2, nullptr).find("3 threads requested, but this process may run on 2 cores: request "
                                                  "at most 2") == 0);
    CHECK(oversubscription(1, 8, 2, nullptr).find("LibTorch runs 8 threads") == 0);
    CHECK(oversubscription(2, 2, 2, "1").find("OMP_NUM_THREADS=1, but the library runs 2 threads and LibTorch 2: two "
                                              "OpenMP pools") == 0);
    CHECK(oversubscription(2, 0, 2, "junk").empty());

    // Once per process, and only where the loops run threads.
    ilvr::detail::oversubscription_warning_printed = false;
    const int too_many = ilvr::detail::available_cores() + 1;
    const std::string text = captured_stderr([&] {
        for (int k = 0; k < 2; ++k) ilvr::detail::parallel_for(too_many, too_many, [](std::int64_t, int) {});
    });
    if (ilvr::detail::has_threads())
        CHECK(text == "ilvr: warning: " + std::to_string(too_many) + " threads requested, but this process may run on " +
                          std::to_string(too_many - 1) + " cores: request at most " + std::to_string(too_many - 1) +
                          "; see docs/denoiser.md, \"Threads\"\n");
    else
        CHECK(text.find("may run on") == std::string::npos);
}
