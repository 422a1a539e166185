# pkg-config files, one per library (included from the top CMakeLists.txt):
#   mproc         -lmproc                       the core (libc + pthread)
#   mproc_value   -lmproc_value, requires mproc and msgpack-c
#   mproc_mpi     -lmproc_mpi,   requires mproc, MPI's flags
# and the same three with the suffix _static, which name the archives
# (lib*.a) by path and require mproc_static instead of mproc: all shared or
# all static, so a program gets exactly one copy of the core either way.
#
# The files find their prefix from their own place (${pcfiledir}), so they
# stay right when installed with `cmake --install --prefix` elsewhere.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MPROC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MPROC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH _pc_up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" _pc_up "${_pc_up}")
  set(MPROC_PC_PREFIX "\${pcfiledir}/${_pc_up}")
  set(MPROC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(MPROC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(MPROC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# mproc_pc(<name> <description> <requires> <libs> <libs.private> <cflags>)
# writes <name>.pc from cmake/mproc.pc.in and installs it.
function(mproc_pc name description requires libs libs_private cflags)
  set(PC_NAME ${name})
  set(PC_DESCRIPTION "${description}")
  set(PC_REQUIRES "${requires}")
  set(PC_LIBS "${libs}")
  set(PC_LIBS_PRIVATE "${libs_private}")
  set(PC_CFLAGS "${cflags}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/mproc.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

set(_core_desc "Processes, queues, pipes, shared memory, locks and pools across processes in C")
mproc_pc(mproc "${_core_desc}" "" "-L\${libdir} -lmproc" "-pthread" "")
mproc_pc(mproc_static "${_core_desc} (static library)" "" "\${libdir}/libmproc.a -pthread" "" "")

if(MPROC_HAVE_VALUE)
  set(_desc "mproc's msgpack helpers: values through queues and pipes")
  mproc_pc(mproc_value "${_desc}" "mproc ${MPROC_MSGPACK_MODULE_NAME}" "-L\${libdir} -lmproc_value" "" "")
  mproc_pc(mproc_value_static "${_desc} (static library)" "mproc_static ${MPROC_MSGPACK_MODULE_NAME}"
    "\${libdir}/libmproc_value.a" "" "")
endif()

if(MPROC_HAVE_MPI)
  # MPI's own flags as FindMPI found them (MPI implementations do not agree
  # on a pkg-config module name).
  set(_mpi_cflags "")
  foreach(d IN LISTS MPI_C_INCLUDE_DIRS)
    string(APPEND _mpi_cflags " -I${d}")
  endforeach()
  foreach(d IN LISTS MPI_C_COMPILE_DEFINITIONS)
    string(APPEND _mpi_cflags " -D${d}")
  endforeach()
  foreach(o IN LISTS MPI_C_COMPILE_OPTIONS)
    string(APPEND _mpi_cflags " ${o}")
  endforeach()
  string(JOIN " " _mpi_libs ${MPI_C_LINK_FLAGS} ${MPI_C_LIBRARIES})
  set(_desc "mproc's process pool over MPI ranks")
  mproc_pc(mproc_mpi "${_desc}" "mproc" "-L\${libdir} -lmproc_mpi ${_mpi_libs}" "" "${_mpi_cflags}")
  mproc_pc(mproc_mpi_static "${_desc} (static library)" "mproc_static"
    "\${libdir}/libmproc_mpi.a ${_mpi_libs}" "" "${_mpi_cflags}")
endif()
