/* Bindings for data parallelism over MPI (core distributed.h): the raw
 * collectives, which lua/dnn/distributed.lua wraps as dnn.distributed. */
#include <string.h>

#include "ldnn.h"

/* The Lua-side names of the core's calls, for messages. */
static int raise_dist(lua_State *L) { return luaL_error(L, "dnn.distributed.%s", dnn_errmsg()); }

static void check_dist(lua_State *L, dnn_status st) {
  if (st != DNN_OK) raise_dist(L);
}

static int l_compiled(lua_State *L) {
  lua_pushboolean(L, dnn_dist_compiled());
  return 1;
}

static int l_init(lua_State *L) {
  check_dist(L, dnn_dist_init());
  return 0;
}

static int l_initialized(lua_State *L) {
  lua_pushboolean(L, dnn_dist_initialized());
  return 1;
}

static int l_rank(lua_State *L) {
  lua_pushinteger(L, dnn_dist_rank());
  return 1;
}

static int l_size(lua_State *L) {
  lua_pushinteger(L, dnn_dist_size());
  return 1;
}

static int l_library(lua_State *L) {
  lua_pushstring(L, dnn_dist_library());
  return 1;
}

/* _dist_allreduce(t, op): op one of "sum", "mean", "max", "min". */
static int l_allreduce(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  static const char *const ops[] = {"sum", "mean", "max", "min", NULL};
  int op = luaL_checkoption(L, 2, NULL, ops);
  check_dist(L, dnn_dist_allreduce(t, (dnn_dist_op)op));
  lua_settop(L, 1);
  return 1;
}

static int l_broadcast(lua_State *L) {
  dnn_tensor *t = ldnn_check_tensor(L, 1);
  lua_Integer root = luaL_checkinteger(L, 2);
  luaL_argcheck(L, root >= 0 && root <= 1 << 30, 2, "expected a root rank >= 0");
  check_dist(L, dnn_dist_broadcast(t, (int)root));
  lua_settop(L, 1);
  return 1;
}

static int l_all_gather(lua_State *L) {
  dnn_tensor *out = dnn_dist_all_gather(ldnn_check_tensor(L, 1));
  if (!out) return raise_dist(L);
  ldnn_push_tensor(L, out);
  return 1;
}

static int l_barrier(lua_State *L) {
  check_dist(L, dnn_dist_barrier());
  return 0;
}

/* _dist_allreduce_grads({g1, g2, ...}, scale, bucket_bytes) */
static int l_allreduce_grads(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  float scale = (float)luaL_checknumber(L, 2);
  lua_Integer bucket = luaL_checkinteger(L, 3);
  luaL_argcheck(L, bucket >= 1, 3, "expected a bucket size >= 1 byte");
  int n = (int)luaL_len(L, 1);
  dnn_tensor **grads = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *grads, 0); /* freed with the stack */
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    grads[i] = ldnn_to_tensor(L, -1);
    if (!grads[i])
      return luaL_error(L, "allreduce_grads: expected a tensor at [%d], got %s", i + 1, luaL_typename(L, -1));
    lua_pop(L, 1); /* the table keeps it alive */
  }
  check_dist(L, dnn_dist_allreduce_grads(grads, n, scale, (size_t)bucket));
  return 0;
}

/* ---- the reducer (the gradient step overlapped with backward) ---- */

#define REDUCER_MT "dnn.distributed.Reducer"

static dnn_dist_reducer **check_reducer(lua_State *L, int idx) {
  dnn_dist_reducer **r = luaL_checkudata(L, idx, REDUCER_MT);
  if (!*r) luaL_error(L, "dnn.distributed: the reducer was freed");
  return r;
}

static int reducer_gc(lua_State *L) {
  dnn_dist_reducer **r = luaL_checkudata(L, 1, REDUCER_MT);
  dnn_dist_reducer_free(*r);
  *r = NULL;
  return 0;
}

/* _dist_reducer({p1, p2, ...}, bucket_bytes, first_bucket_bytes): a reducer over the params (collective). */
static int l_reducer(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer bucket = luaL_checkinteger(L, 2), first = luaL_checkinteger(L, 3);
  luaL_argcheck(L, bucket >= 1, 2, "expected a bucket size >= 1 byte");
  luaL_argcheck(L, first >= 1, 3, "expected a bucket size >= 1 byte");
  int n = (int)luaL_len(L, 1);
  dnn_tensor **params = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *params, 0); /* freed with the stack */
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    params[i] = ldnn_to_tensor(L, -1);
    if (!params[i]) return luaL_error(L, "reducer: expected a tensor at [%d], got %s", i + 1, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  dnn_dist_reducer **r = lua_newuserdatauv(L, sizeof *r, 0);
  *r = NULL;
  luaL_setmetatable(L, REDUCER_MT);
  *r = dnn_dist_reducer_new(params, n, (size_t)bucket, (size_t)first);
  if (!*r) return raise_dist(L);
  return 1;
}

/* _dist_reducer_backward(reducer, loss, scale, overlap) */
static int l_reducer_backward(lua_State *L) {
  dnn_dist_reducer **r = check_reducer(L, 1);
  dnn_tensor *root = ldnn_check_tensor(L, 2);
  float scale = (float)luaL_checknumber(L, 3);
  check_dist(L, dnn_dist_reducer_backward(*r, root, scale, lua_toboolean(L, 4)));
  return 0;
}

static int l_reducer_buckets(lua_State *L) {
  lua_pushinteger(L, dnn_dist_reducer_buckets(*check_reducer(L, 1)));
  return 1;
}

/* _dist_timings(reset): {steps, backward, after_backward, wait, buckets_during, buckets_after,
 * buckets_done_in_backward} */
static int l_timings(lua_State *L) {
  dnn_dist_timings t;
  dnn_dist_get_timings(&t, lua_toboolean(L, 1));
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, t.steps);
  lua_setfield(L, -2, "steps");
  lua_pushnumber(L, t.backward);
  lua_setfield(L, -2, "backward");
  lua_pushnumber(L, t.after);
  lua_setfield(L, -2, "after_backward");
  lua_pushnumber(L, t.wait);
  lua_setfield(L, -2, "wait");
  lua_pushinteger(L, t.early);
  lua_setfield(L, -2, "buckets_during");
  lua_pushinteger(L, t.late);
  lua_setfield(L, -2, "buckets_after");
  lua_pushinteger(L, t.done_in_backward);
  lua_setfield(L, -2, "buckets_done_in_backward");
  return 1;
}

/* _dist_abort(msg[, code]): ends the whole job (MPI_Abort) when the world has more than one process; returns otherwise. */
static int l_abort(lua_State *L) {
  const char *msg = luaL_checkstring(L, 1);
  lua_Integer code = luaL_optinteger(L, 2, 1);
  dnn_dist_abort(msg, (int)code);
  return 0;
}

void ldnn_open_distributed(lua_State *L) {
  static const luaL_Reg funcs[] = {{"_dist_compiled", l_compiled},
                                   {"_dist_init", l_init},
                                   {"_dist_initialized", l_initialized},
                                   {"_dist_rank", l_rank},
                                   {"_dist_size", l_size},
                                   {"_dist_library", l_library},
                                   {"_dist_allreduce", l_allreduce},
                                   {"_dist_broadcast", l_broadcast},
                                   {"_dist_all_gather", l_all_gather},
                                   {"_dist_barrier", l_barrier},
                                   {"_dist_allreduce_grads", l_allreduce_grads},
                                   {"_dist_abort", l_abort},
                                   {"_dist_reducer", l_reducer},
                                   {"_dist_reducer_backward", l_reducer_backward},
                                   {"_dist_reducer_buckets", l_reducer_buckets},
                                   {"_dist_timings", l_timings},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  if (luaL_newmetatable(L, REDUCER_MT)) {
    lua_pushcfunction(L, reducer_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}
