// Counts heap allocations in the test binary that includes this header once
// (it replaces the global operator new), so tests can prove a call allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>

namespace ilvr_test {
std::size_t allocations();
}
