/* The Lua library compiled into the binary (made by cmake/embed_lua.cmake). */
#ifndef LUA_EMBEDDED_H
#define LUA_EMBEDDED_H

#include <stddef.h>

typedef struct ldnn_lua_module {
  const char *name; /* "dnn.nn" */
  const char *chunkname; /* "@dnn/nn.lua", as tracebacks show it */
  const char *source;
  size_t size;
} ldnn_lua_module;

extern const ldnn_lua_module ldnn_lua_modules[];

#endif
