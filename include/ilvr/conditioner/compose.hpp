// Conditioners in sequence: compose(a, b, ...) refines with a, then b, ...; each
// draws from its own noise stream, so no two share noise. docs/spec.md section 9.1.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/random.hpp>
#include <ilvr/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ilvr {

/// The noise of child `child` of a composition of `children`: its stream s is
/// drawn as stream s * children + child of the source. Injective, so children
/// (and, nested, their children) never share a stream; child 0's stream 0 is
/// stream 0, so the first conditioner draws exactly what it draws alone.
template <class Noise>
class stream_noise {
public:
    stream_noise(const Noise& noise, std::uint32_t child, std::uint32_t children)
        : noise_(&noise), child_(child), children_(children)
    {
    }

    /// Draws `purpose` of the child as the remapped stream of the source.
    void operator()(noise_purpose purpose, int step, std::uint64_t first_sample, tensor_view<float> out) const
    {
        const std::uint64_t stream = std::uint64_t{stream_of(purpose)} * children_ + child_;
        detail::require(stream < noise_streams, [&] {
            return "compose: noise stream " + std::to_string(stream) + " exceeds the " + std::to_string(noise_streams)
                   + " streams of the counter layout (too many or too deeply nested conditioners)";
        });
        (*noise_)(with_stream(purpose, static_cast<std::uint32_t>(stream)), step, first_sample, out);
    }

private:
    const Noise* noise_;
    std::uint32_t child_, children_;
};

/// A sequence of conditioners, itself a conditioner: prepare prepares each in
/// order; refine refines the proposal with each in order, child k drawing from
/// stream_noise(noise, k, count).
template <class... Conditioners>
class composed_conditioner {
public:
    static_assert(sizeof...(Conditioners) >= 1, "compose: give at least one conditioner");

    explicit composed_conditioner(Conditioners... parts) : parts_(std::move(parts)...) {}

    /// Child k (as composed).
    template <std::size_t K>
    auto& get()
    {
        return std::get<K>(parts_);
    }

    /// Prepares each child in order.
    void prepare(const shape4& shape, const respaced_schedule& process, int threads)
    {
        std::apply([&](auto&... c) { (c.prepare(shape, process, threads), ...); }, parts_);
    }

    /// Refines with each child in order, each from its own noise stream.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        refine_each(info, proposal, noise, std::index_sequence_for<Conditioners...>{});
    }

private:
    template <class Noise, std::size_t... K>
    void refine_each(const step_info& info, tensor_view<float> proposal, const Noise& noise, std::index_sequence<K...>)
    {
        constexpr auto count = static_cast<std::uint32_t>(sizeof...(Conditioners));
        (std::get<K>(parts_).refine(info, proposal, stream_noise<Noise>(noise, static_cast<std::uint32_t>(K), count)),
         ...);
    }

    std::tuple<Conditioners...> parts_;
};

/// compose(a, b, ...): a conditioner that refines with a, then b, ... (copies or
/// moves them in; use get<K>() to reach one).
template <class... Conditioners>
composed_conditioner<std::decay_t<Conditioners>...> compose(Conditioners&&... parts)
{
    return composed_conditioner<std::decay_t<Conditioners>...>(std::forward<Conditioners>(parts)...);
}

} // namespace ilvr
