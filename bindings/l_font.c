/* Bindings for font.h, into dnn.core._font: load(path) gives a font
 * userdata with measure and render (lua/dnn/datasets.lua's text_lines). */
#include "ldnn.h"

#define FONT_MT "dnn.Font"

static dnn_font *check_font(lua_State *L) {
  dnn_font **p = luaL_checkudata(L, 1, FONT_MT);
  if (!*p) luaL_error(L, "font was freed");
  return *p;
}

static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  dnn_font **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  luaL_setmetatable(L, FONT_MT);
  *p = dnn_font_load(path);
  if (!*p) return ldnn_raise(L);
  return 1;
}

static int l_gc(lua_State *L) {
  dnn_font **p = luaL_checkudata(L, 1, FONT_MT);
  dnn_font_free(*p);
  *p = NULL;
  return 0;
}

/* font:measure(text, px) -> width, ascent, descent (pixels) */
static int l_measure(lua_State *L) {
  dnn_font *f = check_font(L);
  float w, a, d;
  ldnn_check_status(L, dnn_font_measure(f, luaL_checkstring(L, 2), (float)luaL_checknumber(L, 3), &w, &a, &d));
  lua_pushnumber(L, w);
  lua_pushnumber(L, a);
  lua_pushnumber(L, d);
  return 3;
}

/* font:render(text, px, x, baseline, h, w) -> tensor (h, w) of coverage in [0, 1] */
static int l_render(lua_State *L) {
  dnn_font *f = check_font(L);
  ldnn_push_tensor(L,
                   dnn_font_render(f, luaL_checkstring(L, 2), (float)luaL_checknumber(L, 3),
                                   (float)luaL_checknumber(L, 4), (float)luaL_checknumber(L, 5),
                                   (int64_t)luaL_checkinteger(L, 6), (int64_t)luaL_checkinteger(L, 7)));
  return 1;
}

void ldnn_open_font(lua_State *L) {
  static const luaL_Reg methods[] = {{"measure", l_measure}, {"render", l_render}, {NULL, NULL}};
  luaL_newmetatable(L, FONT_MT);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {{"load", l_load}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_font");
}
