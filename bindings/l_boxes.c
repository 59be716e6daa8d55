/* Bindings for the detection boxes (core boxes.h). They go into dnn.core._boxes;
 * lua/dnn/ops.lua gives them their options (checked there) and 1-based ids. */
#include <math.h>

#include "dnn/boxes.h"
#include "ldnn.h"

/* An optional tensor at idx: NULL for nil. */
static dnn_tensor *opt_tensor(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : ldnn_check_tensor(L, idx);
}

/* box_iou(a, b) -> (N, M) */
static int l_box_iou(lua_State *L) {
  ldnn_push_tensor(L, dnn_box_iou(ldnn_check_tensor(L, 1), ldnn_check_tensor(L, 2)));
  return 1;
}

/* nms(boxes, scores, classes | nil, iou_threshold, score_threshold, max_output (< 0: all)) -> 1-based ids */
static int l_nms(lua_State *L) {
  dnn_tensor *boxes = ldnn_check_tensor(L, 1), *scores = ldnn_check_tensor(L, 2), *classes = opt_tensor(L, 3);
  dnn_nms_options o = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checkinteger(L, 6)};
  ldnn_push_tensor(L, dnn_nms(boxes, scores, classes, &o, 1));
  return 1;
}

/* Up to max numbers of the array at idx into out; returns the count. */
static int numbers_of(lua_State *L, int idx, double *out, int max) {
  luaL_checktype(L, idx, LUA_TTABLE);
  int n = (int)luaL_len(L, idx);
  luaL_argcheck(L, n <= max, idx, "too many values");
  for (int i = 0; i < n; i++) {
    lua_geti(L, idx, i + 1);
    out[i] = luaL_checknumber(L, -1);
    lua_pop(L, 1);
  }
  return n;
}

/* anchor_boxes(fh, fw, sizes, ratios) -> (fh * fw * #sizes * #ratios, 4) */
static int l_anchor_boxes(lua_State *L) {
  double sizes[64], ratios[64];
  int64_t fh = luaL_checkinteger(L, 1), fw = luaL_checkinteger(L, 2);
  int ns = numbers_of(L, 3, sizes, 64), nr = numbers_of(L, 4, ratios, 64);
  ldnn_push_tensor(L, dnn_anchor_boxes(fh, fw, sizes, ns, ratios, nr));
  return 1;
}

static void variances_of(lua_State *L, int idx, float v[4]) {
  double d[4];
  luaL_argcheck(L, numbers_of(L, idx, d, 4) == 4, idx, "expected 4 variances");
  for (int k = 0; k < 4; k++) v[k] = (float)d[k];
}

/* encode_boxes(boxes, anchors, variances) / decode_boxes(offsets, anchors, variances) */
static int l_encode_boxes(lua_State *L) {
  float v[4];
  dnn_tensor *boxes = ldnn_check_tensor(L, 1), *anchors = ldnn_check_tensor(L, 2);
  variances_of(L, 3, v);
  ldnn_push_tensor(L, dnn_box_encode(boxes, anchors, v));
  return 1;
}

static int l_decode_boxes(lua_State *L) {
  float v[4];
  dnn_tensor *offsets = ldnn_check_tensor(L, 1), *anchors = ldnn_check_tensor(L, 2);
  variances_of(L, 3, v);
  ldnn_push_tensor(L, dnn_box_decode(offsets, anchors, v));
  return 1;
}

/* match_boxes(gt, anchors, iou_threshold, ignore_threshold) -> (A): 1-based box ids, 0 background, -1 ignored */
static int l_match_boxes(lua_State *L) {
  dnn_tensor *gt = ldnn_check_tensor(L, 1), *anchors = ldnn_check_tensor(L, 2);
  double t = luaL_checknumber(L, 3), ignore = luaL_optnumber(L, 4, INFINITY);
  ldnn_push_tensor(L, dnn_match_boxes(gt, anchors, t, ignore, 1));
  return 1;
}

void ldnn_open_boxes(lua_State *L) {
  static const luaL_Reg funcs[] = {{"box_iou", l_box_iou},
                                   {"nms", l_nms},
                                   {"anchor_boxes", l_anchor_boxes},
                                   {"encode_boxes", l_encode_boxes},
                                   {"decode_boxes", l_decode_boxes},
                                   {"match_boxes", l_match_boxes},
                                   {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, funcs, 0);
  lua_setfield(L, -2, "_boxes");
}
