/* Losses, each a fused forward and backward: the mean over all elements (or
 * over the batch, for class losses), as Keras's default reduction. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"

#define PROB_EPSILON 1e-7f /* Keras clips probabilities to [eps, 1 - eps] */

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

/* A contiguous copy of y_true's values (labels never need grad). */
static float *values_of(const dnn_tensor *t) {
  float *v = malloc((size_t)(dnn_numel(t) ? dnn_numel(t) : 1) * sizeof(float));
  if (v) dnn_gather_to(t, v);
  else dnn_error(DNN_ENOMEM, "loss", "out of memory");
  return v;
}

/* The loss value as a 0-d tensor, recorded with `pred` as its one input and
 * the precomputed gradient d(loss)/d(pred) saved for backward. */
static dnn_status grad_backward(dnn_node *node, dnn_tensor *g, dnn_tensor **gin) {
  const dnn_tensor *saved = node->saved[0];
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

static dnn_tensor *finish(const char *op, double loss, dnn_tensor *pred, dnn_tensor *grad) {
  dnn_tensor *out = dnn_scalar((float)loss);
  if (!out) {
    dnn_tensor_release(grad);
    return NULL;
  }
  dnn_node *node = dnn_record(out, op, grad_backward, 1, &pred);
  if (node) node->saved[0] = grad;
  else dnn_tensor_release(grad);
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

/* mean((y_pred - y_true)^2) */
dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred) {
  if (check_same_numel("mean_squared_error", y_true, y_pred) != DNN_OK) return NULL;
  float *t = values_of(y_true), *p = values_of(y_pred);
  bool failed;
  dnn_tensor *grad = t && p ? grad_buffer(y_pred, &failed) : NULL;
  dnn_tensor *out = NULL;
  if (t && p && !failed) {
    int64_t n = dnn_numel(y_pred);
    double sum = 0;
    float *g = grad ? dnn_data(grad) : NULL;
    for (int64_t i = 0; i < n; i++) {
      float d = p[i] - t[i];
      sum += (double)d * d;
      if (g) g[i] = 2 * d / (float)n;
    }
    out = finish("mean_squared_error", n ? sum / (double)n : NAN, y_pred, grad);
  }
  free(t);
  free(p);
  return out;
}

/* From logits z: mean(max(z, 0) - z y + log(1 + exp(-|z|))), dz = (sigmoid(z) - y) / n.
 * From probabilities p (clipped): -mean(y log p + (1 - y) log(1 - p)). */
dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits) {
  if (check_same_numel("binary_crossentropy", y_true, y_pred) != DNN_OK) return NULL;
  dnn_tensor *input = y_pred;
  if (!from_logits && y_pred->logits && y_pred->logits_act == DNN_ACT_SIGMOID) {
    input = y_pred->logits; /* stable: work from the logits the sigmoid saw */
    from_logits = true;
  }
  float *t = values_of(y_true), *x = values_of(input);
  bool failed;
  dnn_tensor *grad = t && x ? grad_buffer(input, &failed) : NULL;
  dnn_tensor *out = NULL;
  if (t && x && !failed) {
    int64_t n = dnn_numel(input);
    float *g = grad ? dnn_data(grad) : NULL;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
      float y = t[i], v = x[i], gi;
      if (from_logits) {
        sum += fmaxf(v, 0) - v * y + log1pf(expf(-fabsf(v)));
        gi = 1 / (1 + expf(-v)) - y;
      } else {
        float p = fminf(fmaxf(v, PROB_EPSILON), 1 - PROB_EPSILON);
        sum -= y * logf(p) + (1 - y) * logf(1 - p);
        gi = v > PROB_EPSILON && v < 1 - PROB_EPSILON ? (p - y) / (p * (1 - p)) : 0;
      }
      if (g) g[i] = gi / (float)n;
    }
    out = finish("binary_crossentropy", n ? sum / (double)n : NAN, input, grad);
  }
  free(t);
  free(x);
  return out;
}

/* Checks labels against (batch..., classes) predictions: shape and ids. */
static dnn_status check_labels(const dnn_tensor *labels, const float *ids, const dnn_tensor *pred, int base) {
  const char *fn = "sparse_categorical_crossentropy";
  char a[96], b[96];
  if (pred->ndim < 1) return dnn_argerror(2, fn, "expected predictions (batch, classes), got a 0-d tensor");
  int64_t rows = dnn_numel(pred) / (pred->shape[pred->ndim - 1] ? pred->shape[pred->ndim - 1] : 1);
  bool shape_ok = dnn_numel(labels) == rows && (labels->ndim == pred->ndim - 1 ||
                                                (labels->ndim == pred->ndim && labels->shape[labels->ndim - 1] == 1));
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

/* From logits z: mean(logsumexp(z) - z[label]), dz = (softmax(z) - onehot) / rows.
 * From probabilities p: -mean(log(clip(p[label]))). */
dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits, int base) {
  dnn_tensor *input = y_pred;
  if (!from_logits && y_pred->logits && y_pred->logits_act == DNN_ACT_SOFTMAX) {
    input = y_pred->logits;
    from_logits = true;
  }
  float *ids = values_of(labels);
  if (!ids) return NULL;
  if (check_labels(labels, ids, y_pred, base) != DNN_OK) {
    free(ids);
    return NULL;
  }
  float *x = values_of(input);
  bool failed;
  dnn_tensor *grad = x ? grad_buffer(input, &failed) : NULL;
  dnn_tensor *out = NULL;
  if (x && !failed) {
    int64_t classes = input->shape[input->ndim - 1], rows = dnn_numel(input) / (classes ? classes : 1);
    float *g = grad ? dnn_data(grad) : NULL;
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) {
      const float *z = x + r * classes;
      int64_t label = (int64_t)ids[r] - base;
      float *gr = g ? g + r * classes : NULL;
      if (from_logits) {
        float mx = -INFINITY, se = 0;
        for (int64_t c = 0; c < classes; c++) mx = fmaxf(mx, z[c]);
        for (int64_t c = 0; c < classes; c++) se += expf(z[c] - mx);
        float lse = mx + logf(se);
        sum += lse - z[label];
        if (gr)
          for (int64_t c = 0; c < classes; c++) gr[c] = (expf(z[c] - lse) - (c == label)) / (float)rows;
      } else {
        float p = fminf(fmaxf(z[label], PROB_EPSILON), 1 - PROB_EPSILON);
        sum -= logf(p);
        if (gr) {
          for (int64_t c = 0; c < classes; c++) gr[c] = 0;
          bool clipped = z[label] <= PROB_EPSILON || z[label] >= 1 - PROB_EPSILON;
          gr[label] = clipped ? 0 : -1 / (p * (float)rows);
        }
      }
    }
    out = finish("sparse_categorical_crossentropy", rows ? sum / (double)rows : NAN, input, grad);
  }
  free(ids);
  free(x);
  return out;
}
