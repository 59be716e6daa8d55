file(REMOVE_RECURSE
  "CMakeFiles/dnncore.dir/core/src/autograd.c.o"
  "CMakeFiles/dnncore.dir/core/src/autograd.c.o.d"
  "CMakeFiles/dnncore.dir/core/src/error.c.o"
  "CMakeFiles/dnncore.dir/core/src/error.c.o.d"
  "CMakeFiles/dnncore.dir/core/src/parallel.c.o"
  "CMakeFiles/dnncore.dir/core/src/parallel.c.o.d"
  "CMakeFiles/dnncore.dir/core/src/random.c.o"
  "CMakeFiles/dnncore.dir/core/src/random.c.o.d"
  "CMakeFiles/dnncore.dir/core/src/tensor.c.o"
  "CMakeFiles/dnncore.dir/core/src/tensor.c.o.d"
  "CMakeFiles/dnncore.dir/core/src/views.c.o"
  "CMakeFiles/dnncore.dir/core/src/views.c.o.d"
  "libdnncore.a"
  "libdnncore.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/dnncore.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
