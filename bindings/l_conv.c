/* Bindings for the convolutions of conv.h. They go into dnn.core._conv: the
 * Lua layers (lua/dnn/layers/conv.lua) wrap them in Keras's API. */
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

static bool check_padding(lua_State *L, int arg) {
  const char *p = luaL_checkstring(L, arg);
  if (strcmp(p, "same") == 0) return true;
  if (strcmp(p, "valid") != 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected a padding \"valid\" or \"same\", got \"%s\"", p));
  return false;
}

static int check_int(lua_State *L, int arg) {
  lua_Integer v = luaL_checkinteger(L, arg);
  luaL_argcheck(L, v >= 1 && v <= 1 << 20, arg, "expected a whole number >= 1");
  return (int)v;
}

/* (x, kernel, bias|nil, stride_h, stride_w, dilation_h, dilation_w, padding, activation, alpha) -> the config, the
 * activation and its alpha; x, kernel, bias at 1..3 are checked by the caller. */
static dnn_conv2d_config check_config(lua_State *L, dnn_activation *act, float *alpha) {
  dnn_conv2d_config cfg = {{check_int(L, 4), check_int(L, 5)}, {check_int(L, 6), check_int(L, 7)}, check_padding(L, 8)};
  *act = check_activation(L, 9);
  *alpha = (float)luaL_optnumber(L, 10, 0.2);
  return cfg;
}

typedef dnn_tensor *(*conv_fn)(dnn_tensor *, dnn_tensor *, dnn_tensor *, const dnn_conv2d_config *, dnn_activation,
                               float);

static int push_conv(lua_State *L, conv_fn f) {
  dnn_tensor *x = ldnn_check_tensor(L, 1), *w = ldnn_check_tensor(L, 2);
  dnn_tensor *b = lua_isnoneornil(L, 3) ? NULL : ldnn_check_tensor(L, 3);
  dnn_activation act;
  float alpha;
  dnn_conv2d_config cfg = check_config(L, &act, &alpha);
  ldnn_push_tensor(L, f(x, w, b, &cfg, act, alpha));
  return 1;
}

/* conv2d(x, kernel, bias|nil, sh, sw, dh, dw, padding, activation, alpha) */
static int l_conv2d(lua_State *L) { return push_conv(L, dnn_conv2d); }
/* conv2d_transpose(x, kernel, bias|nil, sh, sw, dh, dw, padding, activation, alpha) */
static int l_conv2d_transpose(lua_State *L) { return push_conv(L, dnn_conv2d_transpose); }
/* depthwise_conv2d(x, kernel, bias|nil, sh, sw, dh, dw, padding, activation, alpha) */
static int l_depthwise_conv2d(lua_State *L) { return push_conv(L, dnn_depthwise_conv2d); }

/* output_length(in, kernel, stride, dilation, padding): Keras's conv output length (< 1 when nothing fits) */
static int l_output_length(lua_State *L) {
  lua_Integer in = luaL_checkinteger(L, 1);
  lua_pushinteger(L,
                  dnn_conv_output_length(in, check_int(L, 2), check_int(L, 3), check_int(L, 4), check_padding(L, 5)));
  return 1;
}

/* transpose_output_length(in, kernel, stride, dilation, padding) */
static int l_transpose_output_length(lua_State *L) {
  lua_Integer in = luaL_checkinteger(L, 1);
  lua_pushinteger(
      L, dnn_conv_transpose_output_length(in, check_int(L, 2), check_int(L, 3), check_int(L, 4), check_padding(L, 5)));
  return 1;
}

void ldnn_open_conv(lua_State *L) {
  static const luaL_Reg funcs[] = {{"conv2d", l_conv2d},
                                   {"conv2d_transpose", l_conv2d_transpose},
                                   {"depthwise_conv2d", l_depthwise_conv2d},
                                   {"output_length", l_output_length},
                                   {"transpose_output_length", l_transpose_output_length},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_conv");
}
