/* Bindings for the fused attention of attention.h: dnn.scaled_dot_product_attention (the MultiHeadAttention layer,
 * lua/dnn/layers/attention.lua, calls it too). */
#include <math.h>

#include "ldnn.h"

/* The options table's mask: a tensor, or none. */
static dnn_tensor *opt_mask(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx) || lua_getfield(L, idx, "mask") == LUA_TNIL) {
    if (!lua_isnoneornil(L, idx)) lua_pop(L, 1);
    return NULL;
  }
  dnn_tensor *m = ldnn_to_tensor(L, -1);
  if (!m) luaL_error(L, "bad option 'mask' (tensor expected, got %s)", luaL_typename(L, -1));
  lua_pop(L, 1); /* the options table keeps it alive */
  return m;
}

/* The options table's scale: 0 (1 / sqrt(d)) when absent, else a positive number. */
static float opt_scale(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return 0;
  int type = lua_getfield(L, idx, "scale");
  lua_pop(L, 1);
  if (type == LUA_TNIL) return 0;
  double s = ldnn_opt_number(L, idx, "scale", 0);
  if (!(s > 0) || !isfinite(s)) luaL_error(L, "scaled_dot_product_attention: expected scale > 0, got %f", s);
  return (float)s;
}

/// dnn.scaled_dot_product_attention(q, k, v[, options])
// `softmax(q kᵀ * scale + mask) v`, computed in blocks with a running
// softmax (FlashAttention-2) forward and backward: memory grows as O(T d),
// not O(T²), when the scores are not asked for. `q (B, H, Tq, d)`,
// `k (B, H, Tk, d)`, `v (B, H, Tk, dv)` give `(B, H, Tq, dv)`.
// @param q the queries
// @param k the keys
// @param v the values
// @option mask=nil 1 = attend, 0 = not, broadcastable to `(B, H, Tq, Tk)` (aligned at the right)
// @option causal=false query i sees keys up to i only
// @option scale=1/sqrt(d) the factor of the scores
// @option return_scores=false also return the probabilities `(B, H, Tq, Tk)` (O(T²) memory)
// @return the output (and the probabilities)
// @example local y = dnn.scaled_dot_product_attention(q, k, v, {causal = true})
static int l_attention(lua_State *L) {
  static const char *const valid[] = {"mask", "causal", "scale", "return_scores", NULL};
  dnn_tensor *q = ldnn_check_tensor(L, 1), *k = ldnn_check_tensor(L, 2), *v = ldnn_check_tensor(L, 3);
  ldnn_check_options(L, 4, "scaled_dot_product_attention", valid);
  dnn_attention_config cfg = {opt_scale(L, 4), ldnn_opt_boolean(L, 4, "causal", 0),
                              ldnn_opt_boolean(L, 4, "return_scores", 0)};
  dnn_tensor *mask = opt_mask(L, 4), *out[2] = {NULL, NULL};
  if (dnn_attention(&cfg, q, k, v, mask, out) != DNN_OK) return ldnn_raise(L);
  ldnn_push_tensor(L, out[0]);
  if (cfg.return_scores) ldnn_push_tensor(L, out[1]);
  return cfg.return_scores ? 2 : 1;
}

void ldnn_open_attention(lua_State *L) {
  lua_pushcfunction(L, l_attention);
  lua_setfield(L, -2, "scaled_dot_product_attention");
}
