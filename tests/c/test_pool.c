/* Pooling and spatial kernels (pool.h): known values, a naive reference for
 * every window option, gradient checks, thread-count independence, errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

static dnn_tensor *image(int64_t n, int64_t h, int64_t w, int64_t c, const float *data) {
  int64_t shape[4] = {n, h, w, c};
  return dnn_from_data(data, 4, shape);
}

/* Distinct values in [-1, 1) in a scrambled order, 2 / numel apart: max pooling's winners stay put under the
 * gradient check's 1e-3 steps for the small shapes it checks (37 is prime to their sizes), and the loss stays small
 * enough for float32 finite differences. */
static dnn_tensor *scrambled(int64_t n, int64_t h, int64_t w, int64_t c) {
  int64_t shape[4] = {n, h, w, c}, total = n * h * w * c;
  dnn_tensor *t = dnn_empty(4, shape);
  for (int64_t i = 0; i < total; i++) dnn_data(t)[i] = 2.0f * (float)((i * 37 + 11) % total) / (float)total - 1.0f;
  return t;
}

static void test_known_values(void) {
  float x16[16];
  for (int i = 0; i < 16; i++) x16[i] = (float)(i + 1);
  dnn_tensor *x = image(1, 4, 4, 1, x16);
  dnn_pool2d_config c = {{2, 2}, {2, 2}, false};
  dnn_tensor *y = dnn_max_pool2d(x, &c);
  CHECK(y && y->shape[1] == 2 && y->shape[2] == 2 && values_near(y, (float[]){6, 8, 14, 16}, 4, 0));
  dnn_tensor_release(y);
  y = dnn_avg_pool2d(x, &c);
  CHECK(values_near(y, (float[]){3.5f, 5.5f, 11.5f, 13.5f}, 4, 1e-6f));
  dnn_tensor_release(y);
  /* pool 3 stride 1 valid: 2x2 outputs */
  dnn_pool2d_config c3 = {{3, 3}, {1, 1}, false};
  y = dnn_max_pool2d(x, &c3);
  CHECK(values_near(y, (float[]){11, 12, 15, 16}, 4, 0));
  dnn_tensor_release(y);
  y = dnn_avg_pool2d(x, &c3);
  CHECK(values_near(y, (float[]){6, 7, 10, 11}, 4, 1e-6f));
  dnn_tensor_release(y);
  dnn_tensor_release(x);

  /* 3x3 with "same", pool 2 stride 2: out 2x2, no padding before, the last row/column alone; the average is over
   * the real cells only (TF): {1,2,4,5} -> 3, {3,6} -> 4.5, {7,8} -> 7.5, {9} -> 9 */
  x = image(1, 3, 3, 1, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
  dnn_pool2d_config s = {{2, 2}, {2, 2}, true};
  y = dnn_avg_pool2d(x, &s);
  CHECK(y && y->shape[1] == 2 && y->shape[2] == 2 && values_near(y, (float[]){3, 4.5f, 7.5f, 9}, 4, 1e-6f));
  dnn_tensor_release(y);
  /* pool 3 stride 1 same: one cell of padding each side; corners average 4 cells */
  dnn_pool2d_config s3 = {{3, 3}, {1, 1}, true};
  y = dnn_avg_pool2d(x, &s3);
  CHECK(values_near(y, (float[]){3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7}, 9, 1e-6f));
  dnn_tensor_release(y);
  y = dnn_max_pool2d(x, &s3);
  CHECK(values_near(y, (float[]){5, 6, 6, 8, 9, 9, 8, 9, 9}, 9, 0));
  dnn_tensor_release(y);
  dnn_tensor_release(x);

  /* negative values with "same": padding must not act as 0 for max */
  x = image(1, 1, 3, 1, (float[]){-3, -2, -5});
  dnn_pool2d_config s2 = {{1, 2}, {1, 2}, true};
  y = dnn_max_pool2d(x, &s2);
  CHECK(y && y->shape[2] == 2 && values_near(y, (float[]){-2, -5}, 2, 0));
  dnn_tensor_release(y);
  dnn_tensor_release(x);
}

/* The reference: windows over an explicitly padded image, by the definition. */
static void naive_pool(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, const dnn_pool2d_config *cfg,
                       bool max, float *y, int64_t oh, int64_t ow) {
  int64_t pt = 0, pl = 0;
  if (cfg->same) {
    int64_t th = (oh - 1) * cfg->stride[0] + cfg->pool[0] - h, tw = (ow - 1) * cfg->stride[1] + cfg->pool[1] - w;
    pt = th > 0 ? th / 2 : 0;
    pl = tw > 0 ? tw / 2 : 0;
  }
  for (int64_t b = 0; b < n; b++)
    for (int64_t i = 0; i < oh; i++)
      for (int64_t j = 0; j < ow; j++)
        for (int64_t k = 0; k < c; k++) {
          double acc = max ? -INFINITY : 0;
          int count = 0;
          for (int64_t p = 0; p < cfg->pool[0]; p++)
            for (int64_t q = 0; q < cfg->pool[1]; q++) {
              int64_t a = i * cfg->stride[0] + p - pt, e = j * cfg->stride[1] + q - pl;
              if (a < 0 || a >= h || e < 0 || e >= w) continue;
              double v = x[((b * h + a) * w + e) * c + k];
              acc = max ? fmax(acc, v) : acc + v;
              count++;
            }
          y[((b * oh + i) * ow + j) * c + k] = (float)(max ? acc : acc / count);
        }
}

static void test_against_reference(void) {
  const int64_t shapes[][4] = {{2, 7, 5, 3}, {1, 6, 6, 4}, {3, 5, 8, 1}};
  const dnn_pool2d_config cfgs[] = {{{2, 2}, {2, 2}, false}, {{2, 2}, {2, 2}, true}, {{3, 3}, {2, 2}, true},
                                    {{3, 2}, {1, 2}, false}, {{2, 3}, {3, 1}, true}, {{4, 4}, {3, 3}, true},
                                    {{1, 1}, {2, 2}, false}, {{5, 5}, {1, 1}, true}};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int64_t *s = shapes[si];
    dnn_tensor *x = scrambled(s[0], s[1], s[2], s[3]);
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
      const dnn_pool2d_config *cfg = &cfgs[ci];
      for (int max = 0; max < 2; max++) {
        dnn_tensor *y = max ? dnn_max_pool2d(x, cfg) : dnn_avg_pool2d(x, cfg);
        if (!y) { /* only a valid pool larger than the input may be refused */
          CHECK(!cfg->same && (cfg->pool[0] > s[1] || cfg->pool[1] > s[2]));
          continue;
        }
        int64_t oh = dnn_pool_out_size(s[1], cfg->pool[0], cfg->stride[0], cfg->same);
        int64_t ow = dnn_pool_out_size(s[2], cfg->pool[1], cfg->stride[1], cfg->same);
        CHECK(y->shape[0] == s[0] && y->shape[1] == oh && y->shape[2] == ow && y->shape[3] == s[3]);
        float want[512];
        naive_pool(dnn_data(x), s[0], s[1], s[2], s[3], cfg, max, want, oh, ow);
        CHECK(values_near(y, want, s[0] * oh * ow * s[3], 1e-5f));
        dnn_tensor_release(y);
      }
    }
    dnn_tensor_release(x);
  }
  /* Keras's sizes: valid floor((in - pool) / stride) + 1, same ceil(in / stride) */
  CHECK(dnn_pool_out_size(126, 2, 2, false) == 63 && dnn_pool_out_size(63, 2, 2, false) == 31);
  CHECK(dnn_pool_out_size(7, 3, 2, false) == 3 && dnn_pool_out_size(7, 3, 2, true) == 4);
  CHECK(dnn_pool_out_size(2, 3, 1, false) == -1 && dnn_pool_out_size(2, 3, 1, true) == 2);
}

static void test_global_and_spatial_values(void) {
  /* (1, 2, 2, 2): channel 0 = 1..4, channel 1 = -1..-4 */
  dnn_tensor *x = image(1, 2, 2, 2, (float[]){1, -1, 2, -2, 3, -3, 4, -4});
  dnn_tensor *y = dnn_global_pool2d(x, false, false);
  CHECK(y && y->ndim == 2 && y->shape[1] == 2 && values_near(y, (float[]){2.5f, -2.5f}, 2, 1e-6f));
  dnn_tensor_release(y);
  y = dnn_global_pool2d(x, true, true);
  CHECK(y && y->ndim == 4 && y->shape[1] == 1 && y->shape[2] == 1 && values_near(y, (float[]){4, -1}, 2, 0));
  dnn_tensor_release(y);
  dnn_tensor_release(x);

  x = image(1, 2, 2, 1, (float[]){1, 2, 3, 4});
  y = dnn_upsample2d(x, 2, 3, false);
  CHECK(y && y->shape[1] == 4 && y->shape[2] == 6 &&
        values_near(y, (float[]){1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}, 24, 0));
  dnn_tensor_release(y);
  /* bilinear with half-pixel centers, as tf.image.resize / PyTorch align_corners=False */
  y = dnn_upsample2d(x, 2, 2, true);
  CHECK(values_near(
      y, (float[]){1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4}, 16,
      1e-6f));
  dnn_tensor_release(y);
  y = dnn_zero_pad2d(x, 1, 0, 0, 2);
  CHECK(y && y->shape[1] == 3 && y->shape[2] == 4 &&
        values_near(y, (float[]){0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}, 12, 0));
  dnn_tensor_release(y);
  dnn_tensor_release(x);

  float x12[12];
  for (int i = 0; i < 12; i++) x12[i] = (float)i;
  x = image(1, 3, 4, 1, x12);
  y = dnn_crop2d(x, 1, 0, 1, 2);
  CHECK(y && y->shape[1] == 2 && y->shape[2] == 1 && values_near(y, (float[]){5, 9}, 2, 0));
  dnn_tensor_release(y);
  dnn_tensor_release(x);
}

typedef struct {
  int kind; /* 0 max, 1 avg, 2 global max, 3 global avg, 4 nearest, 5 bilinear, 6 pad, 7 crop */
  dnn_pool2d_config cfg;
} op_case;

static dnn_tensor *op_loss(dnn_tensor *const *in, void *ctx) {
  const op_case *oc = ctx;
  dnn_tensor *x = in[0], *y = NULL;
  switch (oc->kind) {
    case 0:
      y = dnn_max_pool2d(x, &oc->cfg);
      break;
    case 1:
      y = dnn_avg_pool2d(x, &oc->cfg);
      break;
    case 2:
      y = dnn_global_pool2d(x, true, false);
      break;
    case 3:
      y = dnn_global_pool2d(x, false, true);
      break;
    case 4:
      y = dnn_upsample2d(x, 2, 3, false);
      break;
    case 5:
      y = dnn_upsample2d(x, 3, 2, true);
      break;
    case 6:
      y = dnn_zero_pad2d(x, 1, 2, 0, 3);
      break;
    default:
      y = dnn_crop2d(x, 1, 0, 2, 1);
      break;
  }
  return gc_weighted_sum(y);
}

static void test_gradients(void) {
  const int64_t shapes[][4] = {{2, 5, 7, 3}, {1, 6, 4, 2}};
  const dnn_pool2d_config cfgs[] = {{{2, 2}, {2, 2}, false},
                                    {{2, 2}, {2, 2}, true},
                                    {{3, 3}, {2, 1}, true},
                                    {{3, 2}, {1, 1}, false},
                                    {{2, 3}, {3, 2}, true}};
  for (size_t si = 0; si < 2; si++) {
    const int64_t *s = shapes[si];
    for (int kind = 0; kind < 8; kind++) {
      size_t ncfg = kind < 2 ? sizeof cfgs / sizeof cfgs[0] : 1;
      for (size_t ci = 0; ci < ncfg; ci++) {
        op_case oc = {kind, cfgs[ci]};
        dnn_tensor *x = scrambled(s[0], s[1], s[2], s[3]);
        char name[64];
        snprintf(name, sizeof name, "op %d cfg %zu shape %zu", kind, ci, si);
        gradcheck(name, op_loss, 1, &x, &oc);
        dnn_tensor_release(x);
      }
    }
  }
}

/* Same bits on 1 and 2 threads, on inputs large enough to run in parallel. */
static void test_threads(void) {
  dnn_tensor *x = scrambled(16, 20, 20, 16);
  dnn_set_requires_grad(x, true);
  dnn_pool2d_config cfg = {{3, 3}, {2, 2}, true};
  float *first[4] = {0};
  int64_t sizes[4] = {0};
  int saved = dnn_get_num_threads();
  for (int t = 1; t <= 2; t++) {
    dnn_set_num_threads(t);
    for (int op = 0; op < 4; op++) {
      dnn_tensor *y = op == 0 ? dnn_max_pool2d(x, &cfg)
          : op == 1           ? dnn_avg_pool2d(x, &cfg)
          : op == 2           ? dnn_upsample2d(x, 2, 2, true)
                              : dnn_upsample2d(x, 3, 2, false);
      dnn_tensor *loss = gc_weighted_sum(y);
      CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
      dnn_tensor_release(loss);
      int64_t n = dnn_numel(x->grad);
      if (t == 1) {
        first[op] = malloc((size_t)n * sizeof(float));
        memcpy(first[op], dnn_data(x->grad), (size_t)n * sizeof(float));
        sizes[op] = n;
      } else {
        CHECK(sizes[op] == n && memcmp(first[op], dnn_data(x->grad), (size_t)n * sizeof(float)) == 0);
      }
      dnn_tensor_release(x->grad);
      x->grad = NULL;
    }
  }
  dnn_set_num_threads(saved);
  for (int op = 0; op < 4; op++) free(first[op]);
  dnn_tensor_release(x);
}

static void test_errors(void) {
  int64_t s3[3] = {4, 4, 1};
  dnn_tensor *x3 = dnn_zeros(3, s3), *x = scrambled(1, 4, 3, 2);
  dnn_pool2d_config ok = {{2, 2}, {2, 2}, false};
  CHECK(dnn_max_pool2d(x3, &ok) == NULL && errmsg_has("4-d input") && errmsg_has("(4, 4, 1)"));
  CHECK(dnn_avg_pool2d(x3, &ok) == NULL && errmsg_has("4-d input"));
  CHECK(dnn_global_pool2d(x3, true, false) == NULL && errmsg_has("4-d input"));
  CHECK(dnn_upsample2d(x3, 2, 2, false) == NULL && errmsg_has("4-d input"));
  CHECK(dnn_zero_pad2d(x3, 1, 1, 1, 1) == NULL && errmsg_has("4-d input"));
  CHECK(dnn_crop2d(x3, 1, 1, 1, 1) == NULL && errmsg_has("4-d input"));
  dnn_pool2d_config big = {{4, 4}, {1, 1}, false};
  CHECK(dnn_max_pool2d(x, &big) == NULL && errmsg_has("fits") && errmsg_has("valid"));
  big.same = true; /* "same" pads instead */
  dnn_tensor *y = dnn_max_pool2d(x, &big);
  CHECK(y && y->shape[1] == 4 && y->shape[2] == 3);
  dnn_tensor_release(y);
  dnn_pool2d_config zero = {{0, 2}, {1, 1}, false}, nostride = {{2, 2}, {0, 1}, false};
  CHECK(dnn_avg_pool2d(x, &zero) == NULL && errmsg_has("pool size"));
  CHECK(dnn_avg_pool2d(x, &nostride) == NULL && errmsg_has("strides"));
  CHECK(dnn_upsample2d(x, 0, 2, false) == NULL && errmsg_has("size"));
  CHECK(dnn_zero_pad2d(x, -1, 0, 0, 0) == NULL && errmsg_has(">= 0"));
  CHECK(dnn_crop2d(x, 0, 0, -1, 0) == NULL && errmsg_has(">= 0"));
  CHECK(dnn_crop2d(x, 2, 2, 0, 0) == NULL && errmsg_has("leaves pixels"));
  CHECK(dnn_crop2d(x, 0, 0, 1, 2) == NULL && errmsg_has("leaves pixels"));
  int64_t e[4] = {1, 0, 3, 2};
  dnn_tensor *empty = dnn_zeros(4, e);
  CHECK(dnn_max_pool2d(empty, &ok) == NULL && errmsg_has("non-empty"));
  CHECK(dnn_global_pool2d(empty, false, false) == NULL && errmsg_has("non-empty"));
  dnn_tensor_release(empty);
  dnn_tensor_release(x3);
  dnn_tensor_release(x);
}

/* A non-contiguous input (a transposed view) gives the same as its copy. */
static void test_views(void) {
  dnn_tensor *x = scrambled(2, 5, 6, 3);
  dnn_tensor *t = dnn_transpose(x, 1, 2), *tc = dnn_contiguous(t);
  dnn_pool2d_config cfg = {{2, 3}, {2, 2}, true};
  dnn_tensor *a = dnn_max_pool2d(t, &cfg), *b = dnn_max_pool2d(tc, &cfg);
  CHECK(a && b && dnn_same_shape(a, b) && memcmp(dnn_data(a), dnn_data(b), (size_t)dnn_numel(a) * 4) == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  a = dnn_crop2d(t, 1, 1, 0, 2);
  b = dnn_crop2d(tc, 1, 1, 0, 2);
  CHECK(a && b && dnn_same_shape(a, b) && memcmp(dnn_data(a), dnn_data(b), (size_t)dnn_numel(a) * 4) == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(t);
  dnn_tensor_release(tc);
  dnn_tensor_release(x);
}

/* Pooling's backward reads no values of its input (max pooling saves its
 * winners): a write into the input after the forward is no error, and the
 * gradient is the forward's. */
static void test_input_written(void) {
  dnn_pool2d_config cfg = {{3, 3}, {2, 2}, true};
  for (int avg = 0; avg < 2; avg++) {
    float want[150];
    for (int write = 0; write < 2; write++) {
      dnn_tensor *x = scrambled(2, 5, 5, 3);
      dnn_set_requires_grad(x, true);
      dnn_tensor *a = dnn_affine(x, 2.0f, 0.0f); /* affine reads no values either */
      dnn_tensor *loss = gc_weighted_sum(avg ? dnn_avg_pool2d(a, &cfg) : dnn_max_pool2d(a, &cfg));
      if (write) {
        dnn_set_grad_enabled(false);
        CHECK(dnn_fill(a, 1.0f) == DNN_OK);
        dnn_set_grad_enabled(true);
      }
      CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
      CHECK(x->grad && dnn_numel(x->grad) == 150);
      if (x->grad && !write) memcpy(want, dnn_data(x->grad), sizeof want);
      if (x->grad && write) CHECK(memcmp(want, dnn_data(x->grad), sizeof want) == 0);
      dnn_tensor_release(loss);
      dnn_tensor_release(a);
      dnn_tensor_release(x);
    }
  }
}

int main(void) {
  test_known_values();
  test_against_reference();
  test_global_and_spatial_values();
  test_gradients();
  test_threads();
  test_errors();
  test_views();
  test_input_written();
  return check_report("test_pool");
}
