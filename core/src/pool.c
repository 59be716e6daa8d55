/* Max, average and global pooling on NHWC images. Channels are innermost, so
 * every loop's inner step runs over a pixel's C contiguous channels: the
 * window is walked pixel by pixel and each pixel updates C running maxima or
 * sums at once (vectorizable, no per-element calls).
 *
 * Windows follow Keras: output i covers input rows [i*sh - pt, i*sh - pt + ph)
 * clipped to the image, pt the "same" padding's top share (0 for "valid").
 * Padded cells never take part: max ignores them, the average divides by the
 * count of real cells (as TF, unlike PyTorch's count_include_pad default).
 *
 * The forward runs in parallel over output rows (disjoint outputs); the
 * backward scatters into overlapping windows, so it runs in parallel over the
 * batch only: every image is written by one thread, in a fixed order, and the
 * result is the same for any thread count.
 *
 * Each backward is linear in the incoming gradient and is a recorded op of
 * its own, so create_graph differentiates it again, its backward being the
 * op it came from: max pooling's scatters g to the saved winners
 * ("max_pool2d_backward"), whose backward gathers at the winners
 * ("max_pool2d_gather"), whose backward scatters; average pooling's spreads
 * g / count over each window ("avg_pool2d_backward"), whose backward is the
 * average pool. They record only when g needs grad, so a first-order
 * backward costs no more. The geometry rides on every node's iargs; no
 * backward reads its input's values (DNN_NODE_SHAPES_ONLY). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/parallel.h"
#include "dnn/pool.h"
#include "kernels.h"

typedef struct {
  int64_t n, h, w, c; /* input */
  int64_t oh, ow; /* output */
  int64_t ph, pw; /* window */
  int64_t sh, sw; /* steps */
  int64_t pt, pl; /* padding before the first row / column */
} geom;

/* Rows [*a0, *a1) of input covered by output row i (also columns). */
static inline void window(int64_t i, int64_t step, int64_t pad, int64_t size, int64_t in, int64_t *a0, int64_t *a1) {
  int64_t s = i * step - pad, e = s + size;
  *a0 = s > 0 ? s : 0;
  *a1 = e < in ? e : in;
}

int64_t dnn_pool_out_size(int64_t in, int64_t pool, int64_t stride, bool same) {
  if (same) return (in + stride - 1) / stride;
  return in < pool ? -1 : (in - pool) / stride + 1;
}

/* Padding before the first cell: half the total "same" padding, rounded down. */
static int64_t pad_before(int64_t in, int64_t out, int64_t pool, int64_t stride, bool same) {
  int64_t total = (out - 1) * stride + pool - in;
  return same && total > 0 ? total / 2 : 0;
}

static dnn_status check_pool(const char *op, const dnn_tensor *x, const dnn_pool2d_config *cfg, geom *g) {
  char buf[96];
  if (x->ndim != 4)
    return dnn_argerror(1, op, "expected a 4-d input (batch, height, width, channels), got %s",
                        dnn_shape_str(x, buf, sizeof buf));
  if (cfg->pool[0] < 1 || cfg->pool[1] < 1)
    return dnn_argerror(2, op, "expected a pool size of at least (1, 1), got (%lld, %lld)", (long long)cfg->pool[0],
                        (long long)cfg->pool[1]);
  if (cfg->stride[0] < 1 || cfg->stride[1] < 1)
    return dnn_argerror(2, op, "expected strides of at least (1, 1), got (%lld, %lld)", (long long)cfg->stride[0],
                        (long long)cfg->stride[1]);
  *g = (geom){x->shape[0],  x->shape[1],  x->shape[2],    x->shape[3],    0, 0,
              cfg->pool[0], cfg->pool[1], cfg->stride[0], cfg->stride[1], 0, 0};
  if (g->h * g->w > INT32_MAX)
    return dnn_argerror(1, op, "expected at most %d pixels per image, got %s", INT32_MAX,
                        dnn_shape_str(x, buf, sizeof buf));
  if (g->h == 0 || g->w == 0)
    return dnn_argerror(1, op, "expected a non-empty image, got %s", dnn_shape_str(x, buf, sizeof buf));
  g->oh = dnn_pool_out_size(g->h, g->ph, g->sh, cfg->same);
  g->ow = dnn_pool_out_size(g->w, g->pw, g->sw, cfg->same);
  if (g->oh < 0 || g->ow < 0)
    return dnn_argerror(2, op,
                        "expected a pool size (%lld, %lld) that fits the input's height and width (%lld, %lld) "
                        "with padding \"valid\", got input %s",
                        (long long)g->ph, (long long)g->pw, (long long)g->h, (long long)g->w,
                        dnn_shape_str(x, buf, sizeof buf));
  g->pt = pad_before(g->h, g->oh, g->ph, g->sh, cfg->same);
  g->pl = pad_before(g->w, g->ow, g->pw, g->sw, cfg->same);
  return DNN_OK;
}

/* The geometry travels on every node of the pooling family in iargs, h and w
 * included (an op on the output side sees only oh, ow in its input); n and c
 * are read from the node's input, whichever side it is on. */
_Static_assert(sizeof((dnn_node *)0)->iargs >= 10 * sizeof(int64_t), "iargs holds a pooling geometry");

static void save_geom(dnn_node *node, const geom *g) {
  int64_t v[10] = {g->oh, g->ow, g->ph, g->pw, g->sh, g->sw, g->pt, g->pl, g->h, g->w};
  memcpy(node->iargs, v, sizeof v);
}

static geom load_geom(const dnn_node *node) {
  const dnn_tensor *in = node->inputs[0];
  const int64_t *v = node->iargs;
  return (geom){in->shape[0], v[8], v[9], in->shape[3], v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

/* Records out = op(in) with the geometry (and the winners, when arg). Every
 * backward here is made of these recorded ops and reads no values of its
 * input, only the winners (checked by version). Returns out, or NULL (out
 * released) when recording failed. */
static dnn_tensor *record_pool(dnn_tensor *out, const char *op, dnn_backward_fn backward, dnn_tensor *in, const geom *g,
                               dnn_tensor *arg) {
  if (!dnn_needs_record(1, &in)) return out;
  dnn_node *node = dnn_record(out, op, backward, 1, &in);
  if (node) {
    save_geom(node, g);
    node->flags |= DNN_NODE_DIFFERENTIABLE | DNN_NODE_SHAPES_ONLY;
  }
  if (!node || (arg && dnn_node_save(node, dnn_tensor_retain(arg)) != DNN_OK)) {
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}

static int64_t forward_work(const geom *g) { return g->n * g->oh * g->ow * g->c * g->ph * g->pw; }

/* ---- max pooling ---- */

/* Output row r (example r / oh, row r % oh) of y and arg (the winner's pixel h * w + w within its image, per
 * channel; NULL when no backward will read it). A NaN wins and stays, as PyTorch. */
DNN_SIMD_CLONES static void max_pool_row(const float *x, float *y, int32_t *arg, const geom *gp, int64_t r) {
  geom g = *gp;
  int64_t n = r / g.oh, i = r % g.oh, a0, a1;
  window(i, g.sh, g.pt, g.ph, g.h, &a0, &a1);
  const float *xn = x + n * g.h * g.w * g.c;
  for (int64_t j = 0; j < g.ow; j++) {
    int64_t b0, b1;
    window(j, g.sw, g.pl, g.pw, g.w, &b0, &b1);
    float *yo = y + (r * g.ow + j) * g.c;
    for (int64_t c = 0; c < g.c; c++) yo[c] = -INFINITY;
    if (!arg && (a1 - a0) * (b1 - b0) == 4) { /* a 2x2 window: its four pixels in one pass over the channels */
      const float *p0 = xn + (a0 * g.w + b0) * g.c, *p1 = p0 + g.c, *p2 = p0 + g.w * g.c, *p3 = p2 + g.c;
      if (b1 - b0 == 1) p1 = p0 + g.w * g.c, p2 = p1 + g.w * g.c, p3 = p2 + g.w * g.c; /* 4x1 */
      if (a1 - a0 == 1) p2 = p1 + g.c, p3 = p2 + g.c; /* 1x4 */
      for (int64_t c = 0; c < g.c; c++) { /* the same order and tests as the loop below */
        float m = yo[c], v = p0[c];
        m = v > m || v != v ? v : m;
        v = p1[c], m = v > m || v != v ? v : m;
        v = p2[c], m = v > m || v != v ? v : m;
        v = p3[c], m = v > m || v != v ? v : m;
        yo[c] = m;
      }
      continue;
    }
    if (!arg) {
      for (int64_t a = a0; a < a1; a++) {
        for (int64_t b = b0; b < b1; b++) {
          const float *xp = xn + (a * g.w + b) * g.c;
          for (int64_t c = 0; c < g.c; c++) { /* branch-free, so that the compiler vectorizes it */
            float v = xp[c];
            yo[c] = v > yo[c] || v != v ? v : yo[c];
          }
        }
      }
      continue;
    }
    int32_t *ao = arg + (r * g.ow + j) * g.c;
    for (int64_t c = 0; c < g.c; c++) ao[c] = (int32_t)(a0 * g.w + b0);
    for (int64_t a = a0; a < a1; a++) {
      for (int64_t b = b0; b < b1; b++) {
        const float *xp = xn + (a * g.w + b) * g.c;
        int32_t pos = (int32_t)(a * g.w + b);
        for (int64_t c = 0; c < g.c; c++) {
          float v = xp[c];
          bool take = v > yo[c] || v != v;
          yo[c] = take ? v : yo[c];
          ao[c] = take ? pos : ao[c];
        }
      }
    }
  }
}

static void max_pool_forward(const float *x, float *y, int32_t *arg, geom g) {
  int64_t rows = g.n * g.oh;
#pragma omp parallel for schedule(static) if (forward_work(&g) > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) max_pool_row(x, y, arg, &g, r);
}

/* dx (zeros, x's shape) += gy at the winners. Windows overlap: parallel over the batch only. */
static void scatter_winners(const float *gy, const int32_t *arg, float *dx, geom g) {
  int64_t per_out = g.oh * g.ow * g.c;
#pragma omp parallel for schedule(static) if (g.n * per_out > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g.n; n++) {
    float *dxn = dx + n * g.h * g.w * g.c;
    const float *gn = gy + n * per_out;
    const int32_t *an = arg + n * per_out;
    for (int64_t o = 0; o < g.oh * g.ow; o++)
      for (int64_t c = 0; c < g.c; c++) dxn[(int64_t)an[o * g.c + c] * g.c + c] += gn[o * g.c + c];
  }
}

/* gy (y's shape) = gx at the winners: scatter's adjoint. Disjoint outputs. */
static void gather_winners(const float *gx, const int32_t *arg, float *gy, geom g) {
  int64_t rows = g.n * g.oh, per_row = g.ow * g.c;
#pragma omp parallel for schedule(static) if (rows * per_row > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *gxn = gx + r / g.oh * g.h * g.w * g.c;
    const int32_t *ar = arg + r * per_row;
    float *gr = gy + r * per_row;
    for (int64_t j = 0; j < g.ow; j++)
      for (int64_t c = 0; c < g.c; c++) gr[j * g.c + c] = gxn[(int64_t)ar[j * g.c + c] * g.c + c];
  }
}

static dnn_status winners_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin);
static dnn_status scatter_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin);

/* The gradient of max pooling: gy (y's shape) into zeros of x's shape at the
 * winners, recorded (its backward gathers) when gy needs grad. */
static dnn_tensor *max_pool_scatter(dnn_tensor *gy, dnn_tensor *arg, const geom *g) {
  int64_t shape[4] = {g->n, g->h, g->w, g->c};
  dnn_tensor *gc = dnn_contiguous(gy), *dx = gc ? dnn_zeros(4, shape) : NULL;
  if (dx) {
    scatter_winners(dnn_data(gc), (const int32_t *)dnn_data(arg), dnn_data(dx), *g);
    dx = record_pool(dx, "max_pool2d_backward", scatter_backward, gc, g, arg);
  }
  dnn_tensor_release(gc);
  return dx;
}

/* gx (x's shape) at the winners, recorded (its backward scatters) when gx needs grad. */
static dnn_tensor *max_pool_gather(dnn_tensor *gx, dnn_tensor *arg, const geom *g) {
  int64_t shape[4] = {g->n, g->oh, g->ow, g->c};
  dnn_tensor *gc = dnn_contiguous(gx), *gy = gc ? dnn_empty(4, shape) : NULL;
  if (gy) {
    gather_winners(dnn_data(gc), (const int32_t *)dnn_data(arg), dnn_data(gy), *g);
    gy = record_pool(gy, "max_pool2d_gather", winners_backward, gc, g, arg);
  }
  dnn_tensor_release(gc);
  return gy;
}

/* max_pool2d and the gather: inputs x (or a tensor of its shape); saved[0]:
 * the winners (int32 in a float tensor of y's shape). */
static dnn_status winners_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  geom g = load_geom(node);
  gin[0] = max_pool_scatter(grad_out[0], dnn_node_saved(node, 0), &g);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* The scatter: input of y's shape; saved[0]: the winners. */
static dnn_status scatter_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  geom g = load_geom(node);
  gin[0] = max_pool_gather(grad_out[0], dnn_node_saved(node, 0), &g);
  return gin[0] ? DNN_OK : dnn_errcode();
}

dnn_tensor *dnn_max_pool2d(dnn_tensor *x, const dnn_pool2d_config *cfg) {
  geom g;
  if (check_pool("max_pool2d", x, cfg, &g) != DNN_OK) return NULL;
  int64_t shape[4] = {g.n, g.oh, g.ow, g.c};
  bool record = dnn_needs_record(1, &x); /* the winners are for backward only */
  dnn_tensor *xc = dnn_contiguous(x), *y = dnn_empty(4, shape), *arg = record ? dnn_empty(4, shape) : NULL;
  if (xc && y && (arg || !record)) {
    max_pool_forward(dnn_data(xc), dnn_data(y), arg ? (int32_t *)dnn_data(arg) : NULL, g);
    y = record_pool(y, "max_pool2d", winners_backward, xc, &g, arg);
  } else {
    dnn_tensor_release(y);
    y = NULL;
  }
  dnn_tensor_release(arg);
  dnn_tensor_release(xc);
  return y;
}

/* ---- average pooling ---- */

static void avg_pool_forward(const float *x, float *y, geom g) {
  int64_t rows = g.n * g.oh;
#pragma omp parallel for schedule(static) if (forward_work(&g) > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t n = r / g.oh, i = r % g.oh, a0, a1;
    window(i, g.sh, g.pt, g.ph, g.h, &a0, &a1);
    const float *xn = x + n * g.h * g.w * g.c;
    for (int64_t j = 0; j < g.ow; j++) {
      int64_t b0, b1;
      window(j, g.sw, g.pl, g.pw, g.w, &b0, &b1);
      float *yo = y + (r * g.ow + j) * g.c;
      for (int64_t c = 0; c < g.c; c++) yo[c] = 0;
      for (int64_t a = a0; a < a1; a++) {
        for (int64_t b = b0; b < b1; b++) {
          const float *xp = xn + (a * g.w + b) * g.c;
          for (int64_t c = 0; c < g.c; c++) yo[c] += xp[c];
        }
      }
      float inv = 1.0f / (float)((a1 - a0) * (b1 - b0));
      for (int64_t c = 0; c < g.c; c++) yo[c] *= inv;
    }
  }
}

/* The adjoint: dx (zeros, x's shape) gets each gy, divided by its window's
 * count, on every cell of the window. Windows overlap: parallel over the batch only. */
static void avg_pool_spread(const float *gy, float *dx, geom g) {
#pragma omp parallel for schedule(static) if (forward_work(&g) > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g.n; n++) {
    float *dxn = dx + n * g.h * g.w * g.c;
    for (int64_t i = 0; i < g.oh; i++) {
      int64_t a0, a1;
      window(i, g.sh, g.pt, g.ph, g.h, &a0, &a1);
      for (int64_t j = 0; j < g.ow; j++) {
        int64_t b0, b1;
        window(j, g.sw, g.pl, g.pw, g.w, &b0, &b1);
        const float *go = gy + ((n * g.oh + i) * g.ow + j) * g.c;
        float inv = 1.0f / (float)((a1 - a0) * (b1 - b0));
        for (int64_t a = a0; a < a1; a++) {
          for (int64_t b = b0; b < b1; b++) {
            float *dp = dxn + (a * g.w + b) * g.c;
            for (int64_t c = 0; c < g.c; c++) dp[c] += go[c] * inv;
          }
        }
      }
    }
  }
}

static dnn_status avg_pool_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin);
static dnn_status spread_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin);

/* The average pool of x with the geometry, recorded (its backward spreads). */
static dnn_tensor *avg_pool(dnn_tensor *x, const geom *g) {
  int64_t shape[4] = {g->n, g->oh, g->ow, g->c};
  dnn_tensor *xc = dnn_contiguous(x), *y = xc ? dnn_empty(4, shape) : NULL;
  if (y) {
    avg_pool_forward(dnn_data(xc), dnn_data(y), *g);
    y = record_pool(y, "avg_pool2d", avg_pool_backward, xc, g, NULL);
  }
  dnn_tensor_release(xc);
  return y;
}

/* The gradient of average pooling: gy (y's shape) spread over the windows,
 * recorded (its backward is the average pool) when gy needs grad. */
static dnn_tensor *avg_pool_adjoint(dnn_tensor *gy, const geom *g) {
  int64_t shape[4] = {g->n, g->h, g->w, g->c};
  dnn_tensor *gc = dnn_contiguous(gy), *dx = gc ? dnn_zeros(4, shape) : NULL;
  if (dx) {
    avg_pool_spread(dnn_data(gc), dnn_data(dx), *g);
    dx = record_pool(dx, "avg_pool2d_backward", spread_backward, gc, g, NULL);
  }
  dnn_tensor_release(gc);
  return dx;
}

/* inputs: x. */
static dnn_status avg_pool_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  geom g = load_geom(node);
  gin[0] = avg_pool_adjoint(grad_out[0], &g);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* inputs: a tensor of y's shape. */
static dnn_status spread_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  geom g = load_geom(node);
  gin[0] = avg_pool(grad_out[0], &g);
  return gin[0] ? DNN_OK : dnn_errcode();
}

dnn_tensor *dnn_avg_pool2d(dnn_tensor *x, const dnn_pool2d_config *cfg) {
  geom g;
  if (check_pool("avg_pool2d", x, cfg, &g) != DNN_OK) return NULL;
  return avg_pool(x, &g);
}

/* ---- global pooling: one window over the whole image, then (n, c) unless keepdims ---- */

dnn_tensor *dnn_global_pool2d(dnn_tensor *x, bool max, bool keepdims) {
  const char *op = max ? "global_max_pool2d" : "global_avg_pool2d";
  char buf[96];
  if (x->ndim != 4) {
    dnn_argerror(1, op, "expected a 4-d input (batch, height, width, channels), got %s",
                 dnn_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  if (x->shape[1] == 0 || x->shape[2] == 0) {
    dnn_argerror(1, op, "expected a non-empty image, got %s", dnn_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  dnn_pool2d_config cfg = {{x->shape[1], x->shape[2]}, {1, 1}, false};
  dnn_tensor *y = max ? dnn_max_pool2d(x, &cfg) : dnn_avg_pool2d(x, &cfg);
  if (!y || keepdims) return y;
  int64_t shape[2] = {x->shape[0], x->shape[3]};
  dnn_tensor *flat = dnn_reshape(y, 2, shape);
  dnn_tensor_release(y);
  return flat;
}
