/* 2-d convolutions over NHWC images: Conv2D and Conv2DTranspose through
 * im2col / col2im and one large GEMM over the whole batch, DepthwiseConv2D
 * with direct loops over the channels. Bias and activation are fused into the
 * output pass (activation_kernels.h, shared with Dense).
 *
 * A conv is seen through its geometry: an "image" side (N, H, W, C) and a
 * grid of (OH, OW) kernel positions. im2col turns the image into the matrix
 * cols (N*OH*OW, KH*KW*C) whose row holds the patch under one position, in
 * the order of a Keras kernel (KH, KW, C, F) read as a (KH*KW*C, F) matrix,
 * so that conv(x, W) = cols @ W. col2im is its adjoint: it adds each row of a
 * (N*OH*OW, KH*KW*C) matrix back onto the image. The transposed conv is the
 * same geometry with the roles swapped: its output is the image side.
 *
 * Each conv is one of three bilinear products of (image, rows, kernel); the
 * other two are its gradients. They are recorded ops too, so gradients of
 * gradients (create_graph) go through the same kernels as training. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "activation_kernels.h"
#include "dnn/autograd.h"
#include "dnn/conv.h"
#include "dnn/error.h"
#include "dnn/ops.h"
#include "dnn/parallel.h"
#include "kernels.h"

typedef struct {
  int64_t n, h, w, c; /* the image side */
  int64_t oh, ow; /* kernel positions */
  int64_t kh, kw;
  int64_t sh, sw, dh, dw;
  int64_t pt, pl; /* padding before the first row / column */
} conv_geom;

typedef enum { CONV_PLAIN, CONV_TRANSPOSE, CONV_DEPTHWISE } conv_kind;

static const char *const kind_names[] = {"conv2d", "conv2d_transpose", "depthwise_conv2d"};

static int64_t dilated(int64_t k, int64_t d) { return (k - 1) * d + 1; }

int64_t dnn_conv_output_length(int64_t in, int64_t k, int stride, int dilation, bool same) {
  if (stride < 1 || dilation < 1 || k < 1) return 0;
  if (same) return (in + stride - 1) / stride;
  int64_t span = in - dilated(k, dilation);
  return span < 0 ? 0 : span / stride + 1;
}

int64_t dnn_conv_transpose_output_length(int64_t in, int64_t k, int stride, int dilation, bool same) {
  if (stride < 1 || dilation < 1 || k < 1) return 0;
  if (same) return in * stride;
  int64_t extra = dilated(k, dilation) - stride;
  return in * stride + (extra > 0 ? extra : 0);
}

/* TensorFlow's "same": total = max((out - 1) * s + dilated k - in, 0), the smaller half before. */
static int64_t pad_before(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, bool same) {
  if (!same) return 0;
  int64_t total = (out - 1) * s + dilated(k, d) - in;
  return total > 0 ? total / 2 : 0;
}

/* Whether the image already is the cols matrix (1x1 kernel, stride 1, no padding). */
static bool is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0;
}

/* ---- the workspace: one buffer per thread, grown as needed and kept, so that a training loop does not allocate
 * the (large) cols matrix at every call. The calling thread's buffer is freed at exit. ---- */

static _Thread_local float *ws_data;
static _Thread_local size_t ws_cap;

static void ws_free(void) {
  free(ws_data);
  ws_data = NULL;
  ws_cap = 0;
}

static float *workspace(const char *op, int64_t n) {
  static bool registered;
  if ((size_t)n <= ws_cap && ws_data) return ws_data;
  free(ws_data);
  ws_cap = 0;
  ws_data = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!ws_data) {
    dnn_error(DNN_ENOMEM, op, "could not allocate a %lld-float workspace", (long long)n);
    return NULL;
  }
  ws_cap = (size_t)n;
  if (!registered) registered = atexit(ws_free) == 0;
  return ws_data;
}

/* cols[(n,i,j), (u,v,c)] = img[n, i*sh + u*dh - pt, j*sw + v*dw - pl, c], 0 outside the image. Walked by kernel
 * row: without dilation, the kw taps of a kernel row that lies inside the image are one contiguous run of kw*c
 * floats in NHWC, copied at once; only the border positions are checked pixel by pixel. */
static void im2col(const float *img, float *cols, const conv_geom *g) {
  int64_t k = g->kh * g->kw * g->c, run = g->kw * g->c;
#pragma omp parallel for collapse(2) if (g->n * g->oh * g->ow * k > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g->n; n++) {
    for (int64_t i = 0; i < g->oh; i++) {
      for (int64_t u = 0; u < g->kh; u++) {
        int64_t y = i * g->sh + u * g->dh - g->pt;
        bool row_in = y >= 0 && y < g->h;
        const float *line = img + (n * g->h + (row_in ? y : 0)) * g->w * g->c;
        for (int64_t j = 0; j < g->ow; j++) {
          float *dst = cols + ((n * g->oh + i) * g->ow + j) * k + u * run;
          int64_t x0 = j * g->sw - g->pl;
          if (!row_in) {
            for (int64_t e = 0; e < run; e++) dst[e] = 0;
          } else if (g->dw == 1 && x0 >= 0 && x0 + g->kw <= g->w) {
            const float *src = line + x0 * g->c;
            for (int64_t e = 0; e < run; e++) dst[e] = src[e];
          } else {
            for (int64_t v = 0; v < g->kw; v++) {
              int64_t x = x0 + v * g->dw;
              float *d = dst + v * g->c;
              if (x < 0 || x >= g->w) {
                for (int64_t c = 0; c < g->c; c++) d[c] = 0;
              } else {
                const float *src = line + x * g->c;
                for (int64_t c = 0; c < g->c; c++) d[c] = src[c];
              }
            }
          }
        }
      }
    }
  }
}

/* img = 0, then img[n, i*sh + u*dh - pt, j*sw + v*dw - pl, c] += cols[(n,i,j), (u,v,c)]: the adjoint of im2col.
 * Images of different examples are disjoint, so the batch is split over the threads. */
static void col2im(const float *cols, float *img, const conv_geom *g) {
  int64_t k = g->kh * g->kw * g->c, image = g->h * g->w * g->c;
#pragma omp parallel for if (g->n * g->oh * g->ow * k > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g->n; n++) {
    float *im = img + n * image;
    memset(im, 0, (size_t)image * sizeof(float));
    for (int64_t i = 0; i < g->oh; i++) {
      for (int64_t j = 0; j < g->ow; j++) {
        const float *row = cols + ((n * g->oh + i) * g->ow + j) * k;
        for (int64_t u = 0; u < g->kh; u++) {
          int64_t y = i * g->sh + u * g->dh - g->pt;
          if (y < 0 || y >= g->h) continue;
          for (int64_t v = 0; v < g->kw; v++) {
            int64_t x = j * g->sw + v * g->dw - g->pl;
            if (x < 0 || x >= g->w) continue;
            const float *src = row + (u * g->kw + v) * g->c;
            float *dst = im + (y * g->w + x) * g->c;
            for (int64_t c = 0; c < g->c; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

/* C = op(A) @ op(B) + beta C, row-major, (m, n) = (m, k) @ (k, n). */
static void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, const float *b, float beta,
                 float *c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0) memset(c, 0, (size_t)(m * n) * sizeof(float));
    return;
  }
  dnn_sgemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

/* The batch goes through im2col in chunks of whole examples, as many as keep the cols matrix within this many floats
 * (8 MB): the GEMMs keep thousands of rows (7k for a 14x14x32 -> 64 layer at batch 128) while the cols they read
 * were just written and still sit in the caches (single-threaded, a train_cnn step was ~10% faster than with whole
 * 128-example batches of 29 MB of cols), and the workspace stays bounded whatever the batch size. */
#define CONV_WORKSPACE_FLOATS ((int64_t)1 << 21)

static int64_t chunk_examples(const conv_geom *g) {
  int64_t per = g->oh * g->ow * g->kh * g->kw * g->c, n = per > 0 ? CONV_WORKSPACE_FLOATS / per : g->n;
  return n < 1 ? 1 : n > g->n ? (g->n > 0 ? g->n : 1) : n;
}

/* The geometry of examples [n0, n0 + per) (fewer at the end). */
static conv_geom chunk_of(const conv_geom *g, int64_t n0, int64_t per) {
  conv_geom c = *g;
  c.n = n0 + per > g->n ? g->n - n0 : per;
  return c;
}

/* ---- the lowered products, shared by Conv2D and Conv2DTranspose ----
 * With cols = im2col(image) (the image itself when the kernel is pointwise) and rows the other side, pos x width
 * per example: rows = cols W is Conv2D's forward and Conv2DTranspose's input gradient; image = col2im(rows W^T) is
 * Conv2D's input gradient and Conv2DTranspose's forward; dW = cols^T rows is the kernel gradient of both. Each runs
 * chunk by chunk of the batch through the workspace ws (NULL when pointwise). */

static void cols_times_kernel(const conv_geom *g, float *ws, const float *image, const float *w, int64_t width,
                              float *rows) {
  int64_t k = g->kh * g->kw * g->c, pos = g->oh * g->ow, size = g->h * g->w * g->c, per = chunk_examples(g);
  if (!ws) {
    gemm(false, false, g->n * pos, width, k, image, w, 0, rows);
    return;
  }
  for (int64_t n0 = 0; n0 < g->n; n0 += per) {
    conv_geom c = chunk_of(g, n0, per);
    im2col(image + n0 * size, ws, &c);
    gemm(false, false, c.n * pos, width, k, ws, w, 0, rows + n0 * pos * width);
  }
}

static void rows_times_kernel_t(const conv_geom *g, float *ws, const float *rows, const float *w, int64_t width,
                                float *image) {
  int64_t k = g->kh * g->kw * g->c, pos = g->oh * g->ow, size = g->h * g->w * g->c, per = chunk_examples(g);
  if (!ws) {
    gemm(false, true, g->n * pos, k, width, rows, w, 0, image);
    return;
  }
  for (int64_t n0 = 0; n0 < g->n; n0 += per) {
    conv_geom c = chunk_of(g, n0, per);
    gemm(false, true, c.n * pos, k, width, rows + n0 * pos * width, w, 0, ws);
    col2im(ws, image + n0 * size, &c);
  }
}

static void kernel_grad(const conv_geom *g, float *ws, const float *image, const float *rows, int64_t width,
                        float *dw) {
  int64_t k = g->kh * g->kw * g->c, pos = g->oh * g->ow, size = g->h * g->w * g->c, per = chunk_examples(g);
  if (!ws || g->n == 0) {
    gemm(true, false, k, width, g->n * pos, image, rows, 0, dw);
    return;
  }
  for (int64_t n0 = 0; n0 < g->n; n0 += per) {
    conv_geom c = chunk_of(g, n0, per);
    im2col(image + n0 * size, ws, &c);
    gemm(true, false, k, width, c.n * pos, ws, rows + n0 * pos * width, n0 > 0 ? 1 : 0, dw);
  }
}

/* The workspace the lowered products of op need: NULL when the kernel is pointwise (or nothing is computed), and
 * then *ok is true; *ok is false when the allocation failed. */
static float *lowering_workspace(const char *op, const conv_geom *g, bool needed, bool *ok) {
  float *ws =
      needed && !is_pointwise(g) ? workspace(op, chunk_examples(g) * g->oh * g->ow * g->kh * g->kw * g->c) : NULL;
  *ok = ws || !needed || is_pointwise(g);
  return ws;
}

/* ---- the depthwise conv's products: direct loops, the inner one over the channels (and multipliers) ---- */

/* y[n,i,j,:] = sum over the kernel taps inside the image of x[n,y,x,c] * W[u,v,c,m] (channel c*M+m). */
static void depthwise_forward(const float *x, const float *w, float *y, const conv_geom *g, int64_t m) {
  int64_t cm = g->c * m;
#pragma omp parallel for collapse(2) if (g->n * g->oh * g->ow * cm * g->kh * g->kw > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g->n; n++) {
    for (int64_t i = 0; i < g->oh; i++) {
      for (int64_t j = 0; j < g->ow; j++) {
        float *out = y + ((n * g->oh + i) * g->ow + j) * cm;
        for (int64_t q = 0; q < cm; q++) out[q] = 0;
        for (int64_t u = 0; u < g->kh; u++) {
          int64_t iy = i * g->sh + u * g->dh - g->pt;
          if (iy < 0 || iy >= g->h) continue;
          for (int64_t v = 0; v < g->kw; v++) {
            int64_t ix = j * g->sw + v * g->dw - g->pl;
            if (ix < 0 || ix >= g->w) continue;
            const float *in = x + ((n * g->h + iy) * g->w + ix) * g->c, *wk = w + (u * g->kw + v) * cm;
            if (m == 1) {
              for (int64_t c = 0; c < g->c; c++) out[c] += in[c] * wk[c];
            } else {
              for (int64_t c = 0; c < g->c; c++)
                for (int64_t r = 0; r < m; r++) out[c * m + r] += in[c] * wk[c * m + r];
            }
          }
        }
      }
    }
  }
}

/* dx[n,y,x,c] = sum over the positions and taps that read it of sum_m dz[..., c*M+m] * W[u,v,c,m]; each example's
 * image is its own, so the batch is split over the threads. */
static void depthwise_grad_input(const float *dz, const float *w, float *dx, const conv_geom *g, int64_t m) {
  int64_t cm = g->c * m, image = g->h * g->w * g->c;
#pragma omp parallel for if (g->n * g->oh * g->ow * cm * g->kh * g->kw > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < g->n; n++) {
    memset(dx + n * image, 0, (size_t)image * sizeof(float));
    for (int64_t i = 0; i < g->oh; i++) {
      for (int64_t j = 0; j < g->ow; j++) {
        const float *d = dz + ((n * g->oh + i) * g->ow + j) * cm;
        for (int64_t u = 0; u < g->kh; u++) {
          int64_t iy = i * g->sh + u * g->dh - g->pt;
          if (iy < 0 || iy >= g->h) continue;
          for (int64_t v = 0; v < g->kw; v++) {
            int64_t ix = j * g->sw + v * g->dw - g->pl;
            if (ix < 0 || ix >= g->w) continue;
            float *out = dx + ((n * g->h + iy) * g->w + ix) * g->c;
            const float *wk = w + (u * g->kw + v) * cm;
            for (int64_t c = 0; c < g->c; c++) {
              float s = 0;
              for (int64_t r = 0; r < m; r++) s += d[c * m + r] * wk[c * m + r];
              out[c] += s;
            }
          }
        }
      }
    }
  }
}

/* dW[u,v,c,m] = sum over the batch and positions of x[n,y,x,c] * dz[n,i,j,c*M+m]; each tap (u, v) is summed by one
 * thread in a fixed order, so the result does not depend on the thread count. */
static void depthwise_grad_kernel(const float *x, const float *dz, float *dw, const conv_geom *g, int64_t m) {
  int64_t cm = g->c * m;
#pragma omp parallel for collapse(2) if (g->n * g->oh * g->ow * cm * g->kh * g->kw > DNN_PARALLEL_GRAIN)
  for (int64_t u = 0; u < g->kh; u++) {
    for (int64_t v = 0; v < g->kw; v++) {
      float *acc = dw + (u * g->kw + v) * cm;
      for (int64_t q = 0; q < cm; q++) acc[q] = 0;
      for (int64_t n = 0; n < g->n; n++) {
        for (int64_t i = 0; i < g->oh; i++) {
          int64_t iy = i * g->sh + u * g->dh - g->pt;
          if (iy < 0 || iy >= g->h) continue;
          for (int64_t j = 0; j < g->ow; j++) {
            int64_t ix = j * g->sw + v * g->dw - g->pl;
            if (ix < 0 || ix >= g->w) continue;
            const float *in = x + ((n * g->h + iy) * g->w + ix) * g->c;
            const float *d = dz + ((n * g->oh + i) * g->ow + j) * cm;
            for (int64_t c = 0; c < g->c; c++)
              for (int64_t r = 0; r < m; r++) acc[c * m + r] += in[c] * d[c * m + r];
          }
        }
      }
    }
  }
}

/* ---- the three products as recorded ops ----
 * A conv relates three tensors: the image side (N,H,W,C), the rows side (N,OH,OW,R) and the kernel (KH,KW,C,M),
 * R = M, or C*M for the depthwise conv. Each product computes one of them from the other two and is bilinear, so
 * its gradients are the other two products:
 *   rows   = P_rows(image, kernel):  d image = P_image(g, kernel),  d kernel = P_kernel(image, g)
 *   image  = P_image(rows, kernel):  d rows  = P_rows(g, kernel),   d kernel = P_kernel(g, rows)
 *   kernel = P_kernel(image, rows):  d image = P_image(rows, g),    d rows   = P_rows(image, g)
 * Conv2D is P_rows and Conv2DTranspose P_image, lowered to GEMMs; the depthwise conv's products are the direct
 * loops. The fused ops' first-order backward calls them unrecorded; with create_graph the recorded products give
 * gradients of gradients of any order. */

typedef enum { TO_ROWS, TO_IMAGE, TO_KERNEL } conv_side;

typedef struct {
  conv_geom g;
  int64_t m; /* the kernel's last dim */
  bool depthwise;
  conv_side to; /* the product a recorded node computes */
} conv_products;

static const char *const product_names[2][3] = {
    {"conv2d", "conv2d_transpose", "conv2d_kernel_grad"},
    {"depthwise_conv2d", "depthwise_conv2d_input_grad", "depthwise_conv2d_kernel_grad"}};

/* The workspace the product to needs (NULL when it needs none: then *ok is true). */
static float *product_workspace(const conv_products *p, conv_side to, bool *ok) {
  return lowering_workspace(product_names[p->depthwise][to], &p->g, !p->depthwise, ok);
}

/* out = P_to(a, b), all contiguous. */
static void product_fill(const conv_products *p, conv_side to, float *ws, const float *a, const float *b, float *out) {
  const conv_geom *g = &p->g;
  if (p->depthwise) {
    if (to == TO_ROWS)
      depthwise_forward(a, b, out, g, p->m);
    else if (to == TO_IMAGE)
      depthwise_grad_input(a, b, out, g, p->m);
    else
      depthwise_grad_kernel(a, b, out, g, p->m);
  } else {
    if (to == TO_ROWS)
      cols_times_kernel(g, ws, a, b, p->m, out);
    else if (to == TO_IMAGE)
      rows_times_kernel_t(g, ws, a, b, p->m, out);
    else
      kernel_grad(g, ws, a, b, p->m, out);
  }
}

static dnn_status product_grads(const conv_products *p, conv_side to, dnn_tensor *a, dnn_tensor *b, dnn_tensor *g,
                                const bool need[2], dnn_tensor **gin);

/* inputs: the product's two operands (contiguous); ctx: its conv_products. */
static dnn_status product_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const conv_products *p = node->ctx;
  bool need[2] = {dnn_node_needs_grad(node, 0), dnn_node_needs_grad(node, 1)};
  return product_grads(p, p->to, node->inputs[0], node->inputs[1], grad_out[0], need, gin);
}

/* P_to(a, b), recorded when a or b needs grad. */
static dnn_tensor *product_op(const conv_products *p, conv_side to, dnn_tensor *a, dnn_tensor *b) {
  const conv_geom *g = &p->g;
  int64_t width = p->depthwise ? g->c * p->m : p->m;
  int64_t shapes[3][4] = {{g->n, g->oh, g->ow, width}, {g->n, g->h, g->w, g->c}, {g->kh, g->kw, g->c, p->m}};
  dnn_tensor *ops[2] = {dnn_contiguous(a), dnn_contiguous(b)};
  bool ok = ops[0] && ops[1];
  float *ws = ok ? product_workspace(p, to, &ok) : NULL;
  dnn_tensor *out = ok ? dnn_empty(4, shapes[to]) : NULL;
  if (out) {
    product_fill(p, to, ws, dnn_data(ops[0]), dnn_data(ops[1]), dnn_data(out));
    dnn_node *node = dnn_record(out, product_names[p->depthwise][to], product_backward, 2, ops);
    conv_products *ctx = node ? malloc(sizeof *ctx) : NULL;
    if (ctx) {
      *ctx = *p;
      ctx->to = to;
      node->ctx = ctx;
      node->ctx_free = free;
      node->flags |= DNN_NODE_DIFFERENTIABLE;
    } else if (node) {
      dnn_tensor_release(out);
      out = NULL;
      dnn_error(DNN_ENOMEM, product_names[p->depthwise][to], "out of memory");
    }
  }
  dnn_tensor_release(ops[0]);
  dnn_tensor_release(ops[1]);
  return out;
}

/* The gradients of P_to(a, b) given g, for the operands in need: each is the product to that operand's side from
 * the other operand and g (the table above). */
static dnn_status product_grads(const conv_products *p, conv_side to, dnn_tensor *a, dnn_tensor *b, dnn_tensor *g,
                                const bool need[2], dnn_tensor **gin) {
  switch (to) {
    case TO_ROWS: /* a image, b kernel */
      if (need[0]) gin[0] = product_op(p, TO_IMAGE, g, b);
      if (need[1]) gin[1] = product_op(p, TO_KERNEL, a, g);
      break;
    case TO_IMAGE: /* a rows, b kernel */
      if (need[0]) gin[0] = product_op(p, TO_ROWS, g, b);
      if (need[1]) gin[1] = product_op(p, TO_KERNEL, g, a);
      break;
    case TO_KERNEL: /* a image, b rows */
      if (need[0]) gin[0] = product_op(p, TO_IMAGE, b, g);
      if (need[1]) gin[1] = product_op(p, TO_ROWS, a, g);
      break;
  }
  for (int i = 0; i < 2; i++)
    if (need[i] && !gin[i]) return dnn_errcode() != DNN_OK ? dnn_errcode() : DNN_ENOMEM;
  return DNN_OK;
}

/* ---- argument checks and the geometry ---- */

/* Checks x, w, b and cfg for an op of this kind; fills g and the output shape. */
static dnn_status conv_check(conv_kind kind, const dnn_tensor *x, const dnn_tensor *w, const dnn_tensor *b,
                             const dnn_conv2d_config *cfg, conv_geom *g, int64_t out[4]) {
  const char *op = kind_names[kind];
  char a[96], c[96];
  if (x->ndim != 4)
    return dnn_argerror(1, op, "expected a 4-d input (batch, height, width, channels), got a %d-d input %s", x->ndim,
                        dnn_shape_str(x, a, sizeof a));
  if (w->ndim != 4)
    return dnn_argerror(2, op, "expected a 4-d kernel %s, got %s",
                        kind == CONV_PLAIN           ? "(kernel_h, kernel_w, in_channels, filters)"
                            : kind == CONV_TRANSPOSE ? "(kernel_h, kernel_w, filters, in_channels)"
                                                     : "(kernel_h, kernel_w, in_channels, depth_multiplier)",
                        dnn_shape_str(w, a, sizeof a));
  for (int d = 0; d < 4; d++)
    if (w->shape[d] < 1)
      return dnn_argerror(2, op, "expected a kernel with no empty dim, got %s", dnn_shape_str(w, a, sizeof a));
  int64_t in_c = kind == CONV_TRANSPOSE ? w->shape[3] : w->shape[2];
  if (x->shape[3] != in_c)
    return dnn_argerror(1, op, "expected an input with %lld channels to match kernel %s, got %s", (long long)in_c,
                        dnn_shape_str(w, c, sizeof c), dnn_shape_str(x, a, sizeof a));
  if (x->shape[1] < 1 || x->shape[2] < 1)
    return dnn_argerror(1, op, "expected an input with non-empty height and width, got %s",
                        dnn_shape_str(x, a, sizeof a));
  for (int d = 0; d < 2; d++) {
    if (cfg->stride[d] < 1) return dnn_argerror(4, op, "expected strides >= 1, got %d", cfg->stride[d]);
    if (cfg->dilation[d] < 1) return dnn_argerror(4, op, "expected a dilation rate >= 1, got %d", cfg->dilation[d]);
  }
  int64_t f = kind == CONV_PLAIN ? w->shape[3] : kind == CONV_TRANSPOSE ? w->shape[2] : w->shape[2] * w->shape[3];
  if (b && (b->ndim != 1 || b->shape[0] != f))
    return dnn_argerror(3, op, "expected a bias of shape (%lld), got %s", (long long)f, dnn_shape_str(b, a, sizeof a));
  *g = (conv_geom){.n = x->shape[0],
                   .kh = w->shape[0],
                   .kw = w->shape[1],
                   .sh = cfg->stride[0],
                   .sw = cfg->stride[1],
                   .dh = cfg->dilation[0],
                   .dw = cfg->dilation[1]};
  if (kind == CONV_TRANSPOSE) { /* the image is the output */
    g->oh = x->shape[1], g->ow = x->shape[2], g->c = f;
    g->h = dnn_conv_transpose_output_length(g->oh, g->kh, cfg->stride[0], cfg->dilation[0], cfg->same);
    g->w = dnn_conv_transpose_output_length(g->ow, g->kw, cfg->stride[1], cfg->dilation[1], cfg->same);
    out[1] = g->h, out[2] = g->w, out[3] = f;
  } else {
    g->h = x->shape[1], g->w = x->shape[2], g->c = x->shape[3];
    g->oh = dnn_conv_output_length(g->h, g->kh, cfg->stride[0], cfg->dilation[0], cfg->same);
    g->ow = dnn_conv_output_length(g->w, g->kw, cfg->stride[1], cfg->dilation[1], cfg->same);
    if (g->oh < 1 || g->ow < 1)
      return dnn_argerror(2, op,
                          "the kernel %lldx%lld (%lldx%lld dilated) is larger than the input %lldx%lld with \"valid\" "
                          "padding",
                          (long long)g->kh, (long long)g->kw, (long long)dilated(g->kh, g->dh),
                          (long long)dilated(g->kw, g->dw), (long long)g->h, (long long)g->w);
    out[1] = g->oh, out[2] = g->ow, out[3] = f;
  }
  out[0] = g->n;
  g->pt = pad_before(g->h, g->oh, g->kh, g->sh, g->dh, cfg->same);
  g->pl = pad_before(g->w, g->ow, g->kw, g->sw, g->dw, cfg->same);
  return DNN_OK;
}

/* ---- the fused ops: a product, then bias and activation in the same pass ---- */

/* What backward needs: iargs [act, sh, sw, dh, dw, pt, pl, kind], fargs [alpha], saved[0] the output. */
static dnn_status save_geometry(dnn_node *node, conv_kind kind, const conv_geom *g, dnn_activation act, float alpha,
                                dnn_tensor *y) {
  node->iargs[0] = act;
  node->iargs[1] = g->sh, node->iargs[2] = g->sw, node->iargs[3] = g->dh, node->iargs[4] = g->dw;
  node->iargs[5] = g->pt, node->iargs[6] = g->pl;
  node->iargs[7] = kind;
  node->fargs[0] = alpha;
  return dnn_node_save(node, dnn_alias(y));
}

/* The product a fused node's forward computes, its geometry rebuilt from the inputs, the output and the args. */
static conv_side fused_products(const dnn_node *node, conv_products *p) {
  conv_kind kind = (conv_kind)node->iargs[7];
  const dnn_tensor *x = node->inputs[0], *w = node->inputs[1];
  const int64_t *y = node->outputs[0].shape;
  const int64_t *image = kind == CONV_TRANSPOSE ? y : x->shape, *positions = kind == CONV_TRANSPOSE ? x->shape : y;
  const int64_t *a = node->iargs;
  *p = (conv_products){.g = {.n = image[0],
                             .h = image[1],
                             .w = image[2],
                             .c = image[3],
                             .oh = positions[1],
                             .ow = positions[2],
                             .kh = w->shape[0],
                             .kw = w->shape[1],
                             .sh = a[1],
                             .sw = a[2],
                             .dh = a[3],
                             .dw = a[4],
                             .pt = a[5],
                             .pl = a[6]},
                       .m = w->shape[3],
                       .depthwise = kind == CONV_DEPTHWISE};
  return kind == CONV_TRANSPOSE ? TO_IMAGE : TO_ROWS;
}

/* dz = g * act'(z) from the saved output, or g itself when linear. */
static dnn_tensor *pre_activation_grad(const dnn_node *node, dnn_tensor *g) {
  dnn_activation act = (dnn_activation)node->iargs[0];
  if (act == DNN_ACT_LINEAR) return dnn_tensor_retain(g);
  dnn_tensor *dz = dnn_empty_like(g);
  if (dz)
    dnn_activation_grad(dnn_data(dz), dnn_data(g), dnn_data(dnn_node_saved(node, 0)), dnn_numel(g), act,
                        (float)node->fargs[0]);
  return dz;
}

/* inputs: x, W, b (contiguous). dz through the product's gradients; db = dz summed over every position. */
static dnn_status conv_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  conv_products p;
  conv_side to = fused_products(node, &p);
  dnn_tensor *dz = pre_activation_grad(node, grad_out[0]);
  if (!dz) return DNN_ENOMEM;
  bool need[2] = {dnn_node_needs_grad(node, 0), dnn_node_needs_grad(node, 1)};
  dnn_status st = product_grads(&p, to, node->inputs[0], node->inputs[1], dz, need, gin);
  if (st == DNN_OK && node->n_inputs == 3 && dnn_node_needs_grad(node, 2)) {
    int64_t f = dz->shape[3];
    if ((gin[2] = dnn_empty(1, &f)) == NULL)
      st = DNN_ENOMEM;
    else
      dnn_column_sums(dnn_data(dz), dnn_numel(dz) / f, f, dnn_data(gin[2]));
  }
  dnn_tensor_release(dz);
  return st;
}

/* The fused op from recorded ops, for gradients of gradients: act(P(x, W) + b). */
static dnn_status conv_decompose(dnn_node *node, dnn_tensor *const *inputs, dnn_tensor **outputs) {
  conv_products p;
  conv_side to = fused_products(node, &p);
  dnn_tensor *z = product_op(&p, to, inputs[0], inputs[1]);
  dnn_tensor *zb = z && node->n_inputs == 3 ? dnn_add(z, inputs[2]) : dnn_tensor_retain(z);
  outputs[0] = zb ? dnn_activate(zb, (dnn_activation)node->iargs[0], (float)node->fargs[0]) : NULL;
  dnn_tensor_release(z);
  dnn_tensor_release(zb);
  return outputs[0] ? DNN_OK : dnn_errcode();
}

/* The contiguous operands of a conv op (b may be NULL); false when a copy failed (then nothing is held). */
static bool contiguous_operands(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, dnn_tensor *ops[3]) {
  ops[0] = dnn_contiguous(x), ops[1] = dnn_contiguous(w), ops[2] = b ? dnn_contiguous(b) : NULL;
  if (ops[0] && ops[1] && (ops[2] || !b)) return true;
  for (int i = 0; i < 3; i++) dnn_tensor_release(ops[i]);
  return false;
}

/* The forward every convolution shares: checks, contiguous operands, the product, bias and activation fused, the
 * node with its geometry. */
static dnn_tensor *conv_forward(conv_kind kind, dnn_tensor *x, dnn_tensor *w, dnn_tensor *b,
                                const dnn_conv2d_config *cfg, dnn_activation act, float alpha) {
  conv_products p = {.depthwise = kind == CONV_DEPTHWISE};
  int64_t shape[4];
  if (conv_check(kind, x, w, b, cfg, &p.g, shape) != DNN_OK) return NULL;
  p.m = w->shape[3];
  if (act == DNN_ACT_SOFTMAX) { /* a row op: its own op after a linear conv */
    dnn_tensor *z = conv_forward(kind, x, w, b, cfg, DNN_ACT_LINEAR, 0);
    dnn_tensor *y = z ? dnn_softmax(z, -1) : NULL;
    dnn_tensor_release(z);
    return y;
  }
  conv_side to = kind == CONV_TRANSPOSE ? TO_IMAGE : TO_ROWS;
  dnn_tensor *ops[3];
  if (!contiguous_operands(x, w, b, ops)) return NULL;
  bool ok;
  float *ws = product_workspace(&p, to, &ok);
  dnn_tensor *y = ok ? dnn_empty(4, shape) : NULL;
  if (y) {
    product_fill(&p, to, ws, dnn_data(ops[0]), dnn_data(ops[1]), dnn_data(y));
    dnn_bias_activation(dnn_data(y), b ? dnn_data(ops[2]) : NULL, dnn_numel(y) / shape[3], shape[3], act, alpha);
    dnn_node *node = dnn_record(y, kind_names[kind], conv_backward, b ? 3 : 2, ops);
    if (node) node->decompose = conv_decompose;
    if (node && save_geometry(node, kind, &p.g, act, alpha, y) != DNN_OK) {
      dnn_tensor_release(y);
      y = NULL;
    }
  }
  for (int i = 0; i < 3; i++) dnn_tensor_release(ops[i]);
  return y;
}

dnn_tensor *dnn_conv2d(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg, dnn_activation act,
                       float alpha) {
  return conv_forward(CONV_PLAIN, x, w, b, cfg, act, alpha);
}

dnn_tensor *dnn_conv2d_transpose(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg,
                                 dnn_activation act, float alpha) {
  return conv_forward(CONV_TRANSPOSE, x, w, b, cfg, act, alpha);
}

dnn_tensor *dnn_depthwise_conv2d(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg,
                                 dnn_activation act, float alpha) {
  return conv_forward(CONV_DEPTHWISE, x, w, b, cfg, act, alpha);
}
