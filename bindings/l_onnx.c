/* ONNX files <-> Lua tables (core/include/dnn/onnx.h). The table form, read
 * and written alike:
 *   {ir_version, opset, producer_name, producer_version, graph_name,
 *    nodes = {{name, op_type, domain, inputs = {..}, outputs = {..},
 *              attrs = {{name, type = "int"|"float"|"string"|"tensor"|"ints"|"floats"|"strings"|"graph", value}}}},
 *    initializers = {{name, dims = {..}, values = tensor} or {name, dims, ints = {..}}},
 *    inputs = {{name, elem_type, dims = {n or -1, ..}, dim_params = {[d] = "batch"}}}, outputs = {..}}
 * The graph's meaning is lua/dnn/onnx/'s business. A model being read or
 * filled sits in a box whose finalizer frees it if a Lua error cuts in. */
#include <stdlib.h>
#include <string.h>

#include "dnn/onnx.h"
#include "ldnn.h"

#define ONNX_BOX_MT "dnn.onnx_box"

typedef struct onnx_box {
  dnn_onnx_model *m;
} onnx_box;

static int box_gc(lua_State *L) {
  onnx_box *b = luaL_checkudata(L, 1, ONNX_BOX_MT);
  dnn_onnx_free(b->m);
  b->m = NULL;
  return 0;
}

static onnx_box *new_box(lua_State *L) {
  onnx_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->m = NULL;
  luaL_setmetatable(L, ONNX_BOX_MT);
  return b;
}

static const char *const attr_names[] = {"", "float", "int", "string", "tensor", "graph", "floats", "ints", "strings"};

/* ---- C -> Lua ---- */

static void push_ints(lua_State *L, const int64_t *v, int64_t n) {
  lua_createtable(L, (int)(n < 1000000 ? n : 0), 0);
  for (int64_t k = 0; k < n; k++) {
    lua_pushinteger(L, v[k]);
    lua_rawseti(L, -2, k + 1);
  }
}

static void push_strings(lua_State *L, char *const *v, int64_t n) {
  lua_createtable(L, (int)(n < 1000000 ? n : 0), 0);
  for (int64_t k = 0; k < n; k++) {
    lua_pushstring(L, v[k]);
    lua_rawseti(L, -2, k + 1);
  }
}

/* Pushes t as a table; the tensor moves to Lua. */
static void push_tensor(lua_State *L, dnn_onnx_tensor *t) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, t->name);
  lua_setfield(L, -2, "name");
  push_ints(L, t->dims, t->ndim);
  lua_setfield(L, -2, "dims");
  if (t->is_int) {
    push_ints(L, t->ints, t->numel);
    lua_setfield(L, -2, "ints");
  } else {
    ldnn_push_tensor(L, t->values);
    t->values = NULL;
    lua_setfield(L, -2, "values");
  }
}

static void push_attr(lua_State *L, dnn_onnx_attr *a) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, a->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, (int)a->type >= 1 && (int)a->type <= 8 ? attr_names[a->type] : "");
  lua_setfield(L, -2, "type");
  switch (a->type) {
    case DNN_ONNX_ATTR_FLOAT:
      lua_pushnumber(L, a->f);
      break;
    case DNN_ONNX_ATTR_INT:
      lua_pushinteger(L, a->i);
      break;
    case DNN_ONNX_ATTR_STRING:
      lua_pushlstring(L, a->s, a->s_len);
      break;
    case DNN_ONNX_ATTR_TENSOR:
      push_tensor(L, a->t);
      break;
    case DNN_ONNX_ATTR_FLOATS:
      lua_createtable(L, (int)(a->n < 1000000 ? a->n : 0), 0);
      for (int64_t k = 0; k < a->n; k++) {
        lua_pushnumber(L, a->floats[k]);
        lua_rawseti(L, -2, k + 1);
      }
      break;
    case DNN_ONNX_ATTR_INTS:
      push_ints(L, a->ints, a->n);
      break;
    case DNN_ONNX_ATTR_STRINGS:
      push_strings(L, a->strings, a->n);
      break;
    default:
      lua_pushboolean(L, 1); /* a graph: present, not read */
  }
  lua_setfield(L, -2, "value");
}

static void push_value(lua_State *L, const dnn_onnx_value *v) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, v->name);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, v->elem_type);
  lua_setfield(L, -2, "elem_type");
  if (v->ndim >= 0) {
    push_ints(L, v->dims, v->ndim);
    lua_setfield(L, -2, "dims");
    lua_newtable(L);
    for (int d = 0; d < v->ndim; d++) {
      if (!v->dim_params[d]) continue;
      lua_pushstring(L, v->dim_params[d]);
      lua_rawseti(L, -2, d + 1);
    }
    lua_setfield(L, -2, "dim_params");
  }
}

static void push_model(lua_State *L, dnn_onnx_model *m) {
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, m->ir_version);
  lua_setfield(L, -2, "ir_version");
  lua_pushinteger(L, m->opset);
  lua_setfield(L, -2, "opset");
  lua_pushstring(L, m->producer_name);
  lua_setfield(L, -2, "producer_name");
  lua_pushstring(L, m->producer_version);
  lua_setfield(L, -2, "producer_version");
  lua_pushstring(L, m->graph_name);
  lua_setfield(L, -2, "graph_name");
  lua_createtable(L, m->n_nodes, 0);
  for (int k = 0; k < m->n_nodes; k++) {
    dnn_onnx_node *n = &m->nodes[k];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, n->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, n->op_type);
    lua_setfield(L, -2, "op_type");
    lua_pushstring(L, n->domain);
    lua_setfield(L, -2, "domain");
    push_strings(L, n->inputs, n->n_inputs);
    lua_setfield(L, -2, "inputs");
    push_strings(L, n->outputs, n->n_outputs);
    lua_setfield(L, -2, "outputs");
    lua_createtable(L, n->n_attrs, 0);
    for (int j = 0; j < n->n_attrs; j++) {
      push_attr(L, &n->attrs[j]);
      lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "attrs");
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "nodes");
  lua_createtable(L, m->n_initializers, 0);
  for (int k = 0; k < m->n_initializers; k++) {
    push_tensor(L, &m->initializers[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "initializers");
  lua_createtable(L, m->n_inputs, 0);
  for (int k = 0; k < m->n_inputs; k++) {
    push_value(L, &m->inputs[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "inputs");
  lua_createtable(L, m->n_outputs, 0);
  for (int k = 0; k < m->n_outputs; k++) {
    push_value(L, &m->outputs[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "outputs");
}

/* _onnx.read(path) -> the model as a table */
static int l_onnx_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  onnx_box *b = new_box(L);
  b->m = dnn_onnx_read(path);
  if (!b->m) return ldnn_raise(L);
  push_model(L, b->m);
  return 1;
}

/* _onnx.parse(bytes) -> the model as a table */
static int l_onnx_parse(lua_State *L) {
  size_t n;
  const char *bytes = luaL_checklstring(L, 1, &n);
  onnx_box *b = new_box(L);
  b->m = dnn_onnx_parse((const uint8_t *)bytes, n, NULL);
  if (!b->m) return ldnn_raise(L);
  push_model(L, b->m);
  return 1;
}

/* ---- Lua -> C ---- */

/* A string field of the table at idx, strdup'd ("" when absent). */
static char *field_string(lua_State *L, int idx, const char *key, const char *where) {
  lua_getfield(L, idx, key);
  const char *s = "";
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "onnx: %s: '%s' must be a string", where, key);
    s = lua_tostring(L, -1);
  }
  char *out = strdup(s);
  lua_pop(L, 1);
  if (!out) luaL_error(L, "onnx: out of memory");
  return out;
}

static int64_t field_integer(lua_State *L, int idx, const char *key, int64_t def) {
  lua_getfield(L, idx, key);
  int64_t v = lua_isnil(L, -1) ? def : (int64_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* The array at the top of the stack as n malloc'd int64s (*n its length). */
static int64_t *to_ints(lua_State *L, int64_t *n, const char *where) {
  if (!lua_istable(L, -1)) luaL_error(L, "onnx: %s: expected an array of integers", where);
  lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
  int64_t *v = malloc((size_t)(len + 1) * sizeof *v);
  if (!v) luaL_error(L, "onnx: out of memory");
  for (lua_Integer k = 1; k <= len; k++) {
    lua_rawgeti(L, -1, k);
    int ok;
    v[k - 1] = (int64_t)lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok) {
      free(v);
      luaL_error(L, "onnx: %s: item %d is not an integer", where, (int)k);
    }
  }
  *n = len;
  return v;
}

/* The array of strings at the top of the stack; *n its length; NULLs where a strdup failed are caught below. */
static char **to_strings(lua_State *L, int *n, const char *where) {
  if (!lua_istable(L, -1)) luaL_error(L, "onnx: %s: expected an array of strings", where);
  int len = (int)lua_rawlen(L, -1);
  char **v = calloc((size_t)len + 1, sizeof *v);
  if (!v) luaL_error(L, "onnx: out of memory");
  for (int k = 1; k <= len; k++) {
    lua_rawgeti(L, -1, k);
    const char *s = lua_tostring(L, -1);
    v[k - 1] = strdup(s ? s : "");
    lua_pop(L, 1);
  }
  *n = len;
  return v;
}

/* Fills t from the table at idx (t zeroed and owned by the box). */
static void to_tensor(lua_State *L, int idx, dnn_onnx_tensor *t) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  t->name = field_string(L, idx, "name", "a tensor");
  int64_t ndim, *dims;
  lua_getfield(L, idx, "dims");
  dims = to_ints(L, &ndim, t->name);
  lua_pop(L, 1);
  if (ndim > DNN_MAX_DIMS) {
    free(dims);
    luaL_error(L, "onnx: tensor '%s' has more than %d dims", t->name, DNN_MAX_DIMS);
  }
  t->ndim = (int)ndim;
  t->numel = 1;
  for (int d = 0; d < t->ndim; d++) t->dims[d] = dims[d], t->numel *= dims[d];
  free(dims);
  lua_getfield(L, idx, "values");
  if (!lua_isnil(L, -1)) {
    t->values = dnn_tensor_retain(ldnn_check_tensor(L, -1));
    if (dnn_numel(t->values) != t->numel) luaL_error(L, "onnx: tensor '%s': values do not match dims", t->name);
  } else {
    lua_getfield(L, idx, "ints");
    int64_t n;
    t->is_int = 1;
    t->ints = to_ints(L, &n, t->name);
    if (n != t->numel) luaL_error(L, "onnx: tensor '%s': %d ints for %d elements", t->name, (int)n, (int)t->numel);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void to_attr(lua_State *L, int idx, dnn_onnx_attr *a, const char *node) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  a->name = field_string(L, idx, "name", node);
  lua_getfield(L, idx, "type");
  int type = luaL_checkoption(L, -1, NULL, attr_names);
  lua_pop(L, 1);
  a->type = (dnn_onnx_attr_type)type;
  lua_getfield(L, idx, "value");
  switch (a->type) {
    case DNN_ONNX_ATTR_FLOAT:
      a->f = luaL_checknumber(L, -1);
      break;
    case DNN_ONNX_ATTR_INT:
      a->i = (int64_t)luaL_checkinteger(L, -1);
      break;
    case DNN_ONNX_ATTR_STRING: {
      size_t n;
      const char *s = luaL_checklstring(L, -1, &n);
      a->s = malloc(n + 1);
      if (!a->s) luaL_error(L, "onnx: out of memory");
      memcpy(a->s, s, n + 1);
      a->s_len = n;
      break;
    }
    case DNN_ONNX_ATTR_TENSOR:
      a->t = calloc(1, sizeof *a->t);
      if (!a->t) luaL_error(L, "onnx: out of memory");
      to_tensor(L, -1, a->t);
      break;
    case DNN_ONNX_ATTR_FLOATS: {
      luaL_checktype(L, -1, LUA_TTABLE);
      int64_t n = (int64_t)lua_rawlen(L, -1);
      a->floats = malloc((size_t)(n + 1) * sizeof(double));
      if (!a->floats) luaL_error(L, "onnx: out of memory");
      a->n = n;
      for (int64_t k = 1; k <= n; k++) {
        lua_rawgeti(L, -1, k);
        a->floats[k - 1] = luaL_checknumber(L, -1);
        lua_pop(L, 1);
      }
      break;
    }
    case DNN_ONNX_ATTR_INTS:
      a->ints = to_ints(L, &a->n, a->name);
      break;
    case DNN_ONNX_ATTR_STRINGS: {
      int n;
      a->strings = to_strings(L, &n, a->name);
      a->n = n;
      break;
    }
    default:
      luaL_error(L, "onnx: node '%s': attribute '%s' of type %s cannot be written", node, a->name, attr_names[type]);
  }
  lua_pop(L, 1);
}

static void to_node(lua_State *L, int idx, dnn_onnx_node *n) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  n->name = field_string(L, idx, "name", "a node");
  n->op_type = field_string(L, idx, "op_type", n->name);
  n->domain = field_string(L, idx, "domain", n->name);
  lua_getfield(L, idx, "inputs");
  n->inputs = to_strings(L, &n->n_inputs, n->name);
  lua_pop(L, 1);
  lua_getfield(L, idx, "outputs");
  n->outputs = to_strings(L, &n->n_outputs, n->name);
  lua_pop(L, 1);
  lua_getfield(L, idx, "attrs");
  int len = lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0;
  n->attrs = calloc((size_t)len + 1, sizeof *n->attrs);
  if (!n->attrs) luaL_error(L, "onnx: out of memory");
  n->n_attrs = len;
  for (int k = 1; k <= len; k++) {
    lua_rawgeti(L, -1, k);
    to_attr(L, -1, &n->attrs[k - 1], n->name);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void to_value(lua_State *L, int idx, dnn_onnx_value *v) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  v->name = field_string(L, idx, "name", "a graph input or output");
  v->elem_type = (int)field_integer(L, idx, "elem_type", DNN_ONNX_FLOAT);
  v->ndim = -1;
  lua_getfield(L, idx, "dims");
  if (!lua_isnil(L, -1)) {
    int64_t n, *dims = to_ints(L, &n, v->name);
    if (n > DNN_MAX_DIMS) {
      free(dims);
      luaL_error(L, "onnx: '%s' has more than %d dims", v->name, DNN_MAX_DIMS);
    }
    v->ndim = (int)n;
    for (int d = 0; d < v->ndim; d++) v->dims[d] = dims[d];
    free(dims);
  }
  lua_pop(L, 1);
  lua_getfield(L, idx, "dim_params");
  for (int d = 0; d < v->ndim && lua_istable(L, -1); d++) {
    lua_rawgeti(L, -1, d + 1);
    if (lua_type(L, -1) == LUA_TSTRING) v->dim_params[d] = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The array field key of the table at idx: its length, the array pushed. */
static int open_array(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) return 0;
  if (!lua_istable(L, -1)) luaL_error(L, "onnx: '%s' must be an array", key);
  return (int)lua_rawlen(L, -1);
}

/* The model table at idx as a boxed C model (the box pushed). */
static dnn_onnx_model *to_model(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  onnx_box *b = new_box(L);
  dnn_onnx_model *m = b->m = calloc(1, sizeof *m);
  if (!m) luaL_error(L, "onnx: out of memory");
  m->ir_version = field_integer(L, idx, "ir_version", 8);
  m->opset = field_integer(L, idx, "opset", 17);
  m->producer_name = field_string(L, idx, "producer_name", "the model");
  m->producer_version = field_string(L, idx, "producer_version", "the model");
  m->graph_name = field_string(L, idx, "graph_name", "the model");
  int len = open_array(L, idx, "nodes");
  if (!(m->nodes = calloc((size_t)len + 1, sizeof *m->nodes))) luaL_error(L, "onnx: out of memory");
  for (int k = 1; k <= len; k++, lua_pop(L, 1)) {
    lua_rawgeti(L, -1, k);
    m->n_nodes = k;
    to_node(L, -1, &m->nodes[k - 1]);
  }
  lua_pop(L, 1);
  len = open_array(L, idx, "initializers");
  if (!(m->initializers = calloc((size_t)len + 1, sizeof *m->initializers))) luaL_error(L, "onnx: out of memory");
  for (int k = 1; k <= len; k++, lua_pop(L, 1)) {
    lua_rawgeti(L, -1, k);
    m->n_initializers = k;
    to_tensor(L, -1, &m->initializers[k - 1]);
  }
  lua_pop(L, 1);
  len = open_array(L, idx, "inputs");
  if (!(m->inputs = calloc((size_t)len + 1, sizeof *m->inputs))) luaL_error(L, "onnx: out of memory");
  for (int k = 1; k <= len; k++, lua_pop(L, 1)) {
    lua_rawgeti(L, -1, k);
    m->n_inputs = k;
    to_value(L, -1, &m->inputs[k - 1]);
  }
  lua_pop(L, 1);
  len = open_array(L, idx, "outputs");
  if (!(m->outputs = calloc((size_t)len + 1, sizeof *m->outputs))) luaL_error(L, "onnx: out of memory");
  for (int k = 1; k <= len; k++, lua_pop(L, 1)) {
    lua_rawgeti(L, -1, k);
    m->n_outputs = k;
    to_value(L, -1, &m->outputs[k - 1]);
  }
  lua_pop(L, 1);
  return m;
}

/* _onnx.write(path, model table) */
static int l_onnx_write(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  dnn_onnx_model *m = to_model(L, 2);
  ldnn_check_status(L, dnn_onnx_write(path, m));
  return 0;
}

/* _onnx.serialize(model table) -> bytes */
static int l_onnx_serialize(lua_State *L) {
  dnn_onnx_model *m = to_model(L, 1);
  size_t n = 0;
  uint8_t *bytes = dnn_onnx_serialize(m, &n);
  if (!bytes) return ldnn_raise(L);
  lua_pushlstring(L, (const char *)bytes, n);
  free(bytes);
  return 1;
}

static const luaL_Reg onnx_funcs[] = {
    {"read", l_onnx_read}, {"parse", l_onnx_parse}, {"write", l_onnx_write}, {"serialize", l_onnx_serialize},
    {NULL, NULL},
};

void ldnn_open_onnx(lua_State *L) {
  if (luaL_newmetatable(L, ONNX_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, onnx_funcs); /* dnn._onnx: private, under dnn.onnx (lua/dnn/onnx/) */
  lua_setfield(L, -2, "_onnx");
}
