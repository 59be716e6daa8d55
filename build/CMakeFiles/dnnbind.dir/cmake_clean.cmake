file(REMOVE_RECURSE
  "CMakeFiles/dnnbind.dir/bindings/l_autograd.c.o"
  "CMakeFiles/dnnbind.dir/bindings/l_autograd.c.o.d"
  "CMakeFiles/dnnbind.dir/bindings/l_core.c.o"
  "CMakeFiles/dnnbind.dir/bindings/l_core.c.o.d"
  "CMakeFiles/dnnbind.dir/bindings/l_io.c.o"
  "CMakeFiles/dnnbind.dir/bindings/l_io.c.o.d"
  "CMakeFiles/dnnbind.dir/bindings/l_nn.c.o"
  "CMakeFiles/dnnbind.dir/bindings/l_nn.c.o.d"
  "CMakeFiles/dnnbind.dir/bindings/l_tensor.c.o"
  "CMakeFiles/dnnbind.dir/bindings/l_tensor.c.o.d"
  "CMakeFiles/dnnbind.dir/lua_embedded.c.o"
  "CMakeFiles/dnnbind.dir/lua_embedded.c.o.d"
  "libdnnbind.a"
  "libdnnbind.pdb"
  "lua_embedded.c"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/dnnbind.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
