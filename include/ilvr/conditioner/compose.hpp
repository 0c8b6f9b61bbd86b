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
        : noise_(held(noise)), child_(child), children_(children)
    {
    }

    /// The child's `purpose` as the source's: its stream s becomes s * children + child.
    /// Throws where that exceeds the counter layout's streams.
    noise_purpose remap(noise_purpose purpose) const
    {
        const std::uint64_t stream = std::uint64_t{stream_of(purpose)} * children_ + child_;
        detail::require(stream < noise_streams, [&] {
            return "compose: noise stream " + std::to_string(stream) + " exceeds the " + std::to_string(noise_streams)
                   + " streams of the counter layout (too many or too deeply nested conditioners)";
        });
        return with_stream(purpose, static_cast<std::uint32_t>(stream));
    }

    /// Draws `purpose` of the child as the remapped stream of the source (CPU noise sources).
    void operator()(noise_purpose purpose, int step, std::uint64_t first_sample, tensor_view<float> out) const
        requires noise_source<Noise>
    {
        source()(remap(purpose), step, first_sample, out);
    }

    /// Device noises: the host-side check of a draw (device::exec calls it before the draw).
    void check_purpose(noise_purpose purpose) const
        requires requires(const Noise& n) { n.block(noise_purpose::initial, 0, 0, 0, nullptr); }
    {
        const noise_purpose mapped = remap(purpose);
        if constexpr (requires(const Noise& n) { n.check_purpose(mapped); }) source().check_purpose(mapped);
    }
    /// Device noises: normals 4j .. 4j+3 of image `sample` for the remapped purpose
    /// (checked by check_purpose on the host first).
    ILVR_HOST_DEVICE void block(noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j, float out[4]) const
        requires requires(const Noise& n) { n.block(noise_purpose::initial, 0, 0, 0, nullptr); }
    {
        const auto stream = static_cast<std::uint32_t>(stream_of(purpose) * children_ + child_);
        source().block(with_stream(purpose, stream), step, sample, j, out);
    }

private:
    // Device noises are small values the device's functors carry; CPU sources
    // (a replay holds its arrays) are referred to.
    static constexpr bool by_value = requires(const Noise& n) { n.block(noise_purpose::initial, 0, 0, 0, nullptr); };
    using stored = std::conditional_t<by_value, Noise, const Noise*>;
    static stored held(const Noise& n)
    {
        if constexpr (by_value) return n;
        else return &n;
    }
    ILVR_HOST_DEVICE const Noise& source() const
    {
        if constexpr (by_value) return noise_;
        else return *noise_;
    }

    stored noise_;
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
    template <class Exec>
    void prepare(const shape4& shape, const respaced_schedule& process, const Exec& exec)
    {
        std::apply([&](auto&... c) { (detail::prepare_on(c, shape, process, exec), ...); }, parts_);
    }

    /// Refines with each child in order, each from its own noise stream.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        refine_each(info, proposal, noise, exec, std::index_sequence_for<Conditioners...>{});
    }

private:
    template <class Noise, class Exec, std::size_t... K>
    void refine_each(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec,
                     std::index_sequence<K...>)
    {
        constexpr auto count = static_cast<std::uint32_t>(sizeof...(Conditioners));
        (detail::refine_on(std::get<K>(parts_), info, proposal,
                           stream_noise<Noise>(noise, static_cast<std::uint32_t>(K), count), exec),
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
