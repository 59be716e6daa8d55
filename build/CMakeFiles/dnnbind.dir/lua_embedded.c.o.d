CMakeFiles/dnnbind.dir/lua_embedded.c.o: /work/main/build/lua_embedded.c \
 /usr/include/stdc-predef.h /work/main/bindings/lua_embedded.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
