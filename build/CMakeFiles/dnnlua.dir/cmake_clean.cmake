file(REMOVE_RECURSE
  "CMakeFiles/dnnlua.dir/bindings/dnnlua.c.o"
  "CMakeFiles/dnnlua.dir/bindings/dnnlua.c.o.d"
  "dnnlua"
  "dnnlua.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/dnnlua.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
