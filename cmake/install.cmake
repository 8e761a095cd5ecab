# What `cmake --install BUILD [--prefix P]` (and `make install`) puts under the prefix:
#   bin/deltacodec                              the CLI (when DELTACODEC_CLI)
#   include/deltacodec/*.hpp                    the public headers (they include nothing from src/)
#   lib/libdeltacodec.a                         the library (static only: see docs/API.md, "Linking")
#   lib/cmake/deltacodec/                       find_package(deltacodec): target deltacodec::deltacodec
#   lib/pkgconfig/deltacodec.pc                 pkg-config --cflags --libs deltacodec
# (lib/ is CMAKE_INSTALL_LIBDIR.) Included by CMakeLists.txt when DELTACODEC_INSTALL is on.
include(CMakePackageConfigHelpers)

if(DELTACODEC_CLI)
  install(TARGETS deltacodec_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(TARGETS deltacodec EXPORT deltacodecTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/deltacodec DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

# The CMake package. Its version file accepts the same major.minor only: before 1.0 a minor
# release may change the API.
set(DELTACODEC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/deltacodec)
install(EXPORT deltacodecTargets NAMESPACE deltacodec:: DESTINATION ${DELTACODEC_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/deltacodecConfig.cmake.in
  ${PROJECT_BINARY_DIR}/deltacodecConfig.cmake INSTALL_DESTINATION ${DELTACODEC_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/deltacodecConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/deltacodecConfig.cmake ${PROJECT_BINARY_DIR}/deltacodecConfigVersion.cmake
  DESTINATION ${DELTACODEC_CMAKE_DIR})

# deltacodec.pc names the prefix given at install time (`cmake --install --prefix P` may differ
# from the configured CMAKE_INSTALL_PREFIX), so it is written when the install runs.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(DELTACODEC_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(DELTACODEC_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(DELTACODEC_PC_FILE ${PROJECT_BINARY_DIR}/pkgconfig/deltacodec.pc)
install(CODE "
  set(DELTACODEC_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(DELTACODEC_PC_LIBDIR [[${DELTACODEC_PC_LIBDIR}]])
  set(DELTACODEC_PC_INCLUDEDIR [[${DELTACODEC_PC_INCLUDEDIR}]])
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/deltacodec.pc.in\" \"${DELTACODEC_PC_FILE}\" @ONLY)
")
install(FILES ${DELTACODEC_PC_FILE} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
