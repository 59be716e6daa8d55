/* Bindings for file formats (core io.h). */
#include "ldnn.h"

/* read_idx(path) -> tensor of the file's dims, values as stored. */
static int l_read_idx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  ldnn_push_tensor(L, dnn_read_idx(path));
  return 1;
}

static const luaL_Reg io_funcs[] = {
    {"read_idx", l_read_idx},
    {NULL, NULL},
};

void ldnn_open_io(lua_State *L) { luaL_setfuncs(L, io_funcs, 0); }
