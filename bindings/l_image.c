/* Bindings for image files, image ops and drawing (core image.h). They go
 * into dnn.core._image: lua/dnn/image.lua and plot.lua wrap them in the API
 * (options tables, 1-based positions). */
#include "ldnn.h"

static const char *const methods[] = {"bilinear", "nearest", NULL};
static const char *const fill_modes[] = {"constant", "nearest", "reflect", "wrap", NULL};

/* load(path, channels, uint8) */
static int l_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int channels = (int)luaL_optinteger(L, 2, 0);
  ldnn_push_tensor(L, dnn_image_load(path, channels, lua_toboolean(L, 3)));
  return 1;
}

/* save(t, path) */
static int l_save(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  const char *path = luaL_checkstring(L, 2);
  ldnn_check_status(L, dnn_image_save_png(t, path));
  return 0;
}

/* resize(t, h, w, method) */
static int l_resize(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  lua_Integer h = luaL_checkinteger(L, 2), w = luaL_checkinteger(L, 3);
  int method = luaL_checkoption(L, 4, "bilinear", methods);
  ldnn_push_tensor(L, dnn_image_resize(t, h, w, (dnn_interp)method));
  return 1;
}

/* crop(t, top, left, h, w): top and left 0-based here */
static int l_crop(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  lua_Integer top = luaL_checkinteger(L, 2), left = luaL_checkinteger(L, 3);
  lua_Integer h = luaL_checkinteger(L, 4), w = luaL_checkinteger(L, 5);
  ldnn_push_tensor(L, dnn_image_crop(t, top, left, h, w));
  return 1;
}

/* pad(t, top, bottom, left, right, value) */
static int l_pad(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  lua_Integer top = luaL_checkinteger(L, 2), bottom = luaL_checkinteger(L, 3);
  lua_Integer left = luaL_checkinteger(L, 4), right = luaL_checkinteger(L, 5);
  float value = (float)luaL_optnumber(L, 6, 0);
  ldnn_push_tensor(L, dnn_image_pad(t, top, bottom, left, right, value));
  return 1;
}

/* flip(t, horizontal, vertical) */
static int l_flip(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_image_flip(t, lua_toboolean(L, 2), lua_toboolean(L, 3)));
  return 1;
}

/* connected_components(mask, connectivity) -> labels, count, boxes */
static int l_connected_components(lua_State *L) {
  dnn_tensor *mask = ldnn_check_tensor(L, 1), *boxes = NULL;
  int64_t count = 0;
  dnn_tensor *labels = dnn_image_connected_components(mask, (int)luaL_checkinteger(L, 2), &count, &boxes);
  ldnn_push_tensor(L, labels);
  lua_pushinteger(L, (lua_Integer)count);
  ldnn_push_tensor(L, boxes);
  return 3;
}

/* affine(t, matrices, out_h, out_w, method, fill_mode, fill): matrices a
 * tensor of 6 or 6 N numbers (each 2x3 row-major) */
static int l_affine(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1), *m = ldnn_check_tensor(L, 2);
  lua_Integer h = luaL_optinteger(L, 3, 0), w = luaL_optinteger(L, 4, 0);
  int method = luaL_checkoption(L, 5, "bilinear", methods);
  int mode = luaL_checkoption(L, 6, "constant", fill_modes);
  float fill = (float)luaL_optnumber(L, 7, 0);
  int64_t n = dnn_numel(m);
  if (n == 0 || n % 6 != 0)
    return luaL_argerror(L, 2, lua_pushfstring(L, "expected 2x3 matrices (6 numbers each), got %d numbers", (int)n));
  dnn_tensor *mc = dnn_contiguous(m);
  if (!mc) return ldnn_raise(L);
  dnn_tensor *out = dnn_image_affine(t, dnn_data(mc), n / 6, h, w, (dnn_interp)method, (dnn_fill_mode)mode, fill);
  dnn_tensor_release(mc);
  ldnn_push_tensor(L, out);
  return 1;
}

/* rotate(t, degrees, method, fill_mode, fill) */
static int l_rotate(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  double degrees = luaL_checknumber(L, 2);
  int method = luaL_checkoption(L, 3, "bilinear", methods);
  int mode = luaL_checkoption(L, 4, "constant", fill_modes);
  float fill = (float)luaL_optnumber(L, 5, 0);
  ldnn_push_tensor(L, dnn_image_rotate(t, degrees, (dnn_interp)method, (dnn_fill_mode)mode, fill));
  return 1;
}

/* rotation_matrix(degrees, h, w) -> the 6 numbers */
static int l_rotation_matrix(lua_State *L) {
  double degrees = luaL_checknumber(L, 1);
  lua_Integer h = luaL_checkinteger(L, 2), w = luaL_checkinteger(L, 3);
  float m[6];
  dnn_image_rotation_matrix(degrees, h, w, m);
  lua_createtable(L, 6, 0);
  for (int i = 0; i < 6; i++) {
    lua_pushnumber(L, m[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_brightness(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_image_adjust_brightness(t, (float)luaL_checknumber(L, 2)));
  return 1;
}

static int l_contrast(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_image_adjust_contrast(t, (float)luaL_checknumber(L, 2)));
  return 1;
}

static int l_saturation(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_image_adjust_saturation(t, (float)luaL_checknumber(L, 2)));
  return 1;
}

static int l_blur(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_push_tensor(L, dnn_image_gaussian_blur(t, luaL_checknumber(L, 2)));
  return 1;
}

/* normalize(t, mean, std): mean and std 1-d tensors */
static int l_normalize(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1), *mean = ldnn_check_tensor(L, 2), *std = ldnn_check_tensor(L, 3);
  if (mean->ndim != 1) return luaL_argerror(L, 2, "expected one mean per channel (a 1-d tensor)");
  if (std->ndim != 1) return luaL_argerror(L, 3, "expected one std per channel (a 1-d tensor)");
  dnn_tensor *mc = dnn_contiguous(mean), *sc = mc ? dnn_contiguous(std) : NULL;
  dnn_tensor *out =
      sc ? dnn_image_normalize(t, dnn_data(mc), (int)mean->shape[0], dnn_data(sc), (int)std->shape[0]) : NULL;
  dnn_tensor_release(mc);
  dnn_tensor_release(sc);
  ldnn_push_tensor(L, out);
  return 1;
}

/* grid(batch, nrow, padding, pad_value, normalize, scale_each) */
static int l_grid(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  lua_Integer nrow = luaL_checkinteger(L, 2), padding = luaL_checkinteger(L, 3);
  float pad_value = (float)luaL_checknumber(L, 4);
  ldnn_push_tensor(L, dnn_image_grid(t, nrow, padding, pad_value, lua_toboolean(L, 5), lua_toboolean(L, 6)));
  return 1;
}

static void check_rgb(lua_State *L, int arg, float rgb[3]) {
  for (int i = 0; i < 3; i++) rgb[i] = (float)luaL_checknumber(L, arg + i);
}

/* draw_line(canvas, x0, y0, x1, y1, r, g, b, width, dash) */
static int l_draw_line(lua_State *L) {
  dnn_tensor *c = ldnn_check_tensor(L, 1);
  double x0 = luaL_checknumber(L, 2), y0 = luaL_checknumber(L, 3);
  double x1 = luaL_checknumber(L, 4), y1 = luaL_checknumber(L, 5);
  float rgb[3];
  check_rgb(L, 6, rgb);
  double width = luaL_optnumber(L, 9, 1);
  int dash = (int)luaL_optinteger(L, 10, 0);
  ldnn_check_status(L, dnn_draw_line(c, x0, y0, x1, y1, rgb, width, dash));
  return 0;
}

/* draw_rect(canvas, x, y, w, h, r, g, b, filled) */
static int l_draw_rect(lua_State *L) {
  dnn_tensor *c = ldnn_check_tensor(L, 1);
  double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3);
  double w = luaL_checknumber(L, 4), h = luaL_checknumber(L, 5);
  float rgb[3];
  check_rgb(L, 6, rgb);
  ldnn_check_status(L, dnn_draw_rect(c, x, y, w, h, rgb, lua_toboolean(L, 9)));
  return 0;
}

/* draw_text(canvas, x, y, text, r, g, b, scale, vertical) */
static int l_draw_text(lua_State *L) {
  dnn_tensor *c = ldnn_check_tensor(L, 1);
  double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3);
  const char *text = luaL_checkstring(L, 4);
  float rgb[3];
  check_rgb(L, 5, rgb);
  int scale = (int)luaL_optinteger(L, 8, 1);
  ldnn_check_status(L, dnn_draw_text(c, x, y, text, rgb, scale, lua_toboolean(L, 9)));
  return 0;
}

/* text_width(text, scale) */
static int l_text_width(lua_State *L) {
  const char *text = luaL_checkstring(L, 1);
  lua_pushinteger(L, dnn_text_width(text, (int)luaL_optinteger(L, 2, 1)));
  return 1;
}

void ldnn_open_image(lua_State *L) {
  static const luaL_Reg funcs[] = {{"load", l_load},
                                   {"save", l_save},
                                   {"resize", l_resize},
                                   {"crop", l_crop},
                                   {"pad", l_pad},
                                   {"flip", l_flip},
                                   {"connected_components", l_connected_components},
                                   {"affine", l_affine},
                                   {"rotate", l_rotate},
                                   {"rotation_matrix", l_rotation_matrix},
                                   {"adjust_brightness", l_brightness},
                                   {"adjust_contrast", l_contrast},
                                   {"adjust_saturation", l_saturation},
                                   {"gaussian_blur", l_blur},
                                   {"normalize", l_normalize},
                                   {"grid", l_grid},
                                   {"draw_line", l_draw_line},
                                   {"draw_rect", l_draw_rect},
                                   {"draw_text", l_draw_text},
                                   {"text_width", l_text_width},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "_image");
}
