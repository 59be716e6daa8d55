#include "dnn/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char message[1024];
static _Thread_local dnn_status last_code;

static void set_message(const char *prefix, const char *suffix, const char *fmt, va_list ap) {
  int n = snprintf(message, sizeof message, "%s", prefix);
  if (n < 0 || (size_t)n >= sizeof message) return;
  int m = vsnprintf(message + n, sizeof message - (size_t)n, fmt, ap);
  if (m < 0 || (size_t)(n + m) >= sizeof message) return;
  snprintf(message + n + m, sizeof message - (size_t)(n + m), "%s", suffix);
}

dnn_status dnn_argerror(int argn, const char *fn, const char *fmt, ...) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "bad argument #%d to '%s' (", argn, fn);
  va_list ap;
  va_start(ap, fmt);
  set_message(prefix, ")", fmt, ap);
  va_end(ap);
  return last_code = DNN_EARG;
}

dnn_status dnn_error(dnn_status code, const char *fn, const char *fmt, ...) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s: ", fn);
  va_list ap;
  va_start(ap, fmt);
  set_message(prefix, "", fmt, ap);
  va_end(ap);
  return last_code = code;
}

const char *dnn_errmsg(void) { return message; }
dnn_status dnn_errcode(void) { return last_code; }
