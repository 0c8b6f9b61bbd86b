// The one exception type the library throws for bad input or failed work.
#pragma once

#include <ilvr/config.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace ilvr {

/// Thrown for invalid arguments, impossible requests and failures the caller can
/// act on. The message says what was wrong and, where useful, which rule of
/// docs/spec.md or which step of sampling it concerns.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
/// Throws ilvr::error with `message` when `condition` is false. On hot paths pass
/// a callable that returns the message, so nothing is built (or allocated) unless
/// the check fails.
template <class Message>
void require(bool condition, Message&& message)
{
    if (condition) [[likely]]
        return;
    if constexpr (std::is_invocable_v<Message>)
        throw error(std::string(message()));
    else
        throw error(std::string(message));
}
} // namespace detail

} // namespace ilvr
