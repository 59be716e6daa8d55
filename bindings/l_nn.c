/* Bindings for layer kernels, losses, optimizer steps and initializers
 * (core nn.h, optim.h, init.h). They go into dnn.core._nn: the Lua library
 * (lua/dnn/nn.lua, losses.lua, optim.lua) wraps them in Keras's API. */
#include <stdlib.h>
#include <string.h>

#include "ldnn.h"

static dnn_activation check_activation(lua_State *L, int arg) {
  const char *name = luaL_optstring(L, arg, "linear");
  int act = dnn_activation_from_name(name);
  if (act < 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected an activation (linear, relu, leaky_relu, sigmoid, tanh, softmax), got '%s'", name));
  return (dnn_activation)act;
}

/* dense(x, kernel, bias|nil, activation, alpha) */
static int l_dense(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1), *w = ldnn_check_tensor(L, 2);
  dnn_tensor *b = lua_isnoneornil(L, 3) ? NULL : ldnn_check_tensor(L, 3);
  dnn_activation act = check_activation(L, 4);
  float alpha = (float)luaL_optnumber(L, 5, 0.2);
  ldnn_push_tensor(L, dnn_dense(x, w, b, act, alpha));
  return 1;
}

static int l_mse(lua_State *L) {
  ldnn_push_tensor(L, dnn_mse_loss(ldnn_check_tensor(L, 1), ldnn_check_tensor(L, 2)));
  return 1;
}

static int l_bce(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  ldnn_push_tensor(L, dnn_binary_crossentropy(y, p, lua_toboolean(L, 3)));
  return 1;
}

static int l_sparse_cce(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  ldnn_push_tensor(L, dnn_sparse_categorical_crossentropy(y, p, lua_toboolean(L, 3), 1));
  return 1;
}

/* The tensors of the array at arg (a Lua table) into a C array that lives
 * as a userdata on the stack (freed by the collector, even on error). */
static dnn_tensor **check_tensor_list(lua_State *L, int arg, int *n_out) {
  luaL_checktype(L, arg, LUA_TTABLE);
  int n = (int)lua_rawlen(L, arg);
  dnn_tensor **list = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *list, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, arg, i + 1);
    list[i] = ldnn_to_tensor(L, -1);
    if (!list[i])
      luaL_argerror(L, arg, lua_pushfstring(L, "expected tensors, got %s at [%d]", luaL_typename(L, -1), i + 1));
    lua_pop(L, 1);
  }
  *n_out = n;
  return list;
}

static dnn_tensor **check_state_list(lua_State *L, int arg, int n) {
  int m;
  dnn_tensor **list = check_tensor_list(L, arg, &m);
  if (m != n) luaL_argerror(L, arg, lua_pushfstring(L, "expected %d state tensors, got %d", n, m));
  return list;
}

/* sgd_step(params, velocity|nil, lr, momentum, nesterov, weight_decay) */
static int l_sgd_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **vel = lua_isnoneornil(L, 2) ? NULL : check_state_list(L, 2, n);
  dnn_sgd_config cfg = {(float)luaL_checknumber(L, 3), (float)luaL_optnumber(L, 4, 0), (float)luaL_optnumber(L, 6, 0),
                        lua_toboolean(L, 5)};
  ldnn_check_status(L, dnn_sgd_step(n, params, vel, &cfg));
  return 0;
}

/* adam_step(params, m, v, lr, beta_1, beta_2, epsilon, step, weight_decay) */
static int l_adam_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **m = check_state_list(L, 2, n), **v = check_state_list(L, 3, n);
  dnn_adam_config cfg = {(float)luaL_checknumber(L, 4), (float)luaL_checknumber(L, 5), (float)luaL_checknumber(L, 6),
                         (float)luaL_checknumber(L, 7), (float)luaL_optnumber(L, 9, 0), luaL_checkinteger(L, 8)};
  ldnn_check_status(L, dnn_adam_step(n, params, m, v, &cfg));
  return 0;
}

static int l_clip_grad_norm(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  float norm;
  ldnn_check_status(L, dnn_clip_grad_norm(n, params, (float)luaL_checknumber(L, 2), &norm));
  lua_pushnumber(L, norm);
  return 1;
}

static int l_clip_grad_value(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  ldnn_check_status(L, dnn_clip_grad_value(n, params, (float)luaL_checknumber(L, 2)));
  return 0;
}

/* init(t, name, a, b): glorot_uniform (fan_in, fan_out), he_normal (fan_in),
 * uniform (lo, hi), normal (mean, stddev); returns t. */
static int l_init(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  const char *name = luaL_checkstring(L, 2);
  double a = luaL_optnumber(L, 3, 0), b = luaL_optnumber(L, 4, 0);
  dnn_status st;
  if (strcmp(name, "glorot_uniform") == 0) st = dnn_init_glorot_uniform(t, (int64_t)a, (int64_t)b);
  else if (strcmp(name, "he_normal") == 0) st = dnn_init_he_normal(t, (int64_t)a);
  else if (strcmp(name, "uniform") == 0) st = dnn_init_uniform(t, (float)a, (float)b);
  else if (strcmp(name, "normal") == 0) st = dnn_init_normal(t, (float)a, (float)b);
  else return luaL_argerror(L, 2, lua_pushfstring(L, "expected an initializer name, got '%s'", name));
  ldnn_check_status(L, st);
  lua_settop(L, 1);
  return 1;
}

void ldnn_open_nn(lua_State *L) {
  static const luaL_Reg nn_funcs[] = {{"dense", l_dense},
                                      {"mse_loss", l_mse},
                                      {"binary_crossentropy", l_bce},
                                      {"sparse_categorical_crossentropy", l_sparse_cce},
                                      {"sgd_step", l_sgd_step},
                                      {"adam_step", l_adam_step},
                                      {"clip_grad_norm", l_clip_grad_norm},
                                      {"clip_grad_value", l_clip_grad_value},
                                      {"init", l_init},
                                      {NULL, NULL}};
  luaL_newlib(L, nn_funcs);
  lua_setfield(L, -2, "_nn");
}
