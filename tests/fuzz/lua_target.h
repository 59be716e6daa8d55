/* The fuzz targets of the loaders written in Lua (model files, checkpoints):
 * one dnnlua state for the whole run, the input handed to a Lua function
 * (a string, NULs and all) in a pcall. A Lua error is a refusal, as it
 * should be; a crash or a sanitizer report is a finding. */
#ifndef FUZZ_LUA_TARGET_H
#define FUZZ_LUA_TARGET_H

#include <dnnlua.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>

/* Lua code for the targets' setup: FUZZ_PATH names a file in /dev/shm when
 * there is one (the safetensors writer syncs its file to disk: on a disk
 * that alone would cost tens of milliseconds per input), removed at exit. */
static const char *FUZZ_PRELUDE =
    "local dir = io.open('/dev/shm/.', 'r') and '/dev/shm' or (os.getenv('TMPDIR') or '/tmp')\n"
    "FUZZ_PATH = string.format('%s/dnnlua_fuzz_%s', dir, tostring({}):match('0x(%x+)'))\n";

static dnnlua_State *fuzz_state;

static void fuzz_remove_file(void) { dnnlua_dostring(fuzz_state, "os.remove(FUZZ_PATH)"); }

/* The state, made on the first call by running the prelude and `setup`,
 * which defines the global function fuzz_one(bytes). */
static lua_State *fuzz_lua(const char *setup) {
  dnnlua_State *S = fuzz_state;
  if (!S) {
    S = fuzz_state = dnnlua_open();
    if (!S || dnnlua_dostring(S, FUZZ_PRELUDE) != DNNLUA_OK || dnnlua_dostring(S, setup) != DNNLUA_OK) {
      fprintf(stderr, "fuzz target setup failed: %s\n", S ? dnnlua_errmsg(S) : dnnlua_open_errmsg());
      abort();
    }
    atexit(fuzz_remove_file);
  }
  return dnnlua_lua_state(S);
}

static int fuzz_lua_one(const char *setup, const unsigned char *data, size_t size) {
  lua_State *L = fuzz_lua(setup);
  lua_getglobal(L, "fuzz_one");
  lua_pushlstring(L, (const char *)data, size);
  lua_pcall(L, 1, 0, 0);
  lua_settop(L, 0);
  return 0;
}

#endif
