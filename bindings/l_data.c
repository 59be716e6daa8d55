/* Bindings for the data readers (core io.h: CSV, CIFAR-10) and the batched
 * augmentation kernels (core augment.h). They go into dnn.core._data; the Lua
 * side (lua/dnn/data.lua, augment.lua, layers/preprocessing.lua) gives them
 * Keras's API and checks the options. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "dnn/augment.h"
#include "dnn/image.h"
#include "ldnn.h"

#define CSV_BOX_MT "dnn.csv_box"

static int csv_box_gc(lua_State *L) {
  dnn_csv **box = luaL_checkudata(L, 1, CSV_BOX_MT);
  dnn_csv_free(*box);
  *box = NULL;
  return 0;
}

/* read_csv(path, {header, separator, kinds = "nsa...", named = {name = "n"|"s"}, missing_error}) ->
 * {names, kinds, numbers, strings = {[j] = {...}}, missing = {[j] = n}, missing_rows = {...}}. The result is
 * built while the C struct sits in a box the collector frees, so a Lua error on the way leaks nothing. */
static int l_read_csv(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  dnn_csv_options o = {1, ',', NULL, 0, NULL, NULL, 0};
  o.header = ldnn_opt_boolean(L, 2, "header", 1);
  o.missing_error = ldnn_opt_boolean(L, 2, "missing_error", 0);
  const char *sep = ldnn_opt_string(L, 2, "separator", ",");
  luaL_argcheck(L, strlen(sep) == 1, 2, "expected a one-character separator");
  o.separator = sep[0];
  o.kinds = ldnn_opt_string(L, 2, "kinds", NULL);
  lua_getfield(L, 2, "named"); /* 3 */
  if (lua_istable(L, 3)) {
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) n++, lua_pop(L, 1);
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0); /* 4 */
    char *kinds = lua_newuserdatauv(L, (size_t)(n ? n : 1), 0); /* 5 */
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING, 2,
                    "expected named = {column name = kind}");
      names[i] = lua_tostring(L, -2);
      kinds[i++] = lua_tostring(L, -1)[0];
      lua_pop(L, 1);
    }
    o.n_named = n, o.named = names, o.named_kinds = kinds;
  }
  dnn_csv **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, CSV_BOX_MT);
  int box_idx = lua_gettop(L);
  dnn_csv *csv = *box = dnn_read_csv(path, &o);
  if (!csv) return ldnn_raise(L);

  lua_createtable(L, 0, 6);
  int res = lua_gettop(L);
  lua_createtable(L, csv->n_cols, 0);
  for (int j = 0; j < csv->n_cols; j++) lua_pushstring(L, csv->names[j]), lua_rawseti(L, -2, j + 1);
  lua_setfield(L, res, "names");
  lua_pushlstring(L, csv->kinds, (size_t)csv->n_cols);
  lua_setfield(L, res, "kinds");
  lua_newtable(L);
  for (int j = 0; j < csv->n_cols; j++) {
    if (!csv->strings[j]) continue;
    lua_createtable(L, (int)csv->n_rows, 0);
    for (int64_t i = 0; i < csv->n_rows; i++) lua_pushstring(L, csv->strings[j][i]), lua_rawseti(L, -2, i + 1);
    lua_rawseti(L, -2, j + 1);
  }
  lua_setfield(L, res, "strings");
  lua_createtable(L, csv->n_cols, 0);
  for (int j = 0; j < csv->n_cols; j++) lua_pushinteger(L, csv->missing[j]), lua_rawseti(L, -2, j + 1);
  lua_setfield(L, res, "missing");
  lua_createtable(L, (int)csv->n_missing_rows, 0);
  for (int64_t i = 0; i < csv->n_missing_rows; i++) lua_pushinteger(L, csv->missing_rows[i]), lua_rawseti(L, -2, i + 1);
  lua_setfield(L, res, "missing_rows");
  dnn_tensor *numbers = csv->numbers;
  csv->numbers = NULL; /* the tensor userdata owns it from here */
  ldnn_push_tensor(L, numbers);
  lua_setfield(L, res, "numbers");
  dnn_csv_free(csv);
  *(dnn_csv **)lua_touserdata(L, box_idx) = NULL;
  return 1;
}

/* read_cifar10(path) -> x (N,32,32,3) in [0,1], y (N) ids 1..10 */
static int l_read_cifar10(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  dnn_tensor *x, *y;
  ldnn_check_status(L, dnn_read_cifar10(path, &x, &y));
  ldnn_push_tensor(L, x);
  ldnn_push_tensor(L, y);
  return 2;
}

/* ---- augmentation ---- */

static dnn_tensor *check_batch(lua_State *L, int arg) {
  dnn_tensor *x = ldnn_check_tensor(L, arg);
  if (x->ndim != 4)
    luaL_argerror(L, arg, lua_pushfstring(L, "expected a batch of images (N, H, W, C), got %d dims", x->ndim));
  return x;
}

/* random_warp(x, kind, a, b, c, d, interpolation, fill_mode, fill_value): kind "flip" (a, b: horizontal, vertical
 * booleans), "rotation" (a, b: radians), "zoom" (a, b rows; c, d columns, nil to keep the aspect), "translation"
 * (a, b rows; c, d columns, fractions of the size). One matrix per image, then one warp of the batch. */
static int l_random_warp(lua_State *L) {
  dnn_tensor *x = check_batch(L, 1);
  static const char *const kinds[] = {"flip", "rotation", "zoom", "translation", NULL};
  int kind = luaL_checkoption(L, 2, NULL, kinds);
  static const char *const interps[] = {"bilinear", "nearest", NULL};
  dnn_interp interp = luaL_checkoption(L, 7, "bilinear", interps) == 0 ? DNN_INTERP_BILINEAR : DNN_INTERP_NEAREST;
  static const char *const fills[] = {"constant", "nearest", "reflect", "wrap", NULL};
  static const dnn_fill_mode fill_modes[] = {DNN_FILL_CONSTANT, DNN_FILL_NEAREST, DNN_FILL_REFLECT, DNN_FILL_WRAP};
  dnn_fill_mode fill = fill_modes[luaL_checkoption(L, 8, "reflect", fills)];
  float fill_value = (float)luaL_optnumber(L, 9, 0);
  int64_t n = x->shape[0], h = x->shape[1], w = x->shape[2];
  float *m = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * 6 * sizeof(float), 0);
  switch (kind) {
    case 0:
      dnn_random_flip_matrices(n, h, w, lua_toboolean(L, 3), lua_toboolean(L, 4), m);
      interp = DNN_INTERP_NEAREST; /* exact either way; nearest is cheaper */
      break;
    case 1:
      dnn_random_rotation_matrices(n, h, w, luaL_checknumber(L, 3), luaL_checknumber(L, 4), m);
      break;
    case 2: {
      bool keep = lua_isnoneornil(L, 5);
      dnn_random_zoom_matrices(n, h, w, luaL_checknumber(L, 3), luaL_checknumber(L, 4), luaL_optnumber(L, 5, 0),
                               luaL_optnumber(L, 6, 0), keep, m);
      break;
    }
    default:
      dnn_random_translation_matrices(n, h, w, luaL_checknumber(L, 3), luaL_checknumber(L, 4), luaL_checknumber(L, 5),
                                      luaL_checknumber(L, 6), m);
  }
  ldnn_push_tensor(L, dnn_image_affine(x, m, n, 0, 0, interp, fill, fill_value));
  return 1;
}

/* random_contrast(x, f_lo, f_hi, lo, hi) */
static int l_random_contrast(lua_State *L) {
  dnn_tensor *x = check_batch(L, 1);
  ldnn_push_tensor(L,
                   dnn_random_contrast(x, luaL_checknumber(L, 2), luaL_checknumber(L, 3), (float)luaL_checknumber(L, 4),
                                       (float)luaL_checknumber(L, 5)));
  return 1;
}

/* random_brightness(x, d_lo, d_hi, lo, hi) */
static int l_random_brightness(lua_State *L) {
  dnn_tensor *x = check_batch(L, 1);
  ldnn_push_tensor(L,
                   dnn_random_brightness(x, luaL_checknumber(L, 2), luaL_checknumber(L, 3),
                                         (float)luaL_checknumber(L, 4), (float)luaL_checknumber(L, 5)));
  return 1;
}

/* random_crop(x, h, w) */
static int l_random_crop(lua_State *L) {
  dnn_tensor *x = check_batch(L, 1);
  ldnn_push_tensor(L, dnn_random_crop(x, luaL_checkinteger(L, 2), luaL_checkinteger(L, 3)));
  return 1;
}

/* cutout(x, size_h, size_w, count, fill) */
static int l_cutout(lua_State *L) {
  dnn_tensor *x = check_batch(L, 1);
  lua_Integer count = luaL_checkinteger(L, 4);
  luaL_argcheck(L, count >= 0 && count <= 1 << 20, 4, "expected a count in [0, 2^20]");
  ldnn_push_tensor(
      L, dnn_cutout(x, luaL_checkinteger(L, 2), luaL_checkinteger(L, 3), (int)count, (float)luaL_optnumber(L, 5, 0)));
  return 1;
}

/* sample_beta(n, a, b) */
static int l_sample_beta(lua_State *L) {
  ldnn_push_tensor(L, dnn_sample_beta(luaL_checkinteger(L, 1), luaL_checknumber(L, 2), luaL_checknumber(L, 3)));
  return 1;
}

/* list_dir(path) -> names (unsorted, without . and ..), kinds ("dir", "file" or "other"); an error naming the path
 * when it cannot be read. */
static int l_list_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_newtable(L);
  lua_newtable(L);
  errno = 0;
  DIR *d = opendir(path);
  if (!d) return luaL_error(L, "%s: cannot read the folder: %s", path, strerror(errno));
  struct dirent *e;
  int n = 0;
  /* Nothing below raises while d is open but lua_pushstring's memory error, which only leaks d on a failing
   * allocator; the names are copied first so the stat paths are built after closedir. */
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    lua_pushstring(L, e->d_name);
    lua_rawseti(L, -3, ++n);
  }
  closedir(d);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    lua_pushfstring(L, "%s/%s", path, lua_tostring(L, -1));
    struct stat st;
    const char *kind = stat(lua_tostring(L, -1), &st) != 0 ? "other"
        : S_ISDIR(st.st_mode)                              ? "dir"
        : S_ISREG(st.st_mode)                              ? "file"
                                                           : "other";
    lua_pop(L, 2);
    lua_pushstring(L, kind);
    lua_rawseti(L, -2, i);
  }
  return 2;
}

/* seeded_randperm(n, seed): the permutation of 1..n that dnn.manual_seed(seed) then dnn.randperm(n) would give,
 * drawn without touching the global stream (its state is saved and restored around the draw). */
static int l_seeded_randperm(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1), seed = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 1, "expected n >= 0");
  dnn_rng_state saved, seeded;
  dnn_rng_get_state(&saved);
  dnn_rng_seeded_state((uint64_t)seed, &seeded);
  dnn_rng_set_state(&seeded);
  dnn_tensor *perm = dnn_randperm(n, 1);
  dnn_rng_set_state(&saved);
  ldnn_push_tensor(L, perm);
  return 1;
}

void ldnn_open_data(lua_State *L) {
  luaL_newmetatable(L, CSV_BOX_MT);
  lua_pushcfunction(L, csv_box_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {{"read_csv", l_read_csv},
                                   {"read_cifar10", l_read_cifar10},
                                   {"random_warp", l_random_warp},
                                   {"random_contrast", l_random_contrast},
                                   {"random_brightness", l_random_brightness},
                                   {"random_crop", l_random_crop},
                                   {"cutout", l_cutout},
                                   {"sample_beta", l_sample_beta},
                                   {"list_dir", l_list_dir},
                                   {"seeded_randperm", l_seeded_randperm},
                                   {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, funcs, 0);
  lua_setfield(L, -2, "_data");
}
