/* Bindings for autodiff's grad mode: no_grad, enable_grad and the switch.
 * (backward, detach and requires_grad_ are tensor methods: l_tensor.c.) */
#include "ldnn.h"

/* Runs fn(...) (arguments 1..top) with grad mode set to on, then restores
 * the previous mode, also when fn raises (the error goes on unchanged).
 * Returns fn's results. fn cannot yield: grad mode is per OS thread, so a
 * coroutine suspended inside no_grad would leak the mode to its resumer. */
static int run_with_grad_mode(lua_State *L, bool on) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  bool was = dnn_grad_enabled();
  dnn_set_grad_enabled(on);
  int st = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  dnn_set_grad_enabled(was);
  if (st != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static int l_no_grad(lua_State *L) { return run_with_grad_mode(L, false); }
static int l_enable_grad(lua_State *L) { return run_with_grad_mode(L, true); }

static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, dnn_grad_enabled());
  return 1;
}

/* set_grad_enabled(on): returns the previous mode, to restore it later. */
static int l_set_grad_enabled(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  lua_pushboolean(L, dnn_grad_enabled());
  dnn_set_grad_enabled(lua_toboolean(L, 1));
  return 1;
}

void ldnn_open_autograd(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"no_grad", l_no_grad},
      {"enable_grad", l_enable_grad},
      {"is_grad_enabled", l_is_grad_enabled},
      {"set_grad_enabled", l_set_grad_enabled},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
