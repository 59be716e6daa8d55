/* Bindings for the pooling and spatial kernels of pool.h. They go into
 * dnn.core._pool: the Lua layers (lua/dnn/layers/pooling.lua, spatial.lua)
 * wrap them in Keras's API and check the options first. */
#include "ldnn.h"

/* A pair of integers at args i, i + 1. */
static void check_pair(lua_State *L, int i, int64_t out[2]) {
  out[0] = (int64_t)luaL_checkinteger(L, i);
  out[1] = (int64_t)luaL_checkinteger(L, i + 1);
}

/* pool2d(x, max, pool_h, pool_w, stride_h, stride_w, same) */
static int l_pool2d(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  int max = lua_toboolean(L, 2);
  dnn_pool2d_config cfg;
  check_pair(L, 3, cfg.pool);
  check_pair(L, 5, cfg.stride);
  cfg.same = lua_toboolean(L, 7);
  ldnn_push_tensor(L, max ? dnn_max_pool2d(x, &cfg) : dnn_avg_pool2d(x, &cfg));
  return 1;
}

/* global_pool2d(x, max, keepdims) */
static int l_global_pool2d(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_global_pool2d(x, lua_toboolean(L, 2), lua_toboolean(L, 3)));
  return 1;
}

/* upsample2d(x, sh, sw, bilinear) */
static int l_upsample2d(lua_State *L) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  int64_t s[2];
  check_pair(L, 2, s);
  ldnn_push_tensor(L, dnn_upsample2d(x, s[0], s[1], lua_toboolean(L, 4)));
  return 1;
}

/* zero_pad2d(x, top, bottom, left, right) and crop2d(x, top, bottom, left, right) */
static int l_pad_or_crop(lua_State *L, bool crop) {
  dnn_tensor *x = ldnn_check_tensor(L, 1);
  int64_t tb[2], lr[2];
  check_pair(L, 2, tb);
  check_pair(L, 4, lr);
  ldnn_push_tensor(L, crop ? dnn_crop2d(x, tb[0], tb[1], lr[0], lr[1]) : dnn_zero_pad2d(x, tb[0], tb[1], lr[0], lr[1]));
  return 1;
}

static int l_zero_pad2d(lua_State *L) { return l_pad_or_crop(L, false); }
static int l_crop2d(lua_State *L) { return l_pad_or_crop(L, true); }

/* pool_out_size(in, pool, stride, same): Keras's output size, or -1 when a "valid" pool does not fit. */
static int l_pool_out_size(lua_State *L) {
  lua_Integer in = luaL_checkinteger(L, 1), pool = luaL_checkinteger(L, 2), stride = luaL_checkinteger(L, 3);
  luaL_argcheck(L, pool >= 1, 2, "expected a pool size >= 1");
  luaL_argcheck(L, stride >= 1, 3, "expected a stride >= 1");
  lua_pushinteger(L, (lua_Integer)dnn_pool_out_size(in, pool, stride, lua_toboolean(L, 4)));
  return 1;
}

void ldnn_open_pool(lua_State *L) {
  static const luaL_Reg funcs[] = {{"pool2d", l_pool2d},
                                   {"global_pool2d", l_global_pool2d},
                                   {"upsample2d", l_upsample2d},
                                   {"zero_pad2d", l_zero_pad2d},
                                   {"crop2d", l_crop2d},
                                   {"pool_out_size", l_pool_out_size},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_pool");
}
