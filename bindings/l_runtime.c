/* Bindings for the runtime: the thread budget (core parallel.h), random
 * permutations (random.h) and a wall clock for timing loops. */
#include <time.h>
#include <unistd.h>

#include "ldnn.h"

static int l_set_num_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 1, 1, "expected a thread count >= 1");
  dnn_set_num_threads((int)n);
  return 0;
}

static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, dnn_get_num_threads());
  return 1;
}

/* randperm(n): a random permutation of 1..n, following dnn.manual_seed. */
static int l_randperm(lua_State *L) {
  ldnn_push_tensor(L, dnn_randperm(luaL_checkinteger(L, 1), 1));
  return 1;
}

/* Seconds on a monotonic clock, for timing (os.clock counts CPU time of all threads). */
static int l_wall_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* isatty(fd): whether a file descriptor is a terminal (fit draws a live progress bar there, one line per epoch
 * into a file or a pipe). */
static int l_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= 1 << 20 && isatty((int)fd));
  return 1;
}

void ldnn_open_runtime(lua_State *L) {
  static const luaL_Reg funcs[] = {{"set_num_threads", l_set_num_threads},
                                   {"get_num_threads", l_get_num_threads},
                                   {"randperm", l_randperm},
                                   {"wall_time", l_wall_time},
                                   {"isatty", l_isatty},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
