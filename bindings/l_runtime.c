/* Bindings for the runtime: the thread budget (core parallel.h), random
 * permutations (random.h) and a wall clock for timing loops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* get_rng_state(): the PRNG's whole state (this thread's) as a string, for
 * checkpoints: four 64-bit words in hex, the spare normal as a hex float, and
 * whether it is pending. set_rng_state(s) restores it exactly. */
static int l_get_rng_state(lua_State *L) {
  dnn_rng_state st;
  dnn_rng_get_state(&st);
  char buf[160];
  snprintf(buf, sizeof buf, "%016llx%016llx%016llx%016llx %a %d", (unsigned long long)st.s[0],
           (unsigned long long)st.s[1], (unsigned long long)st.s[2], (unsigned long long)st.s[3], st.spare_normal,
           st.has_spare ? 1 : 0);
  lua_pushstring(L, buf);
  return 1;
}

static int l_set_rng_state(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  dnn_rng_state st;
  int ok = len > 66 && s[64] == ' ';
  for (int i = 0; ok && i < 4; i++) {
    char word[17];
    memcpy(word, s + 16 * i, 16);
    word[16] = '\0';
    char *end;
    st.s[i] = (uint64_t)strtoull(word, &end, 16);
    ok = *end == '\0' && strspn(word, "0123456789abcdef") == 16;
  }
  char *end = NULL;
  if (ok) st.spare_normal = strtod(s + 65, &end);
  ok = ok && end != s + 65 && end[0] == ' ' && (end[1] == '0' || end[1] == '1') && end[2] == '\0';
  if (!ok) return luaL_argerror(L, 1, "expected a state string from dnn.get_rng_state()");
  st.has_spare = end[1] == '1';
  if (!st.s[0] && !st.s[1] && !st.s[2] && !st.s[3]) return luaL_argerror(L, 1, "the all-zero state is not a state");
  dnn_rng_set_state(&st);
  return 0;
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
                                   {"get_rng_state", l_get_rng_state},
                                   {"set_rng_state", l_set_rng_state},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
