// Replaces the global operator new/delete family to count allocations (see
// alloc_counter.hpp). Every form goes through malloc/free, so sanitizers see
// matching pairs.
#include "alloc_counter.hpp"

#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define ILVR_TEST_NO_ALLOC_COUNT 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ILVR_TEST_NO_ALLOC_COUNT 1
#endif
#endif

#ifdef ILVR_TEST_NO_ALLOC_COUNT
std::size_t ilvr_test::allocations() { return 0; }
bool ilvr_test::counting() { return false; }
#else
namespace {
std::atomic<std::size_t> count{0};

void* counted(std::size_t size) noexcept
{
    ++count;
    return std::malloc(size ? size : 1);
}
} // namespace

std::size_t ilvr_test::allocations() { return count.load(); }
bool ilvr_test::counting() { return true; }

void* operator new(std::size_t size)
{
    if (void* p = counted(size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size)
{
    if (void* p = counted(size)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif
