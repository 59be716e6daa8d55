/* Inverted dropout, as Keras: kept units are scaled by 1 / (1 - rate) in
 * training, so inference is the identity. The mask (0 or the scale, as
 * floats) is drawn from the dnn PRNG and saved for backward: dx = g * mask. */
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"
#include "dnn/parallel.h"
#include "dnn/random.h"

void dnn_rng_seeded_state(uint64_t seed, dnn_rng_state *out) {
  dnn_rng_state global;
  dnn_rng_get_state(&global);
  dnn_manual_seed(seed);
  dnn_rng_get_state(out);
  dnn_rng_set_state(&global);
}

/* o = a * b, both contiguous of n elements. */
static void multiply(const float *a, const float *b, float *o, int64_t n) {
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i];
}

/* inputs: x; saved[0]: the mask. */
static dnn_status dropout_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *mask = dnn_node_saved(node, 0);
  gin[0] = dnn_empty_like(g);
  if (!gin[0]) return DNN_ENOMEM;
  multiply(dnn_data(g), dnn_data(mask), dnn_data(gin[0]), dnn_numel(g));
  return DNN_OK;
}

/* y = x * mask, recorded; mask is contiguous and owned by the caller. */
static dnn_tensor *apply_mask(dnn_tensor *x, dnn_tensor *mask) {
  dnn_tensor *xc = dnn_contiguous(x);
  dnn_tensor *y = xc ? dnn_empty_like(x) : NULL;
  if (y) {
    multiply(dnn_data(xc), dnn_data(mask), dnn_data(y), dnn_numel(y));
    dnn_node *node = dnn_record(y, "dropout", dropout_backward, 1, &xc);
    if (node && dnn_node_save(node, dnn_alias(mask)) != DNN_OK) {
      dnn_tensor_release(y);
      y = NULL;
    }
  }
  dnn_tensor_release(xc);
  return y;
}

dnn_tensor *dnn_dropout_mask(dnn_tensor *x, dnn_tensor *mask) {
  char a[96], b[96];
  if (!dnn_same_shape(x, mask)) {
    dnn_argerror(2, "dropout", "expected a mask of the input's shape %s, got %s", dnn_shape_str(x, a, sizeof a),
                 dnn_shape_str(mask, b, sizeof b));
    return NULL;
  }
  dnn_tensor *mc = dnn_contiguous(mask);
  dnn_tensor *y = mc ? apply_mask(x, mc) : NULL;
  dnn_tensor_release(mc);
  return y;
}

dnn_tensor *dnn_dropout(dnn_tensor *x, float rate, dnn_rng_state *rng) {
  if (!(rate >= 0 && rate < 1)) return dnn_argerror(2, "dropout", "expected a rate in [0, 1), got %g", rate), NULL;
  dnn_tensor *mask = dnn_empty(x->ndim, x->shape);
  if (!mask) return NULL;
  /* A layer's own generator stands in for the global one while drawing. */
  dnn_rng_state global;
  if (rng) {
    dnn_rng_get_state(&global);
    dnn_rng_set_state(rng);
  }
  float *m = dnn_data(mask), scale = 1 / (1 - rate);
  int64_t n = dnn_numel(mask);
  for (int64_t i = 0; i < n; i++) m[i] = dnn_rng_uniform() >= rate ? scale : 0; /* sequential: one stream */
  if (rng) {
    dnn_rng_get_state(rng);
    dnn_rng_set_state(&global);
  }
  dnn_tensor *y = apply_mask(x, mask);
  dnn_tensor_release(mask);
  return y;
}
