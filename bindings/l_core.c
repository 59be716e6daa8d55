/* The tensor userdata, argument helpers, and the "dnn" module's loading. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ldnn.h"
#include "lua_embedded.h"

/* ---- tensors as userdata ---- */

/* A tensor userdata's handle is NULL once its __gc or __close has run: Lua
 * runs finalizers in reverse order, so another finalizer (or a script at
 * exit) can still reach it. Every fetch goes through here. */
static dnn_tensor *live_tensor(lua_State *L, int idx, dnn_tensor **p) {
  if (*p) return *p;
  if (idx > 0) luaL_argerror(L, idx, "tensor was freed by its __gc or __close");
  /* a tensor taken from a table (cat's list, a file's tensors): no argument number */
  lua_Debug ar;
  const char *fn = lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name ? ar.name : "?";
  return luaL_error(L, "bad argument to '%s' (a tensor in it was freed by its __gc or __close)", fn), NULL;
}

/* The tensor metatable is also kept under this key's address, where a new
 * tensor's userdata finds it without luaL_setmetatable's lookup by name. */
static const char tensor_mt_key = 0;

void ldnn_keep_tensor_metatable(lua_State *L) {
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
}

/* A tensor's userdata: its handle behind a tag. Every op checks that its
 * arguments are tensors, and checking the metatable (luaL_testudata's way:
 * push it, look up ours in the registry, compare) took a quarter of a
 * 1-element add. The tag is checked instead: only C code writes a
 * userdata's bytes, and the value is no pointer (its high bits are not a
 * canonical address), so no other library's 16-byte userdata carries it. */
#define TENSOR_TAG UINT64_C(0xd11a7e45a0b7c0de)

typedef struct {
  uint64_t tag;
  dnn_tensor *tensor; /* NULL once freed */
} tensor_udata;

dnn_tensor **ldnn_new_tensor_handle(lua_State *L) {
  tensor_udata *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->tag = TENSOR_TAG;
  u->tensor = NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
  lua_setmetatable(L, -2);
  return &u->tensor;
}

dnn_tensor **ldnn_tensor_handle(lua_State *L, int idx) {
  tensor_udata *u = lua_touserdata(L, idx);
  if (!u || lua_rawlen(L, idx) != sizeof *u || u->tag != TENSOR_TAG) return NULL;
  return &u->tensor;
}

dnn_tensor *ldnn_to_tensor(lua_State *L, int idx) {
  dnn_tensor **p = ldnn_tensor_handle(L, idx);
  return p ? live_tensor(L, idx, p) : NULL;
}

dnn_tensor *ldnn_check_tensor(lua_State *L, int idx) {
  dnn_tensor **p = ldnn_tensor_handle(L, idx);
  if (!p) luaL_typeerror(L, idx, "tensor");
  return live_tensor(L, idx, p);
}

dnn_tensor *ldnn_check_tensor_or_number(lua_State *L, int idx) {
  dnn_tensor *t = ldnn_to_tensor(L, idx);
  if (t) return t;
  if (!lua_isnumber(L, idx)) luaL_typeerror(L, idx, "tensor or number");
  dnn_tensor *s = dnn_scalar((float)lua_tonumber(L, idx));
  ldnn_push_tensor(L, s);
  return s;
}

/* Lua 5.4 has no call for "external memory", and adding debt with
 * LUA_GCSTEP is no substitute: in 5.4.4 two steps that each finish a cycle
 * with no allocation between them leave the finalizers unrun (measured: a
 * training loop grew 2.5 MB of storage per step, never freed). So the
 * storage paces full collections itself: one each time the live storage has
 * grown by an eighth, and by at least GC_MIN_GROWTH, since the last. A full
 * collection costs what the Lua heap holds, small next to the tensors; a
 * short cycle keeps the garbage few blocks, which the core's block cache
 * hands to the next step's tensors (with a quarter and 64 MB, the heap grew
 * for hundreds of steps and page faults took 2 of an MLP step's 7 ms). The
 * floor is small because below it Lua's own collections set the pace, and
 * theirs follows the Lua heap, not the storage: with 16 MB, a small MLP's fit
 * never reached the floor, its garbage between collections went up to 7 MB
 * and its footprint crept (bench/soak.lua: +6.5% in 10,000 steps; flat with
 * 4 MB, docs/CHOICES.md). */
#define GC_MIN_GROWTH ((int64_t)4 << 20)
static _Thread_local int64_t collect_at = GC_MIN_GROWTH; /* per thread: one dnnlua_State per thread */

static void report_storage(lua_State *L) {
  int64_t live = dnn_storage_bytes_live();
  if (live < collect_at || !lua_gc(L, LUA_GCISRUNNING)) return;
  lua_gc(L, LUA_GCCOLLECT);
  live = dnn_storage_bytes_live();
  collect_at = live + (live / 8 > GC_MIN_GROWTH ? live / 8 : GC_MIN_GROWTH);
}

void ldnn_push_tensor(lua_State *L, dnn_tensor *t) {
  if (!t) ldnn_raise(L);
  *ldnn_new_tensor_handle(L) = t;
  report_storage(L);
}

/* The core counts a tensor method's receiver as argument #1, as a plain call
 * dnn.op(t, ...) does; for t:op(...) Lua's own convention (luaL_argerror)
 * does not count it, so the number is lowered to match. */
int ldnn_raise(lua_State *L) {
  const char *msg = dnn_errmsg();
  if (!msg || !*msg) return luaL_error(L, "dnn: unknown error");
  int argn, rest = 0;
  lua_Debug ar;
  if (sscanf(msg, "bad argument #%d to %n", &argn, &rest) == 1 && rest > 0 && lua_getstack(L, 0, &ar) &&
      lua_getinfo(L, "n", &ar) && ar.namewhat && strcmp(ar.namewhat, "method") == 0) {
    if (argn > 1) return luaL_error(L, "bad argument #%d to %s", argn - 1, msg + rest);
    const char *reason = strchr(msg + rest, '(');
    return luaL_error(L, "calling '%s' on bad self %s", ar.name ? ar.name : "?", reason ? reason : "");
  }
  return luaL_error(L, "%s", msg);
}

void ldnn_check_status(lua_State *L, dnn_status st) {
  if (st != DNN_OK) ldnn_raise(L);
}

/* ---- argument helpers ---- */

static int dim_error(lua_State *L, int arg, lua_Integer dim, int lo, int hi) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "dim %I out of range [%d, %d]", (LUAI_UACINT)dim, lo, hi));
}

int ldnn_check_dim(lua_State *L, int arg, int ndim) {
  lua_Integer d = luaL_checkinteger(L, arg);
  int n = ndim > 0 ? ndim : 1; /* a 0-d tensor takes dim 1 or -1, as PyTorch */
  if (d >= 1 && d <= n) return (int)d - 1;
  if (d < 0 && d >= -n) return (int)(d + n);
  return dim_error(L, arg, d, -n, n);
}

int ldnn_check_dim_inclusive(lua_State *L, int arg, int ndim) {
  lua_Integer d = luaL_checkinteger(L, arg);
  if (d >= 1 && d <= ndim + 1) return (int)d - 1;
  if (d < 0 && d >= -(ndim + 1)) return (int)(d + ndim + 1);
  return dim_error(L, arg, d, -(ndim + 1), ndim + 1);
}

static int64_t check_size(lua_State *L, int arg, int isnum, lua_Integer v) {
  if (!isnum) luaL_argerror(L, arg, "expected integer sizes in the shape");
  return (int64_t)v;
}

int ldnn_check_shape(lua_State *L, int arg, int64_t *shape, int *next) {
  int ndim = 0;
  if (lua_istable(L, arg) && !ldnn_to_tensor(L, arg) && lua_rawlen(L, arg) > 0) {
    int n = (int)lua_rawlen(L, arg);
    if (n > DNN_MAX_DIMS)
      luaL_argerror(L, arg, lua_pushfstring(L, "expected at most %d dims, got %d", DNN_MAX_DIMS, n));
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, arg, i);
      int isnum;
      lua_Integer v = lua_tointegerx(L, -1, &isnum);
      shape[ndim++] = check_size(L, arg, isnum, v);
      lua_pop(L, 1);
    }
    if (next) *next = arg + 1;
    return ndim;
  }
  int top = lua_gettop(L);
  while (arg <= top && lua_type(L, arg) == LUA_TNUMBER) {
    if (ndim == DNN_MAX_DIMS) luaL_argerror(L, arg, lua_pushfstring(L, "expected at most %d dims", DNN_MAX_DIMS));
    int isnum;
    lua_Integer v = lua_tointegerx(L, arg, &isnum);
    shape[ndim++] = check_size(L, arg, isnum, v);
    arg++;
  }
  if (next) *next = arg;
  return ndim;
}

static int opt_field(lua_State *L, int idx, const char *name) {
  if (idx == 0 || !lua_istable(L, idx)) return 0;
  return lua_getfield(L, idx, name) != LUA_TNIL ? 1 : (lua_pop(L, 1), 0);
}

double ldnn_opt_number(lua_State *L, int idx, const char *name, double def) {
  if (!opt_field(L, idx, name)) return def;
  if (!lua_isnumber(L, -1)) luaL_error(L, "bad option '%s' (number expected, got %s)", name, luaL_typename(L, -1));
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

int ldnn_opt_boolean(lua_State *L, int idx, const char *name, int def) {
  if (!opt_field(L, idx, name)) return def;
  if (!lua_isboolean(L, -1)) luaL_error(L, "bad option '%s' (boolean expected, got %s)", name, luaL_typename(L, -1));
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void ldnn_check_options(lua_State *L, int idx, const char *fn, const char *const *valid) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool known = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; valid[i] && !known; i++) known = strcmp(lua_tostring(L, -1), valid[i]) == 0;
    if (!known) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; valid[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, valid[i]);
      }
      luaL_pushresult(&b);
      /* one statement each: the order of a call's arguments is unspecified, and the key's
       * string is pushed above the list */
      const char *list = lua_tostring(L, -1);
      const char *key = luaL_tolstring(L, -2, NULL);
      luaL_error(L, "%s: unknown option '%s' (expected %s)", fn, key, list);
    }
  }
}

const char *ldnn_opt_string(lua_State *L, int idx, const char *name, const char *def) {
  if (!opt_field(L, idx, name)) return def;
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "bad option '%s' (string expected, got %s)", name, luaL_typename(L, -1));
  const char *s = lua_tostring(L, -1); /* stays alive: the options table holds it */
  lua_pop(L, 1);
  return s;
}

/* ---- error handling for hosts ---- */

/* The message handler of the dnnlua program and of the embedding API: the
 * message with a traceback, or what the error object is when it has no text.
 * A message that already carries a traceback is left as it is: dnn.layer
 * adds a layer's context to an error (see its "errors" section) with the
 * traceback of where the error was raised, which holds more frames than the
 * stack left at the point it was raised again. */
int ldnn_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  if (strstr(msg, "\nstack traceback:\n") != NULL) return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* ---- opening the library ---- */

int luaopen_dnn_core(lua_State *L) {
  lua_newtable(L);
  ldnn_open_tensor(L);
  ldnn_open_autograd(L);
  ldnn_open_nn(L);
  ldnn_open_io(L);
  ldnn_open_runtime(L);
  ldnn_open_layers(L);
  ldnn_open_image(L);
  ldnn_open_data(L);
  ldnn_open_conv(L);
  ldnn_open_pool(L);
  ldnn_open_rnn(L);
  ldnn_open_ctc(L);
  ldnn_open_font(L);
  ldnn_open_attention(L);
  ldnn_open_distributed(L);
  ldnn_open_onnx(L);
  ldnn_open_boxes(L);
  lua_pushliteral(L, DNN_VERSION); /* project(VERSION) in CMakeLists.txt: the one place it is written */
  lua_setfield(L, -2, "version");
  return 1;
}

static int load_embedded(lua_State *L) {
  const ldnn_lua_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbufferx(L, m->source, m->size, m->chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushvalue(L, 1); /* the module name, as require passes it */
  lua_call(L, 1, 1);
  return 1;
}

/* Preloads "dnn.core" and every embedded Lua module, then runs dnn/init.lua
 * and returns its table (require stores it in package.loaded.dnn). */
int ldnn_open_library(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_dnn_core);
  lua_setfield(L, -2, "dnn.core");
  const ldnn_lua_module *init = NULL;
  for (const ldnn_lua_module *m = ldnn_lua_modules; m->name; m++) {
    if (strcmp(m->name, "dnn") == 0) init = m;
    lua_pushlightuserdata(L, (void *)m);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  if (!init) return luaL_error(L, "dnn: the embedded Lua library has no dnn/init.lua");
  if (luaL_loadbufferx(L, init->source, init->size, init->chunkname, "t") != LUA_OK) return lua_error(L);
  lua_pushstring(L, "dnn");
  lua_call(L, 1, 1);
  return 1;
}
