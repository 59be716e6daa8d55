
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/core/src/autograd.c" "CMakeFiles/dnncore.dir/core/src/autograd.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/autograd.c.o.d"
  "/work/main/core/src/error.c" "CMakeFiles/dnncore.dir/core/src/error.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/error.c.o.d"
  "/work/main/core/src/parallel.c" "CMakeFiles/dnncore.dir/core/src/parallel.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/parallel.c.o.d"
  "/work/main/core/src/random.c" "CMakeFiles/dnncore.dir/core/src/random.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/random.c.o.d"
  "/work/main/core/src/tensor.c" "CMakeFiles/dnncore.dir/core/src/tensor.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/tensor.c.o.d"
  "/work/main/core/src/views.c" "CMakeFiles/dnncore.dir/core/src/views.c.o" "gcc" "CMakeFiles/dnncore.dir/core/src/views.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
