/* The embedding API (dnnlua.h) from a host program: running code, errors
 * that leave the host and the state working, typed calls, zero-copy
 * buffers visible from Lua (and released once), reading results back, two
 * states in one process and two threads each with its own state. */
#include <dnnlua.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int released;
static void count_release(void *ctx, float *data) {
  (void)data;
  *(int *)ctx += 1;
}

static void test_run_and_errors(void) {
  dnnlua_State *S = dnnlua_open();
  CHECK(S != NULL);
  CHECK(dnnlua_dostring(S, "answer = dnn.tensor{1, 2, 3}:sum():item()") == DNNLUA_OK);
  CHECK(strcmp(dnnlua_errmsg(S), "") == 0);
  double v = 0;
  CHECK(dnnlua_dostring(S, "function get() return answer end") == DNNLUA_OK);
  CHECK(dnnlua_call(S, "get", ">d", &v) == DNNLUA_OK);
  CHECK_NEAR(v, 6, 0);

  /* a runtime error: status, message with the traceback, the host goes on */
  CHECK(dnnlua_dostring(S, "local t = dnn.zeros(2, 3); return t:matmul(dnn.zeros(2, 3))") == DNNLUA_ERRRUN);
  CHECK(strstr(dnnlua_errmsg(S), "matmul") != NULL);
  CHECK(strstr(dnnlua_errmsg(S), "traceback") != NULL);
  CHECK(dnnlua_dostring(S, "error('boom')") == DNNLUA_ERRRUN);
  CHECK(strstr(dnnlua_errmsg(S), "boom") != NULL);
  CHECK(dnnlua_dostring(S, "error({})") == DNNLUA_ERRRUN);
  CHECK(dnnlua_dostring(S, "this is not lua") == DNNLUA_ERRSYNTAX);
  CHECK(dnnlua_dofile(S, "/nonexistent/script.lua") == DNNLUA_ERRFILE);
  CHECK(strstr(dnnlua_errmsg(S), "/nonexistent/script.lua") != NULL);
  CHECK(dnnlua_dostring(S, "os.exit(3)") == DNNLUA_ERRRUN); /* a script cannot end the host */
  CHECK(strstr(dnnlua_errmsg(S), "os.exit") != NULL);
  /* the state still works after all of that */
  CHECK(dnnlua_call(S, "get", ">d", &v) == DNNLUA_OK);
  CHECK_NEAR(v, 6, 0);

  /* calls: unknown function, wrong result type, bad format, dotted names */
  CHECK(dnnlua_call(S, "no_such_function", "") == DNNLUA_ERRRUN);
  CHECK(strstr(dnnlua_errmsg(S), "no_such_function") != NULL);
  const char *s = NULL;
  CHECK(dnnlua_call(S, "get", ">s", &s) == DNNLUA_ERRARG);
  CHECK(s == NULL);
  CHECK(strstr(dnnlua_errmsg(S), "expected a string") != NULL);
  CHECK(dnnlua_call(S, "get", "x") == DNNLUA_ERRARG);
  int64_t i = 0;
  CHECK(dnnlua_call(S, "math.max", "ii>i", (int64_t)3, (int64_t)9, &i) == DNNLUA_OK);
  CHECK(i == 9);
  CHECK(dnnlua_call(S, "string.rep", "si>s", "ab", (int64_t)3, &s) == DNNLUA_OK);
  CHECK(s && strcmp(s, "ababab") == 0);
  int b = 0;
  CHECK(dnnlua_call(S, "dnn.is_tensor", "s>b", "x", &b) == DNNLUA_OK);
  CHECK(b == 0);
  CHECK(dnnlua_call(S, "get.field", ">d", &v) == DNNLUA_ERRRUN);
  CHECK(dnnlua_call(NULL, "get", "") == DNNLUA_ERRARG);
  dnnlua_close(S);
  dnnlua_close(NULL);
}

static void test_buffers(void) {
  dnnlua_State *S = dnnlua_open();
  float data[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3};
  released = 0;
  dnnlua_Tensor *x = dnnlua_tensor_from_buffer(S, data, 2, shape, count_release, &released);
  CHECK(x != NULL);
  CHECK(dnnlua_tensor_ndim(x) == 2 && dnnlua_tensor_shape(x)[0] == 2 && dnnlua_tensor_shape(x)[1] == 3);
  /* zero copy: the host's writes are visible in Lua, and Lua's writes in the buffer */
  CHECK(dnnlua_set_global_tensor(S, "x", x) == DNNLUA_OK);
  data[4] = 50;
  double v = 0;
  CHECK(dnnlua_dostring(S, "function at(i, j) return x[i][j]:item() end") == DNNLUA_OK);
  CHECK(dnnlua_call(S, "at", "ii>d", (int64_t)2, (int64_t)2, &v) == DNNLUA_OK);
  CHECK_NEAR(v, 50, 0);
  CHECK(dnnlua_dostring(S, "x[1][1]:fill(-7)") == DNNLUA_OK);
  CHECK_NEAR(data[0], -7, 0);

  /* a result tensor, contiguous or a strided view, read back */
  CHECK(dnnlua_dostring(S,
                        "function scaled(t, k) return t * k end\n"
                        "function transposed(t) return t:transpose(1, 2) end") == DNNLUA_OK);
  dnnlua_Tensor *y = NULL, *yt = NULL;
  CHECK(dnnlua_call(S, "scaled", "td>t", x, 2.0, &y) == DNNLUA_OK);
  CHECK(y != NULL && dnnlua_tensor_numel(y) == 6);
  const float *yd = dnnlua_tensor_data(S, y);
  CHECK(yd && yd[0] == -14 && yd[4] == 100 && yd[5] == 12);
  CHECK(dnnlua_call(S, "transposed", "t>t", x, &yt) == DNNLUA_OK);
  CHECK(dnnlua_tensor_shape(yt)[0] == 3 && dnnlua_tensor_shape(yt)[1] == 2);
  float out[6];
  CHECK(dnnlua_tensor_copy_out(S, yt, out, 6) == DNNLUA_OK);
  CHECK(out[0] == -7 && out[1] == 4 && out[2] == 2 && out[3] == 50 && out[5] == 6);
  CHECK(dnnlua_tensor_copy_out(S, yt, out, 5) == DNNLUA_ERRARG);
  /* a wrong result type leaves no handle and writes nothing */
  dnnlua_Tensor *none = NULL;
  CHECK(dnnlua_call(S, "at", "ii>t", (int64_t)1, (int64_t)1, &none) == DNNLUA_ERRARG);
  CHECK(none == NULL);
  /* an error inside Lua with a tensor argument */
  CHECK(dnnlua_dostring(S, "function bad(t) return t:matmul(t) end") == DNNLUA_OK);
  CHECK(dnnlua_call(S, "bad", "t>t", x, &none) == DNNLUA_ERRRUN);
  CHECK(none == NULL);
  CHECK(strstr(dnnlua_errmsg(S), "matmul") != NULL);
  /* bad buffers are refused without touching the release callback */
  CHECK(dnnlua_tensor_from_buffer(S, NULL, 1, shape, count_release, &released) == NULL);
  CHECK(dnnlua_tensor_from_buffer(S, data, 99, shape, count_release, &released) == NULL);
  int64_t negative = -2;
  CHECK(dnnlua_tensor_from_buffer(S, data, 1, &negative, count_release, &released) == NULL);
  CHECK(strlen(dnnlua_errmsg(S)) > 0);
  /* a copy: the host's buffer may go at once */
  float *heap = malloc(3 * sizeof(float));
  heap[0] = 1, heap[1] = 2, heap[2] = 3;
  int64_t n3 = 3;
  dnnlua_Tensor *c = dnnlua_tensor_copy_of(S, heap, 1, &n3);
  free(heap);
  CHECK(c && dnnlua_tensor_data(S, c)[2] == 3);
  /* the global keeps the borrowed tensor alive after the handle goes; release once, at close at the latest */
  dnnlua_tensor_free(S, x);
  dnnlua_tensor_free(S, y);
  CHECK(released == 0);
  dnnlua_Tensor *again = dnnlua_get_global_tensor(S, "x");
  CHECK(again && dnnlua_tensor_data(S, again)[0] == -7);
  CHECK(dnnlua_get_global_tensor(S, "at") == NULL);
  CHECK(dnnlua_dostring(S, "x = nil; collectgarbage(); collectgarbage()") == DNNLUA_OK);
  CHECK(released == 0); /* yt (a view) and again still hold it */
  dnnlua_close(S); /* frees the forgotten handles (yt, again, c) */
  CHECK(released == 1);
}

/* A script that closes (<close>) or finalizes a tensor the host holds a
 * handle to: the handle keeps its own reference, and Lua code that reaches
 * the closed userdata gets "tensor was freed", never freed memory. */
static void test_closed_by_script(void) {
  dnnlua_State *S = dnnlua_open();
  CHECK(dnnlua_dostring(S, "held = dnn.arange(1, 5)") == DNNLUA_OK);
  dnnlua_Tensor *h = dnnlua_get_global_tensor(S, "held");
  CHECK(h != NULL);
  CHECK(dnnlua_dostring(S, "do local t <close> = held end; collectgarbage()") == DNNLUA_OK);
  CHECK(dnnlua_tensor_numel(h) == 4 && dnnlua_tensor_data(S, h)[3] == 4);
  CHECK(dnnlua_dostring(S, "return held:sum()") == DNNLUA_ERRRUN);
  CHECK(strstr(dnnlua_errmsg(S), "tensor was freed") != NULL);
  dnnlua_tensor_free(S, h);
  dnnlua_close(S);
}

static void test_two_states(void) {
  dnnlua_State *a = dnnlua_open(), *b = dnnlua_open();
  CHECK(a && b);
  CHECK(dnnlua_dostring(a, "v = 1") == DNNLUA_OK);
  CHECK(dnnlua_dostring(b, "v = 2") == DNNLUA_OK);
  CHECK(dnnlua_dostring(a, "error('only a')") == DNNLUA_ERRRUN);
  CHECK(strcmp(dnnlua_errmsg(b), "") == 0);
  double va = 0, vb = 0;
  CHECK(dnnlua_dostring(a, "function v_of() return v end") == DNNLUA_OK);
  CHECK(dnnlua_dostring(b, "function v_of() return v end") == DNNLUA_OK);
  CHECK(dnnlua_call(a, "v_of", ">d", &va) == DNNLUA_OK && va == 1);
  CHECK(dnnlua_call(b, "v_of", ">d", &vb) == DNNLUA_OK && vb == 2);
  dnnlua_close(a);
  CHECK(dnnlua_call(b, "v_of", ">d", &vb) == DNNLUA_OK && vb == 2);
  dnnlua_close(b);
}

/* Each thread trains a small model in its own state, seeded alike: the
 * same losses in both (random draws follow each thread's own generator). */
static const char *train_script =
    "dnn.manual_seed(5)\n"
    "local x = dnn.randn(64, 3)\n"
    "local y = (x:sum(-1, true):gt(0))\n"
    "local m = dnn.nn.Sequential{dnn.nn.Dense(8, {input_shape = {3}, activation = 'relu'}),\n"
    "                            dnn.nn.Dense(1, {activation = 'sigmoid'})}\n"
    "m:compile{optimizer = 'adam', loss = 'binary_crossentropy'}\n"
    "local h = m:fit(x, y, {epochs = 3, batch_size = 16, verbose = 0})\n"
    "final_loss = h.history.loss[3]\n"
    "function loss() return final_loss end\n";

typedef struct {
  double loss;
  int status;
  int error_seen;
} thread_result;

static void *thread_main(void *arg) {
  thread_result *r = arg;
  dnnlua_State *S = dnnlua_open();
  if (!S) {
    r->status = -1;
    return NULL;
  }
  r->error_seen = dnnlua_dostring(S, "dnn.zeros(2):matmul(dnn.zeros(3))") == DNNLUA_ERRRUN;
  r->status = dnnlua_dostring(S, train_script);
  if (r->status == DNNLUA_OK) r->status = dnnlua_call(S, "loss", ">d", &r->loss);
  dnnlua_close(S);
  return NULL;
}

static void test_threads(void) {
  pthread_t t[2];
  thread_result r[2];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, thread_main, &r[i]) == 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 2; i++) {
    CHECK(r[i].status == DNNLUA_OK);
    CHECK(r[i].error_seen);
    CHECK(r[i].loss > 0 && r[i].loss < 1);
  }
  CHECK(r[0].loss == r[1].loss);
}

int main(void) {
  test_run_and_errors();
  test_buffers();
  test_closed_by_script();
  test_two_states();
  test_threads();
  return check_report("test_embed");
}
