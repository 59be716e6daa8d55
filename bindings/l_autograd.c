/* Bindings for autodiff's grad mode: no_grad, enable_grad and the switch.
 * (backward, detach and requires_grad_ are tensor methods: l_tensor.c.) */
#include "ldnn.h"

/* __close of the guards below: sets the grad mode the guard stands for. */
static int restore_grad_mode(lua_State *L) {
  dnn_set_grad_enabled(lua_toboolean(L, lua_upvalueindex(1)));
  return 0;
}

/* Runs fn(...) (arguments 1..top) with grad mode set to on, then restores
 * the previous mode, also when fn raises. The restore is a to-be-closed
 * slot, not a protected call: nothing is caught, so an error goes on with
 * every frame down to where it was raised (a pcall and re-raise would cut
 * the traceback at this function). The two guards (upvalues 1 and 2: the
 * one restoring false, the one restoring true) are made once. Returns fn's
 * results. fn cannot yield: grad mode is per OS thread, so a coroutine
 * suspended inside no_grad would leak the mode to its resumer. */
static int run_with_grad_mode(lua_State *L, bool on) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int n = lua_gettop(L);
  luaL_checkstack(L, n + 1, "too many arguments");
  bool was = dnn_grad_enabled();
  lua_pushvalue(L, lua_upvalueindex(was ? 2 : 1));
  lua_toclose(L, n + 1);
  dnn_set_grad_enabled(on);
  for (int i = 1; i <= n; i++) lua_pushvalue(L, i); /* fn and its arguments, above the guard */
  lua_call(L, n - 1, LUA_MULTRET);
  return lua_gettop(L) - (n + 1);
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

/* Pushes a guard: a table whose __close sets grad mode to on. */
static void push_guard(lua_State *L, bool on) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushboolean(L, on);
  lua_pushcclosure(L, restore_grad_mode, 1);
  lua_setfield(L, -2, "__close");
  lua_setmetatable(L, -2);
}

void ldnn_open_autograd(lua_State *L) {
  static const luaL_Reg guarded[] = {
      {"no_grad", l_no_grad},
      {"enable_grad", l_enable_grad},
      {NULL, NULL},
  };
  static const luaL_Reg fns[] = {
      {"is_grad_enabled", l_is_grad_enabled},
      {"set_grad_enabled", l_set_grad_enabled},
      {NULL, NULL},
  };
  push_guard(L, false);
  push_guard(L, true);
  luaL_setfuncs(L, guarded, 2);
  luaL_setfuncs(L, fns, 0);
}
