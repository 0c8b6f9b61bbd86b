# Finds Thrust's headers (CCCL) for ilvr::device and sets ILVR_THRUST_INCLUDE_DIR:
# the CUDA Toolkit's (include/cccl) where it is installed, the same headers nvcc
# uses; else the system's (Debian's libthrust-dev, /usr/include/thrust). Run by
# the build (cmake/ilvrDevice.cmake) and, installed next to ilvrConfig.cmake, by
# a consumer's find_package(ilvr COMPONENTS device) at its own configure time,
# so the installed targets carry no include path of the machine that built them.
find_path(ILVR_THRUST_INCLUDE_DIR thrust/version.h
          PATHS ${CUDAToolkit_INCLUDE_DIRS}/cccl ${CUDAToolkit_ROOT}/include/cccl /usr/local/cuda/include/cccl
          NO_DEFAULT_PATH)
find_path(ILVR_THRUST_INCLUDE_DIR thrust/version.h)
