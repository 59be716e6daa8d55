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

/* dnn.grad's argument errors name it as the user calls it: luaL_argerror
 * would name it after the call site or its first name in package.loaded
 * ('dnn.core.grad'), and count an option's value as an argument of its own. */
static int grad_arg_error(lua_State *L, int arg, const char *what, const char *msg) {
  return luaL_error(L, "bad argument #%d to 'dnn.grad' (%s%s)", arg, what, msg);
}

/* Tensors from the value at idx (argument arg, or its option `what` when
 * what is not ""): one tensor, or an array of them (missing entries, up to
 * n_expected, may be nil). Returns the count; the array lives in a userdata
 * pushed on the stack, so nothing leaks when an error is raised. */
static int tensor_list(lua_State *L, int idx, int arg, const char *what, const char *kind, dnn_tensor ***out,
                       int n_expected) {
  if (ldnn_to_tensor(L, idx)) {
    dnn_tensor **list = lua_newuserdatauv(L, sizeof *list, 0);
    list[0] = ldnn_to_tensor(L, idx);
    *out = list;
    return 1;
  }
  if (!lua_istable(L, idx))
    grad_arg_error(L, arg, what,
                   lua_pushfstring(L, "expected a tensor or an array of %s, got %s", kind, luaL_typename(L, idx)));
  int n = n_expected >= 0 ? n_expected : (int)luaL_len(L, idx);
  if (n < 1) grad_arg_error(L, arg, what, lua_pushfstring(L, "expected at least one of %s, got none", kind));
  dnn_tensor **list = lua_newuserdatauv(L, (size_t)n * sizeof *list, 0);
  for (int i = 0; i < n; i++) {
    lua_geti(L, idx, i + 1);
    list[i] = ldnn_to_tensor(L, -1);
    if (!list[i] && (n_expected < 0 || !lua_isnil(L, -1)))
      grad_arg_error(L, arg, what,
                     lua_pushfstring(L, "expected %s, got %s at index %d", kind, luaL_typename(L, -1), i + 1));
    lua_pop(L, 1); /* the array still holds the tensor */
  }
  *out = list;
  return n;
}

/* The boolean option name of the options table (argument 3), or false. */
static bool grad_flag(lua_State *L, const char *name) {
  if (lua_isnil(L, 3)) return false;
  int type = lua_getfield(L, 3, name);
  if (type != LUA_TNIL && type != LUA_TBOOLEAN)
    grad_arg_error(L, 3, "", lua_pushfstring(L, "option %s: expected a boolean, got %s", name, luaL_typename(L, -1)));
  bool on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

/* dnn.grad(outputs, inputs[, {grad_outputs, retain_graph, create_graph,
 * allow_unused}]): the gradients of outputs with respect to inputs, as
 * several results; .grad is left alone. */
static int l_grad(lua_State *L) {
  static const char *const valid[] = {"grad_outputs", "retain_graph", "create_graph", "allow_unused", NULL};
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    grad_arg_error(L, 3, "", lua_pushfstring(L, "expected an options table, got %s", luaL_typename(L, 3)));
  ldnn_check_options(L, 3, "dnn.grad", valid);
  lua_settop(L, 3);
  dnn_tensor **outs, **ins, **seeds = NULL;
  int n_out = tensor_list(L, 1, 1, "", "output tensors", &outs, -1);
  int n_in = tensor_list(L, 2, 2, "", "input tensors", &ins, -1);
  if (!lua_isnil(L, 3) && lua_getfield(L, 3, "grad_outputs") != LUA_TNIL) {
    int top = lua_gettop(L);
    tensor_list(L, top, 3, "option grad_outputs: ", "gradient tensors", &seeds, n_out);
  }
  dnn_backward_opts o = {.retain_graph = grad_flag(L, "retain_graph"), .create_graph = grad_flag(L, "create_graph")};
  bool allow_unused = grad_flag(L, "allow_unused");
  dnn_tensor **grads = lua_newuserdatauv(L, (size_t)n_in * sizeof *grads, 0);
  ldnn_check_status(L, dnn_grad(n_out, outs, seeds, n_in, ins, grads, &o));
  luaL_checkstack(L, n_in, "too many inputs");
  for (int i = 0; i < n_in; i++) /* pushed first, so an error below leaks none */
    if (grads[i])
      ldnn_push_tensor(L, grads[i]);
    else
      lua_pushnil(L);
  for (int i = 0; i < n_in; i++)
    if (!grads[i] && !allow_unused)
      return luaL_error(
          L, "dnn.grad: input %d was not used to compute the outputs (pass allow_unused = true to get nil)", i + 1);
  return n_in;
}

/* set_autograd_scope(s or nil): names what records nodes from now on (see
 * dnn_autograd_set_scope); returns the previous scope, to restore it. */
static int l_set_autograd_scope(lua_State *L) {
  const char *scope = luaL_optstring(L, 1, NULL);
  const char *previous = dnn_autograd_scope();
  if (previous)
    lua_pushstring(L, previous);
  else
    lua_pushnil(L);
  dnn_autograd_set_scope(scope);
  return 1;
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
      {"grad", l_grad},
      {"set_autograd_scope", l_set_autograd_scope},
      {NULL, NULL},
  };
  push_guard(L, false);
  push_guard(L, true);
  luaL_setfuncs(L, guarded, 2);
  luaL_setfuncs(L, fns, 0);
}
