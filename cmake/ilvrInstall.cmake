# Install rules: headers, the core target, one export file per component, and a
# package config that takes components: find_package(ilvr COMPONENTS eigen xtensor).
include(CMakePackageConfigHelpers)
set(ILVR_CMAKE_DIR ${CMAKE_INSTALL_DATADIR}/cmake/ilvr)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ilvr DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ilvr EXPORT ilvrTargets)
install(EXPORT ilvrTargets NAMESPACE ilvr:: DESTINATION ${ILVR_CMAKE_DIR})
foreach(component IN LISTS ILVR_COMPONENTS)
    install(TARGETS ilvr_${component} EXPORT ilvr_${component}Targets)
    install(EXPORT ilvr_${component}Targets NAMESPACE ilvr:: DESTINATION ${ILVR_CMAKE_DIR})
endforeach()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ilvrConfig.cmake.in
    ${PROJECT_BINARY_DIR}/ilvrConfig.cmake INSTALL_DESTINATION ${ILVR_CMAKE_DIR})
# Header-only: any architecture may use the package.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ilvrConfigVersion.cmake
    COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/ilvrConfig.cmake ${PROJECT_BINARY_DIR}/ilvrConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/ilvrFindThrust.cmake
    DESTINATION ${ILVR_CMAKE_DIR})
