/* Bindings for file formats (core io.h). */
#include <stdlib.h>
#include <string.h>

#include "ldnn.h"

#define SAFETENSORS_BOX_MT "dnn.safetensors_box"

/* read_idx(path) -> tensor of the file's dims, values as stored. */
static int l_read_idx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  ldnn_push_tensor(L, dnn_read_idx(path));
  return 1;
}

/* ---- safetensors ---- */

/* The C arrays save_safetensors hands the core live in userdata, so a Lua
 * error while they are filled leaves nothing unowned. The strings they point
 * at stay alive in the argument tables (or the anchor table) for the call. */
static void *scratch(lua_State *L, int n, size_t elem) {
  return lua_newuserdatauv(L, (n > 0 ? (size_t)n : 1) * elem, 0);
}

typedef struct named_tensor {
  const char *name;
  dnn_tensor *tensor;
} named_tensor;

static int compare_named(const void *a, const void *b) {
  return strcmp(((const named_tensor *)a)->name, ((const named_tensor *)b)->name);
}

typedef struct meta_pair {
  const char *key, *value;
} meta_pair;

static int compare_meta(const void *a, const void *b) {
  return strcmp(((const meta_pair *)a)->key, ((const meta_pair *)b)->key);
}

static int count_entries(lua_State *L, int idx) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* The string at top (a tensor name or a metadata entry of the table at
 * idx): the file keeps C strings, so a NUL byte would cut it short. */
static const char *check_no_nul(lua_State *L, int idx, const char *what) {
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len)
    luaL_argerror(L, idx, lua_pushfstring(L, "%s '%s...' holds a NUL byte (a file's names are C strings)", what, s));
  return s;
}

/* Fills entries from a map name -> tensor (sorted by name: pairs has no
 * order) or an array of {name, tensor} (kept in its order). */
static int check_tensor_table(lua_State *L, int idx, named_tensor **out) {
  int n = count_entries(L, idx);
  named_tensor *e = scratch(L, n, sizeof *e);
  *out = e;
  lua_rawgeti(L, idx, 1);
  bool is_array = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (is_array) {
    if ((int)lua_rawlen(L, idx) != n)
      luaL_argerror(L, idx, "expected a map name -> tensor or an array of {name, tensor}, not a mix");
    for (int i = 0; i < n; i++) {
      if (lua_rawgeti(L, idx, i + 1) != LUA_TTABLE)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "expected {name, tensor} at [%d], got %s", i + 1, luaL_typename(L, -1)));
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_type(L, -2) != LUA_TSTRING)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "expected a name (string) at [%d][1], got %s", i + 1, luaL_typename(L, -2)));
      lua_pushvalue(L, -2);
      e[i].name = check_no_nul(L, idx, "tensor name");
      lua_pop(L, 1);
      e[i].tensor = ldnn_to_tensor(L, -1);
      if (!e[i].tensor)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "expected a tensor for '%s', got %s", e[i].name, luaL_typename(L, -1)));
      lua_pop(L, 3);
    }
    return n;
  }
  int i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_argerror(L, idx, lua_pushfstring(L, "expected names (strings) as keys, got %s", luaL_typename(L, -2)));
    lua_pushvalue(L, -2);
    e[i].name = check_no_nul(L, idx, "tensor name");
    lua_pop(L, 1);
    e[i].tensor = ldnn_to_tensor(L, -1);
    if (!e[i].tensor)
      luaL_argerror(L, idx, lua_pushfstring(L, "expected a tensor for '%s', got %s", e[i].name, luaL_typename(L, -1)));
    i++;
    lua_pop(L, 1);
  }
  qsort(e, (size_t)n, sizeof *e, compare_named);
  return n;
}

/* save_safetensors(path, tensors[, metadata]): tensors a map name -> tensor
 * (written sorted by name) or an array of {name, tensor} pairs (written in
 * that order); metadata a map of strings (numbers are written as strings). */
static int l_save_safetensors(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  lua_newtable(L); /* 4: anchors the strings made from numbers */
  named_tensor *entries;
  int n = check_tensor_table(L, 2, &entries);
  const char **names = scratch(L, n, sizeof *names);
  dnn_tensor **tensors = scratch(L, n, sizeof *tensors);
  for (int i = 0; i < n; i++) names[i] = entries[i].name, tensors[i] = entries[i].tensor;

  int n_meta = lua_istable(L, 3) ? count_entries(L, 3) : 0;
  meta_pair *meta = scratch(L, n_meta, sizeof *meta);
  if (n_meta > 0) {
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        luaL_argerror(L, 3, lua_pushfstring(L, "expected string keys in the metadata, got %s", luaL_typename(L, -2)));
      int t = lua_type(L, -1);
      if (t != LUA_TSTRING && t != LUA_TNUMBER)
        luaL_argerror(L, 3,
                      lua_pushfstring(L, "metadata '%s': expected a string or number, got %s", lua_tostring(L, -2),
                                      luaL_typename(L, -1)));
      lua_pushvalue(L, -2);
      meta[i].key = check_no_nul(L, 3, "metadata key");
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_tostring(L, -1); /* converts the copy, never the key lua_next walks */
      meta[i].value = check_no_nul(L, 3, "metadata value");
      lua_rawseti(L, 4, i + 1);
      i++;
      lua_pop(L, 1);
    }
    qsort(meta, (size_t)n_meta, sizeof *meta, compare_meta); /* the same file for the same table */
  }
  const char **keys = scratch(L, n_meta, sizeof *keys);
  const char **values = scratch(L, n_meta, sizeof *values);
  for (int i = 0; i < n_meta; i++) keys[i] = meta[i].key, values[i] = meta[i].value;
  ldnn_check_status(L, dnn_safetensors_save(path, n, names, (dnn_tensor *const *)tensors, n_meta, keys, values));
  return 0;
}

typedef struct safetensors_box {
  dnn_safetensors *st;
} safetensors_box;

static int box_gc(lua_State *L) {
  safetensors_box *b = luaL_checkudata(L, 1, SAFETENSORS_BOX_MT);
  dnn_safetensors_free(b->st);
  b->st = NULL;
  return 0;
}

/* load_safetensors(path) -> tensors (name -> tensor), metadata (key ->
 * string), names (in the file's order). The loaded file sits in a box whose
 * finalizer frees what was not handed to Lua yet if a push fails. */
static int l_load_safetensors(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  safetensors_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->st = NULL;
  luaL_setmetatable(L, SAFETENSORS_BOX_MT);
  b->st = dnn_safetensors_load(path);
  if (!b->st) return ldnn_raise(L);
  dnn_safetensors *st = b->st;
  lua_createtable(L, 0, st->n);
  lua_createtable(L, 0, st->n_meta);
  lua_createtable(L, st->n, 0);
  for (int i = 0; i < st->n; i++) {
    lua_pushstring(L, st->names[i]);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, i + 1);
    ldnn_push_tensor(L, st->tensors[i]);
    st->tensors[i] = NULL; /* Lua owns it now */
    lua_rawset(L, -5);
  }
  for (int i = 0; i < st->n_meta; i++) {
    lua_pushstring(L, st->meta_values[i]);
    lua_setfield(L, -3, st->meta_keys[i]);
  }
  dnn_safetensors_free(st);
  b->st = NULL;
  return 3;
}

static const luaL_Reg io_funcs[] = {
    {"read_idx", l_read_idx},
    {"save_safetensors", l_save_safetensors},
    {"load_safetensors", l_load_safetensors},
    {NULL, NULL},
};

void ldnn_open_io(lua_State *L) {
  if (luaL_newmetatable(L, SAFETENSORS_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, io_funcs, 0);
}
