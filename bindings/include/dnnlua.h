/* dnnlua.h: embedding dnnlua in a C program.
 *
 * A dnnlua_State is a Lua 5.4 interpreter with the standard libraries and
 * the dnn library loaded (`dnn` is a global, as in the dnnlua program), run
 * by Lua's generational collector. Through it a host runs scripts, calls
 * Lua functions by name, hands float buffers to Lua as tensors without
 * copying, and reads result tensors back.
 *
 *   dnnlua_State *S = dnnlua_open();
 *   if (dnnlua_dofile(S, "model.lua") != DNNLUA_OK) fprintf(stderr, "%s\n", dnnlua_errmsg(S));
 *   int64_t shape[2] = {1, 784};
 *   dnnlua_Tensor *x = dnnlua_tensor_from_buffer(S, pixels, 2, shape, NULL, NULL);
 *   dnnlua_Tensor *y = NULL;
 *   if (dnnlua_call(S, "classify", "t>t", x, &y) == DNNLUA_OK) use(dnnlua_tensor_data(S, y));
 *   dnnlua_tensor_free(S, x), dnnlua_tensor_free(S, y);
 *   dnnlua_close(S);
 *
 * Errors: every function that can fail returns a status (or NULL) and leaves
 * a message for dnnlua_errmsg(S) (for dnnlua_open, dnnlua_open_errmsg()).
 * Nothing here prints, exits or aborts: an error in a script, a bad argument
 * or a failed allocation in Lua comes back as a status, and the state stays
 * usable for the next call.
 *
 * Threads: one state belongs to one thread at a time (a state is not
 * thread-safe). Several states may live in one process, and several threads
 * may each run their own state at the same time: the core's error message,
 * random generator and grad mode are per thread, and so is the collector's
 * pacing of tensor memory. Random draws follow the thread's generator:
 * dnn.manual_seed in a state seeds the thread that runs it.
 *
 * Linking: pkg-config --cflags --libs dnnlua, or in CMake
 * find_package(dnnlua) and target_link_libraries(app PRIVATE dnnlua::dnnlua).
 * The core's own C API (dnn/dnn.h) is installed and linked alongside.
 */
#ifndef DNNLUA_H
#define DNNLUA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DNNLUA_VERSION "0.1.0"

/* Statuses. DNNLUA_OK is 0; the others say what failed. */
enum {
  DNNLUA_OK = 0,
  DNNLUA_ERRRUN = 1, /* a Lua error while running (the message has the traceback) */
  DNNLUA_ERRSYNTAX = 2, /* a script that does not compile */
  DNNLUA_ERRMEM = 3, /* out of memory */
  DNNLUA_ERRFILE = 4, /* a script file that cannot be read */
  DNNLUA_ERRARG = 5 /* a bad argument from the host (NULL state, bad format, wrong result type) */
};

typedef struct dnnlua_State dnnlua_State;
/* A tensor held for the host: a handle to a Lua value in its state. Valid
 * until dnnlua_tensor_free or dnnlua_close, whichever comes first. */
typedef struct dnnlua_Tensor dnnlua_Tensor;

/* A new interpreter with the standard libraries and dnn loaded; NULL if it
 * could not be made (dnnlua_open_errmsg() says why). */
dnnlua_State *dnnlua_open(void);
/* Frees the state, every tensor handle it still holds, and (through Lua's
 * collector) every tensor Lua held: borrowed buffers see their release
 * callbacks run here at the latest. NULL is allowed. */
void dnnlua_close(dnnlua_State *S);
/* The message of the last failed call on S ("" if none). Valid until the
 * next call on S. */
const char *dnnlua_errmsg(const dnnlua_State *S);
/* Why the last dnnlua_open on this thread failed. */
const char *dnnlua_open_errmsg(void);

/* Runs a Lua file / a string of Lua code in the state's globals. Returns a
 * status. Values the chunk returns are dropped. */
int dnnlua_dofile(dnnlua_State *S, const char *path);
int dnnlua_dostring(dnnlua_State *S, const char *code);

/* Calls the Lua function `name` (a global, or a dotted path of fields from
 * a global: "model.predict" calls the field predict of the global model
 * without a self; "dnn.manual_seed" works) with typed arguments and results.
 * fmt lists the arguments' types, then '>', then the results' types:
 *   't'  dnnlua_Tensor *        (result: dnnlua_Tensor ** gets a new handle, the caller frees it)
 *   'd'  double                 (result: double *)
 *   'i'  int64_t                (result: int64_t *)
 *   's'  const char *           (result: const char ** : borrowed, valid until the next call on S)
 *   'b'  int, 0 or 1            (result: int *)
 * Example: dnnlua_call(S, "scale", "td>t", x, 2.0, &y). A result of the
 * wrong type fails with DNNLUA_ERRARG and leaves no handle behind; on any
 * failure the result pointers are not written. */
int dnnlua_call(dnnlua_State *S, const char *name, const char *fmt, ...);

/* A tensor over the host's float buffer, without copying: Lua reads and
 * writes data in place (row-major, shape[0..ndim-1], ndim <= 8).
 * Ownership: the buffer stays the host's. It must stay valid until release
 * is called: release(ctx, data) runs once, when the last reference to the
 * tensor is gone (the handle freed and Lua's collector done with every
 * view of it, at the latest in dnnlua_close). With release == NULL the host
 * must keep the buffer alive until dnnlua_close(S) returns (Lua may have
 * kept a view). Returns a new handle, or NULL with dnnlua_errmsg set. */
dnnlua_Tensor *dnnlua_tensor_from_buffer(dnnlua_State *S, float *data, int ndim, const int64_t *shape,
                                         void (*release)(void *ctx, float *data), void *ctx);
/* A new tensor holding a copy of data (the host may free data at once). */
dnnlua_Tensor *dnnlua_tensor_copy_of(dnnlua_State *S, const float *data, int ndim, const int64_t *shape);
/* Releases a handle (NULL is allowed). Lua may still hold the tensor. */
void dnnlua_tensor_free(dnnlua_State *S, dnnlua_Tensor *t);

/* Reading a tensor: its dims, its shape (valid while the handle lives), its
 * element count. */
int dnnlua_tensor_ndim(const dnnlua_Tensor *t);
const int64_t *dnnlua_tensor_shape(const dnnlua_Tensor *t);
int64_t dnnlua_tensor_numel(const dnnlua_Tensor *t);
/* A borrowed pointer to the values, row-major and contiguous (a strided
 * view is made contiguous first): valid while the handle lives and until
 * the next call on S that runs Lua code. NULL with dnnlua_errmsg on failure. */
const float *dnnlua_tensor_data(dnnlua_State *S, dnnlua_Tensor *t);
/* Copies the values (row-major) into out, which holds capacity floats.
 * Fails (DNNLUA_ERRARG) when capacity < numel. */
int dnnlua_tensor_copy_out(dnnlua_State *S, dnnlua_Tensor *t, float *out, int64_t capacity);

/* Makes t the global `name` in the state (then scripts see it), or pushes
 * nothing and fails on a bad name. */
int dnnlua_set_global_tensor(dnnlua_State *S, const char *name, dnnlua_Tensor *t);
/* The global `name` (or dotted path) as a new handle; NULL if it is not a tensor. */
dnnlua_Tensor *dnnlua_get_global_tensor(dnnlua_State *S, const char *name);

/* The underlying lua_State, for hosts that use Lua's own C API (cast to
 * lua_State *). The stack must be left as it was found. */
void *dnnlua_lua_state(dnnlua_State *S);

#ifdef __cplusplus
}
#endif

#endif
