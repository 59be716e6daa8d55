/* Error reporting for the core: a failing call returns an error status (or
 * NULL) and leaves one message per thread, which bindings/ turns into a Lua
 * error. The core never prints, exits or aborts on bad input. */
#ifndef DNN_ERROR_H
#define DNN_ERROR_H

typedef enum dnn_status {
  DNN_OK = 0,
  DNN_EARG, /* bad argument: wrong shape, dim, value, type */
  DNN_ENOMEM, /* allocation failed */
  DNN_EIO, /* a file could not be read or written */
  DNN_EFORMAT, /* a file's contents are malformed */
  DNN_ESTATE /* the call is not valid now (e.g. graph already freed) */
} dnn_status;

/* Sets the message "bad argument #argn to 'fn' (<fmt...>)", as Lua's
 * luaL_argerror words it; returns DNN_EARG. */
dnn_status dnn_argerror(int argn, const char *fn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets the message "fn: <fmt...>" and returns code. */
dnn_status dnn_error(dnn_status code, const char *fn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The last message set on this thread, and its status. */
const char *dnn_errmsg(void);
dnn_status dnn_errcode(void);

#endif
