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
    find_package(CUDAToolkit REQUIRED)
    ilvr_add_component(cuda CUDA::cudart)
    target_compile_features(ilvr_cuda INTERFACE cuda_std_20)
endif()
