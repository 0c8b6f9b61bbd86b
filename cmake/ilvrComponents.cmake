# ilvr_add_component(name dependency-target): an INTERFACE target ilvr::<name>
# that adds one optional dependency to the header-only core.
function(ilvr_add_component name dependency)
    add_library(ilvr_${name} INTERFACE)
    add_library(ilvr::${name} ALIAS ilvr_${name})
    set_target_properties(ilvr_${name} PROPERTIES EXPORT_NAME ${name})
    target_link_libraries(ilvr_${name} INTERFACE ilvr ${dependency})
    set(ILVR_COMPONENTS ${ILVR_COMPONENTS} ${name} PARENT_SCOPE)
endfunction()
