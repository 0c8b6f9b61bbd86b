# Enables CUDA when nvcc is available and creates ilvr::cuda: the device backend
# (include/ilvr/device) on Thrust's CUDA system, the default under nvcc, with the
# CUDA runtime. CMake 3.25 does not know CUDA C++20 yet, so
# the flag is given by hand before CUDA_STANDARD 20 is requested.
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    enable_language(CUDA)
    # Debian's CMake 3.25.1 marks CUDA::nvToolsExt deprecated without checking
    # that it exists, which CUDA 13 ships no longer: an error, but only for
    # projects requiring 3.25 or newer. So the toolkit is looked up as for 3.24.
    set(_ilvr_minimum_version ${CMAKE_MINIMUM_REQUIRED_VERSION})
    if(CMAKE_VERSION VERSION_LESS 3.26)
        set(CMAKE_MINIMUM_REQUIRED_VERSION 3.24)
    endif()
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_MINIMUM_REQUIRED_VERSION ${_ilvr_minimum_version})
    ilvr_add_component(cuda CUDA::cudart)
    target_compile_features(ilvr_cuda INTERFACE cuda_std_20)
endif()
