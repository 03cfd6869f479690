# cmake --install: programs, libvodq.so/.a, headers, vodq.pc,
# vodqConfig.cmake (+ version), man pages and bash completion.
include(CMakePackageConfigHelpers)

foreach(p vodq-scheduler vodq-worker vodqctl vodq-compose vodq-upload)
  if(TARGET ${p})
    install(TARGETS ${p} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

install(TARGETS vodq EXPORT vodqTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/lib/libvodq.a DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/vodq/vodq.h ${CMAKE_SOURCE_DIR}/include/vodq/err.h
  ${CMAKE_BINARY_DIR}/include/vodq/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vodq)

# pkg-config: libvodq.a needs hiredis, cJSON and pthread (Libs.private /
# Requires.private for `pkg-config --static`).
# Relocatable: the prefix is found from the .pc file's own place, so that
# `cmake --install --prefix DIR` works without reconfiguring.
file(RELATIVE_PATH VODQ_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" VODQ_PC_TO_PREFIX "${VODQ_PC_TO_PREFIX}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/vodq.pc.in ${CMAKE_BINARY_DIR}/vodq.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vodq.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake: find_package(vodq) gives the imported target vodq::vodq.
install(EXPORT vodqTargets NAMESPACE vodq:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vodq)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vodqConfig.cmake.in
  ${CMAKE_BINARY_DIR}/vodqConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vodq)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vodqConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/vodqConfig.cmake ${CMAKE_BINARY_DIR}/vodqConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vodq)

file(GLOB VODQ_MAN1 ${CMAKE_SOURCE_DIR}/docs/man/*.1)
file(GLOB VODQ_MAN3 ${CMAKE_SOURCE_DIR}/docs/man/*.3)
install(FILES ${VODQ_MAN1} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${VODQ_MAN3} DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/completion/vodq.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME vodq)
# bash-completion loads completions/<command> on first use: one link per program
foreach(p vodqctl vodq-scheduler vodq-worker vodq-compose vodq-upload)
  install(CODE "file(CREATE_LINK vodq
    \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/bash-completion/completions/${p}\" SYMBOLIC)")
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/examples/seed_flow.c DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
