/* Bindings for the recurrent layers of rnn.h. They go into dnn.core._rnn:
 * the Lua layers (lua/dnn/layers/recurrent.lua) wrap them in Keras's API. */
#include <string.h>

#include "ldnn.h"

static dnn_tensor *opt_tensor(lua_State *L, int arg) {
  return lua_isnoneornil(L, arg) ? NULL : ldnn_check_tensor(L, arg);
}

static dnn_rnn_cell check_cell(lua_State *L, int idx) {
  const char *name = ldnn_opt_string(L, idx, "cell", NULL);
  static const char *names[] = {"simple", "lstm", "gru"};
  for (int i = 0; name && i < 3; i++)
    if (strcmp(name, names[i]) == 0) return (dnn_rnn_cell)i;
  luaL_argerror(L, idx,
                lua_pushfstring(L, "expected cell = \"simple\", \"lstm\" or \"gru\", got %s",
                                name ? lua_pushfstring(L, "'%s'", name) : "none"));
  return DNN_RNN_SIMPLE;
}

static dnn_activation check_activation(lua_State *L, int idx, const char *field, const char *def) {
  const char *name = ldnn_opt_string(L, idx, field, def);
  int act = dnn_activation_from_name(name);
  if (act < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "expected %s linear, relu, sigmoid or tanh, got '%s'", field, name));
  return (dnn_activation)act;
}

/* rnn(x, kernel, recurrent_kernel, bias|nil, h0|nil, c0|nil, mask|nil, recurrent_dropout_mask|nil, options) ->
 * output, h[, c]. options: cell ("simple", "lstm", "gru"), activation ("tanh"), recurrent_activation ("sigmoid"),
 * reset_after (true), go_backwards (false), return_sequences (false). */
static int l_rnn(lua_State *L) {
  static const char *const valid[] = {
      "cell", "activation", "recurrent_activation", "reset_after", "go_backwards", "return_sequences", NULL};
  dnn_rnn_inputs in = {ldnn_check_tensor(L, 1), ldnn_check_tensor(L, 2), ldnn_check_tensor(L, 3), opt_tensor(L, 4),
                       opt_tensor(L, 5),        opt_tensor(L, 6),        opt_tensor(L, 7),        opt_tensor(L, 8)};
  luaL_checktype(L, 9, LUA_TTABLE);
  ldnn_check_options(L, 9, "rnn", valid);
  dnn_rnn_config cfg = {check_cell(L, 9),
                        check_activation(L, 9, "activation", "tanh"),
                        check_activation(L, 9, "recurrent_activation", "sigmoid"),
                        ldnn_opt_boolean(L, 9, "reset_after", 1),
                        ldnn_opt_boolean(L, 9, "go_backwards", 0),
                        ldnn_opt_boolean(L, 9, "return_sequences", 0)};
  dnn_tensor *out[3] = {NULL, NULL, NULL};
  if (dnn_rnn(&cfg, &in, out) != DNN_OK) return ldnn_raise(L);
  int n = cfg.cell == DNN_RNN_LSTM ? 3 : 2;
  for (int k = 0; k < n; k++) ldnn_push_tensor(L, out[k]);
  return n;
}

void ldnn_open_rnn(lua_State *L) {
  static const luaL_Reg funcs[] = {{"rnn", l_rnn}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_rnn");
}
