/* Losses (losses.h), each a fused forward and gradient. A loss is a row
 * kernel: row r (the last dim of y_pred at one example position) gives the
 * per-example loss l_r and writes d(l_r)/d(y_pred) and d(l_r)/d(y_true),
 * times a coefficient, in the same pass. One shared step (run_loss) does the
 * rest for every loss: the coefficient c_r of each row from the reduction,
 * sample weights and mask (Keras 3's reduce_weighted_values), the result
 * sum_r c_r l_r (or c_r l_r per row for "none"), and the recorded node, whose
 * backward only scales the saved gradients by the incoming one. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/losses.h"
#include "dnn/nn.h"

#define EPS DNN_LOSS_EPSILON

int dnn_reduction_from_name(const char *name) {
  static const char *names[] = {"sum_over_batch_size", "sum", "none"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

/* ---- checks ---- */

/* Shapes that Keras accepts as matching: equal, or (N) against (N, 1). */
static dnn_status check_same_numel(const char *fn, const dnn_tensor *y_true, const dnn_tensor *y_pred) {
  bool ok = dnn_same_shape(y_true, y_pred);
  if (!ok && dnn_numel(y_true) == dnn_numel(y_pred)) {
    const dnn_tensor *lo = y_true->ndim < y_pred->ndim ? y_true : y_pred;
    const dnn_tensor *hi = lo == y_true ? y_pred : y_true;
    ok = hi->ndim == lo->ndim + 1 && hi->shape[hi->ndim - 1] == 1;
  }
  if (ok) return DNN_OK;
  char a[96], b[96];
  return dnn_argerror(1, fn, "expected y_true of the shape of y_pred %s, got %s", dnn_shape_str(y_pred, a, sizeof a),
                      dnn_shape_str(y_true, b, sizeof b));
}

static dnn_status check_label_smoothing(const char *fn, float ls) {
  if (ls >= 0 && ls <= 1) return DNN_OK;
  return dnn_argerror(4, fn, "expected label_smoothing in [0, 1], got %g", (double)ls);
}

/* The per-example shape: y_pred's without its last dim (a 0-d y_pred is one
 * example of one value). */
typedef struct {
  int ndim;
  int64_t shape[DNN_MAX_DIMS];
  int64_t rows, width; /* rows of width values of y_pred, one per example */
} loss_geometry;

static loss_geometry geometry_of(const dnn_tensor *y_pred) {
  loss_geometry g = {.ndim = y_pred->ndim ? y_pred->ndim - 1 : 0, .rows = 1};
  for (int d = 0; d < g.ndim; d++) {
    g.shape[d] = y_pred->shape[d];
    g.rows *= g.shape[d];
  }
  g.width = y_pred->ndim ? y_pred->shape[y_pred->ndim - 1] : 1;
  return g;
}

/* Strides that read t as broadcast to the per-example shape (0 along the
 * dims it broadcasts), after dropping a trailing dim of 1 that the shape
 * lacks (Keras's squeeze_or_expand_to_same_rank); false when it does not fit. */
static bool broadcast_strides(const dnn_tensor *t, const loss_geometry *geo, int64_t *stride) {
  int nd = t->ndim;
  if (nd == geo->ndim + 1 && t->shape[nd - 1] == 1) nd--;
  if (nd > geo->ndim) return false;
  int lead = geo->ndim - nd;
  for (int d = 0; d < geo->ndim; d++) {
    int td = d - lead;
    int64_t have = td >= 0 ? t->shape[td] : 1;
    if (have != geo->shape[d] && have != 1) return false;
    stride[d] = td >= 0 && have == geo->shape[d] ? t->stride[td] : 0;
  }
  return true;
}

/* A weight or mask argument: not differentiable, broadcastable to the per-example shape. */
static dnn_status check_constant(const char *fn, int argn, const char *what, dnn_tensor *t, const loss_geometry *geo,
                                 int64_t *stride) {
  if (dnn_needs_record(1, &t))
    return dnn_argerror(argn, fn,
                        "expected a %s that does not require grad (it is not differentiable; detach it), "
                        "got one that requires grad",
                        what);
  if (broadcast_strides(t, geo, stride)) return DNN_OK;
  char a[96], b[96];
  size_t used = (size_t)snprintf(a, sizeof a, "(");
  for (int d = 0; d < geo->ndim && used < sizeof a; d++)
    used += (size_t)snprintf(a + used, sizeof a - used, "%s%" PRId64, d ? ", " : "", geo->shape[d]);
  if (used < sizeof a) snprintf(a + used, sizeof a - used, ")");
  return dnn_argerror(argn, fn, "expected a %s broadcastable to the per-example loss shape %s, got %s", what, a,
                      dnn_shape_str(t, b, sizeof b));
}

/* Row r's value of t read with broadcast strides. */
static float broadcast_at(const dnn_tensor *t, const loss_geometry *geo, const int64_t *stride, int64_t r) {
  int64_t off = 0;
  for (int d = geo->ndim - 1; d >= 0; d--) {
    int64_t n = geo->shape[d];
    off += (r % n) * stride[d];
    r /= n;
  }
  return dnn_data(t)[off];
}

/* ---- the shared reduce step, part 1: each row's coefficient ----
 * c_r = sample_weight_r * mask_r * scale, scale = 1 / rows ("sum_over_batch_size"), 1 / (unmasked rows) with a
 * mask (none unmasked: every c_r is 0, so the loss is 0, as Keras's divide_no_nan), 1 for "sum" and "none". */
static dnn_status row_coefficients(const char *fn, const dnn_loss_options *opt, const loss_geometry *geo, float *c) {
  int64_t sw_stride[DNN_MAX_DIMS], mask_stride[DNN_MAX_DIMS];
  if (opt->sample_weight && check_constant(fn, 3, "sample_weight", opt->sample_weight, geo, sw_stride) != DNN_OK)
    return DNN_EARG;
  if (opt->mask && check_constant(fn, 4, "mask", opt->mask, geo, mask_stride) != DNN_OK) return DNN_EARG;
  int64_t count = geo->rows;
  if (opt->mask) {
    count = 0;
    for (int64_t r = 0; r < geo->rows; r++) {
      float m = broadcast_at(opt->mask, geo, mask_stride, r);
      if (m != 0 && m != 1)
        return dnn_argerror(4, fn, "expected a mask of 0s and 1s, got %g at position %" PRId64, (double)m, r + 1);
      count += m == 1;
    }
  }
  float scale = opt->reduction != DNN_REDUCE_SUM_OVER_BATCH_SIZE ? 1 : count ? 1 / (float)count : 0;
  for (int64_t r = 0; r < geo->rows; r++) {
    float w = scale;
    if (opt->mask) w *= broadcast_at(opt->mask, geo, mask_stride, r);
    if (opt->sample_weight) w *= broadcast_at(opt->sample_weight, geo, sw_stride, r);
    c[r] = w;
  }
  return DNN_OK;
}

/* ---- row kernels ----
 * Row r holds width values of y_pred (x), of y_true (t) or one label (ids).
 * A kernel returns the row's loss and, where gx / gt are set, writes
 * d(loss)/d(x) and d(loss)/d(t) times scale at the row's offset. */
typedef struct {
  const float *t, *ids, *x;
  float *gx, *gt;
  int64_t width;
  int base;
  float delta, label_smoothing;
  bool from_logits;
} loss_job;

typedef double (*row_kernel)(const loss_job *j, int64_t r, float scale);

/* The row's pointers into the job's buffers. */
#define ROW_POINTERS(j, r)                                      \
  const int64_t n = (j)->width, o = (r)*n;                      \
  const float *x = (j)->x + o, *t = (j)->t ? (j)->t + o : NULL; \
  float *gx = (j)->gx ? (j)->gx + o : NULL, *gt = (j)->gt ? (j)->gt + o : NULL

static double mse_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  const float k = scale / (float)n;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i];
    sum += (double)d * d;
    if (gx) gx[i] = 2 * d * k;
    if (gt) gt[i] = -2 * d * k;
  }
  return sum / (double)n;
}

/* d|e|/de = sign(e), 0 at 0 (as the backends' abs). */
static double mae_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  const float k = scale / (float)n;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i], s = (float)((d > 0) - (d < 0));
    sum += fabsf(d);
    if (gx) gx[i] = s * k;
    if (gt) gt[i] = -s * k;
  }
  return sum / (double)n;
}

static double huber_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  const float k = scale / (float)n, delta = j->delta;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i], ad = fabsf(d);
    bool quadratic = ad <= delta;
    sum += quadratic ? 0.5f * d * d : delta * ad - 0.5f * delta * delta;
    float gi = (quadratic ? d : (d > 0 ? delta : -delta)) * k;
    if (gx) gx[i] = gi;
    if (gt) gt[i] = -gi;
  }
  return sum / (double)n;
}

/* y = t (1 - ls) + ls / 2. From logits z: max(z, 0) - z y + log(1 + exp(-|z|)), dz = sigmoid(z) - y, dy = -z.
 * From probabilities p (clipped): -(y log p + (1 - y) log(1 - p)), dp = (p - y) / (p (1 - p)) inside the clip,
 * dy = log(1 - p) - log(p). */
static double bce_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  const float keep = 1 - j->label_smoothing, half_ls = 0.5f * j->label_smoothing, k = scale / (float)n;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float y = t[i] * keep + half_ls, v = x[i], dx, dy;
    if (j->from_logits) {
      sum += fmaxf(v, 0) - v * y + log1pf(expf(-fabsf(v)));
      dx = 1 / (1 + expf(-v)) - y;
      dy = -v;
    } else {
      float p = fminf(fmaxf(v, EPS), 1 - EPS), lp = logf(p), lq = logf(1 - p);
      sum -= y * lp + (1 - y) * lq;
      dx = v >= EPS && v <= 1 - EPS ? (p - y) / (p * (1 - p)) : 0;
      dy = lq - lp;
    }
    if (gx) gx[i] = dx * k;
    if (gt) gt[i] = dy * keep * k;
  }
  return sum / (double)n;
}

/* sum of y log(y / p), y and p clipped to [eps, 1]; dp = -y / p, dy = log(y / p) + 1 inside the clips. */
static double kld_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float y = fminf(fmaxf(t[i], EPS), 1), p = fminf(fmaxf(x[i], EPS), 1), l = logf(y / p);
    sum += y * l;
    if (gx) gx[i] = x[i] >= EPS && x[i] <= 1 ? -y / p * scale : 0;
    if (gt) gt[i] = t[i] >= EPS && t[i] <= 1 ? (l + 1) * scale : 0;
  }
  return sum;
}

/* -sum_c y_c log p_c over one row of classes z. Targets: y_true's row t, or for sparse labels one-hot at the row's
 * label, smoothed to y (1 - ls) + ls / classes.
 * From logits: lse(z) sum(y) - sum(y z); dz = softmax(z) sum(y) - y; dy_c = lse - z_c.
 * From probabilities: q = p / sum(p), clipped; dq_c = -y_c / q_c (0 outside the clip) and
 * dp_k = (dq_k - sum_c dq_c q_c) / sum(p), through the division; dy_c = -log q_c. */
static double xent_row(const loss_job *j, int64_t r, float scale) {
  ROW_POINTERS(j, r);
  const float keep = 1 - j->label_smoothing, spread = j->label_smoothing / (float)n;
  const int64_t label = j->ids ? (int64_t)j->ids[r] - j->base : -1;
#define TARGET(c) ((t ? t[c] : (float)((c) == label)) * keep + spread)
  double loss = 0;
  if (j->from_logits) {
    float mx = -INFINITY, se = 0, sum_y = 0;
    for (int64_t c = 0; c < n; c++) mx = fmaxf(mx, x[c]);
    for (int64_t c = 0; c < n; c++) se += expf(x[c] - mx);
    float lse = mx + logf(se);
    for (int64_t c = 0; c < n; c++) {
      float yc = TARGET(c);
      sum_y += yc;
      loss += (double)yc * (lse - x[c]);
      if (gt) gt[c] = (lse - x[c]) * keep * scale;
    }
    if (gx)
      for (int64_t c = 0; c < n; c++) gx[c] = (expf(x[c] - lse) * sum_y - TARGET(c)) * scale;
    return loss;
  }
  float total = 0;
  for (int64_t c = 0; c < n; c++) total += x[c];
  float dot = 0; /* sum_c dq_c q_c */
  for (int64_t c = 0; c < n; c++) {
    float q = x[c] / total, qc = fminf(fmaxf(q, EPS), 1 - EPS), yc = TARGET(c), lq = logf(qc);
    if (yc != 0) loss -= (double)yc * lq;
    float dq = q >= EPS && q <= 1 - EPS ? -yc / qc : 0;
    if (gx) gx[c] = dq;
    if (gt) gt[c] = -lq * keep * scale;
    dot += dq * q;
  }
  if (gx)
    for (int64_t c = 0; c < n; c++) gx[c] = (gx[c] - dot) / total * scale;
  return loss;
#undef TARGET
}

/* ---- the shared reduce step, part 2: the result and its node ---- */

/* Backward of every loss: the gradients were computed with the value and
 * saved (y_pred's, then y_true's, each where it needed one: iargs[2 + i]);
 * the incoming gradient is a scalar, or one value per example (width saved
 * values each) for "none". */
static dnn_status loss_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const dnn_tensor *g = grad_out[0];
  const bool per_example = node->iargs[0];
  const int64_t width = node->iargs[1];
  const float *gv = dnn_data(g);
  for (int i = 0; i < node->n_inputs; i++) {
    if (!dnn_node_needs_grad(node, i)) continue;
    if (!node->iargs[2 + i])
      return dnn_error(DNN_ESTATE, node->op, "input %d was made to require grad after the loss was computed", i + 1);
    dnn_tensor *d = dnn_empty_like(node->inputs[i]);
    if (!d) return DNN_ENOMEM;
    const float *s = dnn_data(dnn_node_saved(node, i == 0 ? 0 : (int)node->iargs[2]));
    float *dp = dnn_data(d);
    int64_t n = dnn_numel(d);
    if (per_example)
      for (int64_t e = 0; e < n; e++) dp[e] = gv[e / width] * s[e];
    else
      for (int64_t e = 0; e < n; e++) dp[e] = gv[0] * s[e];
    gin[i] = d;
  }
  return DNN_OK;
}

/* A contiguous copy of a tensor's values. */
static float *values_of(const char *fn, const dnn_tensor *t) {
  float *v = malloc((size_t)(dnn_numel(t) ? dnn_numel(t) : 1) * sizeof(float));
  if (v)
    dnn_gather_to(t, v);
  else
    dnn_error(DNN_ENOMEM, fn, "out of memory");
  return v;
}

/* A gradient buffer of t's shape when t needs one (else NULL); *failed on allocation failure. */
static dnn_tensor *grad_buffer(dnn_tensor *t, bool *failed) {
  if (!t || !dnn_needs_record(1, &t)) return NULL;
  dnn_tensor *g = dnn_empty_like(t);
  if (!g) *failed = true;
  return g;
}

/* Runs kernel over y_pred's rows (y_true's values, or the sparse labels'
 * ids already read, go with them) and reduces as opt says. y_true is NULL
 * for sparse labels: then only y_pred is an input of the node. */
static dnn_tensor *run_loss(const char *fn, dnn_tensor *y_true, const float *ids, dnn_tensor *y_pred, row_kernel kernel,
                            loss_job job, const dnn_loss_options *opt) {
  static const dnn_loss_options defaults = {DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, NULL};
  if (!opt) opt = &defaults;
  if ((int)opt->reduction < DNN_REDUCE_SUM_OVER_BATCH_SIZE || opt->reduction > DNN_REDUCE_NONE) {
    dnn_argerror(3, fn, "expected a reduction (sum_over_batch_size, sum, none), got %d", (int)opt->reduction);
    return NULL;
  }
  const loss_geometry geo = geometry_of(y_pred);
  const bool per_example = opt->reduction == DNN_REDUCE_NONE;
  float *c = malloc((size_t)(geo.rows ? geo.rows : 1) * sizeof(float));
  if (!c) {
    dnn_error(DNN_ENOMEM, fn, "out of memory");
    return NULL;
  }
  dnn_tensor *out = NULL, *gx = NULL, *gt = NULL;
  float *t = NULL, *x = NULL;
  bool failed = false;
  if (row_coefficients(fn, opt, &geo, c) != DNN_OK) goto done;
  x = values_of(fn, y_pred);
  t = y_true && x ? values_of(fn, y_true) : NULL;
  if (!x || (y_true && !t)) goto done;
  gx = grad_buffer(y_pred, &failed);
  gt = grad_buffer(y_true, &failed);
  out = failed ? NULL : per_example ? dnn_empty(geo.ndim, geo.shape) : dnn_scalar(0);
  if (!out) {
    if (failed) dnn_error(DNN_ENOMEM, fn, "out of memory");
    goto done;
  }
  job.t = t;
  job.ids = ids;
  job.x = x;
  job.gx = gx ? dnn_data(gx) : NULL;
  job.gt = gt ? dnn_data(gt) : NULL;
  job.width = geo.width;
  double total = 0;
  for (int64_t r = 0; r < geo.rows; r++) {
    double l = 0;
    if (c[r] != 0) {
      l = c[r] * kernel(&job, r, c[r]);
    } else { /* weight 0 or masked: contributes exactly 0, even where its loss is not finite */
      if (job.gx) memset(job.gx + r * geo.width, 0, (size_t)geo.width * sizeof(float));
      if (job.gt) memset(job.gt + r * geo.width, 0, (size_t)geo.width * sizeof(float));
    }
    if (per_example)
      dnn_data(out)[r] = (float)l;
    else
      total += l;
  }
  if (!per_example) dnn_data(out)[0] = (float)total;
  dnn_tensor *inputs[2] = {y_pred, y_true};
  dnn_node *node = dnn_record(out, fn, loss_backward, y_true ? 2 : 1, inputs);
  if (node) {
    node->iargs[0] = per_example;
    node->iargs[1] = geo.width;
    node->iargs[2] = gx != NULL;
    node->iargs[3] = gt != NULL;
    dnn_status st = gx ? dnn_node_save(node, gx) : DNN_OK;
    if (st == DNN_OK && gt)
      st = dnn_node_save(node, gt);
    else if (gt)
      dnn_tensor_release(gt);
    gx = gt = NULL;
    if (st != DNN_OK) {
      dnn_tensor_release(out);
      out = NULL;
    }
  } else if (dnn_needs_record(y_true ? 2 : 1, inputs)) {
    dnn_tensor_release(out); /* recording failed (out of memory) */
    out = NULL;
  }
done:
  dnn_tensor_release(gx);
  dnn_tensor_release(gt);
  free(c);
  free(t);
  free(x);
  return out;
}

/* ---- the losses ---- */

dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt) {
  const char *fn = "mean_squared_error";
  if (check_same_numel(fn, y_true, y_pred) != DNN_OK) return NULL;
  return run_loss(fn, y_true, NULL, y_pred, mse_row, (loss_job){0}, opt);
}

dnn_tensor *dnn_mae_loss(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt) {
  const char *fn = "mean_absolute_error";
  if (check_same_numel(fn, y_true, y_pred) != DNN_OK) return NULL;
  return run_loss(fn, y_true, NULL, y_pred, mae_row, (loss_job){0}, opt);
}

dnn_tensor *dnn_huber_loss(dnn_tensor *y_true, dnn_tensor *y_pred, float delta, const dnn_loss_options *opt) {
  if (check_same_numel("huber", y_true, y_pred) != DNN_OK) return NULL;
  if (!(delta > 0)) {
    dnn_argerror(3, "huber", "expected delta > 0, got %g", (double)delta);
    return NULL;
  }
  return run_loss("huber", y_true, NULL, y_pred, huber_row, (loss_job){.delta = delta}, opt);
}

dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits, float label_smoothing,
                                    const dnn_loss_options *opt) {
  const char *fn = "binary_crossentropy";
  if (check_same_numel(fn, y_true, y_pred) != DNN_OK || check_label_smoothing(fn, label_smoothing) != DNN_OK)
    return NULL;
  loss_job job = {.from_logits = from_logits, .label_smoothing = label_smoothing};
  return run_loss(fn, y_true, NULL, y_pred, bce_row, job, opt);
}

dnn_tensor *dnn_kl_divergence(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt) {
  if (check_same_numel("kl_divergence", y_true, y_pred) != DNN_OK) return NULL;
  return run_loss("kl_divergence", y_true, NULL, y_pred, kld_row, (loss_job){0}, opt);
}

dnn_tensor *dnn_categorical_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits,
                                         float label_smoothing, const dnn_loss_options *opt) {
  const char *fn = "categorical_crossentropy";
  char a[96], b[96];
  if (y_pred->ndim < 1) {
    dnn_argerror(2, fn, "expected predictions (batch, classes), got a 0-d tensor");
    return NULL;
  }
  if (!dnn_same_shape(y_true, y_pred)) {
    dnn_argerror(1, fn, "expected y_true of the shape of y_pred %s (one-hot or probabilities), got %s",
                 dnn_shape_str(y_pred, a, sizeof a), dnn_shape_str(y_true, b, sizeof b));
    return NULL;
  }
  if (check_label_smoothing(fn, label_smoothing) != DNN_OK) return NULL;
  loss_job job = {.from_logits = from_logits, .label_smoothing = label_smoothing};
  return run_loss(fn, y_true, NULL, y_pred, xent_row, job, opt);
}

/* Checks labels against (batch..., classes) predictions: not differentiable, shape, ids. */
static dnn_status check_labels(dnn_tensor *labels, const float *ids, const dnn_tensor *pred, int base) {
  const char *fn = "sparse_categorical_crossentropy";
  char a[96], b[96];
  if (dnn_needs_record(1, &labels))
    return dnn_argerror(1, fn,
                        "expected labels that do not require grad (class ids are not differentiable), got "
                        "labels that require grad");
  if (pred->ndim < 1) return dnn_argerror(2, fn, "expected predictions (batch, classes), got a 0-d tensor");
  int64_t rows = dnn_numel(pred) / (pred->shape[pred->ndim - 1] ? pred->shape[pred->ndim - 1] : 1);
  bool shape_ok = dnn_numel(labels) == rows &&
      (labels->ndim == pred->ndim - 1 || (labels->ndim == pred->ndim && labels->shape[labels->ndim - 1] == 1));
  if (!shape_ok)
    return dnn_argerror(1, fn, "expected labels of shape %s without the class dim, got %s",
                        dnn_shape_str(pred, a, sizeof a), dnn_shape_str(labels, b, sizeof b));
  int64_t classes = pred->shape[pred->ndim - 1];
  for (int64_t i = 0; i < rows; i++) {
    float id = ids[i];
    if (!(id >= base && id < base + classes) || id != floorf(id))
      return dnn_argerror(1, fn, "expected class ids in [%d, %" PRId64 "], got %g at position %" PRId64 "%s", base,
                          classes - 1 + base, (double)id, i + base,
                          id == base - 1 ? " (labels look 0-based: class ids start at 1; pass y + 1)" : "");
  }
  return DNN_OK;
}

dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits, int base,
                                                float label_smoothing, const dnn_loss_options *opt) {
  const char *fn = "sparse_categorical_crossentropy";
  if (check_label_smoothing(fn, label_smoothing) != DNN_OK) return NULL;
  float *ids = values_of(fn, labels);
  if (!ids) return NULL;
  dnn_tensor *out = NULL;
  if (check_labels(labels, ids, y_pred, base) == DNN_OK) {
    loss_job job = {.from_logits = from_logits, .base = base, .label_smoothing = label_smoothing};
    out = run_loss(fn, NULL, ids, y_pred, xent_row, job, opt);
  }
  free(ids);
  return out;
}
