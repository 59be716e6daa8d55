/* Losses (losses.h), each a fused forward and gradient: the loss value is
 * computed with d(loss)/d(y_pred) in the same pass, and the recorded node's
 * backward only scales that saved gradient. Reduction as Keras's default:
 * per-example losses averaged over every dim but the last. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "dnn/autograd.h"
#include "dnn/losses.h"
#include "dnn/nn.h"

#define EPS DNN_LOSS_EPSILON

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

/* A contiguous copy of a tensor's values (y_true never needs grad). */
static float *values_of(const dnn_tensor *t) {
  float *v = malloc((size_t)(dnn_numel(t) ? dnn_numel(t) : 1) * sizeof(float));
  if (v)
    dnn_gather_to(t, v);
  else
    dnn_error(DNN_ENOMEM, "loss", "out of memory");
  return v;
}

/* Backward of every loss: d(loss)/d(pred) was computed with the value and
 * saved; the incoming gradient is a scalar that scales it. */
static dnn_status grad_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *saved = dnn_node_saved(node, 0);
  float scale = dnn_data(g)[0];
  dnn_tensor *dx = dnn_empty_like(node->inputs[0]);
  if (!dx) return DNN_ENOMEM;
  const float *s = dnn_data(saved);
  float *d = dnn_data(dx);
  int64_t n = dnn_numel(dx);
  for (int64_t i = 0; i < n; i++) d[i] = scale * s[i];
  gin[0] = dx;
  return DNN_OK;
}

/* The loss value as a 0-d tensor recorded with pred as its one input and
 * grad (taken over; may be NULL when pred needs none) saved for backward. */
static dnn_tensor *finish(const char *op, double loss, dnn_tensor *pred, dnn_tensor *grad) {
  dnn_tensor *out = dnn_scalar((float)loss);
  if (!out) {
    dnn_tensor_release(grad);
    return NULL;
  }
  dnn_node *node = dnn_record(out, op, grad_backward, 1, &pred);
  if (!node) {
    dnn_tensor_release(grad);
  } else if (dnn_node_save(node, grad) != DNN_OK) {
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}

/* Gradient buffer of pred's shape when pred needs one, else NULL (no work). */
static dnn_tensor *grad_buffer(dnn_tensor *pred, bool *failed) {
  *failed = false;
  if (!dnn_needs_record(1, &pred)) return NULL;
  dnn_tensor *g = dnn_empty_like(pred);
  *failed = g == NULL;
  return g;
}

/* The input a cross-entropy works from: the logits that dnn_softmax /
 * dnn_sigmoid saw when y_pred is their output (then *from_logits is set). */
static dnn_tensor *logits_or_pred(dnn_tensor *y_pred, int act, bool *from_logits) {
  if (!*from_logits && y_pred->logits && y_pred->logits_act == act) {
    *from_logits = true;
    return y_pred->logits;
  }
  return y_pred;
}

/* ---- elementwise losses: mean over every element ----
 * Each kernel gets y_true's values t, the input's values x and n, writes
 * g[i] = d(loss_i)/d(x_i) * scale when g is not NULL, and returns the sum of
 * the losses. One call per loss, so the loops stay free of calls. */
typedef struct {
  float delta, label_smoothing;
  bool from_logits;
} loss_args;

typedef double (*elementwise_kernel)(const float *t, const float *x, float *g, int64_t n, float scale,
                                     const loss_args *a);

static double mse_kernel(const float *t, const float *x, float *g, int64_t n, float scale, const loss_args *a) {
  (void)a;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i];
    sum += (double)d * d;
    if (g) g[i] = 2 * d * scale;
  }
  return sum;
}

/* d|e|/de = sign(e), 0 at 0 (as the backends' abs). */
static double mae_kernel(const float *t, const float *x, float *g, int64_t n, float scale, const loss_args *a) {
  (void)a;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i];
    sum += fabsf(d);
    if (g) g[i] = (float)((d > 0) - (d < 0)) * scale;
  }
  return sum;
}

static double huber_kernel(const float *t, const float *x, float *g, int64_t n, float scale, const loss_args *a) {
  const float delta = a->delta;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float d = x[i] - t[i], ad = fabsf(d);
    bool quadratic = ad <= delta;
    sum += quadratic ? 0.5f * d * d : delta * ad - 0.5f * delta * delta;
    if (g) g[i] = (quadratic ? d : (d > 0 ? delta : -delta)) * scale;
  }
  return sum;
}

/* From logits z: max(z, 0) - z y + log(1 + exp(-|z|)), dz = sigmoid(z) - y.
 * From probabilities p (clipped): -(y log p + (1 - y) log(1 - p)), dp = (p - y) / (p (1 - p)), 0 where clipped. */
static double bce_kernel(const float *t, const float *x, float *g, int64_t n, float scale, const loss_args *a) {
  const float keep = 1 - a->label_smoothing, half_ls = 0.5f * a->label_smoothing;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float y = t[i] * keep + half_ls, v = x[i], gi;
    if (a->from_logits) {
      sum += fmaxf(v, 0) - v * y + log1pf(expf(-fabsf(v)));
      gi = 1 / (1 + expf(-v)) - y;
    } else {
      float p = fminf(fmaxf(v, EPS), 1 - EPS);
      sum -= y * logf(p) + (1 - y) * logf(1 - p);
      gi = v > EPS && v < 1 - EPS ? (p - y) / (p * (1 - p)) : 0;
    }
    if (g) g[i] = gi * scale;
  }
  return sum;
}

/* t log(t / p) with both clipped to [eps, 1]; dp = -t / p inside the clip. */
static double kld_kernel(const float *t, const float *x, float *g, int64_t n, float scale, const loss_args *a) {
  (void)a;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    float y = fminf(fmaxf(t[i], EPS), 1), p = fminf(fmaxf(x[i], EPS), 1);
    sum += y * logf(y / p);
    if (g) g[i] = x[i] > EPS && x[i] < 1 ? -y / p * scale : 0;
  }
  return sum;
}

/* Runs an elementwise kernel over (y_true, input) and divides the sum by
 * divisor: the element count for mean losses, the row count for KLD (a sum
 * over the last dim, then a mean over rows). */
static dnn_tensor *elementwise_loss(const char *op, dnn_tensor *y_true, dnn_tensor *input, elementwise_kernel kernel,
                                    const loss_args *a, bool per_row) {
  float *t = values_of(y_true), *x = t ? values_of(input) : NULL;
  bool failed = false;
  dnn_tensor *grad = x ? grad_buffer(input, &failed) : NULL;
  dnn_tensor *out = NULL;
  if (x && !failed) {
    int64_t n = dnn_numel(input);
    int64_t last = input->ndim ? input->shape[input->ndim - 1] : 1;
    int64_t divisor = per_row ? (last ? n / last : 0) : n;
    double sum = kernel(t, x, grad ? dnn_data(grad) : NULL, n, divisor ? 1.0f / (float)divisor : 0, a);
    out = finish(op, divisor ? sum / (double)divisor : NAN, input, grad);
  }
  free(t);
  free(x);
  return out;
}

dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred) {
  if (check_same_numel("mean_squared_error", y_true, y_pred) != DNN_OK) return NULL;
  return elementwise_loss("mean_squared_error", y_true, y_pred, mse_kernel, &(loss_args){0}, false);
}

dnn_tensor *dnn_mae_loss(dnn_tensor *y_true, dnn_tensor *y_pred) {
  if (check_same_numel("mean_absolute_error", y_true, y_pred) != DNN_OK) return NULL;
  return elementwise_loss("mean_absolute_error", y_true, y_pred, mae_kernel, &(loss_args){0}, false);
}

dnn_tensor *dnn_huber_loss(dnn_tensor *y_true, dnn_tensor *y_pred, float delta) {
  if (check_same_numel("huber", y_true, y_pred) != DNN_OK) return NULL;
  if (!(delta > 0)) {
    dnn_argerror(3, "huber", "expected delta > 0, got %g", (double)delta);
    return NULL;
  }
  return elementwise_loss("huber", y_true, y_pred, huber_kernel, &(loss_args){.delta = delta}, false);
}

static dnn_status check_label_smoothing(const char *fn, float ls) {
  if (ls >= 0 && ls <= 1) return DNN_OK;
  return dnn_argerror(4, fn, "expected label_smoothing in [0, 1], got %g", (double)ls);
}

dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits, float label_smoothing) {
  const char *fn = "binary_crossentropy";
  if (check_same_numel(fn, y_true, y_pred) != DNN_OK || check_label_smoothing(fn, label_smoothing) != DNN_OK)
    return NULL;
  dnn_tensor *input = logits_or_pred(y_pred, DNN_ACT_SIGMOID, &from_logits);
  loss_args a = {.from_logits = from_logits, .label_smoothing = label_smoothing};
  return elementwise_loss(fn, y_true, input, bce_kernel, &a, false);
}

dnn_tensor *dnn_kl_divergence(dnn_tensor *y_true, dnn_tensor *y_pred) {
  if (check_same_numel("kl_divergence", y_true, y_pred) != DNN_OK) return NULL;
  return elementwise_loss("kl_divergence", y_true, y_pred, kld_kernel, &(loss_args){0}, true);
}

/* ---- categorical cross-entropies: -sum_c y_c log p_c per row, mean over rows ----
 * One row of `classes` values z. Targets are the dense row y (smoothed to
 * y (1 - ls) + ls / classes), or, when y is NULL, one-hot at label. Writes
 * the row's gradient times scale into g when g is not NULL.
 * From logits: lse(z) sum(y) - sum(y z); dz = softmax(z) sum(y) - y.
 * From probabilities: q = p / sum(p), clipped; dq_c = -y_c / q_c (0 where
 * clipped) and dp_k = (dq_k - sum_c dq_c q_c) / sum(p), through the division. */
static double xent_row(const float *z, int64_t classes, const float *y, int64_t label, float ls, bool from_logits,
                       float *g, float scale) {
  const float keep = 1 - ls, spread = ls / (float)classes;
#define TARGET(c) (y ? y[c] * keep + spread : (float)((c) == label))
  double loss = 0;
  if (from_logits) {
    float mx = -INFINITY, se = 0, sum_y = 0;
    for (int64_t c = 0; c < classes; c++) mx = fmaxf(mx, z[c]);
    for (int64_t c = 0; c < classes; c++) se += expf(z[c] - mx);
    float lse = mx + logf(se);
    for (int64_t c = 0; c < classes; c++) {
      float yc = TARGET(c);
      sum_y += yc;
      loss += (double)yc * (lse - z[c]);
    }
    if (g)
      for (int64_t c = 0; c < classes; c++) g[c] = (expf(z[c] - lse) * sum_y - TARGET(c)) * scale;
    return loss;
  }
  float total = 0;
  for (int64_t c = 0; c < classes; c++) total += z[c];
  float dot = 0; /* sum_c dq_c q_c */
  for (int64_t c = 0; c < classes; c++) {
    float q = z[c] / total, qc = fminf(fmaxf(q, EPS), 1 - EPS), yc = TARGET(c);
    if (yc != 0) loss -= (double)yc * logf(qc);
    float dq = q > EPS && q < 1 - EPS ? -yc / qc : 0;
    if (g) g[c] = dq;
    dot += dq * q;
  }
  if (g)
    for (int64_t c = 0; c < classes; c++) g[c] = (g[c] - dot) / total * scale;
  return loss;
#undef TARGET
}

/* Rows of classes over input: t holds dense targets (NULL for sparse ids). */
static dnn_tensor *xent_loss(const char *op, const float *t, const float *ids, int base, dnn_tensor *input,
                             bool from_logits, float ls) {
  float *x = values_of(input);
  bool failed = false;
  dnn_tensor *grad = x ? grad_buffer(input, &failed) : NULL;
  dnn_tensor *out = NULL;
  if (x && !failed) {
    int64_t classes = input->shape[input->ndim - 1], rows = classes ? dnn_numel(input) / classes : 0;
    float *g = grad ? dnn_data(grad) : NULL, scale = rows ? 1.0f / (float)rows : 0;
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) {
      const float *y = t ? t + r * classes : NULL;
      int64_t label = ids ? (int64_t)ids[r] - base : -1;
      sum += xent_row(x + r * classes, classes, y, label, ls, from_logits, g ? g + r * classes : NULL, scale);
    }
    out = finish(op, rows ? sum / (double)rows : NAN, input, grad);
  }
  free(x);
  return out;
}

dnn_tensor *dnn_categorical_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits,
                                         float label_smoothing) {
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
  dnn_tensor *input = logits_or_pred(y_pred, DNN_ACT_SOFTMAX, &from_logits);
  float *t = values_of(y_true);
  dnn_tensor *out = t ? xent_loss(fn, t, NULL, 0, input, from_logits, label_smoothing) : NULL;
  free(t);
  return out;
}

/* Checks labels against (batch..., classes) predictions: shape and ids. */
static dnn_status check_labels(const dnn_tensor *labels, const float *ids, const dnn_tensor *pred, int base) {
  const char *fn = "sparse_categorical_crossentropy";
  char a[96], b[96];
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
      return dnn_argerror(1, fn, "expected class ids in [%d, %" PRId64 "], got %g at position %" PRId64, base,
                          classes - 1 + base, (double)id, i + base);
  }
  return DNN_OK;
}

dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits, int base) {
  float *ids = values_of(labels);
  if (!ids) return NULL;
  dnn_tensor *out = NULL;
  if (check_labels(labels, ids, y_pred, base) == DNN_OK) {
    dnn_tensor *input = logits_or_pred(y_pred, DNN_ACT_SOFTMAX, &from_logits);
    out = xent_loss("sparse_categorical_crossentropy", NULL, ids, base, input, from_logits, 0);
  }
  free(ids);
  return out;
}
