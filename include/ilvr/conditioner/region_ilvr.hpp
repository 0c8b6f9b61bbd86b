// ILVR restricted to a region: x = x' + M phi_N(y_a - x'), M a mask of the image
// (1 = conditioned, 0 = free). docs/spec.md section 9.3.
#pragma once

#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/conditioner/reference.hpp>

#include <concepts>
#include <type_traits>
#include <utility>

namespace ilvr {

/// ILVR whose refinement is weighted by a region mask [1 or B, 1 or C, H, W] with
/// values in [0, 1]. Outside the region the sample runs free; with a 0/1 mask
/// constant on N x N blocks and the box kernel, M phi_N is the orthogonal
/// projection onto the region's block means, and the known part is exact.
class region_ilvr_conditioner : public ilvr_conditioner {
public:
    /// The reference and the mask, each from any viewable container (copied).
    template <viewable Reference, viewable Mask>
    region_ilvr_conditioner(Reference&& reference, Mask&& region, ilvr_options options)
        : ilvr_conditioner(detail::copy_reference(std::forward<Reference>(reference), "region ilvr"), options,
                           detail::copy_reference(std::forward<Mask>(region), "region ilvr", "region mask"))
    {
    }
};

} // namespace ilvr
