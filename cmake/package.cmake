# The library as others build on it: the shared library, the install rules, the CMake package
# (find_package(tapegrad CONFIG), targets tapegrad::tapegrad and tapegrad::tapegrad_shared, and
# with COMPONENTS dist, tapegrad::dist) and the pkg-config files tapegrad.pc and
# tapegrad-dist.pc. Included from the top-level CMakeLists.txt once the static library `tapegrad`
# is fully defined. See docs/getting-started.md, "Install"; tests/consumer/run.sh checks it all.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# What a consumer needs beyond the headers and fmt: C++20 (the headers use concepts), and, in a
# sanitizer build, the sanitizer runtimes at link time. -march, -O3, the warnings and
# -fno-math-errno stay build options of the library (tapegrad_flags, PRIVATE): no header depends
# on them. The default build is portable (x86-64-v2, the kernels chosen at run time); one
# configured with -DTAPEGRAD_NATIVE=ON runs only on CPUs like the building one.
target_compile_features(tapegrad INTERFACE cxx_std_20)
target_include_directories(tapegrad INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set(TAPEGRAD_SANITIZER_LINK_FLAGS "")
if(TAPEGRAD_SANITIZE)
  set(TAPEGRAD_SANITIZER_LINK_FLAGS -fsanitize=address,undefined)
  target_link_options(tapegrad INTERFACE ${TAPEGRAD_SANITIZER_LINK_FLAGS})
endif()

set(TAPEGRAD_INSTALL_TARGETS tapegrad)
if(TAPEGRAD_BUILD_SHARED)
  # The same sources and settings as the static library (copied from it, so the two stay in
  # step), compiled position independent into libtapegrad.so. -fno-semantic-interposition keeps
  # the inlining across core/ that the unity build is there for (-fPIC alone forbids it).
  # The kernels' per-path copies again, position independent (cmake/kernels.cmake).
  tapegrad_add_kernel_objects(TAPEGRAD_KERNEL_PIC_OBJECTS "_pic" PIC)
  add_library(tapegrad_shared SHARED ${TAPEGRAD_SOURCES} ${TAPEGRAD_KERNEL_PIC_OBJECTS})
  add_library(tapegrad::tapegrad_shared ALIAS tapegrad_shared)
  foreach(property INCLUDE_DIRECTORIES COMPILE_OPTIONS COMPILE_DEFINITIONS COMPILE_FEATURES
                   LINK_LIBRARIES LINK_OPTIONS UNITY_BUILD UNITY_BUILD_MODE
                   INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_OPTIONS
                   INTERFACE_COMPILE_DEFINITIONS INTERFACE_COMPILE_FEATURES
                   INTERFACE_LINK_OPTIONS)
    get_target_property(value tapegrad ${property})
    if(NOT value STREQUAL "value-NOTFOUND")
      set_property(TARGET tapegrad_shared PROPERTY ${property} "${value}")
    endif()
  endforeach()
  # The static library's interface also lists its private dependencies ($<LINK_ONLY:...>); a
  # shared library's interface has only the public ones.
  set_property(TARGET tapegrad_shared PROPERTY INTERFACE_LINK_LIBRARIES fmt::fmt)
  target_compile_options(tapegrad_shared PRIVATE -fno-semantic-interposition)
  set_target_properties(tapegrad_shared PROPERTIES
    OUTPUT_NAME tapegrad
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME tapegrad_shared)
  list(APPEND TAPEGRAD_INSTALL_TARGETS tapegrad_shared)
endif()

# Headers keep the source layout under <prefix>/include/tapegrad/ and include each other as
# <tapegrad/...>, so a consumer's include path holds <prefix>/include only and a consumer's own
# core/shape.h cannot shadow tapegrad's. ops/kernels/ is internal (no public header includes
# it); nn/dist/ is installed with the dist component.
install(FILES include/tapegrad/tapegrad.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad)
install(DIRECTORY core ops nn optim data DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad
  FILES_MATCHING PATTERN "*.h" PATTERN "kernels" EXCLUDE PATTERN "dist" EXCLUDE)
if(TAPEGRAD_MPI)
  install(DIRECTORY nn/dist DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tapegrad/nn FILES_MATCHING PATTERN "*.h")
endif()

install(TARGETS ${TAPEGRAD_INSTALL_TARGETS} EXPORT tapegradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(TAPEGRAD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad)
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION ${TAPEGRAD_CMAKE_DIR})
if(TAPEGRAD_MPI)
  # Its own export set, read only when a consumer asks for the component (tapegradConfig.cmake).
  install(TARGETS tapegrad_dist EXPORT tapegradDistTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT tapegradDistTargets NAMESPACE tapegrad:: DESTINATION ${TAPEGRAD_CMAKE_DIR})
endif()
configure_package_config_file(cmake/tapegradConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake INSTALL_DESTINATION ${TAPEGRAD_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake DESTINATION ${TAPEGRAD_CMAKE_DIR})

# tapegrad.pc finds the prefix from its own place (${pcfiledir}), so an install to any prefix
# (cmake --install build --prefix DIR) gives a working file.
set(TAPEGRAD_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${TAPEGRAD_PC_DIR}")
  set(TAPEGRAD_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH TAPEGRAD_PC_UP "/prefix/${TAPEGRAD_PC_DIR}" "/prefix")
  string(REGEX REPLACE "/$" "" TAPEGRAD_PC_UP "${TAPEGRAD_PC_UP}")
  set(TAPEGRAD_PC_PREFIX "\${pcfiledir}/${TAPEGRAD_PC_UP}")
endif()
list(JOIN TAPEGRAD_SANITIZER_LINK_FLAGS " " TAPEGRAD_PC_EXTRA_LIBS)
if(TAPEGRAD_PC_EXTRA_LIBS)
  string(PREPEND TAPEGRAD_PC_EXTRA_LIBS " ")
endif()
configure_file(cmake/tapegrad.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tapegrad.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tapegrad.pc DESTINATION ${TAPEGRAD_PC_DIR})
if(TAPEGRAD_MPI)
  # libtapegrad_dist is a static library only: a program that links it links the MPI libraries
  # tapegrad::dist was built against (the ones FindMPI found), so they go in Libs, not
  # Libs.private (read only with --static). Cflags get nothing of MPI: no header includes mpi.h.
  set(TAPEGRAD_PC_MPI_LIBS "")
  foreach(lib IN LISTS MPI_CXX_LIBRARIES)
    if(IS_ABSOLUTE "${lib}" OR lib MATCHES "^-")
      string(APPEND TAPEGRAD_PC_MPI_LIBS " ${lib}")
    else()
      string(APPEND TAPEGRAD_PC_MPI_LIBS " -l${lib}")
    endif()
  endforeach()
  if(MPI_CXX_LINK_FLAGS)
    string(APPEND TAPEGRAD_PC_MPI_LIBS " ${MPI_CXX_LINK_FLAGS}")
  endif()
  configure_file(cmake/tapegrad-dist.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tapegrad-dist.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tapegrad-dist.pc DESTINATION ${TAPEGRAD_PC_DIR})
endif()
