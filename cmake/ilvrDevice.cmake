# The device backend (include/ilvr/device) is one source for two systems, which
# Thrust (CCCL) chooses at compile time:
#   ilvr::device  the host system: Thrust's OpenMP system (its serial CPP system
#                 without OpenMP), built by the host compiler; runs everywhere,
#                 so the device tests run on every machine.
#   ilvr::cuda    the GPU: nvcc, Thrust's CUDA system (cmake/ilvrCuda.cmake).
# CCCL: found by cmake/ilvrFindThrust.cmake, here and again, installed, by a
# consumer's configure (so the build interface alone carries this machine's path).
include(${CMAKE_CURRENT_LIST_DIR}/ilvrFindThrust.cmake)
if(ILVR_THRUST_INCLUDE_DIR)
    if(TARGET OpenMP::OpenMP_CXX)
        ilvr_add_component(device OpenMP::OpenMP_CXX)
        target_compile_definitions(ilvr_device INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
    else()
        ilvr_add_component(device "")
        target_compile_definitions(ilvr_device INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP)
    endif()
    if(NOT ILVR_THRUST_INCLUDE_DIR STREQUAL "/usr/include")
        # SYSTEM: Thrust's own warnings are not the project's.
        target_include_directories(ilvr_device SYSTEM INTERFACE $<BUILD_INTERFACE:${ILVR_THRUST_INCLUDE_DIR}>)
    endif()
endif()
