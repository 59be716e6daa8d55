/* Elementwise ops and their backwards: binary ops with NumPy broadcasting,
 * comparisons, ops with a scalar, and one-input ops (activations).
 *
 * Binary ops walk the broadcast output with one stride per input after
 * merging the dims that are contiguous for both inputs, so the common cases
 * (same shape, a scalar side, a row or column broadcast) become one or two
 * dims whose innermost loop is a tight, vectorizable loop. One-input ops run
 * over a contiguous buffer (a strided input is gathered into the output once
 * and transformed in place). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"
#include "dnn/tensor.h"
#include "kernels.h"

/* ======================================================================
 * Binary ops with broadcasting
 * ====================================================================== */

typedef enum {
  BIN_ADD,
  BIN_SUB,
  BIN_MUL,
  BIN_DIV,
  BIN_POW,
  BIN_MAX,
  BIN_MIN,
  BIN_EQ,
  BIN_NE,
  BIN_LT,
  BIN_LE,
  BIN_GT,
  BIN_GE
} binop;

static const char *const binop_names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                          "eq",  "ne",  "lt",  "le",  "gt",  "ge"};

/* o[i] = EXPR(x = a[i * sa], y = b[i * sb]), with the stride patterns that
 * occur (1/1 same shape, 1/0 and 0/1 a scalar or broadcast side) as loops the
 * compiler vectorizes. */
#define BIN_LOOP(EXPR)                      \
  do {                                      \
    if (sa == 1 && sb == 1) {               \
      for (int64_t i = 0; i < n; i++) {     \
        float x = a[i], y = b[i];           \
        o[i] = (EXPR);                      \
      }                                     \
    } else if (sb == 0) {                   \
      float y = b[0];                       \
      for (int64_t i = 0; i < n; i++) {     \
        float x = a[i * sa];                \
        o[i] = (EXPR);                      \
      }                                     \
    } else if (sa == 0) {                   \
      float x = a[0];                       \
      for (int64_t i = 0; i < n; i++) {     \
        float y = b[i * sb];                \
        o[i] = (EXPR);                      \
      }                                     \
    } else {                                \
      for (int64_t i = 0; i < n; i++) {     \
        float x = a[i * sa], y = b[i * sb]; \
        o[i] = (EXPR);                      \
      }                                     \
    }                                       \
  } while (0)

/* One innermost run of n outputs. max/min propagate NaN (x != x) and pick a
 * on ties, as their backward does. */
static void binary_kernel(binop op, int64_t n, const float *a, int64_t sa, const float *b, int64_t sb,
                          float *restrict o) {
  switch (op) {
    case BIN_ADD:
      BIN_LOOP(x + y);
      break;
    case BIN_SUB:
      BIN_LOOP(x - y);
      break;
    case BIN_MUL:
      BIN_LOOP(x * y);
      break;
    case BIN_DIV:
      BIN_LOOP(x / y);
      break;
    case BIN_POW:
      BIN_LOOP(y == 2.0f ? x * x : powf(x, y));
      break;
    case BIN_MAX:
      BIN_LOOP(x >= y || x != x ? x : y);
      break;
    case BIN_MIN:
      BIN_LOOP(x <= y || x != x ? x : y);
      break;
    case BIN_EQ:
      BIN_LOOP((float)(x == y));
      break;
    case BIN_NE:
      BIN_LOOP((float)(x != y));
      break;
    case BIN_LT:
      BIN_LOOP((float)(x < y));
      break;
    case BIN_LE:
      BIN_LOOP((float)(x <= y));
      break;
    case BIN_GT:
      BIN_LOOP((float)(x > y));
      break;
    case BIN_GE:
      BIN_LOOP((float)(x >= y));
      break;
  }
}

/* The broadcast walk: output dims (merged), and each input's strides over
 * them (0 where it is broadcast). The output is contiguous. */
typedef struct {
  binop op;
  int nd; /* >= 1 */
  int64_t shape[DNN_MAX_DIMS];
  int64_t sa[DNN_MAX_DIMS], sb[DNN_MAX_DIMS];
  const float *a, *b;
  float *o;
} bin_walk;

/* Rows [r0, r1) of the walk (a row is one run of the last dim); with one dim,
 * elements [r0, r1). */
static void bin_rows(void *ctx, int64_t r0, int64_t r1) {
  const bin_walk *w = ctx;
  int last = w->nd - 1;
  if (last == 0) {
    binary_kernel(w->op, r1 - r0, w->a + r0 * w->sa[0], w->sa[0], w->b + r0 * w->sb[0], w->sb[0], w->o + r0);
    return;
  }
  int64_t inner = w->shape[last], idx[DNN_MAX_DIMS], offa = 0, offb = 0, rem = r0;
  for (int d = last - 1; d >= 0; d--) {
    idx[d] = rem % w->shape[d];
    rem /= w->shape[d];
    offa += idx[d] * w->sa[d];
    offb += idx[d] * w->sb[d];
  }
  for (int64_t r = r0; r < r1; r++) {
    binary_kernel(w->op, inner, w->a + offa, w->sa[last], w->b + offb, w->sb[last], w->o + r * inner);
    for (int d = last - 1; d >= 0; d--) {
      offa += w->sa[d];
      offb += w->sb[d];
      if (++idx[d] < w->shape[d]) break;
      offa -= w->sa[d] * w->shape[d];
      offb -= w->sb[d] * w->shape[d];
      idx[d] = 0;
    }
  }
}

/* The broadcast shape of a and b (right-aligned, sizes equal or 1). */
static dnn_status broadcast_shape(const char *fn, const dnn_tensor *a, const dnn_tensor *b, int *nd, int64_t *shape) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int d = 0; d < n; d++) {
    int ad = d - (n - a->ndim), bd = d - (n - b->ndim);
    int64_t sa = ad >= 0 ? a->shape[ad] : 1, sb = bd >= 0 ? b->shape[bd] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      char as[96], bs[96];
      return dnn_argerror(2, fn, "expected a shape broadcastable with %s, got %s", dnn_shape_str(a, as, sizeof as),
                          dnn_shape_str(b, bs, sizeof bs));
    }
    shape[d] = sa == 1 ? sb : sa;
  }
  *nd = n;
  return DNN_OK;
}

/* Strides of t over an output of nd dims (right-aligned), 0 where broadcast. */
static void broadcast_strides(const dnn_tensor *t, int nd, int64_t *stride) {
  for (int d = 0; d < nd; d++) {
    int td = d - (nd - t->ndim);
    stride[d] = td >= 0 && t->shape[td] != 1 ? t->stride[td] : 0;
  }
}

/* Fills w's dims from the output shape: drops size-1 dims and merges each dim
 * into the one before it where both inputs step through them as one. */
static void walk_init(bin_walk *w, int nd, const int64_t *shape, const int64_t *sa, const int64_t *sb) {
  w->nd = 0;
  for (int d = 0; d < nd; d++) {
    if (shape[d] == 1) continue;
    int p = w->nd - 1;
    if (p >= 0 && w->sa[p] == sa[d] * shape[d] && w->sb[p] == sb[d] * shape[d]) {
      w->shape[p] *= shape[d];
      w->sa[p] = sa[d];
      w->sb[p] = sb[d];
      continue;
    }
    w->shape[w->nd] = shape[d];
    w->sa[w->nd] = sa[d];
    w->sb[w->nd] = sb[d];
    w->nd++;
  }
  if (w->nd == 0) { /* every dim has size 1 */
    w->nd = 1;
    w->shape[0] = 1;
    w->sa[0] = w->sb[0] = 0;
  }
}

static bool same_contiguous_shape(const dnn_tensor *a, const dnn_tensor *b) {
  return a->ndim == b->ndim && memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape) == 0 &&
      dnn_is_contiguous(a) && dnn_is_contiguous(b);
}

/* out = a op b, broadcast; not recorded. */
static dnn_tensor *binary_forward(binop op, dnn_tensor *a, dnn_tensor *b) {
  int nd = 0;
  int64_t shape[DNN_MAX_DIMS], sa[DNN_MAX_DIMS], sb[DNN_MAX_DIMS];
  bool same = same_contiguous_shape(a, b); /* the common case, one flat walk without the set-up */
  if (!same && broadcast_shape(binop_names[op], a, b, &nd, shape) != DNN_OK) return NULL;
  dnn_tensor *out = same ? dnn_empty(a->ndim, a->shape) : dnn_empty(nd, shape);
  if (!out) return NULL;
  int64_t n = dnn_numel(out);
  if (n == 0) return out;
  bin_walk w = {.op = op, .a = dnn_data(a), .b = dnn_data(b), .o = dnn_data(out)};
  if (same) {
    w.nd = 1;
    w.shape[0] = n;
    w.sa[0] = w.sb[0] = 1;
  } else {
    broadcast_strides(a, nd, sa);
    broadcast_strides(b, nd, sb);
    walk_init(&w, nd, shape, sa, sb);
  }
  int64_t inner = w.shape[w.nd - 1];
  if (w.nd == 1)
    dnn_for_blocks(n, 1, bin_rows, &w);
  else
    dnn_for_blocks(n / inner, inner, bin_rows, &w);
  return out;
}

/* ---- binary backward ---- */

/* t's values broadcast to (nd, shape), contiguous: t's own data when it
 * already is that, else a copy made in *buf (the caller frees it). */
static const float *broadcast_data(dnn_tensor *t, int nd, const int64_t *shape, float **buf) {
  *buf = NULL;
  if (t->ndim == nd && memcmp(t->shape, shape, (size_t)nd * sizeof *shape) == 0 && dnn_is_contiguous(t))
    return dnn_data(t);
  dnn_tensor *alias = dnn_alias(t);
  dnn_tensor *e = alias ? dnn_expand(alias, nd, shape) : NULL;
  dnn_tensor_release(alias);
  if (!e) return NULL;
  int64_t n = dnn_numel(e);
  *buf = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (*buf) dnn_gather_to(e, *buf);
  dnn_tensor_release(e);
  if (!*buf) dnn_error(DNN_ENOMEM, "backward", "out of memory");
  return *buf;
}

typedef struct {
  binop op;
  const float *a, *b, *g;
  float *ga, *gb; /* NULL when that input needs no grad */
} bin_grad;

/* Full-size gradients for elements [s, e): d(out)/da * g and d(out)/db * g. */
static void bin_grad_block(void *ctx, int64_t s, int64_t e) {
  const bin_grad *c = ctx;
  const float *a = c->a, *b = c->b, *g = c->g;
  float *ga = c->ga, *gb = c->gb;
  switch (c->op) {
    case BIN_MUL:
      if (ga)
        for (int64_t i = s; i < e; i++) ga[i] = g[i] * b[i];
      if (gb)
        for (int64_t i = s; i < e; i++) gb[i] = g[i] * a[i];
      break;
    case BIN_DIV: /* d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 */
      if (ga)
        for (int64_t i = s; i < e; i++) ga[i] = g[i] / b[i];
      if (gb)
        for (int64_t i = s; i < e; i++) gb[i] = -g[i] * a[i] / (b[i] * b[i]);
      break;
    case BIN_POW: /* d(a^b)/da = b a^(b-1) (0 where b = 0); d(a^b)/db = a^b log a where a > 0, else 0 */
      if (ga)
        for (int64_t i = s; i < e; i++) ga[i] = b[i] == 0 ? 0.0f : g[i] * b[i] * powf(a[i], b[i] - 1);
      if (gb)
        for (int64_t i = s; i < e; i++) gb[i] = a[i] > 0 ? g[i] * powf(a[i], b[i]) * logf(a[i]) : 0.0f;
      break;
    case BIN_MAX:
    case BIN_MIN: /* the gradient goes to the side that was picked (a on ties) */
      for (int64_t i = s; i < e; i++) {
        bool to_a = c->op == BIN_MAX ? (a[i] >= b[i] || a[i] != a[i]) : (a[i] <= b[i] || a[i] != a[i]);
        if (ga) ga[i] = to_a ? g[i] : 0.0f;
        if (gb) gb[i] = to_a ? 0.0f : g[i];
      }
      break;
    default:
      break;
  }
}

/* A full-size gradient reduced to input t's shape; takes over full. */
static dnn_status reduce_to_input(dnn_tensor *full, const dnn_tensor *t, dnn_tensor **gin) {
  if (!full) return dnn_errcode();
  *gin = dnn_sum_to_shape(full, t->ndim, t->shape);
  dnn_tensor_release(full);
  return *gin ? DNN_OK : dnn_errcode();
}

/* ---- composed backward (create_graph): gradients made of recorded ops ----
 * These helpers take over their tensor arguments (NULL passes an earlier
 * failure through), so a derivative reads as one expression. */

static dnn_tensor *mul_t(dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *r = a && b ? dnn_mul(a, b) : NULL;
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  return r;
}

static dnn_tensor *add_t(dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *r = a && b ? dnn_add(a, b) : NULL;
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  return r;
}

static dnn_tensor *pow_t(dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *r = a && b ? dnn_pow(a, b) : NULL;
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  return r;
}

static dnn_tensor *affine_t(dnn_tensor *a, float alpha, float beta) {
  dnn_tensor *r = a ? dnn_affine(a, alpha, beta) : NULL;
  dnn_tensor_release(a);
  return r;
}

static dnn_tensor *unary_t(dnn_unary_op op, dnn_tensor *a) {
  dnn_tensor *r = a ? dnn_unary(op, a, 0.0f) : NULL;
  dnn_tensor_release(a);
  return r;
}

static dnn_tensor *rdiv_t(float s, dnn_tensor *a) {
  dnn_tensor *r = a ? dnn_rdiv_scalar(s, a) : NULL;
  dnn_tensor_release(a);
  return r;
}

/* A constant 0/1 mask (comparisons are never recorded). */
static dnn_tensor *mask(dnn_cmp cmp, dnn_tensor *x, float s) { return dnn_compare_scalar(cmp, x, s); }

/* The full-size gradients of a binary op (not add or sub) with recorded ops. */
static dnn_status binary_grads_composed(binop op, dnn_tensor *a, dnn_tensor *b, dnn_tensor *g, bool need_a, bool need_b,
                                        dnn_tensor **ga, dnn_tensor **gb) {
  dnn_tensor *R;
  switch (op) {
    case BIN_MUL:
      if (need_a) *ga = dnn_mul(g, b);
      if (need_b) *gb = dnn_mul(g, a);
      break;
    case BIN_DIV: { /* ga = g / b, gb = -(g / b) * (a / b) */
      dnn_tensor *t = dnn_div(g, b);
      if (need_b) {
        R = dnn_tensor_retain(t);
        *gb = affine_t(mul_t(R, dnn_div(a, b)), -1.0f, 0.0f);
      }
      if (need_a)
        *ga = t;
      else
        dnn_tensor_release(t);
      break;
    }
    case BIN_POW:
      if (need_a) { /* g b a^(b - 1 + [b == 0]): 0 where b = 0, never 0 * inf */
        dnn_tensor *e = add_t(dnn_affine(b, 1.0f, -1.0f), dnn_compare_scalar(DNN_CMP_EQ, b, 0.0f));
        *ga = mul_t(dnn_mul(g, b), pow_t(dnn_tensor_retain(a), e));
      }
      if (need_b) { /* g a^b log a where a > 0, else 0: a replaced by 1 elsewhere */
        dnn_tensor *pos = dnn_compare_scalar(DNN_CMP_GT, a, 0.0f);
        R = pos ? dnn_mul(a, pos) : NULL;
        dnn_tensor *safe = add_t(R, affine_t(pos, -1.0f, 1.0f));
        R = dnn_tensor_retain(safe);
        dnn_tensor *p = pow_t(R, dnn_tensor_retain(b));
        *gb = mul_t(mul_t(dnn_tensor_retain(g), p), unary_t(DNN_UNARY_LOG, safe));
      }
      break;
    case BIN_MAX:
    case BIN_MIN: { /* the picked side (a on ties and where a is NaN) */
      dnn_tensor *m = add_t(dnn_compare(op == BIN_MAX ? DNN_CMP_GE : DNN_CMP_LE, a, b), dnn_compare(DNN_CMP_NE, a, a));
      if (need_b) {
        R = dnn_tensor_retain(m);
        *gb = mul_t(dnn_tensor_retain(g), affine_t(R, -1.0f, 1.0f));
      }
      if (need_a) *ga = mul_t(dnn_tensor_retain(g), dnn_tensor_retain(m));
      dnn_tensor_release(m);
      break;
    }
    default:
      break;
  }
  return (need_a && !*ga) || (need_b && !*gb) ? dnn_errcode() : DNN_OK;
}

static dnn_status binary_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  binop op = (binop)node->iargs[0];
  dnn_tensor *a = node->inputs[0], *b = node->inputs[1];
  bool need_a = dnn_node_needs_grad(node, 0), need_b = dnn_node_needs_grad(node, 1);
  if (op == BIN_ADD || op == BIN_SUB) {
    dnn_status st = need_a ? reduce_to_input(dnn_tensor_retain(g), a, &gin[0]) : DNN_OK;
    if (st == DNN_OK && need_b)
      st = reduce_to_input(op == BIN_ADD ? dnn_tensor_retain(g) : dnn_affine(g, -1.0f, 0.0f), b, &gin[1]);
    return st;
  }
  dnn_tensor *ga = NULL, *gb = NULL;
  dnn_status st = DNN_OK;
  if (dnn_grad_enabled()) { /* create_graph */
    st = binary_grads_composed(op, a, b, g, need_a, need_b, &ga, &gb);
    if (st == DNN_OK && ga)
      st = reduce_to_input(ga, a, &gin[0]);
    else
      dnn_tensor_release(ga);
    if (st == DNN_OK && gb)
      st = reduce_to_input(gb, b, &gin[1]);
    else
      dnn_tensor_release(gb);
    return st;
  }
  float *abuf = NULL, *bbuf = NULL;
  const float *ad = broadcast_data(a, g->ndim, g->shape, &abuf);
  const float *bd = ad ? broadcast_data(b, g->ndim, g->shape, &bbuf) : NULL;
  if (need_a) ga = dnn_empty(g->ndim, g->shape);
  if (need_b) gb = dnn_empty(g->ndim, g->shape);
  if (!ad || !bd || (need_a && !ga) || (need_b && !gb)) {
    st = dnn_errcode();
  } else {
    bin_grad c = {op, ad, bd, dnn_data(g), ga ? dnn_data(ga) : NULL, gb ? dnn_data(gb) : NULL};
    dnn_for_blocks(dnn_numel(g), 1, bin_grad_block, &c);
    if (ga) st = reduce_to_input(ga, a, &gin[0]);
    ga = NULL;
    if (st == DNN_OK && gb) st = reduce_to_input(gb, b, &gin[1]);
    gb = NULL;
  }
  dnn_tensor_release(ga);
  dnn_tensor_release(gb);
  free(abuf);
  free(bbuf);
  return st;
}

static dnn_tensor *binary(binop op, dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *out = binary_forward(op, a, b);
  if (!out || op >= BIN_EQ) return out; /* comparisons have no gradient */
  dnn_tensor *ins[2] = {a, b};
  if (!dnn_needs_record(2, ins)) return out;
  dnn_node *node = dnn_record(out, binop_names[op], binary_backward, 2, ins);
  if (!node) {
    dnn_tensor_release(out);
    return NULL;
  }
  node->iargs[0] = op;
  node->flags |= DNN_NODE_DIFFERENTIABLE | (op == BIN_ADD || op == BIN_SUB ? DNN_NODE_SHAPES_ONLY : 0u);
  return out;
}

dnn_tensor *dnn_add(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_ADD, a, b); }
dnn_tensor *dnn_sub(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_SUB, a, b); }
dnn_tensor *dnn_mul(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_MUL, a, b); }
dnn_tensor *dnn_div(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_DIV, a, b); }
dnn_tensor *dnn_pow(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_POW, a, b); }
dnn_tensor *dnn_maximum(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_MAX, a, b); }
dnn_tensor *dnn_minimum(dnn_tensor *a, dnn_tensor *b) { return binary(BIN_MIN, a, b); }

static bool valid_cmp(dnn_cmp cmp) { return (int)cmp >= (int)DNN_CMP_EQ && (int)cmp <= (int)DNN_CMP_GE; }

dnn_tensor *dnn_compare(dnn_cmp cmp, dnn_tensor *a, dnn_tensor *b) {
  if (!valid_cmp(cmp)) return dnn_argerror(1, "compare", "expected a comparison, got %d", (int)cmp), NULL;
  return binary((binop)(BIN_EQ + (int)cmp), a, b);
}

/* ======================================================================
 * One input (and ops with a scalar): y = f(x) over a contiguous buffer
 * ====================================================================== */

/* The kernel's ops: dnn_unary_op, then these. */
enum {
  MAP_AFFINE = DNN_UNARY_COUNT, /* p * x + q */
  MAP_POW, /* x ^ p */
  MAP_RPOW, /* p ^ x */
  MAP_RDIV, /* p / x */
  MAP_CLAMP, /* min(max(x, p), q) */
  MAP_NORMAL_CDF, /* Phi(x), the standard normal CDF: gelu's second derivative needs it recorded */
  MAP_CMP /* x cmp p, cmp in q; never recorded */
};

/* Keras's SELU constants (Klambauer et al. 2017). */
#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
#define INV_SQRT_2PI 0.3989422804014327f

static const char *const unary_names[DNN_UNARY_COUNT] = {
    "neg",  "exp", "log",  "sqrt", "abs",      "relu",  "leaky_relu",   "sigmoid",
    "tanh", "elu", "selu", "gelu", "softplus", "swish", "hard_sigmoid", "square"};

const char *dnn_unary_name(dnn_unary_op op) {
  return (int)op >= 0 && op < DNN_UNARY_COUNT ? unary_names[op] : "unknown";
}

/* Stable logistic: never exp of a large positive number. */
static inline float sigmoid1(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

typedef struct {
  int op;
  float p, q;
  const float *x; /* may equal y (a gathered input transformed in place) */
  float *y;
} map_args;

#define MAP_LOOP(EXPR)              \
  for (int64_t i = s; i < e; i++) { \
    float v = x[i];                 \
    y[i] = (EXPR);                  \
  }

DNN_SIMD_CLONES static void map_block(void *ctx, int64_t s, int64_t e) {
  const map_args *c = ctx;
  const float *x = c->x;
  float *y = c->y, p = c->p, q = c->q;
  switch (c->op) {
    case DNN_UNARY_NEG:
      MAP_LOOP(-v);
      break;
    case DNN_UNARY_EXP:
      MAP_LOOP(expf(v));
      break;
    case DNN_UNARY_LOG:
      MAP_LOOP(logf(v));
      break;
    case DNN_UNARY_SQRT:
      MAP_LOOP(sqrtf(v));
      break;
    case DNN_UNARY_ABS:
      MAP_LOOP(fabsf(v));
      break;
    case DNN_UNARY_RELU:
      MAP_LOOP(v > 0 ? v : 0.0f);
      break;
    case DNN_UNARY_LEAKY_RELU:
      MAP_LOOP(v > 0 ? v : p * v);
      break;
    case DNN_UNARY_SIGMOID:
      MAP_LOOP(sigmoid1(v));
      break;
    case DNN_UNARY_TANH:
      MAP_LOOP(tanhf(v));
      break;
    case DNN_UNARY_ELU:
      MAP_LOOP(v > 0 ? v : p * expm1f(v));
      break;
    case DNN_UNARY_SELU:
      MAP_LOOP(SELU_SCALE * (v > 0 ? v : SELU_ALPHA * expm1f(v)));
      break;
    case DNN_UNARY_GELU:
      MAP_LOOP(0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)));
      break;
    case DNN_UNARY_SOFTPLUS:
      MAP_LOOP(log1pf(expf(-fabsf(v))) + (v > 0 ? v : 0.0f));
      break;
    case DNN_UNARY_SWISH:
      MAP_LOOP(v * sigmoid1(v));
      break;
    case DNN_UNARY_HARD_SIGMOID:
      MAP_LOOP(fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f);
      break;
    case DNN_UNARY_SQUARE:
      MAP_LOOP(v * v);
      break;
    case MAP_AFFINE:
      MAP_LOOP(p * v + q);
      break;
    case MAP_POW:
      if (p == 2.0f)
        MAP_LOOP(v * v)
      else if (p == 1.0f)
        MAP_LOOP(v)
      else if (p == 0.5f)
        MAP_LOOP(sqrtf(v))
      else if (p == -1.0f)
        MAP_LOOP(1.0f / v)
      else if (p == 3.0f)
        MAP_LOOP(v * v * v)
      else
        MAP_LOOP(powf(v, p))
      break;
    case MAP_RPOW:
      MAP_LOOP(powf(p, v));
      break;
    case MAP_RDIV:
      MAP_LOOP(p / v);
      break;
    case MAP_CLAMP:
      MAP_LOOP(fminf(fmaxf(v, p), q));
      break;
    case MAP_NORMAL_CDF:
      MAP_LOOP(0.5f * (1.0f + erff(v * (float)M_SQRT1_2)));
      break;
    case MAP_CMP:
      switch ((dnn_cmp)q) {
        case DNN_CMP_EQ:
          MAP_LOOP((float)(v == p));
          break;
        case DNN_CMP_NE:
          MAP_LOOP((float)(v != p));
          break;
        case DNN_CMP_LT:
          MAP_LOOP((float)(v < p));
          break;
        case DNN_CMP_LE:
          MAP_LOOP((float)(v <= p));
          break;
        case DNN_CMP_GT:
          MAP_LOOP((float)(v > p));
          break;
        case DNN_CMP_GE:
          MAP_LOOP((float)(v >= p));
          break;
      }
      break;
  }
}

/* Whether an op's derivative is computed from its output y (saved as an
 * alias) rather than from its input x. */
static bool grad_from_output(int op) {
  return op == DNN_UNARY_EXP || op == DNN_UNARY_SQRT || op == DNN_UNARY_SIGMOID || op == DNN_UNARY_TANH ||
      op == MAP_RPOW;
}

typedef struct {
  int op;
  float p, q;
  const float *x, *y, *g; /* x or y may be NULL when the op does not use it */
  float *gx;
} map_grad;

#define GRAD_LOOP(EXPR)             \
  for (int64_t i = s; i < e; i++) { \
    float gi = g[i];                \
    float v = x ? x[i] : 0.0f;      \
    float w = y ? y[i] : 0.0f;      \
    (void)gi;                       \
    (void)v;                        \
    (void)w;                        \
    gx[i] = (EXPR);                 \
  }

/* gx = g * f'(x), from x (v) or from y = f(x) (w). */
DNN_SIMD_CLONES static void map_grad_block(void *ctx, int64_t s, int64_t e) {
  const map_grad *c = ctx;
  const float *x = c->x, *y = c->y, *g = c->g;
  float *gx = c->gx, p = c->p, q = c->q;
  switch (c->op) {
    case DNN_UNARY_NEG:
      GRAD_LOOP(-gi);
      break;
    case DNN_UNARY_EXP:
      GRAD_LOOP(gi * w);
      break;
    case DNN_UNARY_LOG:
      GRAD_LOOP(gi / v);
      break;
    case DNN_UNARY_SQRT:
      GRAD_LOOP(gi * 0.5f / w);
      break;
    case DNN_UNARY_ABS:
      GRAD_LOOP(v > 0 ? gi : v < 0 ? -gi : 0.0f);
      break;
    case DNN_UNARY_RELU:
      GRAD_LOOP(v > 0 ? gi : 0.0f);
      break;
    case DNN_UNARY_LEAKY_RELU:
      GRAD_LOOP(v > 0 ? gi : p * gi);
      break;
    case DNN_UNARY_SIGMOID:
      GRAD_LOOP(gi * w * (1.0f - w));
      break;
    case DNN_UNARY_TANH:
      GRAD_LOOP(gi * (1.0f - w * w));
      break;
    case DNN_UNARY_ELU:
      GRAD_LOOP(v > 0 ? gi : gi * p * expf(v));
      break;
    case DNN_UNARY_SELU:
      GRAD_LOOP(gi * SELU_SCALE * (v > 0 ? 1.0f : SELU_ALPHA * expf(v)));
      break;
    case DNN_UNARY_GELU: /* Phi(x) + x phi(x) */
      GRAD_LOOP(gi * (0.5f * (1.0f + erff(v * (float)M_SQRT1_2)) + v * INV_SQRT_2PI * expf(-0.5f * v * v)));
      break;
    case DNN_UNARY_SOFTPLUS:
      GRAD_LOOP(gi * sigmoid1(v));
      break;
    case DNN_UNARY_SWISH: /* s + x s (1 - s) */
      for (int64_t i = s; i < e; i++) {
        float sg = sigmoid1(x[i]);
        gx[i] = g[i] * (sg + x[i] * sg * (1.0f - sg));
      }
      break;
    case DNN_UNARY_HARD_SIGMOID:
      GRAD_LOOP(v > -3.0f && v < 3.0f ? gi / 6.0f : 0.0f);
      break;
    case DNN_UNARY_SQUARE:
      GRAD_LOOP(2.0f * v * gi);
      break;
    case MAP_AFFINE:
      GRAD_LOOP(p * gi);
      break;
    case MAP_POW: /* p x^(p-1), 0 for p = 0 */
      if (p == 0.0f)
        GRAD_LOOP(0.0f)
      else if (p == 1.0f)
        GRAD_LOOP(gi)
      else if (p == 2.0f)
        GRAD_LOOP(2.0f * v * gi)
      else
        GRAD_LOOP(gi * p * powf(v, p - 1.0f))
      break;
    case MAP_RPOW: /* s^x log s, 0 where s <= 0 as pow's exponent grad */
      if (p > 0) {
        float ls = logf(p);
        GRAD_LOOP(gi * w * ls)
      } else {
        GRAD_LOOP(0.0f)
      }
      break;
    case MAP_RDIV:
      GRAD_LOOP(-gi * p / (v * v));
      break;
    case MAP_CLAMP:
      GRAD_LOOP(v >= p && v <= q ? gi : 0.0f);
      break;
    case MAP_NORMAL_CDF:
      GRAD_LOOP(gi * INV_SQRT_2PI * expf(-0.5f * v * v));
      break;
  }
}

static dnn_tensor *map(int op, const char *name, dnn_tensor *a, float p, float q);

/* phi(x) = exp(-x^2 / 2) / sqrt(2 pi), the standard normal density, recorded. */
static dnn_tensor *normal_pdf(dnn_tensor *x) {
  dnn_tensor *e = unary_t(DNN_UNARY_EXP, affine_t(dnn_unary(DNN_UNARY_SQUARE, x, 0.0f), -0.5f, 0.0f));
  return affine_t(e, INV_SQRT_2PI, 0.0f);
}

/* f'(x) with recorded ops, for create_graph; recomputes f(x) where the
 * derivative uses the output. NULL with an error on failure. */
static dnn_tensor *map_derivative(int op, dnn_tensor *x, float p, float q) {
  dnn_tensor *s, *t, *u;
  switch (op) {
    case DNN_UNARY_NEG:
      return dnn_full(x->ndim, x->shape, -1.0f);
    case MAP_AFFINE:
      return dnn_full(x->ndim, x->shape, p);
    case DNN_UNARY_EXP:
      return dnn_unary(DNN_UNARY_EXP, x, 0.0f);
    case DNN_UNARY_LOG:
      return dnn_rdiv_scalar(1.0f, x);
    case DNN_UNARY_SQRT:
      return rdiv_t(0.5f, dnn_unary(DNN_UNARY_SQRT, x, 0.0f));
    case DNN_UNARY_ABS:
      return add_t(mask(DNN_CMP_GT, x, 0.0f), affine_t(mask(DNN_CMP_LT, x, 0.0f), -1.0f, 0.0f));
    case DNN_UNARY_RELU:
      return mask(DNN_CMP_GT, x, 0.0f);
    case DNN_UNARY_LEAKY_RELU:
      return affine_t(mask(DNN_CMP_GT, x, 0.0f), 1.0f - p, p);
    case DNN_UNARY_SIGMOID: /* s (1 - s) */
      s = dnn_unary(DNN_UNARY_SIGMOID, x, 0.0f);
      t = affine_t(dnn_tensor_retain(s), -1.0f, 1.0f);
      return mul_t(s, t);
    case DNN_UNARY_TANH:
      return affine_t(unary_t(DNN_UNARY_SQUARE, dnn_unary(DNN_UNARY_TANH, x, 0.0f)), -1.0f, 1.0f);
    case DNN_UNARY_ELU:
    case DNN_UNARY_SELU: { /* [x > 0] + [x <= 0] alpha exp(min(x, 0)), times SELU's scale */
      float alpha = op == DNN_UNARY_ELU ? p : SELU_ALPHA;
      dnn_tensor *pos = mask(DNN_CMP_GT, x, 0.0f);
      t = affine_t(dnn_tensor_retain(pos), -alpha, alpha);
      u = unary_t(DNN_UNARY_EXP, dnn_clamp(x, -INFINITY, 0.0f));
      s = add_t(pos, mul_t(t, u));
      return op == DNN_UNARY_ELU ? s : affine_t(s, SELU_SCALE, 0.0f);
    }
    case DNN_UNARY_SOFTPLUS:
      return dnn_unary(DNN_UNARY_SIGMOID, x, 0.0f);
    case DNN_UNARY_SWISH: /* s + x s (1 - s) */
      s = dnn_unary(DNN_UNARY_SIGMOID, x, 0.0f);
      t = affine_t(dnn_tensor_retain(s), -1.0f, 1.0f);
      u = s ? dnn_mul(x, s) : NULL;
      return add_t(s, mul_t(u, t));
    case DNN_UNARY_HARD_SIGMOID:
      return affine_t(mul_t(mask(DNN_CMP_GT, x, -3.0f), mask(DNN_CMP_LT, x, 3.0f)), 1.0f / 6.0f, 0.0f);
    case DNN_UNARY_SQUARE:
      return dnn_affine(x, 2.0f, 0.0f);
    case MAP_POW: /* p x^(p-1), 0 for p = 0 */
      return p == 0.0f ? dnn_zeros(x->ndim, x->shape) : affine_t(dnn_pow_scalar(x, p - 1.0f), p, 0.0f);
    case MAP_RPOW: /* s^x log s, 0 where s <= 0 */
      return p > 0 ? affine_t(dnn_rpow_scalar(p, x), logf(p), 0.0f) : dnn_zeros(x->ndim, x->shape);
    case MAP_RDIV:
      return affine_t(dnn_pow_scalar(x, -2.0f), -p, 0.0f);
    case MAP_CLAMP:
      return mul_t(mask(DNN_CMP_GE, x, p), mask(DNN_CMP_LE, x, q));
    case MAP_NORMAL_CDF:
      return normal_pdf(x);
    case DNN_UNARY_GELU: /* Phi(x) + x phi(x) */
      return add_t(map(MAP_NORMAL_CDF, "normal_cdf", x, 0.0f, 0.0f), mul_t(dnn_tensor_retain(x), normal_pdf(x)));
    default:
      return dnn_error(DNN_ESTATE, "backward", "'%s' has no second derivative", dnn_unary_name((dnn_unary_op)op)), NULL;
  }
}

static dnn_status map_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  int op = (int)node->iargs[0];
  if (dnn_grad_enabled()) { /* create_graph: gx = g f'(x), recorded */
    if (op == DNN_UNARY_NEG || op == MAP_AFFINE) {
      gin[0] = dnn_affine(g, op == DNN_UNARY_NEG ? -1.0f : (float)node->fargs[0], 0.0f);
    } else {
      gin[0] = mul_t(dnn_tensor_retain(g),
                     map_derivative(op, node->inputs[0], (float)node->fargs[0], (float)node->fargs[1]));
    }
    return gin[0] ? DNN_OK : dnn_errcode();
  }
  dnn_tensor *in = node->inputs[0], *saved_y = node->n_saved ? dnn_node_saved(node, 0) : NULL;
  bool needs_x = !saved_y && op != DNN_UNARY_NEG && op != MAP_AFFINE;
  dnn_tensor *xc = needs_x ? dnn_contiguous(in) : NULL; /* grad is off in backward: not recorded */
  if (needs_x && !xc) return dnn_errcode();
  dnn_tensor *gx = dnn_empty(in->ndim, in->shape);
  if (!gx) {
    dnn_tensor_release(xc);
    return dnn_errcode();
  }
  map_grad c = {op,
                (float)node->fargs[0],
                (float)node->fargs[1],
                xc ? dnn_data(xc) : NULL,
                saved_y ? dnn_data(saved_y) : NULL,
                dnn_data(g),
                dnn_data(gx)};
  dnn_for_blocks(dnn_numel(gx), 1, map_grad_block, &c);
  dnn_tensor_release(xc);
  gin[0] = gx;
  return DNN_OK;
}

/* y = f(a) elementwise, recorded as name unless a comparison. */
static dnn_tensor *map(int op, const char *name, dnn_tensor *a, float p, float q) {
  dnn_tensor *out = dnn_empty(a->ndim, a->shape);
  if (!out) return NULL;
  int64_t n = dnn_numel(out);
  map_args c = {op, p, q, dnn_data(a), dnn_data(out)};
  if (!dnn_is_contiguous(a)) {
    dnn_gather_to(a, c.y);
    c.x = c.y;
  }
  dnn_for_blocks(n, 1, map_block, &c);
  if (op == MAP_CMP || !dnn_needs_record(1, &a)) return out;
  dnn_node *node = dnn_record(out, name, map_backward, 1, &a);
  if (!node) {
    dnn_tensor_release(out);
    return NULL;
  }
  node->iargs[0] = op;
  node->fargs[0] = p;
  node->fargs[1] = q;
  node->flags |= DNN_NODE_DIFFERENTIABLE;
  if (op == DNN_UNARY_NEG || op == MAP_AFFINE) node->flags |= DNN_NODE_SHAPES_ONLY;
  /* An alias, never out itself: out holds the node, so saving out would make
   * a reference cycle. */
  if (grad_from_output(op) && dnn_node_save(node, dnn_alias(out)) != DNN_OK) {
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}

dnn_tensor *dnn_unary(dnn_unary_op op, dnn_tensor *a, float param) {
  if ((int)op < 0 || op >= DNN_UNARY_COUNT)
    return dnn_argerror(1, "unary", "expected an op in [0, %d), got %d", DNN_UNARY_COUNT, (int)op), NULL;
  return map(op, unary_names[op], a, param, 0.0f);
}

dnn_tensor *dnn_clamp(dnn_tensor *a, float lo, float hi) {
  if (isnan(lo) || isnan(hi)) return dnn_argerror(2, "clamp", "expected numbers for the bounds, got NaN"), NULL;
  return map(MAP_CLAMP, "clamp", a, lo, hi);
}

dnn_tensor *dnn_affine(dnn_tensor *a, float alpha, float beta) { return map(MAP_AFFINE, "affine", a, alpha, beta); }
bool dnn_affine_in_place(dnn_tensor *t, float alpha, float beta) {
  if (!dnn_is_contiguous(t) || dnn_needs_record(1, &t)) return false;
  dnn_bump_version(t);
  map_args c = {MAP_AFFINE, alpha, beta, dnn_data(t), dnn_data(t)};
  dnn_for_blocks(dnn_numel(t), 1, map_block, &c);
  return true;
}

dnn_tensor *dnn_pow_scalar(dnn_tensor *a, float p) { return map(MAP_POW, "pow", a, p, 0.0f); }
dnn_tensor *dnn_rpow_scalar(float s, dnn_tensor *a) { return map(MAP_RPOW, "pow", a, s, 0.0f); }
dnn_tensor *dnn_rdiv_scalar(float s, dnn_tensor *a) { return map(MAP_RDIV, "div", a, s, 0.0f); }

dnn_tensor *dnn_compare_scalar(dnn_cmp cmp, dnn_tensor *a, float s) {
  if (!valid_cmp(cmp)) return dnn_argerror(1, "compare", "expected a comparison, got %d", (int)cmp), NULL;
  return map(MAP_CMP, binop_names[BIN_EQ + (int)cmp], a, s, (float)cmp);
}
