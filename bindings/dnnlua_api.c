/* The embedding API (include/dnnlua.h): a dnnlua_State wraps a lua_State
 * with the dnn library loaded. Every entry point that runs Lua does it under
 * lua_pcall, so a Lua error (a script's, or a memory error) comes back as a
 * status and a message kept in the state, never as a long jump into the
 * host. Tensor handles are registry references, listed in the state so
 * dnnlua_close frees what the host forgot. */
#include "dnnlua.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "ldnn.h"

struct dnnlua_Tensor {
  dnnlua_State *S;
  int ref; /* the tensor's userdata in the registry */
  dnn_tensor *t; /* a reference of its own: a script that closes the userdata (<close>) leaves it valid */
  dnn_tensor *contig; /* a contiguous version for dnnlua_tensor_data, owned */
  dnnlua_Tensor *prev, *next;
};

struct dnnlua_State {
  lua_State *L;
  char *err; /* the last error message, owned */
  int results_ref; /* the last call's results, kept so borrowed strings stay valid */
  dnnlua_Tensor *tensors;
};

static _Thread_local char open_err[256];

static void set_err(dnnlua_State *S, const char *msg) {
  free(S->err);
  S->err = strdup(msg ? msg : "");
}

/* Takes the error message on top of the stack into S->err and pops it. */
static int take_error(dnnlua_State *S, int status) {
  const char *msg = lua_tostring(S->L, -1);
  set_err(S, msg ? msg : "(error object is not a string)");
  lua_pop(S->L, 1);
  switch (status) {
    case LUA_ERRSYNTAX:
      return DNNLUA_ERRSYNTAX;
    case LUA_ERRMEM:
      return DNNLUA_ERRMEM;
    case LUA_ERRFILE:
      return DNNLUA_ERRFILE;
    default:
      return DNNLUA_ERRRUN;
  }
}

static int fail_arg(dnnlua_State *S, const char *msg) {
  set_err(S, msg);
  return DNNLUA_ERRARG;
}

/* Calls the function below nargs arguments under the message handler. */
static int pcall_traced(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, ldnn_msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return status;
}

/* ---- states ---- */

/* os.exit in a script would end the host: here it is an error instead. */
static int refuse_exit(lua_State *L) {
  return luaL_error(L, "os.exit is disabled in an embedded dnnlua state (the host decides when to exit)");
}

static int open_libraries(lua_State *L) {
  luaL_openlibs(L);
  lua_getglobal(L, "os");
  lua_pushcfunction(L, refuse_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
  luaL_requiref(L, "dnn", ldnn_open_library, 1); /* package.loaded.dnn and the global */
  return 0;
}

dnnlua_State *dnnlua_open(void) {
  open_err[0] = '\0';
  dnnlua_State *S = calloc(1, sizeof *S);
  lua_State *L = S ? ldnn_new_state() : NULL;
  if (!L) {
    free(S);
    snprintf(open_err, sizeof open_err, "dnnlua_open: out of memory");
    return NULL;
  }
  S->L = L;
  S->results_ref = LUA_NOREF;
  lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, open_libraries);
  int status = pcall_traced(L, 0, 0);
  if (status != LUA_OK) {
    snprintf(open_err, sizeof open_err, "dnnlua_open: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    ldnn_close_state(L);
    free(S);
    return NULL;
  }
  /* Generational, as the dnnlua program: most tensors die young. */
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  return S;
}

const char *dnnlua_open_errmsg(void) { return open_err; }

void dnnlua_close(dnnlua_State *S) {
  if (!S) return;
  for (dnnlua_Tensor *h = S->tensors, *next; h; h = next) {
    next = h->next;
    dnn_tensor_release(h->contig);
    dnn_tensor_release(h->t);
    free(h);
  }
  ldnn_close_state(S->L); /* collects every tensor: borrowed buffers are released here at the latest */
  free(S->err);
  free(S);
}

const char *dnnlua_errmsg(const dnnlua_State *S) { return S && S->err ? S->err : ""; }

void *dnnlua_lua_state(dnnlua_State *S) { return S ? S->L : NULL; }

/* ---- running code ---- */

static int run_chunk(dnnlua_State *S, int status) {
  if (status == LUA_OK) status = pcall_traced(S->L, 0, 0);
  if (status != LUA_OK) return take_error(S, status);
  return DNNLUA_OK;
}

int dnnlua_dofile(dnnlua_State *S, const char *path) {
  if (!S) return DNNLUA_ERRARG;
  if (!path) return fail_arg(S, "dnnlua_dofile: expected a path, got NULL");
  return run_chunk(S, luaL_loadfilex(S->L, path, "t"));
}

int dnnlua_dostring(dnnlua_State *S, const char *code) {
  if (!S) return DNNLUA_ERRARG;
  if (!code) return fail_arg(S, "dnnlua_dostring: expected code, got NULL");
  return run_chunk(S, luaL_loadbufferx(S->L, code, strlen(code), "=dnnlua_dostring", "t"));
}

/* ---- tensor handles ---- */

/* A handle for the tensor userdata on top of the stack (popped). Runs
 * inside a protected call: a failed malloc raises a Lua memory error. */
static dnnlua_Tensor *new_handle(dnnlua_State *S, lua_State *L) {
  dnnlua_Tensor *h = calloc(1, sizeof *h);
  if (!h) luaL_error(L, "dnnlua: out of memory");
  h->S = S;
  h->t = dnn_tensor_retain(ldnn_to_tensor(L, -1));
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  h->next = S->tensors;
  if (S->tensors) S->tensors->prev = h;
  S->tensors = h;
  return h;
}

void dnnlua_tensor_free(dnnlua_State *S, dnnlua_Tensor *h) {
  if (!S || !h) return;
  if (h->prev)
    h->prev->next = h->next;
  else
    S->tensors = h->next;
  if (h->next) h->next->prev = h->prev;
  luaL_unref(S->L, LUA_REGISTRYINDEX, h->ref);
  dnn_tensor_release(h->contig);
  dnn_tensor_release(h->t);
  free(h);
}

typedef struct buffer_args {
  dnnlua_State *S;
  float *data;
  const float *copy_from;
  int ndim;
  const int64_t *shape;
  void (*release)(void *ctx, float *data);
  void *ctx;
  dnnlua_Tensor *out;
} buffer_args;

static int make_buffer_tensor(lua_State *L) {
  buffer_args *a = lua_touserdata(L, 1);
  /* the userdata first (its __gc takes NULL), so no tensor is left unowned if it cannot be made */
  dnn_tensor **p = ldnn_new_tensor_handle(L);
  if (a->copy_from) {
    *p = dnn_empty(a->ndim, a->shape);
    if (*p) memcpy(dnn_data(*p), a->copy_from, (size_t)dnn_numel(*p) * sizeof(float));
  } else {
    *p = dnn_from_buffer(a->data, a->ndim, a->shape, a->release, a->ctx);
  }
  if (!*p) return ldnn_raise(L);
  a->out = new_handle(a->S, L);
  return 0;
}

static dnnlua_Tensor *buffer_tensor(dnnlua_State *S, buffer_args *a, const char *fn) {
  if (!S) return NULL;
  if (a->ndim < 0 || a->ndim > DNN_MAX_DIMS || (a->ndim > 0 && !a->shape) || !(a->data || a->copy_from)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: expected a buffer and 0..%d dims with their shape, got %s and %d dims", fn,
             DNN_MAX_DIMS, a->data || a->copy_from ? "a buffer" : "NULL", a->ndim);
    fail_arg(S, msg);
    return NULL;
  }
  lua_State *L = S->L;
  lua_pushcfunction(L, make_buffer_tensor);
  lua_pushlightuserdata(L, a);
  int status = lua_pcall(L, 1, 0, 0);
  if (status != LUA_OK) {
    take_error(S, status);
    return NULL;
  }
  return a->out;
}

dnnlua_Tensor *dnnlua_tensor_from_buffer(dnnlua_State *S, float *data, int ndim, const int64_t *shape,
                                         void (*release)(void *ctx, float *data), void *ctx) {
  buffer_args a = {S, data, NULL, ndim, shape, release, ctx, NULL};
  return buffer_tensor(S, &a, "dnnlua_tensor_from_buffer");
}

dnnlua_Tensor *dnnlua_tensor_copy_of(dnnlua_State *S, const float *data, int ndim, const int64_t *shape) {
  buffer_args a = {S, NULL, data, ndim, shape, NULL, NULL, NULL};
  return buffer_tensor(S, &a, "dnnlua_tensor_copy_of");
}

int dnnlua_tensor_ndim(const dnnlua_Tensor *h) { return h ? h->t->ndim : -1; }

const int64_t *dnnlua_tensor_shape(const dnnlua_Tensor *h) { return h ? h->t->shape : NULL; }

int64_t dnnlua_tensor_numel(const dnnlua_Tensor *h) { return h ? dnn_numel(h->t) : -1; }

const float *dnnlua_tensor_data(dnnlua_State *S, dnnlua_Tensor *h) {
  if (!S) return NULL;
  if (!h) {
    fail_arg(S, "dnnlua_tensor_data: expected a tensor, got NULL");
    return NULL;
  }
  if (dnn_is_contiguous(h->t)) return dnn_data(h->t);
  dnn_tensor_release(h->contig);
  h->contig = dnn_contiguous(h->t);
  if (!h->contig) {
    set_err(S, dnn_errmsg());
    return NULL;
  }
  return dnn_data(h->contig);
}

int dnnlua_tensor_copy_out(dnnlua_State *S, dnnlua_Tensor *h, float *out, int64_t capacity) {
  if (!S) return DNNLUA_ERRARG;
  if (!h || !out) return fail_arg(S, "dnnlua_tensor_copy_out: expected a tensor and a buffer, got NULL");
  int64_t n = dnn_numel(h->t);
  if (capacity < n) {
    char msg[160];
    snprintf(msg, sizeof msg, "dnnlua_tensor_copy_out: the tensor has %lld values, the buffer holds %lld", (long long)n,
             (long long)capacity);
    return fail_arg(S, msg);
  }
  const float *data = dnnlua_tensor_data(S, h);
  if (!data) return DNNLUA_ERRMEM;
  memcpy(out, data, (size_t)n * sizeof(float));
  return DNNLUA_OK;
}

/* ---- globals and calls ---- */

/* Pushes the value at a dotted path of fields from a global ("a.b.c"). */
static int push_path(lua_State *L) {
  const char *name = lua_touserdata(L, 1);
  const char *dot = strchr(name, '.');
  lua_pushglobaltable(L);
  const char *start = name;
  for (;;) {
    size_t len = dot ? (size_t)(dot - start) : strlen(start);
    if (len == 0) return luaL_error(L, "bad name '%s'", name);
    if (!lua_istable(L, -1))
      return luaL_error(L, "'%s': '%s' is not a table", name, lua_pushlstring(L, name, start - 1 - name));
    lua_pushlstring(L, start, len);
    lua_gettable(L, -2);
    lua_remove(L, -2);
    if (!dot) break;
    start = dot + 1;
    dot = strchr(start, '.');
  }
  return 1;
}

static int get_global_tensor(lua_State *L) {
  dnnlua_State *S = lua_touserdata(L, 2);
  lua_settop(L, 1);
  push_path(L);
  if (!ldnn_to_tensor(L, -1)) return luaL_error(L, "'%s' is not a tensor", (const char *)lua_touserdata(L, 1));
  lua_pushlightuserdata(L, new_handle(S, L));
  return 1;
}

dnnlua_Tensor *dnnlua_get_global_tensor(dnnlua_State *S, const char *name) {
  if (!S) return NULL;
  if (!name) {
    fail_arg(S, "dnnlua_get_global_tensor: expected a name, got NULL");
    return NULL;
  }
  lua_pushcfunction(S->L, get_global_tensor);
  lua_pushlightuserdata(S->L, (void *)name);
  lua_pushlightuserdata(S->L, S);
  int status = lua_pcall(S->L, 2, 1, 0);
  if (status != LUA_OK) {
    take_error(S, status);
    return NULL;
  }
  dnnlua_Tensor *h = lua_touserdata(S->L, -1);
  lua_pop(S->L, 1);
  return h;
}

static int set_global_tensor(lua_State *L) {
  const char *name = lua_touserdata(L, 1);
  dnnlua_Tensor *h = lua_touserdata(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  lua_setglobal(L, name);
  return 0;
}

int dnnlua_set_global_tensor(dnnlua_State *S, const char *name, dnnlua_Tensor *h) {
  if (!S) return DNNLUA_ERRARG;
  if (!name || !*name || !h) return fail_arg(S, "dnnlua_set_global_tensor: expected a name and a tensor");
  lua_pushcfunction(S->L, set_global_tensor);
  lua_pushlightuserdata(S->L, (void *)name);
  lua_pushlightuserdata(S->L, h);
  int status = lua_pcall(S->L, 2, 0, 0);
  return status == LUA_OK ? DNNLUA_OK : take_error(S, status);
}

typedef struct call_args {
  dnnlua_State *S;
  const char *name;
  const char *fmt;
  va_list ap;
  const char *bad; /* a host error found while converting, reported as DNNLUA_ERRARG */
} call_args;

static const char *type_word(char c) {
  switch (c) {
    case 't':
      return "a tensor";
    case 'd':
      return "a number";
    case 'i':
      return "an integer";
    case 's':
      return "a string";
    case 'b':
      return "a boolean";
    default:
      return "?";
  }
}

/* Runs inside lua_pcall: looks the function up, pushes the arguments, calls
 * it (errors get the traceback), checks every result's type, then writes the
 * results (tensor handles are made only once all types are right). */
static int do_call(lua_State *L) {
  call_args *a = lua_touserdata(L, 1);
  lua_settop(L, 0);
  lua_pushlightuserdata(L, (void *)a->name);
  push_path(L);
  lua_remove(L, 1);
  if (!lua_isfunction(L, 1) && !luaL_getmetafield(L, 1, "__call"))
    return luaL_error(L, "dnnlua_call: '%s' is not a function (%s)", a->name, luaL_typename(L, 1));
  if (!lua_isfunction(L, 1)) lua_pop(L, 1);
  const char *f = a->fmt;
  int nargs = 0;
  for (; *f && *f != '>'; f++, nargs++) {
    luaL_checkstack(L, 2, "too many arguments");
    switch (*f) {
      case 't': {
        dnnlua_Tensor *h = va_arg(a->ap, dnnlua_Tensor *);
        if (!h) return a->bad = "a NULL tensor argument", 0;
        lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
        break;
      }
      case 'd':
        lua_pushnumber(L, va_arg(a->ap, double));
        break;
      case 'i':
        lua_pushinteger(L, (lua_Integer)va_arg(a->ap, int64_t));
        break;
      case 's': {
        const char *s = va_arg(a->ap, const char *);
        if (s)
          lua_pushstring(L, s);
        else
          lua_pushnil(L);
        break;
      }
      case 'b':
        lua_pushboolean(L, va_arg(a->ap, int));
        break;
      default:
        return a->bad = "an unknown type letter in the format (expected t, d, i, s, b)", 0;
    }
  }
  const char *results = *f == '>' ? f + 1 : f;
  int nres = (int)strlen(results);
  luaL_checkstack(L, nres + 4, "too many results");
  lua_pushcfunction(L, ldnn_msghandler);
  lua_insert(L, 1);
  if (lua_pcall(L, nargs, nres, 1) != LUA_OK) return lua_error(L); /* with the traceback */
  lua_remove(L, 1);
  static _Thread_local char bad[160];
  for (int i = 0; i < nres; i++) {
    int idx = i + 1, ok;
    switch (results[i]) {
      case 't':
        ok = ldnn_to_tensor(L, idx) != NULL;
        break;
      case 'd':
        ok = lua_type(L, idx) == LUA_TNUMBER;
        break;
      case 'i':
        ok = lua_isinteger(L, idx) ||
            (lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == (lua_Number)(int64_t)lua_tonumber(L, idx));
        break;
      case 's':
        ok = lua_type(L, idx) == LUA_TSTRING;
        break;
      case 'b':
        ok = lua_isboolean(L, idx);
        break;
      default:
        return a->bad = "an unknown type letter in the format (expected t, d, i, s, b)", 0;
    }
    if (!ok) {
      snprintf(bad, sizeof bad, "'%s' returned %s as result %d, expected %s", a->name, luaL_typename(L, idx), idx,
               type_word(results[i]));
      return a->bad = bad, 0;
    }
  }
  /* keep this call's results (borrowed strings point into them) */
  lua_createtable(L, nres, 0);
  for (int i = 0; i < nres; i++) {
    lua_pushvalue(L, i + 1);
    lua_rawseti(L, -2, i + 1);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, a->S->results_ref);
  a->S->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  for (int i = 0; i < nres; i++) {
    int idx = i + 1;
    switch (results[i]) {
      case 't': {
        dnnlua_Tensor **out = va_arg(a->ap, dnnlua_Tensor **);
        lua_pushvalue(L, idx);
        dnnlua_Tensor *h = new_handle(a->S, L);
        if (out)
          *out = h;
        else
          dnnlua_tensor_free(a->S, h);
        break;
      }
      case 'd': {
        double *out = va_arg(a->ap, double *);
        if (out) *out = (double)lua_tonumber(L, idx);
        break;
      }
      case 'i': {
        int64_t *out = va_arg(a->ap, int64_t *);
        if (out) *out = lua_isinteger(L, idx) ? (int64_t)lua_tointeger(L, idx) : (int64_t)lua_tonumber(L, idx);
        break;
      }
      case 's': {
        const char **out = va_arg(a->ap, const char **);
        if (out) *out = lua_tostring(L, idx);
        break;
      }
      case 'b': {
        int *out = va_arg(a->ap, int *);
        if (out) *out = lua_toboolean(L, idx);
        break;
      }
    }
  }
  return 0;
}

int dnnlua_call(dnnlua_State *S, const char *name, const char *fmt, ...) {
  if (!S) return DNNLUA_ERRARG;
  if (!name || !fmt) return fail_arg(S, "dnnlua_call: expected a function name and a format, got NULL");
  call_args a;
  a.S = S, a.name = name, a.fmt = fmt, a.bad = NULL;
  va_start(a.ap, fmt);
  lua_State *L = S->L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, do_call);
  lua_pushlightuserdata(L, &a);
  int status = lua_pcall(L, 1, 0, 0);
  va_end(a.ap);
  if (status != LUA_OK) {
    int r = take_error(S, status);
    lua_settop(L, top);
    return r;
  }
  lua_settop(L, top);
  if (a.bad) {
    char msg[256];
    snprintf(msg, sizeof msg, "dnnlua_call('%s', \"%s\"): %s", name, fmt, a.bad);
    return fail_arg(S, msg);
  }
  return DNNLUA_OK;
}
