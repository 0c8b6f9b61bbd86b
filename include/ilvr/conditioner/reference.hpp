// What every reference-driven conditioner shares: the reference copied in from any
// viewable container and checked, the level it is noised to, and the shape check
// against the samples. docs/spec.md section 6.
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/schedule.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>
#include <string>
#include <type_traits>

namespace ilvr {

/// Which noise level the reference is brought to at step i.
enum class reference_noise_level {
    paper,           ///< abar_prev[i], the proposal's own level (Algorithm 1's y_{t-1}); default
    reference_code,  ///< abar[i], one step noisier, as the published ilvr_adm code does
};

namespace detail {

/// Throws unless `v` is non-empty and finite; `who` and `what` name it in the message.
inline void check_reference(tensor_view<const float> v, const std::string& who, const std::string& what = "reference")
{
    const shape4 r = v.shape();
    require(r.n >= 1 && r.c >= 1 && r.h >= 1 && r.w >= 1, [&] { return who + ": " + what + " shape " + r.to_string() + " is empty"; });
    for (std::size_t e = 0; e < v.size(); ++e)
        require(std::isfinite(v.data()[e]), [&] { return who + ": the " + what + " contains NaN or Inf"; });
}

/// An owned, checked copy of any viewable container (ilvr::tensor, tensor_view,
/// Eigen, xtensor); an ilvr::tensor passed by value is moved, not copied.
template <viewable Reference>
tensor copy_reference(Reference&& reference, const std::string& who, const std::string& what = "reference")
{
    if constexpr (std::is_same_v<Reference, tensor>) {  // an rvalue tensor
        check_reference(reference.view(), who, what);
        return std::move(reference);
    } else {
        const tensor_view<const float> v = as_view(reference);
        check_reference(v, who, what);
        return tensor(v.shape(), std::vector<float>(v.data(), v.data() + v.size()));
    }
}

/// The level a of respaced step i: abar_prev[i] (paper) or abar[i] (reference code).
inline double reference_level(const noise_schedule& s, int i, reference_noise_level level)
{
    const auto k = static_cast<std::size_t>(i);
    return level == reference_noise_level::paper ? s.alpha_bar_prev()[k] : s.alpha_bar()[k];
}

/// Throws the shape-mismatch message unless `r` is [1 or B, C, H, W] for samples `batch`
/// (C may also be `other_channels` when that is > 0, e.g. a grey reference).
inline void require_fits(const std::string& who, const std::string& what, const shape4& r, const shape4& batch,
                         std::int64_t other_channels = 0)
{
    const bool channels = r.c == batch.c || (other_channels > 0 && r.c == other_channels);
    require(channels && r.h == batch.h && r.w == batch.w && (r.n == 1 || r.n == batch.n), [&] {
        return who + ": " + what + " " + r.to_string() + " does not fit samples " + batch.to_string()
               + " (need [1 or B, C, H, W] with the samples' C, H and W" + (r.w <= 4 && r.c > 4 ? "; is it HWC?" : "")
               + ")";
    });
}

} // namespace detail
} // namespace ilvr
