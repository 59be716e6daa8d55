/* dnn.so: `require "dnn"` from a stock lua5.4 with this file on package.cpath. */
#include "ldnn.h"

int luaopen_dnn(lua_State *L);

int luaopen_dnn(lua_State *L) { return ldnn_open_library(L); }
