# `cmake --install BUILD --prefix P` puts the libraries, their headers, ember-node, ember and
# a CMake package in P, so that another project writes
#   find_package(Ember REQUIRED)
#   target_link_libraries(app PRIVATE Ember::ember)
# The libraries are static; EmberConfig.cmake finds what they link (the same Debian
# packages as this build) before it loads the targets.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(EMBER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Ember)

# Ember::ember: everything a program needs (ember/ember.hpp is its umbrella header).
# (The target is ember_all here: `ember` is the CLI's.)
add_library(ember_all INTERFACE)
target_link_libraries(ember_all INTERFACE ember_node)
set_target_properties(ember_all PROPERTIES EXPORT_NAME ember)
add_library(Ember::ember ALIAS ember_all)

install(TARGETS ember_term ember_core ember_net ember_node ember_all
        EXPORT EmberTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ember-node ember RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(layer core net node)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          PATTERN testing.hpp EXCLUDE)  # the test harness stays in the build tree
endforeach()
# The wire schema's generated header: the net headers include it as "wire.capnp.h".
install(FILES ${PROJECT_BINARY_DIR}/net/wire.capnp.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT EmberTargets NAMESPACE Ember:: DESTINATION ${EMBER_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/EmberConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/EmberConfig.cmake
                              INSTALL_DESTINATION ${EMBER_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/EmberConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/EmberConfig.cmake ${PROJECT_BINARY_DIR}/EmberConfigVersion.cmake
        DESTINATION ${EMBER_CMAKE_DIR})
