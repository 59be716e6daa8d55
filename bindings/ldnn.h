/* Internal header of the bindings: the tensor userdata and argument helpers
 * every binding file shares. Only bindings/ includes lua.h. */
#ifndef LDNN_H
#define LDNN_H

#include <lauxlib.h>
#include <lua.h>

#include "dnn/dnn.h"

#define LDNN_TENSOR_MT "dnn.Tensor"

/* The tensor at idx, or a Lua error naming the argument (also for a tensor
 * whose handle was freed: "tensor was freed"). */
dnn_tensor *ldnn_check_tensor(lua_State *L, int idx);
/* The tensor userdata's handle at idx (NULL inside once freed), or NULL
 * when the value is not a tensor. */
dnn_tensor **ldnn_tensor_handle(lua_State *L, int idx);
/* Keeps the metatable on the stack's top as the tensors' (once, at load). */
void ldnn_keep_tensor_metatable(lua_State *L);
/* Pushes a new tensor userdata with the tensors' metatable and returns its
 * handle, NULL until the caller stores a tensor (its __gc takes NULL). */
dnn_tensor **ldnn_new_tensor_handle(lua_State *L);
/* The tensor at idx, or NULL when the value is not a tensor; a freed one
 * raises as in ldnn_check_tensor. */
dnn_tensor *ldnn_to_tensor(lua_State *L, int idx);
/* The tensor at idx; a number becomes a new 0-d tensor that is released
 * with the call's stack (it is pushed as userdata at the top). */
dnn_tensor *ldnn_check_tensor_or_number(lua_State *L, int idx);
/* Pushes t as userdata, taking over the caller's reference. t == NULL means
 * the core failed: raises its message as a Lua error. Tells the collector
 * about new storage bytes so loops keep a flat footprint. */
void ldnn_push_tensor(lua_State *L, dnn_tensor *t);
/* Raises the core's last error message as a Lua error (with position). */
int ldnn_raise(lua_State *L);
/* Raises when st != DNN_OK. */
void ldnn_check_status(lua_State *L, dnn_status st);
/* lua_pcall's message handler for hosts: adds a traceback to the error. */
int ldnn_msghandler(lua_State *L);

/* A Lua dim (1-based; negative counts from the end) at arg -> 0-based. */
int ldnn_check_dim(lua_State *L, int arg, int ndim);
/* Same, for a dim that may also be one past the end (unsqueeze, stack). */
int ldnn_check_dim_inclusive(lua_State *L, int arg, int ndim);
/* A shape given as integers from arg on, or as one table at arg. Stops at
 * the first non-integer. Returns ndim; *next gets the argument after it. */
int ldnn_check_shape(lua_State *L, int arg, int64_t *shape, int *next);
/* An options table at idx (or none): field readers with defaults. */
double ldnn_opt_number(lua_State *L, int idx, const char *name, double def);
int ldnn_opt_boolean(lua_State *L, int idx, const char *name, int def);
const char *ldnn_opt_string(lua_State *L, int idx, const char *name, const char *def);
/* Refuses a key of the options table at idx (none is fine) not in valid (NULL-ended). */
void ldnn_check_options(lua_State *L, int idx, const char *fn, const char *const *valid);

/* A new Lua state on dnnlua's allocator (l_heap.c), or NULL when out of
 * memory; ldnn_close_state closes it and frees what the allocator kept. */
lua_State *ldnn_new_state(void);
void ldnn_close_state(lua_State *L);

/* Each binding file registers its functions into the table on top. */
void ldnn_open_tensor(lua_State *L);
void ldnn_open_autograd(lua_State *L);
void ldnn_open_nn(lua_State *L);
void ldnn_open_io(lua_State *L);
void ldnn_open_runtime(lua_State *L);
void ldnn_open_layers(lua_State *L);
void ldnn_open_image(lua_State *L);
void ldnn_open_data(lua_State *L);
void ldnn_open_conv(lua_State *L);
void ldnn_open_pool(lua_State *L);
void ldnn_open_rnn(lua_State *L);
void ldnn_open_ctc(lua_State *L);
void ldnn_open_font(lua_State *L);
void ldnn_open_attention(lua_State *L);
void ldnn_open_distributed(lua_State *L);
void ldnn_open_onnx(lua_State *L);
void ldnn_open_boxes(lua_State *L);

/* luaopen for "dnn.core" (the C functions) and for "dnn" (the whole library:
 * preloads the embedded Lua modules, then runs dnn/init.lua). */
int luaopen_dnn_core(lua_State *L);
int ldnn_open_library(lua_State *L);

#endif
