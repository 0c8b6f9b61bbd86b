// Counts heap allocations in the test binary that includes this header once
// (it replaces the global operator new), so tests can prove a call allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>

namespace ilvr_test {
/// Allocations through the global operator new so far (0 where not counting).
std::size_t allocations();
/// Whether allocations are counted: not under ThreadSanitizer, whose runtime
/// links its own operator new statically, so it cannot be replaced.
bool counting();
}
