/* Bindings for the layer kernels of nn.h (dropout, batch and layer
 * normalization, PReLU, embedding). They go into dnn.core._layers: the Lua layers
 * (lua/dnn/layers/core.lua, normalization.lua) wrap them in Keras's API. */
#include "ldnn.h"

#define LDNN_GENERATOR_MT "dnn.Generator"

static dnn_tensor *opt_tensor(lua_State *L, int arg) {
  return lua_isnoneornil(L, arg) ? NULL : ldnn_check_tensor(L, arg);
}

/* generator(seed): a PRNG state of its own (a seeded Dropout's), as
 * dnn.manual_seed(seed) would set the global one. */
static int l_generator(lua_State *L) {
  lua_Integer seed = luaL_checkinteger(L, 1);
  dnn_rng_state *s = lua_newuserdatauv(L, sizeof *s, 0);
  dnn_rng_seeded_state((uint64_t)seed, s);
  luaL_setmetatable(L, LDNN_GENERATOR_MT);
  return 1;
}

/* dropout(x, rate[, generator]) */
static int l_dropout(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  float rate = (float)luaL_checknumber(L, 2);
  dnn_rng_state *gen = lua_isnoneornil(L, 3) ? NULL : luaL_checkudata(L, 3, LDNN_GENERATOR_MT);
  ldnn_push_tensor(L, dnn_dropout(x, rate, gen));
  return 1;
}

/* dropout_mask(x, mask) */
static int l_dropout_mask(lua_State *L) {
  ldnn_push_tensor(L, dnn_dropout_mask(ldnn_check_tensor(L, 1), ldnn_check_tensor(L, 2)));
  return 1;
}

/* batch_norm(x, gamma, beta, moving_mean, moving_var, training, momentum, epsilon, axis): the tensors after x may be
 * nil; axis is a Lua dim (1-based, negative from the end). */
static int l_batch_norm(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  dnn_tensor *gamma = opt_tensor(L, 2), *beta = opt_tensor(L, 3), *mm = opt_tensor(L, 4), *mv = opt_tensor(L, 5);
  dnn_batch_norm_config cfg = {0, lua_toboolean(L, 6), (float)luaL_optnumber(L, 7, 0.99),
                               (float)luaL_optnumber(L, 8, 1e-3)};
  cfg.axis = lua_isnoneornil(L, 9) ? -1 : ldnn_check_dim(L, 9, x->ndim);
  ldnn_push_tensor(L, dnn_batch_norm(x, gamma, beta, mm, mv, &cfg));
  return 1;
}

/* layer_norm(x, gamma, beta, naxes, epsilon): over the last naxes dims. */
static int l_layer_norm(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1), *gamma = opt_tensor(L, 2), *beta = opt_tensor(L, 3);
  lua_Integer naxes = luaL_optinteger(L, 4, 1);
  luaL_argcheck(L, naxes >= 1 && naxes <= DNN_MAX_DIMS, 4, "expected a number of dims in [1, 8]");
  ldnn_push_tensor(L, dnn_layer_norm(x, gamma, beta, (int)naxes, (float)luaL_optnumber(L, 5, 1e-3)));
  return 1;
}

/* prelu(x, alpha) */
static int l_prelu(lua_State *L) {
  ldnn_push_tensor(L, dnn_prelu(ldnn_check_tensor(L, 1), ldnn_check_tensor(L, 2)));
  return 1;
}

/* embedding(table, ids, mask_zero) */
static int l_embedding(lua_State *L) {
  dnn_tensor *table = ldnn_check_tensor(L, 1), *ids = ldnn_check_tensor(L, 2);
  ldnn_push_tensor(L, dnn_embedding(table, ids, lua_toboolean(L, 3)));
  return 1;
}

/* embedding_grad(g, ids, rows, mask_zero): the table's gradient, as a recorded op */
static int l_embedding_grad(lua_State *L) {
  dnn_tensor *g = ldnn_check_tensor(L, 1), *ids = ldnn_check_tensor(L, 2);
  lua_Integer rows = luaL_checkinteger(L, 3);
  ldnn_push_tensor(L, dnn_embedding_grad(g, ids, (int64_t)rows, lua_toboolean(L, 4)));
  return 1;
}

void ldnn_open_layers(lua_State *L) {
  static const luaL_Reg funcs[] = {{"generator", l_generator},
                                   {"dropout", l_dropout},
                                   {"dropout_mask", l_dropout_mask},
                                   {"batch_norm", l_batch_norm},
                                   {"layer_norm", l_layer_norm},
                                   {"prelu", l_prelu},
                                   {"embedding", l_embedding},
                                   {"embedding_grad", l_embedding_grad},
                                   {NULL, NULL}};
  luaL_newmetatable(L, LDNN_GENERATOR_MT);
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_layers");
}
