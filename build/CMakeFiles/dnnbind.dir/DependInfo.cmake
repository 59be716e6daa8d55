
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/bindings/l_autograd.c" "CMakeFiles/dnnbind.dir/bindings/l_autograd.c.o" "gcc" "CMakeFiles/dnnbind.dir/bindings/l_autograd.c.o.d"
  "/work/main/bindings/l_core.c" "CMakeFiles/dnnbind.dir/bindings/l_core.c.o" "gcc" "CMakeFiles/dnnbind.dir/bindings/l_core.c.o.d"
  "/work/main/bindings/l_io.c" "CMakeFiles/dnnbind.dir/bindings/l_io.c.o" "gcc" "CMakeFiles/dnnbind.dir/bindings/l_io.c.o.d"
  "/work/main/bindings/l_nn.c" "CMakeFiles/dnnbind.dir/bindings/l_nn.c.o" "gcc" "CMakeFiles/dnnbind.dir/bindings/l_nn.c.o.d"
  "/work/main/bindings/l_tensor.c" "CMakeFiles/dnnbind.dir/bindings/l_tensor.c.o" "gcc" "CMakeFiles/dnnbind.dir/bindings/l_tensor.c.o.d"
  "/work/main/build/lua_embedded.c" "CMakeFiles/dnnbind.dir/lua_embedded.c.o" "gcc" "CMakeFiles/dnnbind.dir/lua_embedded.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/CMakeFiles/dnncore.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
