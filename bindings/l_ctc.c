/* Bindings for ctc.h, into dnn.core._ctc: lua/dnn/losses.lua checks the
 * options and calls ctc_loss. */
#include <math.h>

#include "ldnn.h"

static const char *FN = "dnn.losses.ctc";

/* n lengths from a tensor or a table at idx (nil: NULL), as integers, in a userdata pushed on the stack (so that an
 * error raised later frees it with the call). */
static int64_t *check_lengths(lua_State *L, int idx, const char *name, int64_t n) {
  if (lua_isnoneornil(L, idx)) return NULL;
  int64_t *buf = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(int64_t), 0);
  dnn_tensor *t = ldnn_to_tensor(L, idx);
  if (t) {
    char s[96];
    if (dnn_numel(t) != n || t->ndim > 1)
      luaL_error(L, "%s: expected %s of %d lengths (one per example), got a tensor %s", FN, name, (int)n,
                 dnn_shape_str(t, s, sizeof s));
    float *v = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(float), 0);
    dnn_gather_to(t, v);
    for (int64_t i = 0; i < n; i++) {
      if (v[i] != floorf(v[i]))
        luaL_error(L, "%s: expected integer %s, got %f at %d", FN, name, (double)v[i], (int)i + 1);
      buf[i] = (int64_t)v[i];
    }
    lua_pop(L, 1);
    return buf;
  }
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: expected %s to be a tensor or a table of integers, got %s", FN, name, luaL_typename(L, idx));
  if ((int64_t)lua_rawlen(L, idx) != n)
    luaL_error(L, "%s: expected %s of %d lengths (one per example), got %d", FN, name, (int)n, (int)lua_rawlen(L, idx));
  for (int64_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i + 1);
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "%s: expected integer %s, got %s at %d", FN, name, luaL_typename(L, -1), (int)i + 1);
    buf[i] = (int64_t)v;
    lua_pop(L, 1);
  }
  return buf;
}

/* ctc_loss(labels, logits, label_lengths|nil, logit_lengths|nil, blank (1-based), reduction, zero_infinity) */
static int l_ctc_loss(lua_State *L) {
  dnn_tensor *labels = ldnn_check_tensor(L, 1), *logits = ldnn_check_tensor(L, 2);
  static const char *const reductions[] = {"mean", "sum", "none", NULL};
  dnn_ctc_options opt = {.blank = (int64_t)luaL_checkinteger(L, 5) - 1,
                         .reduction = (dnn_ctc_reduction)luaL_checkoption(L, 6, NULL, reductions),
                         .zero_infinity = lua_toboolean(L, 7),
                         .base = 1};
  const int64_t *ll = NULL, *tl = NULL;
  if (logits->ndim == 3) { /* else the core names the shape */
    ll = check_lengths(L, 3, "label_lengths", logits->shape[0]);
    tl = check_lengths(L, 4, "logit_lengths", logits->shape[0]);
  }
  ldnn_push_tensor(L, dnn_ctc_loss(labels, logits, ll, tl, &opt));
  return 1;
}

void ldnn_open_ctc(lua_State *L) {
  static const luaL_Reg funcs[] = {{"ctc_loss", l_ctc_loss}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_ctc");
}
