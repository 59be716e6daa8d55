file(REMOVE_RECURSE
  "CMakeFiles/dnn_module.dir/bindings/module.c.o"
  "CMakeFiles/dnn_module.dir/bindings/module.c.o.d"
  "dnn.pdb"
  "dnn.so"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/dnn_module.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
