/* Bindings for tensors: creation, the metatable, methods and operators.
 *
 * Lua sees 1-based indices and dims (negative counts from the end); the core
 * sees 0-based ones. Every argument is checked before the core allocates,
 * and every tensor the core returns goes straight to ldnn_push_tensor, so a
 * Lua error (a long jump) never strands a reference. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "ldnn.h"

/* ---- argument helpers ---- */

static const char *type_name(lua_State *L, int idx) {
  return ldnn_to_tensor(L, idx) ? "tensor" : luaL_typename(L, idx);
}

static int type_error(lua_State *L, int arg, const char *expected) {
  return luaL_argerror(L, arg, lua_pushfstring(L, "expected %s, got %s", expected, type_name(L, arg)));
}

/* An optional boolean argument (nil or absent gives def). */
static bool opt_bool_arg(lua_State *L, int arg, bool def) {
  if (lua_isnoneornil(L, arg)) return def;
  if (!lua_isboolean(L, arg)) type_error(L, arg, "boolean");
  return lua_toboolean(L, arg);
}

static lua_Integer check_int(lua_State *L, int arg) {
  int isnum;
  lua_Integer v = lua_tointegerx(L, arg, &isnum);
  if (!isnum || lua_type(L, arg) != LUA_TNUMBER) type_error(L, arg, "integer");
  return v;
}

static double check_num(lua_State *L, int arg) {
  if (lua_type(L, arg) != LUA_TNUMBER) type_error(L, arg, "number");
  return lua_tonumber(L, arg);
}

/* A 1-based position in [1, size], or one in [-size, -1] counted from the
 * end, as 0-based; -1 when it is neither. */
static int64_t zero_based(lua_Integer i, int64_t size) {
  if (i >= 1 && i <= size) return i - 1;
  if (i < 0 && i >= -size) return size + i;
  return -1;
}

/* Options of creators: a plain table at idx (0: none). Rejects unknown
 * names, so a typo like {requires_grd = true} does not pass silently;
 * integer keys are the shape or data sharing the table. */
static bool creator_opts(lua_State *L, int idx) {
  if (idx == 0) return false;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "requires_grad") != 0)
      luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s' (expected requires_grad)", lua_tostring(L, -1)));
  }
  int type = lua_getfield(L, idx, "requires_grad");
  if (type != LUA_TNIL && type != LUA_TBOOLEAN)
    luaL_argerror(L, idx, lua_pushfstring(L, "option 'requires_grad' expected boolean, got %s", luaL_typename(L, -1)));
  bool on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

/* The index of a trailing options table at arg (0 when absent); anything
 * else there is an error. */
static int trailing_opts(lua_State *L, int arg) {
  int top = lua_gettop(L);
  if (arg > top || lua_isnil(L, arg)) return 0;
  if (lua_type(L, arg) != LUA_TTABLE) type_error(L, arg, "options table");
  if (arg < top) luaL_argerror(L, arg + 1, "unexpected argument after the options table");
  return arg;
}

/* Pushes a fresh leaf, marked as requiring grad when asked. */
static int push_new(lua_State *L, dnn_tensor *t, bool requires_grad) {
  if (t) t->requires_grad = requires_grad;
  ldnn_push_tensor(L, t);
  return 1;
}

static void check_sizes(lua_State *L, int arg, int ndim, const int64_t *shape) {
  for (int d = 0; d < ndim; d++)
    if (shape[d] < 0)
      luaL_argerror(L, arg, lua_pushfstring(L, "expected sizes >= 0, got %I at dim %d", (LUAI_UACINT)shape[d], d + 1));
}

/* A creator's shape (integers or one table, from arg 1) and its options,
 * trailing or in the shape table: dnn.zeros(3, 2, {requires_grad = true})
 * and dnn.zeros{3, 2, requires_grad = true}. */
static int creator_shape(lua_State *L, int64_t *shape, bool *requires_grad) {
  int next;
  int ndim = ldnn_check_shape(L, 1, shape, &next);
  check_sizes(L, 1, ndim, shape);
  int opts = trailing_opts(L, next);
  if (!opts && lua_type(L, 1) == LUA_TTABLE) opts = 1;
  *requires_grad = creator_opts(L, opts);
  return ndim;
}

/* ---- creation ---- */

typedef enum { MK_ZEROS, MK_ONES, MK_RAND, MK_RANDN } shape_creator;

/* zeros, ones, rand, randn: the creator is the closure's upvalue. */
static int l_create(lua_State *L) {
  int64_t shape[DNN_MAX_DIMS];
  bool rg;
  int ndim = creator_shape(L, shape, &rg);
  dnn_tensor *t = NULL;
  switch ((shape_creator)lua_tointeger(L, lua_upvalueindex(1))) {
    case MK_ZEROS:
      t = dnn_zeros(ndim, shape);
      break;
    case MK_ONES:
      t = dnn_full(ndim, shape, 1.0f);
      break;
    case MK_RAND:
      t = dnn_rand(ndim, shape);
      break;
    case MK_RANDN:
      t = dnn_randn(ndim, shape);
      break;
  }
  return push_new(L, t, rg);
}

/* full(shape, v): the shape as a table, or as integers before the value. */
static int l_full(lua_State *L) {
  int64_t shape[DNN_MAX_DIMS];
  int ndim = 0, varg;
  if (lua_type(L, 1) == LUA_TTABLE) {
    ndim = ldnn_check_shape(L, 1, shape, NULL);
    varg = 2;
  } else {
    int n = 0;
    while (lua_type(L, n + 1) == LUA_TNUMBER) n++;
    if (n == 0) type_error(L, 1, "shape and value");
    if (n - 1 > DNN_MAX_DIMS) luaL_argerror(L, 1, lua_pushfstring(L, "expected at most %d dims", DNN_MAX_DIMS));
    for (int i = 1; i < n; i++) shape[ndim++] = check_int(L, i);
    varg = n;
  }
  check_sizes(L, 1, ndim, shape);
  double v = check_num(L, varg);
  bool rg = creator_opts(L, trailing_opts(L, varg + 1));
  return push_new(L, dnn_full(ndim, shape, (float)v), rg);
}

/* arange(stop) | arange(start, stop[, step]): stops before stop, as NumPy. */
static int l_arange(lua_State *L) {
  int n = 0;
  while (n < 3 && lua_type(L, n + 1) == LUA_TNUMBER) n++;
  if (n == 0) type_error(L, 1, "number");
  double start = n >= 2 ? lua_tonumber(L, 1) : 0, stop = n >= 2 ? lua_tonumber(L, 2) : lua_tonumber(L, 1);
  double step = n == 3 ? lua_tonumber(L, 3) : 1;
  if (step == 0) luaL_argerror(L, 3, "expected a non-zero step, got 0");
  bool rg = creator_opts(L, trailing_opts(L, n + 1));
  return push_new(L, dnn_arange(start, stop, step), rg);
}

/* linspace(start, stop[, n = 50]): n points, both ends included, as NumPy. */
static int l_linspace(lua_State *L) {
  double start = check_num(L, 1), stop = check_num(L, 2);
  lua_Integer n = lua_type(L, 3) == LUA_TNUMBER ? check_int(L, 3) : 50;
  if (n < 0) luaL_argerror(L, 3, lua_pushfstring(L, "expected a count >= 0, got %I", (LUAI_UACINT)n));
  bool rg = creator_opts(L, trailing_opts(L, lua_type(L, 3) == LUA_TNUMBER ? 4 : 3));
  return push_new(L, dnn_linspace(start, stop, n), rg);
}

static int l_eye(lua_State *L) {
  lua_Integer n = check_int(L, 1);
  lua_Integer m = lua_type(L, 2) == LUA_TNUMBER ? check_int(L, 2) : n;
  if (n < 0) luaL_argerror(L, 1, lua_pushfstring(L, "expected a size >= 0, got %I", (LUAI_UACINT)n));
  if (m < 0) luaL_argerror(L, 2, lua_pushfstring(L, "expected a size >= 0, got %I", (LUAI_UACINT)m));
  bool rg = creator_opts(L, trailing_opts(L, lua_type(L, 2) == LUA_TNUMBER ? 3 : 2));
  return push_new(L, dnn_eye(n, m), rg);
}

static int l_manual_seed(lua_State *L) {
  dnn_manual_seed((uint64_t)check_int(L, 1));
  return 0;
}

/* ---- tensors from nested Lua tables ---- */

/* "[2][1]": where in the nested table we are (path[0..depth-1], 1-based). */
static const char *push_path(lua_State *L, const lua_Integer *path, int depth) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < depth; i++) {
    lua_pushfstring(L, "[%I]", (LUAI_UACINT)path[i]);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* The shape of a nested table: the lengths along its first elements. */
static int table_shape(lua_State *L, int idx, int64_t *shape) {
  int ndim = 0;
  lua_pushvalue(L, idx);
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (ndim == DNN_MAX_DIMS) luaL_error(L, "dnn.tensor: nested table deeper than %d levels", DNN_MAX_DIMS);
    int64_t n = (int64_t)lua_rawlen(L, -1);
    shape[ndim++] = n;
    if (n == 0) break;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return ndim;
}

/* Copies the table on top into out, checking that every level has the
 * shape's length and that leaves are numbers. */
static void fill_from_table(lua_State *L, int depth, int ndim, const int64_t *shape, float **out, lua_Integer *path) {
  int64_t n = (int64_t)lua_rawlen(L, -1);
  if (n != shape[depth])
    luaL_error(L, "dnn.tensor: ragged nested table at %s: expected %I elements, got %I", push_path(L, path, depth),
               (LUAI_UACINT)shape[depth], (LUAI_UACINT)n);
  luaL_checkstack(L, 4, "dnn.tensor: nested table too deep");
  for (int64_t i = 1; i <= n; i++) {
    path[depth] = i;
    int type = lua_rawgeti(L, -1, i);
    if (depth + 1 < ndim) {
      if (type != LUA_TTABLE)
        luaL_error(L, "dnn.tensor: ragged nested table at %s: expected a table of %I elements, got %s",
                   push_path(L, path, depth + 1), (LUAI_UACINT)shape[depth + 1], type_name(L, -1));
      fill_from_table(L, depth + 1, ndim, shape, out, path);
    } else {
      if (type != LUA_TNUMBER)
        luaL_error(L, "dnn.tensor: expected a number at %s, got %s", push_path(L, path, depth + 1), type_name(L, -1));
      *(*out)++ = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
  }
}

/* Pushes a new tensor holding the nested table at idx. The tensor is pushed
 * (owned by Lua) before it is filled, so a bad element can raise safely. */
static dnn_tensor *push_from_table(lua_State *L, int idx) {
  int64_t shape[DNN_MAX_DIMS];
  idx = lua_absindex(L, idx);
  int ndim = table_shape(L, idx, shape);
  ldnn_push_tensor(L, dnn_empty(ndim, shape));
  dnn_tensor *t = ldnn_to_tensor(L, -1);
  float *out = dnn_data(t);
  lua_Integer path[DNN_MAX_DIMS];
  lua_pushvalue(L, idx);
  if (ndim > 0) fill_from_table(L, 0, ndim, shape, &out, path);
  lua_pop(L, 1);
  return t;
}

/* dnn.tensor(nested tables | number | tensor[, opts]): always a new leaf. */
static int l_tensor(lua_State *L) {
  int opts = trailing_opts(L, 2);
  int type = lua_type(L, 1);
  if (!opts && type == LUA_TTABLE) opts = 1; /* dnn.tensor{{1, 2}, requires_grad = true} */
  bool rg = creator_opts(L, opts);
  dnn_tensor *src = ldnn_to_tensor(L, 1);
  if (src) {
    dnn_tensor *t = dnn_empty(src->ndim, src->shape);
    if (t) dnn_gather_to(src, dnn_data(t));
    return push_new(L, t, rg);
  }
  if (type == LUA_TNUMBER) return push_new(L, dnn_scalar((float)lua_tonumber(L, 1)), rg);
  if (type != LUA_TTABLE) type_error(L, 1, "nested table, number or tensor");
  push_from_table(L, 1)->requires_grad = rg;
  return 1;
}

/* An index argument: a tensor, or a (nested) table of ids made into one. */
static dnn_tensor *check_index(lua_State *L, int arg) {
  dnn_tensor *t = ldnn_to_tensor(L, arg);
  if (t) return t;
  if (lua_type(L, arg) != LUA_TTABLE) type_error(L, arg, "tensor or table of indices");
  return push_from_table(L, arg);
}

/* ---- joining ---- */

/* The tensors of the Lua array at arg, in a buffer owned by the stack. */
static dnn_tensor **check_tensor_list(lua_State *L, int arg, int *n) {
  if (lua_type(L, arg) != LUA_TTABLE) type_error(L, arg, "table of tensors");
  lua_Unsigned len = lua_rawlen(L, arg);
  if (len == 0) luaL_argerror(L, arg, "expected a non-empty table of tensors, got an empty one");
  if (len > 1u << 24) luaL_argerror(L, arg, "too many tensors");
  dnn_tensor **ts = lua_newuserdatauv(L, len * sizeof *ts, 0);
  for (lua_Unsigned i = 1; i <= len; i++) {
    lua_rawgeti(L, arg, (lua_Integer)i);
    ts[i - 1] = ldnn_to_tensor(L, -1);
    if (!ts[i - 1])
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "expected a table of tensors, got %s at [%d]", type_name(L, -1), (int)i));
    lua_pop(L, 1); /* the table keeps it alive */
  }
  *n = (int)len;
  return ts;
}

static int l_cat(lua_State *L) {
  int n;
  lua_settop(L, 2); /* the list buffer goes above the arguments */
  dnn_tensor **ts = check_tensor_list(L, 1, &n);
  int dim = lua_isnoneornil(L, 2) ? 0 : ldnn_check_dim(L, 2, ts[0]->ndim);
  ldnn_push_tensor(L, dnn_cat(n, ts, dim));
  return 1;
}

static int l_stack(lua_State *L) {
  int n;
  lua_settop(L, 2); /* the list buffer goes above the arguments */
  dnn_tensor **ts = check_tensor_list(L, 1, &n);
  int dim = lua_isnoneornil(L, 2) ? 0 : ldnn_check_dim_inclusive(L, 2, ts[0]->ndim);
  ldnn_push_tensor(L, dnn_stack(n, ts, dim));
  return 1;
}

static int l_one_hot(lua_State *L) {
  lua_Integer n = check_int(L, 2);
  if (n < 1) luaL_argerror(L, 2, lua_pushfstring(L, "expected a class count >= 1, got %I", (LUAI_UACINT)n));
  dnn_tensor *labels = check_index(L, 1);
  ldnn_push_tensor(L, dnn_one_hot(labels, n, 1));
  return 1;
}

/* A freed tensor is still a tensor (using it raises "tensor was freed"). */
static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, ldnn_tensor_handle(L, 1) != NULL);
  return 1;
}

/* ---- elementwise ---- */

typedef enum { AR_ADD, AR_SUB, AR_MUL, AR_DIV, AR_POW } arith_op;

/* t op s as alpha t + beta, for the ops affine in t (all but pow): what
 * t + 1 computes and what t:add_(1) writes in place. */
static bool affine_of(arith_op op, double s, float *alpha, float *beta) {
  *alpha = (float)(op == AR_MUL ? s : op == AR_DIV ? 1 / s : 1);
  *beta = (float)(op == AR_ADD ? s : op == AR_SUB ? -s : 0);
  return op != AR_POW;
}

/* a op b where either may be a number; a number never becomes a tensor
 * (dnn_affine and friends take it as a scalar). */
static dnn_tensor *arith(lua_State *L, arith_op op) {
  dnn_tensor *a = ldnn_to_tensor(L, 1), *b = ldnn_to_tensor(L, 2);
  if (a && b) {
    switch (op) {
      case AR_ADD:
        return dnn_add(a, b);
      case AR_SUB:
        return dnn_sub(a, b);
      case AR_MUL:
        return dnn_mul(a, b);
      case AR_DIV:
        return dnn_div(a, b);
      case AR_POW:
        return dnn_pow(a, b);
    }
  }
  if (a && lua_type(L, 2) == LUA_TNUMBER) {
    double s = lua_tonumber(L, 2);
    float alpha, beta;
    return affine_of(op, s, &alpha, &beta) ? dnn_affine(a, alpha, beta) : dnn_pow_scalar(a, (float)s);
  }
  if (b && lua_type(L, 1) == LUA_TNUMBER) {
    double s = lua_tonumber(L, 1);
    switch (op) {
      case AR_ADD:
        return dnn_affine(b, 1, (float)s);
      case AR_SUB:
        return dnn_affine(b, -1, (float)s);
      case AR_MUL:
        return dnn_affine(b, (float)s, 0);
      case AR_DIV:
        return dnn_rdiv_scalar((float)s, b);
      case AR_POW:
        return dnn_rpow_scalar((float)s, b);
    }
  }
  type_error(L, a ? 2 : 1, "tensor or number");
  return NULL;
}

static int l_arith(lua_State *L) {
  ldnn_push_tensor(L, arith(L, (arith_op)lua_tointeger(L, lua_upvalueindex(1))));
  return 1;
}

/* Each arithmetic op is a method (t:add(u)) and an operator (t + u). */
static const struct {
  const char *method, *metamethod;
  arith_op op;
} ariths[] = {{"add", "__add", AR_ADD},
              {"sub", "__sub", AR_SUB},
              {"mul", "__mul", AR_MUL},
              {"div", "__div", AR_DIV},
              {"pow", "__pow", AR_POW}};

static int l_unary(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  dnn_unary_op op = (dnn_unary_op)lua_tointeger(L, lua_upvalueindex(1));
  double param = luaL_optnumber(L, 2, lua_tonumber(L, lua_upvalueindex(2)));
  if (!isfinite(param)) luaL_argerror(L, 2, lua_pushfstring(L, "expected a finite number, got %f", param));
  ldnn_push_tensor(L, dnn_unary(op, t, (float)param));
  return 1;
}

static int l_unm(lua_State *L) {
  ldnn_push_tensor(L, dnn_unary(DNN_UNARY_NEG, ldnn_check_tensor(L, 1), 0));
  return 1;
}

static dnn_tensor *clamp_of(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  double lo = lua_isnoneornil(L, 2) ? -INFINITY : check_num(L, 2);
  double hi = lua_isnoneornil(L, 3) ? INFINITY : check_num(L, 3);
  if (lo > hi) luaL_argerror(L, 3, lua_pushfstring(L, "expected max >= min %f, got %f", lo, hi));
  return dnn_clamp(t, (float)lo, (float)hi);
}

static int l_clamp(lua_State *L) {
  ldnn_push_tensor(L, clamp_of(L));
  return 1;
}

/* t:add_(u) and friends: the op computed from t's old self (an alias that
 * keeps t's history), its result written into t, which takes over the op's
 * history when it was recorded (PyTorch's in-place ops). In the graph the
 * old self is a copy, since the write would change what the op saved. */
static int inplace(lua_State *L, const char *fn, dnn_tensor *(*compute)(lua_State *L, int op), int op) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_check_status(L, dnn_check_inplace(fn, t));
  int top = lua_gettop(L);
  lua_pushvalue(L, 1); /* t, returned */
  dnn_tensor *src = dnn_inplace_source(t);
  if (src && src->requires_grad && dnn_grad_enabled()) {
    dnn_tensor *copy = dnn_clone(src);
    dnn_tensor_release(src);
    src = copy;
  }
  ldnn_push_tensor(L, src); /* owned by Lua from here; raises when NULL */
  lua_replace(L, 1);
  dnn_tensor *result = compute(L, op);
  if (!result) return ldnn_raise(L);
  dnn_status st = dnn_inplace_assign(fn, t, result);
  dnn_tensor_release(result);
  ldnn_check_status(L, st);
  lua_settop(L, top + 1);
  return 1;
}

static dnn_tensor *arith_op_of(lua_State *L, int op) { return arith(L, (arith_op)op); }
static dnn_tensor *clamp_op_of(lua_State *L, int op) {
  (void)op;
  return clamp_of(L);
}

static int l_arith_inplace(lua_State *L) {
  static const char *const names[] = {"add_", "sub_", "mul_", "div_", "pow_"};
  int op = (int)lua_tointeger(L, lua_upvalueindex(1));
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  float alpha, beta; /* with a number, t's own storage where nothing is recorded */
  if (lua_type(L, 2) == LUA_TNUMBER && affine_of((arith_op)op, lua_tonumber(L, 2), &alpha, &beta) &&
      dnn_affine_in_place(t, alpha, beta)) {
    lua_settop(L, 1);
    return 1;
  }
  return inplace(L, names[op], arith_op_of, op);
}

static int l_clamp_inplace(lua_State *L) { return inplace(L, "clamp_", clamp_op_of, 0); }

static int l_compare(lua_State *L) {
  dnn_cmp cmp = (dnn_cmp)lua_tointeger(L, lua_upvalueindex(1));
  dnn_tensor *a = ldnn_check_tensor(L, 1), *b = ldnn_to_tensor(L, 2);
  if (b) {
    ldnn_push_tensor(L, dnn_compare(cmp, a, b));
  } else {
    if (lua_type(L, 2) != LUA_TNUMBER) type_error(L, 2, "tensor or number");
    ldnn_push_tensor(L, dnn_compare_scalar(cmp, a, (float)lua_tonumber(L, 2)));
  }
  return 1;
}

static int l_maximum(lua_State *L) {
  dnn_tensor *a = ldnn_check_tensor(L, 1);
  if (!ldnn_to_tensor(L, 2) && lua_type(L, 2) != LUA_TNUMBER) type_error(L, 2, "tensor or number");
  dnn_tensor *b = ldnn_check_tensor_or_number(L, 2);
  ldnn_push_tensor(L, lua_tointeger(L, lua_upvalueindex(1)) ? dnn_maximum(a, b) : dnn_minimum(a, b));
  return 1;
}

static int l_softmax(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int dim = lua_isnoneornil(L, 2) ? (t->ndim > 0 ? t->ndim - 1 : 0) : ldnn_check_dim(L, 2, t->ndim);
  ldnn_push_tensor(L, lua_tointeger(L, lua_upvalueindex(1)) ? dnn_log_softmax(t, dim) : dnn_softmax(t, dim));
  return 1;
}

/* ---- reductions ---- */

typedef enum { RD_SUM, RD_MEAN, RD_VAR, RD_MAX, RD_MIN, RD_ARGMAX, RD_ARGMIN } reduce_op;

/* t:op([dim[, keepdim]]): no dim reduces over every element. */
static int l_reduce(lua_State *L) {
  reduce_op op = (reduce_op)lua_tointeger(L, lua_upvalueindex(1));
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  dnn_tensor *b = ldnn_to_tensor(L, 2);
  if ((op == RD_MAX || op == RD_MIN) && b) { /* t:max(u) is elementwise, as torch.max(a, b) */
    ldnn_push_tensor(L, op == RD_MAX ? dnn_maximum(t, b) : dnn_minimum(t, b));
    return 1;
  }
  int dim = lua_isnoneornil(L, 2) ? DNN_ALL_DIMS : ldnn_check_dim(L, 2, t->ndim);
  bool keep = opt_bool_arg(L, 3, false);
  switch (op) {
    case RD_SUM:
      ldnn_push_tensor(L, dnn_sum(t, dim, keep));
      return 1;
    case RD_MEAN:
      ldnn_push_tensor(L, dnn_mean(t, dim, keep));
      return 1;
    case RD_VAR: {
      /* population variance by default, as Keras (tf.math.reduce_variance) and NumPy */
      lua_Integer correction = lua_isnoneornil(L, 4) ? 0 : check_int(L, 4);
      if (correction < 0) luaL_argerror(L, 4, "expected a correction >= 0");
      ldnn_push_tensor(L, dnn_var(t, dim, keep, (int)correction));
      return 1;
    }
    case RD_ARGMAX:
      ldnn_push_tensor(L, dnn_argmax(t, dim, keep, 1));
      return 1;
    case RD_ARGMIN:
      ldnn_push_tensor(L, dnn_argmin(t, dim, keep, 1));
      return 1;
    case RD_MAX:
    case RD_MIN:
      ldnn_push_tensor(L, op == RD_MAX ? dnn_max(t, dim, keep) : dnn_min(t, dim, keep));
      if (dim == DNN_ALL_DIMS) return 1;
      /* over a dim, the 1-based positions come second, as torch.max(t, dim) */
      ldnn_push_tensor(L, op == RD_MAX ? dnn_argmax(t, dim, keep, 1) : dnn_argmin(t, dim, keep, 1));
      return 2;
  }
  return 0;
}

/* ---- linear algebra, indexing ---- */

static int l_matmul(lua_State *L) {
  dnn_tensor *a = ldnn_check_tensor(L, 1), *b = ldnn_check_tensor(L, 2);
  ldnn_push_tensor(L, dnn_matmul(a, b));
  return 1;
}

/* t:op(dim, index) for the ops that read t along dim at 1-based positions. */
static int push_indexed(lua_State *L, dnn_tensor *(*op)(dnn_tensor *t, int dim, dnn_tensor *index, int base)) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int dim = ldnn_check_dim(L, 2, t->ndim);
  dnn_tensor *idx = check_index(L, 3);
  ldnn_push_tensor(L, op(t, dim, idx, 1));
  return 1;
}

static int l_index_select(lua_State *L) { return push_indexed(L, dnn_index_select); }
static int l_gather(lua_State *L) { return push_indexed(L, dnn_gather); }

/* ---- views ---- */

/* A shape from arg on (integers or one table), with nothing after it. */
static int view_shape(lua_State *L, int arg, int64_t *shape) {
  int next;
  int ndim = ldnn_check_shape(L, arg, shape, &next);
  if (ndim == 0 && lua_type(L, arg) == LUA_TTABLE) next = arg + 1; /* {}: the 0-d shape */
  if (next <= lua_gettop(L)) type_error(L, next, "integer size");
  return ndim;
}

/* t:op(shape...) for the ops that take a new shape. */
static int push_reshaped(lua_State *L, dnn_tensor *(*op)(dnn_tensor *t, int ndim, const int64_t *shape)) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int64_t shape[DNN_MAX_DIMS];
  int ndim = view_shape(L, 2, shape);
  ldnn_push_tensor(L, op(t, ndim, shape));
  return 1;
}

static int l_reshape(lua_State *L) { return push_reshaped(L, dnn_reshape); }
static int l_view(lua_State *L) { return push_reshaped(L, dnn_view); }
static int l_expand(lua_State *L) { return push_reshaped(L, dnn_expand); }

static int l_transpose(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (t->ndim < 2 && lua_isnoneornil(L, 2)) return lua_settop(L, 1), 1; /* t:transpose() of a vector is itself */
  int d1 = lua_isnoneornil(L, 2) ? 0 : ldnn_check_dim(L, 2, t->ndim);
  int d2 = lua_isnoneornil(L, 3) ? 1 : ldnn_check_dim(L, 3, t->ndim);
  ldnn_push_tensor(L, dnn_transpose(t, d1, d2));
  return 1;
}

static int l_permute(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int64_t dims[DNN_MAX_DIMS];
  int n = view_shape(L, 2, dims);
  if (n != t->ndim)
    luaL_argerror(L, 2, lua_pushfstring(L, "expected %d dims for a %d-d tensor, got %d", t->ndim, t->ndim, n));
  int perm[DNN_MAX_DIMS];
  bool seen[DNN_MAX_DIMS] = {false};
  for (int i = 0; i < n; i++) {
    int64_t d = dims[i];
    int p = (int)zero_based(d, n);
    if (p < 0) luaL_argerror(L, 2, lua_pushfstring(L, "dim %I out of range [%d, %d]", (LUAI_UACINT)d, -n, n));
    if (seen[p]) luaL_argerror(L, 2, lua_pushfstring(L, "expected each dim once, got dim %d twice", p + 1));
    seen[p] = true;
    perm[i] = p;
  }
  ldnn_push_tensor(L, dnn_permute(t, perm));
  return 1;
}

/* A 1-based position (negative from the end) at arg -> 0-based, in [0, size). */
static int64_t check_position(lua_State *L, int arg, int64_t size) {
  lua_Integer i = check_int(L, arg);
  int64_t p = zero_based(i, size);
  if (p < 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "index %I out of range for size %I", (LUAI_UACINT)i, (LUAI_UACINT)size));
  return p;
}

/* t:split(size[, dim = 1]): views in pieces of size along dim (the last may
 * be smaller), as several results; one node, so backward joins them once. */
static int l_split(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (t->ndim == 0) type_error(L, 1, "tensor with at least 1 dim");
  lua_Integer size = check_int(L, 2);
  if (size < 1) luaL_argerror(L, 2, lua_pushfstring(L, "expected a piece size >= 1, got %I", (LUAI_UACINT)size));
  int dim = lua_isnoneornil(L, 3) ? 0 : ldnn_check_dim(L, 3, t->ndim);
  int64_t len = t->shape[dim], n = len ? (len + size - 1) / size : 1;
  if (n > 4096) luaL_argerror(L, 2, lua_pushfstring(L, "expected at most 4096 pieces, got %I", (LUAI_UACINT)n));
  luaL_checkstack(L, (int)n, "too many pieces");
  dnn_tensor **outs = lua_newuserdatauv(L, (size_t)n * sizeof *outs, 0);
  int count = dnn_split(t, dim, size, outs, (int)n);
  if (count < 0) return ldnn_raise(L);
  for (int i = 0; i < count; i++) ldnn_push_tensor(L, outs[i]);
  return count;
}

static int l_narrow(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (t->ndim == 0) type_error(L, 1, "tensor with at least 1 dim");
  int dim = ldnn_check_dim(L, 2, t->ndim);
  int64_t size = t->shape[dim];
  lua_Integer start = check_int(L, 3), length = check_int(L, 4);
  /* start may be one past the end for an empty slice */
  int64_t s0 = start >= 1 && start <= size + 1 ? start - 1 : start < 0 && start >= -size ? size + start : -1;
  if (s0 < 0)
    luaL_argerror(L, 3, lua_pushfstring(L, "start %I out of range for size %I", (LUAI_UACINT)start, (LUAI_UACINT)size));
  if (length < 0 || s0 + length > size)
    luaL_argerror(L, 4,
                  lua_pushfstring(L, "length %I from start %I exceeds size %I", (LUAI_UACINT)length, (LUAI_UACINT)start,
                                  (LUAI_UACINT)size));
  ldnn_push_tensor(L, dnn_narrow(t, dim, s0, length));
  return 1;
}

static int l_select(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (t->ndim == 0) type_error(L, 1, "tensor with at least 1 dim");
  int dim = ldnn_check_dim(L, 2, t->ndim);
  int64_t i = check_position(L, 3, t->shape[dim]);
  ldnn_push_tensor(L, dnn_select(t, dim, i));
  return 1;
}

static int l_squeeze(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int dim = lua_isnoneornil(L, 2) ? DNN_ALL_DIMS : ldnn_check_dim(L, 2, t->ndim);
  ldnn_push_tensor(L, dnn_squeeze(t, dim));
  return 1;
}

static int l_unsqueeze(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int dim = ldnn_check_dim_inclusive(L, 2, t->ndim);
  ldnn_push_tensor(L, dnn_unsqueeze(t, dim));
  return 1;
}

static int l_contiguous(lua_State *L) {
  ldnn_push_tensor(L, dnn_contiguous(ldnn_check_tensor(L, 1)));
  return 1;
}

static int l_is_contiguous(lua_State *L) {
  lua_pushboolean(L, dnn_is_contiguous(ldnn_check_tensor(L, 1)));
  return 1;
}

static int l_clone(lua_State *L) {
  ldnn_push_tensor(L, dnn_clone(ldnn_check_tensor(L, 1)));
  return 1;
}

/* ---- inspection and conversion ---- */

static int l_numel(lua_State *L) {
  lua_pushinteger(L, dnn_numel(ldnn_check_tensor(L, 1)));
  return 1;
}

#define LDNN_SHAPE_MT "dnn.Shape"

/* A fresh Lua array of the sizes; its metatable only makes it print as
 * {3,2} (print(t.shape) as API.md shows). */
static void push_shape(lua_State *L, const dnn_tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  luaL_setmetatable(L, LDNN_SHAPE_MT);
}

static int shape_tostring(lua_State *L) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '{');
  lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, ',');
    lua_geti(L, 1, i);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  return 1;
}

/* size() is the shape; size(dim) one size. */
static int l_size(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) {
    push_shape(L, t);
    return 1;
  }
  if (t->ndim == 0) type_error(L, 1, "tensor with at least 1 dim");
  lua_pushinteger(L, t->shape[ldnn_check_dim(L, 2, t->ndim)]);
  return 1;
}

static int l_dim(lua_State *L) {
  lua_pushinteger(L, ldnn_check_tensor(L, 1)->ndim);
  return 1;
}

/* The values of t in row-major order, in a buffer owned by the stack. */
static float *values(lua_State *L, const dnn_tensor *t) {
  int64_t n = dnn_numel(t);
  float *buf = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(float), 0);
  dnn_gather_to(t, buf);
  return buf;
}

static void build_table(lua_State *L, const dnn_tensor *t, int d, const float **p) {
  int64_t n = t->shape[d];
  luaL_checkstack(L, 3, "totable: too deep");
  lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
  for (int64_t i = 0; i < n; i++) {
    if (d + 1 == t->ndim)
      lua_pushnumber(L, *(*p)++);
    else
      build_table(L, t, d + 1, p);
    lua_rawseti(L, -2, i + 1);
  }
}

static int l_totable(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  const float *p = values(L, t);
  if (t->ndim == 0)
    lua_pushnumber(L, *p);
  else
    build_table(L, t, 0, &p);
  return 1;
}

static int l_item(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (dnn_numel(t) != 1) {
    char buf[128];
    luaL_argerror(
        L, 1,
        lua_pushfstring(L, "expected a tensor with one element, got shape %s", dnn_shape_str(t, buf, sizeof buf)));
  }
  lua_pushnumber(L, *values(L, t));
  return 1;
}

/* ---- in place ---- */

static int l_fill(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  double v = check_num(L, 2);
  ldnn_check_status(L, dnn_fill(t, (float)v));
  lua_settop(L, 1);
  return 1;
}

static int l_zero(lua_State *L) {
  ldnn_check_status(L, dnn_fill(ldnn_check_tensor(L, 1), 0));
  lua_settop(L, 1);
  return 1;
}

static int l_copy(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1), *src = ldnn_to_tensor(L, 2);
  if (src)
    ldnn_check_status(L, dnn_copy(t, src));
  else
    ldnn_check_status(L, dnn_fill(t, (float)check_num(L, 2)));
  lua_settop(L, 1);
  return 1;
}

/* ---- autodiff ---- */

/* t:backward([grad][, {retain_graph, create_graph}]) */
static int l_backward(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int opts = 3;
  dnn_tensor *grad = NULL;
  if (lua_istable(L, 2) && !ldnn_to_tensor(L, 2))
    opts = 2;
  else if (!lua_isnoneornil(L, 2))
    grad = ldnn_check_tensor(L, 2);
  ldnn_check_options(L, opts, "backward", (const char *const[]){"retain_graph", "create_graph", NULL});
  dnn_backward_opts o = {.retain_graph = ldnn_opt_boolean(L, opts, "retain_graph", 0),
                         .create_graph = ldnn_opt_boolean(L, opts, "create_graph", 0)};
  ldnn_check_status(L, dnn_backward_ex(1, &t, &grad, &o));
  return 0;
}

static int l_detach(lua_State *L) {
  ldnn_push_tensor(L, dnn_detach(ldnn_check_tensor(L, 1)));
  return 1;
}

static int l_requires_grad_(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  ldnn_check_status(L, dnn_set_requires_grad(t, opt_bool_arg(L, 2, true)));
  lua_settop(L, 1);
  return 1;
}

/* ---- the metatable ---- */

/* __gc, and __close (`local t <close> = ...` frees the handle at the end of
 * the scope); either may run twice. Later uses raise "tensor was freed". */
static int t_gc(lua_State *L) {
  dnn_tensor **p = ldnn_tensor_handle(L, 1);
  if (!p) return luaL_typeerror(L, 1, "tensor");
  dnn_tensor_release(*p);
  *p = NULL;
  return 0;
}

/* t[i] on dim 1: i 1-based, negative from the end. */
static int64_t check_key_index(lua_State *L, const dnn_tensor *t, int key) {
  int isint;
  lua_Integer i = lua_tointegerx(L, key, &isint);
  if (!isint) luaL_error(L, "dnn.Tensor: expected an integer index, got %s", lua_tostring(L, key));
  if (t->ndim == 0) luaL_error(L, "dnn.Tensor: cannot index a 0-d tensor (use item())");
  int64_t size = t->shape[0], p = zero_based(i, size);
  if (p < 0)
    luaL_error(L, "dnn.Tensor: index %I out of range for dim 1 of size %I (expected 1..%I or -%I..-1)", (LUAI_UACINT)i,
               (LUAI_UACINT)size, (LUAI_UACINT)size, (LUAI_UACINT)size);
  return p;
}

static int t_index(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  int ktype = lua_type(L, 2);
  if (ktype == LUA_TNUMBER) {
    ldnn_push_tensor(L, dnn_select(t, 0, check_key_index(L, t, 2)));
    return 1;
  }
  if (ktype != LUA_TSTRING)
    return luaL_error(L, "dnn.Tensor: expected an integer index or a name, got %s", luaL_typename(L, 2));
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1; /* a method */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "shape") == 0) {
    push_shape(L, t);
  } else if (strcmp(k, "ndim") == 0) {
    lua_pushinteger(L, t->ndim);
  } else if (strcmp(k, "dtype") == 0) {
    lua_pushliteral(L, "float32");
  } else if (strcmp(k, "requires_grad") == 0) {
    lua_pushboolean(L, t->requires_grad);
  } else if (strcmp(k, "grad") == 0) {
    if (t->grad)
      ldnn_push_tensor(L, dnn_tensor_retain(t->grad));
    else
      lua_pushnil(L);
  } else if (strcmp(k, "grad_fn") == 0) {
    if (t->grad_fn)
      lua_pushstring(L, t->grad_fn->op);
    else
      lua_pushnil(L);
  } else if (strcmp(k, "is_leaf") == 0) {
    lua_pushboolean(L, t->grad_fn == NULL);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

static int t_newindex(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    int64_t i = check_key_index(L, t, 2);
    dnn_tensor *src = ldnn_to_tensor(L, 3);
    if (!src && lua_type(L, 3) != LUA_TNUMBER)
      return luaL_error(L, "dnn.Tensor: t[i] = v expects a number or a tensor, got %s", luaL_typename(L, 3));
    dnn_tensor *slot = dnn_select(t, 0, i);
    if (!slot) return ldnn_raise(L);
    dnn_status st = src ? dnn_copy(slot, src) : dnn_fill(slot, (float)lua_tonumber(L, 3));
    dnn_tensor_release(slot);
    ldnn_check_status(L, st);
    return 0;
  }
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (k && strcmp(k, "requires_grad") == 0) {
    if (!lua_isboolean(L, 3))
      return luaL_error(L, "dnn.Tensor: requires_grad expects a boolean, got %s", luaL_typename(L, 3));
    ldnn_check_status(L, dnn_set_requires_grad(t, lua_toboolean(L, 3)));
    return 0;
  }
  if (k && strcmp(k, "grad") == 0) { /* t.grad = nil clears it; a tensor of t's shape replaces it */
    dnn_tensor *g = ldnn_to_tensor(L, 3);
    if (!g && !lua_isnil(L, 3))
      return luaL_error(L, "dnn.Tensor: grad expects a tensor or nil, got %s", luaL_typename(L, 3));
    if (g && !dnn_same_shape(g, t)) {
      char a[96], b[96];
      return luaL_error(L, "dnn.Tensor: grad expects shape %s, got %s", dnn_shape_str(t, a, sizeof a),
                        dnn_shape_str(g, b, sizeof b));
    }
    dnn_tensor_release(t->grad);
    t->grad = dnn_tensor_retain(g);
    return 0;
  }
  return luaL_error(L, "dnn.Tensor: cannot set field '%s' (a tensor has no user fields)", luaL_tolstring(L, 2, NULL));
}

static int t_len(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  if (t->ndim == 0) return luaL_error(L, "dnn.Tensor: a 0-d tensor has no length (use numel())");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}

/* Lua's == on userdata can only give one boolean: identity. Two handles on
 * the same tensor (t.grad read twice) are equal. Elementwise: t:eq(u). */
static int t_eq(lua_State *L) {
  lua_pushboolean(L, ldnn_to_tensor(L, 1) == ldnn_to_tensor(L, 2));
  return 1;
}

static int t_order(lua_State *L) {
  return luaL_error(L,
                    "dnn.Tensor: < and <= cannot compare tensors elementwise; use t:lt(u), t:le(u), t:gt(u), t:ge(u)");
}

/* Fallback text when the Lua printer (dnn/tensor.lua) is not loaded. */
static int t_tostring(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  char buf[128];
  lua_pushfstring(L, "dnn.Tensor%s", dnn_shape_str(t, buf, sizeof buf));
  return 1;
}

static const luaL_Reg methods[] = {
    {"numel", l_numel},
    {"size", l_size},
    {"dim", l_dim},
    {"reshape", l_reshape},
    {"view", l_view},
    {"transpose", l_transpose},
    {"permute", l_permute},
    {"narrow", l_narrow},
    {"select", l_select},
    {"expand", l_expand},
    {"squeeze", l_squeeze},
    {"unsqueeze", l_unsqueeze},
    {"contiguous", l_contiguous},
    {"is_contiguous", l_is_contiguous},
    {"clone", l_clone},
    {"totable", l_totable},
    {"item", l_item},
    {"fill", l_fill},
    {"zero", l_zero},
    {"copy", l_copy},
    {"clamp", l_clamp},
    {"clamp_", l_clamp_inplace},
    {"split", l_split},
    {"matmul", l_matmul},
    {"index_select", l_index_select},
    {"gather", l_gather},
    {"one_hot", l_one_hot},
    {"backward", l_backward},
    {"detach", l_detach},
    {"requires_grad_", l_requires_grad_},
    {NULL, NULL},
};

/* Methods that are also functions of dnn: dnn.exp(t) as t:exp(). */
static const char *const functions[] = {
    "add",     "sub",          "mul",          "div",     "pow",       "neg",         "exp",    "log",    "sqrt",
    "abs",     "relu",         "leaky_relu",   "sigmoid", "tanh",      "elu",         "selu",   "gelu",   "softplus",
    "swish",   "hard_sigmoid", "square",       "clamp",   "softmax",   "log_softmax", "eq",     "ne",     "lt",
    "le",      "gt",           "ge",           "maximum", "minimum",   "sum",         "mean",   "var",    "max",
    "min",     "argmax",       "argmin",       "reshape", "transpose", "permute",     "narrow", "select", "expand",
    "squeeze", "unsqueeze",    "index_select", "gather",  "detach",    "clone",       "numel",  NULL,
};

static void set_closure(lua_State *L, const char *name, lua_CFunction f, lua_Integer up) {
  lua_pushinteger(L, up);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

/* Fills the methods table on top. */
static void add_methods(lua_State *L) {
  luaL_setfuncs(L, methods, 0);
  for (size_t i = 0; i < sizeof ariths / sizeof *ariths; i++) set_closure(L, ariths[i].method, l_arith, ariths[i].op);
  static const char *const inplace_names[] = {"add_", "sub_", "mul_", "div_"};
  for (int op = AR_ADD; op <= AR_DIV; op++) set_closure(L, inplace_names[op], l_arith_inplace, op);

  /* unary ops; the number is the default of the optional parameter (Keras's) */
  static const struct {
    const char *name;
    dnn_unary_op op;
    double param;
  } unaries[] = {
      {"neg", DNN_UNARY_NEG, 0},
      {"exp", DNN_UNARY_EXP, 0},
      {"log", DNN_UNARY_LOG, 0},
      {"sqrt", DNN_UNARY_SQRT, 0},
      {"abs", DNN_UNARY_ABS, 0},
      {"relu", DNN_UNARY_RELU, 0},
      {"leaky_relu", DNN_UNARY_LEAKY_RELU, 0.2},
      {"sigmoid", DNN_UNARY_SIGMOID, 0},
      {"tanh", DNN_UNARY_TANH, 0},
      {"elu", DNN_UNARY_ELU, 1.0},
      {"selu", DNN_UNARY_SELU, 0},
      {"gelu", DNN_UNARY_GELU, 0},
      {"softplus", DNN_UNARY_SOFTPLUS, 0},
      {"swish", DNN_UNARY_SWISH, 0},
      {"hard_sigmoid", DNN_UNARY_HARD_SIGMOID, 0},
      {"square", DNN_UNARY_SQUARE, 0},
  };
  for (size_t i = 0; i < sizeof unaries / sizeof *unaries; i++) {
    lua_pushinteger(L, unaries[i].op);
    lua_pushnumber(L, unaries[i].param);
    lua_pushcclosure(L, l_unary, 2);
    lua_setfield(L, -2, unaries[i].name);
  }

  static const struct {
    const char *name;
    dnn_cmp cmp;
  } cmps[] = {{"eq", DNN_CMP_EQ}, {"ne", DNN_CMP_NE}, {"lt", DNN_CMP_LT},
              {"le", DNN_CMP_LE}, {"gt", DNN_CMP_GT}, {"ge", DNN_CMP_GE}};
  for (size_t i = 0; i < sizeof cmps / sizeof *cmps; i++) set_closure(L, cmps[i].name, l_compare, cmps[i].cmp);

  static const struct {
    const char *name;
    reduce_op op;
  } reductions[] = {{"sum", RD_SUM}, {"mean", RD_MEAN},     {"var", RD_VAR},      {"max", RD_MAX},
                    {"min", RD_MIN}, {"argmax", RD_ARGMAX}, {"argmin", RD_ARGMIN}};
  for (size_t i = 0; i < sizeof reductions / sizeof *reductions; i++)
    set_closure(L, reductions[i].name, l_reduce, reductions[i].op);

  set_closure(L, "maximum", l_maximum, 1);
  set_closure(L, "minimum", l_maximum, 0);
  set_closure(L, "softmax", l_softmax, 0);
  set_closure(L, "log_softmax", l_softmax, 1);
}

static const luaL_Reg creators[] = {
    {"tensor", l_tensor},
    {"full", l_full},
    {"arange", l_arange},
    {"linspace", l_linspace},
    {"eye", l_eye},
    {"cat", l_cat},
    {"stack", l_stack},
    {"one_hot", l_one_hot},
    {"matmul", l_matmul},
    {"is_tensor", l_is_tensor},
    {"manual_seed", l_manual_seed},
    {NULL, NULL},
};

void ldnn_open_tensor(lua_State *L) {
  int lib = lua_gettop(L);
  luaL_setfuncs(L, creators, 0);
  set_closure(L, "zeros", l_create, MK_ZEROS);
  set_closure(L, "ones", l_create, MK_ONES);
  set_closure(L, "rand", l_create, MK_RAND);
  set_closure(L, "randn", l_create, MK_RANDN);

  /* the methods table, also dnn.Tensor so Lua code can add methods */
  lua_newtable(L);
  add_methods(L);
  int meths = lua_gettop(L);
  for (const char *const *f = functions; *f; f++) {
    lua_getfield(L, meths, *f);
    lua_setfield(L, lib, *f);
  }
  lua_pushvalue(L, meths);
  lua_setfield(L, lib, "Tensor");

  luaL_newmetatable(L, LDNN_TENSOR_MT);
  ldnn_keep_tensor_metatable(L);
  lua_pushvalue(L, meths);
  lua_pushcclosure(L, t_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, meths);
  lua_setfield(L, -2, "__methods");
  static const luaL_Reg meta[] = {
      {"__gc", t_gc}, {"__close", t_gc}, {"__newindex", t_newindex}, {"__len", t_len},           {"__unm", l_unm},
      {"__eq", t_eq}, {"__lt", t_order}, {"__le", t_order},          {"__tostring", t_tostring}, {NULL, NULL},
  };
  luaL_setfuncs(L, meta, 0);
  /* getmetatable(t) gives false, so no script can call __gc itself; the
   * library reaches the table through the registry (debug.getregistry()) */
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  for (size_t i = 0; i < sizeof ariths / sizeof *ariths; i++)
    set_closure(L, ariths[i].metamethod, l_arith, ariths[i].op);
  luaL_newmetatable(L, LDNN_SHAPE_MT);
  lua_pushcfunction(L, shape_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_settop(L, lib);
}
