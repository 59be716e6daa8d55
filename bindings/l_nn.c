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
    luaL_argerror(L, arg,
                  lua_pushfstring(
                      L, "expected an activation (linear, relu, leaky_relu, sigmoid, tanh, softmax), got '%s'", name));
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

/* ---- losses: (y_true, y_pred, sample_weight|nil, mask|nil, reduction|nil, ...) -> tensor ----
 * The loss's own arguments follow the shared ones. */

/* The shared arguments at 3 (sample_weight), 4 (mask), 5 (reduction name), checked before anything is allocated. */
static dnn_loss_options check_loss_options(lua_State *L) {
  dnn_loss_options opt = {DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, NULL};
  if (!lua_isnoneornil(L, 3)) opt.sample_weight = ldnn_check_tensor(L, 3);
  if (!lua_isnoneornil(L, 4)) opt.mask = ldnn_check_tensor(L, 4);
  const char *name = luaL_optstring(L, 5, "sum_over_batch_size");
  int r = dnn_reduction_from_name(name);
  if (r < 0)
    luaL_argerror(L, 5, lua_pushfstring(L, "expected a reduction (sum_over_batch_size, sum, none), got '%s'", name));
  opt.reduction = (dnn_reduction)r;
  return opt;
}

static int l_mse(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  ldnn_push_tensor(L, dnn_mse_loss(y, p, &opt));
  return 1;
}

static int l_mae(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  ldnn_push_tensor(L, dnn_mae_loss(y, p, &opt));
  return 1;
}

/* huber(..., delta = 1) */
static int l_huber(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  float delta = (float)luaL_optnumber(L, 6, 1.0);
  ldnn_push_tensor(L, dnn_huber_loss(y, p, delta, &opt));
  return 1;
}

/* binary_crossentropy(..., from_logits, label_smoothing = 0) */
static int l_bce(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  float ls = (float)luaL_optnumber(L, 7, 0);
  ldnn_push_tensor(L, dnn_binary_crossentropy(y, p, lua_toboolean(L, 6), ls, &opt));
  return 1;
}

/* categorical_crossentropy(..., from_logits, label_smoothing = 0) */
static int l_cce(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  float ls = (float)luaL_optnumber(L, 7, 0);
  ldnn_push_tensor(L, dnn_categorical_crossentropy(y, p, lua_toboolean(L, 6), ls, &opt));
  return 1;
}

/* sparse_categorical_crossentropy(labels (1-based ids), y_pred, ..., from_logits, label_smoothing = 0) */
static int l_sparse_cce(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  float ls = (float)luaL_optnumber(L, 7, 0);
  ldnn_push_tensor(L, dnn_sparse_categorical_crossentropy(y, p, lua_toboolean(L, 6), 1, ls, &opt));
  return 1;
}

static int l_kld(lua_State *L) {
  dnn_tensor *y = ldnn_check_tensor(L, 1), *p = ldnn_check_tensor(L, 2);
  dnn_loss_options opt = check_loss_options(L);
  ldnn_push_tensor(L, dnn_kl_divergence(y, p, &opt));
  return 1;
}

/* ---- optimizer steps: (params, state lists..., config table) ---- */

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

/* A list of n state tensors at arg, or NULL for nil. */
static dnn_tensor **opt_state_list(lua_State *L, int arg, int n) {
  if (lua_isnoneornil(L, arg)) return NULL;
  int m;
  dnn_tensor **list = check_tensor_list(L, arg, &m);
  if (m != n) luaL_argerror(L, arg, lua_pushfstring(L, "expected %d state tensors, got %d", n, m));
  return list;
}

static float cfg_number(lua_State *L, int idx, const char *name, double def) {
  return (float)ldnn_opt_number(L, idx, name, def);
}

static int64_t cfg_step(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "step") != LUA_TNUMBER || !lua_isinteger(L, -1))
    luaL_argerror(L, idx, "expected an integer field 'step'");
  int64_t step = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return step;
}

/* sgd_step(params, velocity|nil, {learning_rate, momentum, nesterov, weight_decay}) */
static int l_sgd_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **vel = opt_state_list(L, 2, n);
  luaL_checktype(L, 3, LUA_TTABLE);
  dnn_sgd_config cfg = {cfg_number(L, 3, "learning_rate", 0.01), cfg_number(L, 3, "momentum", 0),
                        cfg_number(L, 3, "weight_decay", 0), ldnn_opt_boolean(L, 3, "nesterov", 0)};
  ldnn_check_status(L, dnn_sgd_step(n, params, vel, &cfg));
  return 0;
}

/* rmsprop_step(params, velocity, momentum|nil, average_grad|nil, {learning_rate, rho, momentum, epsilon, centered,
 * weight_decay}) */
static int l_rmsprop_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **vel = opt_state_list(L, 2, n), **mom = opt_state_list(L, 3, n), **avg = opt_state_list(L, 4, n);
  luaL_checktype(L, 5, LUA_TTABLE);
  dnn_rmsprop_config cfg = {cfg_number(L, 5, "learning_rate", 0.001), cfg_number(L, 5, "rho", 0.9),
                            cfg_number(L, 5, "momentum", 0),          cfg_number(L, 5, "epsilon", 1e-7),
                            cfg_number(L, 5, "weight_decay", 0),      ldnn_opt_boolean(L, 5, "centered", 0)};
  ldnn_check_status(L, dnn_rmsprop_step(n, params, vel, mom, avg, &cfg));
  return 0;
}

static dnn_adam_config adam_config(lua_State *L, int idx) {
  return (dnn_adam_config){cfg_number(L, idx, "learning_rate", 0.001), cfg_number(L, idx, "beta_1", 0.9),
                           cfg_number(L, idx, "beta_2", 0.999),        cfg_number(L, idx, "epsilon", 1e-7),
                           cfg_number(L, idx, "weight_decay", 0),      cfg_step(L, idx)};
}

/* adam_step(params, m, v, v_hat|nil, {learning_rate, beta_1, beta_2, epsilon, weight_decay, step}) */
static int l_adam_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **m = opt_state_list(L, 2, n), **v = opt_state_list(L, 3, n), **v_hat = opt_state_list(L, 4, n);
  dnn_adam_config cfg = adam_config(L, 5);
  ldnn_check_status(L, dnn_adam_step(n, params, m, v, v_hat, &cfg));
  return 0;
}

/* adamax_step(params, m, u, {learning_rate, beta_1, beta_2, epsilon, weight_decay, step}) */
static int l_adamax_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **m = opt_state_list(L, 2, n), **u = opt_state_list(L, 3, n);
  dnn_adam_config cfg = adam_config(L, 4);
  ldnn_check_status(L, dnn_adamax_step(n, params, m, u, &cfg));
  return 0;
}

/* nadam_step(params, m, v, u_product, {...as adam}) -> the new u_product */
static int l_nadam_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **m = opt_state_list(L, 2, n), **v = opt_state_list(L, 3, n);
  double u_product = luaL_checknumber(L, 4);
  dnn_adam_config cfg = adam_config(L, 5);
  ldnn_check_status(L, dnn_nadam_step(n, params, m, v, &u_product, &cfg));
  lua_pushnumber(L, u_product);
  return 1;
}

/* adadelta_step(params, accum_grad, accum_delta, {learning_rate, rho, epsilon, weight_decay}) */
static int l_adadelta_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **ag = opt_state_list(L, 2, n), **ad = opt_state_list(L, 3, n);
  luaL_checktype(L, 4, LUA_TTABLE);
  dnn_adadelta_config cfg = {cfg_number(L, 4, "learning_rate", 0.001), cfg_number(L, 4, "rho", 0.95),
                             cfg_number(L, 4, "epsilon", 1e-7), cfg_number(L, 4, "weight_decay", 0)};
  ldnn_check_status(L, dnn_adadelta_step(n, params, ag, ad, &cfg));
  return 0;
}

/* adagrad_step(params, accum, {learning_rate, epsilon, weight_decay}) */
static int l_adagrad_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **acc = opt_state_list(L, 2, n);
  luaL_checktype(L, 3, LUA_TTABLE);
  dnn_adagrad_config cfg = {cfg_number(L, 3, "learning_rate", 0.001), cfg_number(L, 3, "epsilon", 1e-7),
                            cfg_number(L, 3, "weight_decay", 0)};
  ldnn_check_status(L, dnn_adagrad_step(n, params, acc, &cfg));
  return 0;
}

/* ftrl_step(params, accum, linear, {learning_rate, learning_rate_power, l1_regularization_strength,
 * l2_regularization_strength, l2_shrinkage_regularization_strength, beta, weight_decay}) */
static int l_ftrl_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **acc = opt_state_list(L, 2, n), **lin = opt_state_list(L, 3, n);
  luaL_checktype(L, 4, LUA_TTABLE);
  dnn_ftrl_config cfg = {cfg_number(L, 4, "learning_rate", 0.001),
                         cfg_number(L, 4, "learning_rate_power", -0.5),
                         cfg_number(L, 4, "l1_regularization_strength", 0),
                         cfg_number(L, 4, "l2_regularization_strength", 0),
                         cfg_number(L, 4, "l2_shrinkage_regularization_strength", 0),
                         cfg_number(L, 4, "beta", 0),
                         cfg_number(L, 4, "weight_decay", 0)};
  ldnn_check_status(L, dnn_ftrl_step(n, params, acc, lin, &cfg));
  return 0;
}

/* adafactor_step(params, r, c, v, {learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold,
 * weight_decay, step}); entries the step does not use may be any tensor (a 0-d placeholder) */
static int l_adafactor_step(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  dnn_tensor **r = opt_state_list(L, 2, n), **c = opt_state_list(L, 3, n), **v = opt_state_list(L, 4, n);
  luaL_checktype(L, 5, LUA_TTABLE);
  dnn_adafactor_config cfg = {cfg_number(L, 5, "learning_rate", 0.001),
                              cfg_number(L, 5, "beta_2_decay", -0.8),
                              cfg_number(L, 5, "epsilon_1", 1e-30),
                              cfg_number(L, 5, "epsilon_2", 1e-3),
                              cfg_number(L, 5, "clip_threshold", 1.0),
                              cfg_number(L, 5, "weight_decay", 0),
                              cfg_step(L, 5)};
  ldnn_check_status(L, dnn_adafactor_step(n, params, r, c, v, &cfg));
  return 0;
}

/* clip_grad_norm(params, max_norm) -> the global norm before clipping */
static int l_clip_grad_norm(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  float norm;
  ldnn_check_status(L, dnn_clip_grad_norm(n, params, (float)luaL_checknumber(L, 2), &norm));
  lua_pushnumber(L, norm);
  return 1;
}

static int l_clip_grad_norm_each(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  ldnn_check_status(L, dnn_clip_grad_norm_each(n, params, (float)luaL_checknumber(L, 2)));
  return 0;
}

static int l_clip_grad_value(lua_State *L) {
  int n;
  dnn_tensor **params = check_tensor_list(L, 1, &n);
  ldnn_check_status(L, dnn_clip_grad_value(n, params, (float)luaL_checknumber(L, 2)));
  return 0;
}

/* ---- initializers ---- */

/* init(t, name, a, b, ...) fills t in place and returns it:
 * constant (value), uniform (lo, hi), normal (mean, stddev), truncated_normal (mean, stddev),
 * variance_scaling (scale, mode "fan_in"|"fan_out"|"fan_avg", distribution
 * "truncated_normal"|"untruncated_normal"|"uniform", fan_in, fan_out), orthogonal (gain),
 * glorot_uniform (fan_in, fan_out), he_normal (fan_in). */
static int l_init(lua_State *L) {
  static const char *const modes[] = {"fan_in", "fan_out", "fan_avg", NULL};
  static const char *const dists[] = {"truncated_normal", "untruncated_normal", "uniform", NULL};
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  const char *name = luaL_checkstring(L, 2);
  dnn_status st;
  if (strcmp(name, "variance_scaling") == 0) {
    float scale = (float)luaL_checknumber(L, 3);
    dnn_fan_mode mode = (dnn_fan_mode)luaL_checkoption(L, 4, NULL, modes);
    dnn_distribution dist = (dnn_distribution)luaL_checkoption(L, 5, NULL, dists);
    st = dnn_init_variance_scaling(t, scale, mode, dist, luaL_checkinteger(L, 6), luaL_checkinteger(L, 7));
  } else {
    double a = luaL_optnumber(L, 3, 0), b = luaL_optnumber(L, 4, 0);
    if (strcmp(name, "constant") == 0)
      st = dnn_init_constant(t, (float)a);
    else if (strcmp(name, "uniform") == 0)
      st = dnn_init_uniform(t, (float)a, (float)b);
    else if (strcmp(name, "normal") == 0)
      st = dnn_init_normal(t, (float)a, (float)b);
    else if (strcmp(name, "truncated_normal") == 0)
      st = dnn_init_truncated_normal(t, (float)a, (float)b);
    else if (strcmp(name, "orthogonal") == 0)
      st = dnn_init_orthogonal(t, (float)luaL_optnumber(L, 3, 1));
    else if (strcmp(name, "glorot_uniform") == 0)
      st = dnn_init_glorot_uniform(t, (int64_t)a, (int64_t)b);
    else if (strcmp(name, "he_normal") == 0)
      st = dnn_init_he_normal(t, (int64_t)a);
    else
      return luaL_argerror(L, 2, lua_pushfstring(L, "expected an initializer name, got '%s'", name));
  }
  ldnn_check_status(L, st);
  lua_settop(L, 1);
  return 1;
}

/* compute_fans(shape) -> fan_in, fan_out (Keras's compute_fans) */
static int l_compute_fans(lua_State *L) {
  int64_t shape[DNN_MAX_DIMS];
  int ndim = ldnn_check_shape(L, 1, shape, NULL);
  int64_t fan_in, fan_out;
  dnn_compute_fans(ndim, shape, &fan_in, &fan_out);
  lua_pushinteger(L, fan_in);
  lua_pushinteger(L, fan_out);
  return 2;
}

void ldnn_open_nn(lua_State *L) {
  static const luaL_Reg nn_funcs[] = {{"dense", l_dense},
                                      {"mse_loss", l_mse},
                                      {"mae_loss", l_mae},
                                      {"huber_loss", l_huber},
                                      {"binary_crossentropy", l_bce},
                                      {"categorical_crossentropy", l_cce},
                                      {"sparse_categorical_crossentropy", l_sparse_cce},
                                      {"kl_divergence", l_kld},
                                      {"sgd_step", l_sgd_step},
                                      {"rmsprop_step", l_rmsprop_step},
                                      {"adam_step", l_adam_step},
                                      {"adamax_step", l_adamax_step},
                                      {"nadam_step", l_nadam_step},
                                      {"adadelta_step", l_adadelta_step},
                                      {"adagrad_step", l_adagrad_step},
                                      {"ftrl_step", l_ftrl_step},
                                      {"adafactor_step", l_adafactor_step},
                                      {"clip_grad_norm", l_clip_grad_norm},
                                      {"clip_grad_norm_each", l_clip_grad_norm_each},
                                      {"clip_grad_value", l_clip_grad_value},
                                      {"init", l_init},
                                      {"compute_fans", l_compute_fans},
                                      {NULL, NULL}};
  luaL_newlib(L, nn_funcs);
  lua_setfield(L, -2, "_nn");
}
