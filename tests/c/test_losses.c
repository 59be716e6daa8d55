/* Losses (losses.h): values against hand-computed numbers (Keras's
 * definitions), every reduction with sample weights and masks (Keras 3's
 * reduce_weighted_values), gradients with respect to both arguments by finite
 * differences, no hidden logits on softmax / sigmoid outputs, recording only
 * when needed, and error messages. */
#include <math.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static dnn_tensor *mat(int64_t rows, int64_t cols, const float *v) {
  return dnn_from_data(v, 2, (int64_t[]){rows, cols});
}

static double value_of(dnn_tensor *loss) {
  double v = loss ? dnn_data(loss)[0] : NAN;
  dnn_tensor_release(loss);
  return v;
}

static void test_regression_values(void) {
  dnn_tensor *y = mat(2, 2, (float[]){0, 1, 2, -1}), *p = mat(2, 2, (float[]){0.5f, 3, 2, -1.25f});
  /* errors 0.5, 2, 0, -0.25 */
  CHECK_NEAR(value_of(dnn_mse_loss(y, p, NULL)), (0.25 + 4 + 0 + 0.0625) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_mae_loss(y, p, NULL)), (0.5 + 2 + 0 + 0.25) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_huber_loss(y, p, 1, NULL)), (0.125 + 1.5 + 0 + 0.03125) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_huber_loss(y, p, 3, NULL)), (0.125 + 2 + 0 + 0.03125) / 4, 1e-6);
  /* (N) against (N, 1), as Keras accepts */
  dnn_tensor *col = dnn_from_data((float[]){1, 2}, 2, (int64_t[]){2, 1}),
             *vec = dnn_from_data((float[]){0, 0}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(dnn_mse_loss(vec, col, NULL)), 2.5, 1e-6);
  RELEASE(y, p, col, vec);
}

static void test_kl_values(void) {
  dnn_tensor *t = mat(2, 2, (float[]){0.2f, 0.8f, 1, 0}), *q = mat(2, 2, (float[]){0.5f, 0.5f, 0.25f, 0.75f});
  double row1 = 0.2 * log(0.2 / 0.5) + 0.8 * log(0.8 / 0.5), row2 = log(4) + 1e-7 * log(1e-7 / 0.75);
  CHECK_NEAR(value_of(dnn_kl_divergence(t, q, NULL)), (row1 + row2) / 2, 1e-6);
  RELEASE(t, q);
}

static void test_crossentropy_values(void) {
  /* Keras's documented examples: binary [0.916, 0.714]; categorical [0.0513, 2.303] */
  dnn_tensor *yb = mat(2, 2, (float[]){0, 1, 0, 0}), *pb = mat(2, 2, (float[]){0.6f, 0.4f, 0.4f, 0.6f});
  CHECK_NEAR(value_of(dnn_binary_crossentropy(yb, pb, false, 0, NULL)), (-log(0.4) - (log(0.6) + log(0.4)) / 2) / 2,
             1e-6);
  dnn_tensor *yc = mat(2, 3, (float[]){0, 1, 0, 0, 0, 1}),
             *pc = mat(2, 3, (float[]){0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f});
  double cce = (-log(0.95) - log(0.1)) / 2;
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(yc, pc, false, 0, NULL)), cce, 1e-6);
  dnn_tensor *ids = dnn_from_data((float[]){1, 2}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(dnn_sparse_categorical_crossentropy(ids, pc, false, 0, 0.0f, NULL)), cce, 1e-6);
  /* probabilities are normalised per row first, as Keras */
  dnn_tensor *y1 = mat(1, 2, (float[]){0, 1}), *p1 = mat(1, 2, (float[]){1, 3});
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y1, p1, false, 0, NULL)), -log(0.75), 1e-6);
  /* from logits with label smoothing: y = y (1 - 0.3) + 0.3 / 2 */
  dnn_tensor *z1 = mat(1, 2, (float[]){0.5f, -1});
  double lse = log(exp(0.5) + exp(-1));
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y1, z1, true, 0.3f, NULL)), 0.15 * (lse - 0.5) + 0.85 * (lse + 1),
             1e-6);
  /* binary from logits with label smoothing: y = y (1 - 0.2) + 0.1 */
  double s = 1 / (1 + exp(-0.5)), s2 = 1 / (1 + exp(1.0));
  CHECK_NEAR(value_of(dnn_binary_crossentropy(y1, z1, true, 0.2f, NULL)),
             (-(0.1 * log(s) + 0.9 * log(1 - s)) - (0.9 * log(s2) + 0.1 * log(1 - s2))) / 2, 1e-6);
  RELEASE(yb, pb, yc, pc, ids, y1, p1, z1);
}

/* A softmax / sigmoid output is only probabilities: the cross-entropies clip
 * them (Keras's value without from_logits), and from_logits on the logits
 * gives the exact, stable value. */
static void test_no_hidden_logits(void) {
  dnn_tensor *z = mat(1, 3, (float[]){300, -300, 0}), *y = mat(1, 3, (float[]){0, 1, 0});
  dnn_tensor *sm = dnn_softmax(z, -1);
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y, sm, false, 0, NULL)), -log(1e-7), 1e-4);
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y, z, true, 0, NULL)), 600, 1e-3);
  dnn_tensor *zb = dnn_from_data((float[]){-300}, 1, (int64_t[]){1}),
             *yb = dnn_from_data((float[]){1}, 1, (int64_t[]){1});
  dnn_tensor *sg = dnn_unary(DNN_UNARY_SIGMOID, zb, 0);
  CHECK_NEAR(value_of(dnn_binary_crossentropy(yb, sg, false, 0, NULL)), -log(1e-7), 1e-4);
  CHECK_NEAR(value_of(dnn_binary_crossentropy(yb, zb, true, 0, NULL)), 300, 1e-3);
  RELEASE(z, y, sm, zb, yb, sg);
}

/* ---- reductions, sample weights, masks ----
 * y_pred (2, 2, 2) against zeros: per-example mse (2, 2) = {{1, 2}, {4.5, 1}}. */
static const float reduce_pred[] = {1, 1, 2, 0, 0, 3, 1, -1};

static dnn_tensor *cube(const float *v) { return dnn_from_data(v, 3, (int64_t[]){2, 2, 2}); }

static dnn_tensor *mse_with(dnn_reduction r, dnn_tensor *sw, dnn_tensor *mask) {
  dnn_tensor *y = dnn_zeros(3, (int64_t[]){2, 2, 2}), *p = cube(reduce_pred);
  dnn_loss_options opt = {r, sw, mask};
  dnn_tensor *l = dnn_mse_loss(y, p, &opt);
  RELEASE(y, p);
  return l;
}

static void test_reductions(void) {
  const int64_t pe[] = {2, 2};
  dnn_tensor *l = mse_with(DNN_REDUCE_NONE, NULL, NULL);
  CHECK(tensor_matches(l, 2, pe, (float[]){1, 2, 4.5f, 1}, 1e-6));
  dnn_tensor_release(l);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, NULL, NULL)), 8.5, 1e-6);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, NULL)), 8.5 / 4, 1e-6);
  /* the default (NULL options) is sum_over_batch_size */
  dnn_tensor *y = dnn_zeros(3, (int64_t[]){2, 2, 2}), *p = cube(reduce_pred);
  CHECK_NEAR(value_of(dnn_mse_loss(y, p, NULL)), 8.5 / 4, 1e-6);
  RELEASE(y, p);

  /* per-sample weights (2, 1): rows {2, 4, 2.25, 0.5}; sum_over_batch_size still divides by the count (4) */
  dnn_tensor *w21 = mat(2, 1, (float[]){2, 0.5f});
  l = mse_with(DNN_REDUCE_NONE, w21, NULL);
  CHECK(tensor_matches(l, 2, pe, (float[]){2, 4, 2.25f, 0.5f}, 1e-6));
  dnn_tensor_release(l);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, w21, NULL)), 8.75, 1e-6);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM_OVER_BATCH_SIZE, w21, NULL)), 8.75 / 4, 1e-6);
  /* (2) broadcasts along the last per-example dim (NumPy's rules): {1, 6, 4.5, 3} */
  dnn_tensor *w2 = dnn_from_data((float[]){1, 3}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, w2, NULL)), 14.5, 1e-6);
  /* (2, 2, 1): a trailing 1 the per-example shape lacks is dropped (Keras's squeeze) */
  dnn_tensor *w221 = dnn_from_data((float[]){1, 0, 2, 1}, 3, (int64_t[]){2, 2, 1});
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, w221, NULL)), 1 + 9 + 1, 1e-6);

  /* a strided view with an offset as the weights: column 2 of {{9, 2}, {9, 0.5}} */
  dnn_tensor *wide = mat(2, 2, (float[]){9, 2, 9, 0.5f}), *col = dnn_narrow(wide, 1, 1, 1);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, col, NULL)), 8.75, 1e-6);
  RELEASE(wide, col);

  /* mask: the masked mean divides by the unmasked count (3), as Keras 3's apply_mask */
  dnn_tensor *mask = mat(2, 2, (float[]){1, 0, 1, 1});
  l = mse_with(DNN_REDUCE_NONE, NULL, mask);
  CHECK(tensor_matches(l, 2, pe, (float[]){1, 0, 4.5f, 1}, 1e-6));
  dnn_tensor_release(l);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM, NULL, mask)), 6.5, 1e-6);
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, mask)), 6.5 / 3, 1e-6);
  /* mask and weights: sum(w m l) / sum(m) */
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM_OVER_BATCH_SIZE, w21, mask)), (2 + 2.25 + 0.5) / 3, 1e-6);
  /* everything masked: 0 (Keras's divide_no_nan) */
  dnn_tensor *none = dnn_zeros(2, (int64_t[]){2, 2});
  CHECK_NEAR(value_of(mse_with(DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, none)), 0, 0);

  /* a masked position contributes exactly 0, even where its loss is infinite */
  dnn_tensor *yi = mat(2, 2, (float[]){0, 0, 0, 0}), *pi = mat(2, 2, (float[]){1, 1, INFINITY, 0});
  dnn_tensor *m2 = dnn_from_data((float[]){1, 0}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(dnn_mse_loss(yi, pi, &(dnn_loss_options){DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, m2})), 1, 1e-6);

  /* the gradients of a masked mean, by hand: d/dp = 2 (p - y) / 2 / 3 where unmasked, 0 where masked; d/dy = -d/dp */
  y = dnn_zeros(3, (int64_t[]){2, 2, 2});
  p = cube(reduce_pred);
  dnn_set_requires_grad(y, true);
  dnn_set_requires_grad(p, true);
  l = dnn_mse_loss(y, p, &(dnn_loss_options){DNN_REDUCE_SUM_OVER_BATCH_SIZE, NULL, mask});
  CHECK(l && dnn_backward(l, NULL) == DNN_OK);
  const int64_t shape3[] = {2, 2, 2};
  float third = 1.0f / 3;
  CHECK(tensor_matches(p->grad, 3, shape3, (float[]){third, third, 0, 0, 0, 3 * third, third, -third}, 1e-6));
  CHECK(tensor_matches(y->grad, 3, shape3, (float[]){-third, -third, 0, 0, 0, -3 * third, -third, third}, 1e-6));
  dnn_tensor_release(l);
  /* "none": the incoming gradient weights each example */
  dnn_tensor_release(p->grad);
  p->grad = NULL;
  l = dnn_mse_loss(y, p, &(dnn_loss_options){DNN_REDUCE_NONE, w21, NULL});
  dnn_tensor *g = mat(2, 2, (float[]){1, 10, 100, 1000});
  CHECK(l && dnn_backward(l, g) == DNN_OK);
  /* d/dp = g_r w_r (p - y) for width 2 */
  CHECK(tensor_matches(p->grad, 3, shape3, (float[]){2, 2, 40, 0, 0, 150, 500, -500}, 1e-4));
  RELEASE(w21, w2, w221, mask, none, yi, pi, m2, y, p, l, g);
}

/* Every loss takes the reduction and weights the same way: sum over batch size = sum / rows. */
static void test_reductions_every_loss(void) {
  dnn_tensor *y = mat(2, 3, (float[]){0, 1, 0, 1, 0, 0}), *p = mat(2, 3, (float[]){0.2f, 0.5f, 0.3f, 0.6f, 0.1f, 0.3f});
  dnn_tensor *ids = dnn_from_data((float[]){2, 1}, 1, (int64_t[]){2});
  dnn_tensor *w = dnn_from_data((float[]){3, 0.5f}, 1, (int64_t[]){2});
  const int64_t two[] = {2};
  for (int k = 0; k < 7; k++) {
    double rows[2];
    for (int r = 0; r < 2; r++) {
      dnn_tensor *yr = dnn_narrow(y, 0, r, 1), *pr = dnn_narrow(p, 0, r, 1), *ir = dnn_narrow(ids, 0, r, 1);
      rows[r] = k == 0 ? value_of(dnn_mse_loss(yr, pr, NULL))
          : k == 1     ? value_of(dnn_mae_loss(yr, pr, NULL))
          : k == 2     ? value_of(dnn_huber_loss(yr, pr, 0.3f, NULL))
          : k == 3     ? value_of(dnn_binary_crossentropy(yr, pr, false, 0.1f, NULL))
          : k == 4     ? value_of(dnn_categorical_crossentropy(yr, pr, true, 0.1f, NULL))
          : k == 5     ? value_of(dnn_sparse_categorical_crossentropy(ir, pr, false, 1, 0.0f, NULL))
                       : value_of(dnn_kl_divergence(yr, pr, NULL));
      RELEASE(yr, pr, ir);
    }
    dnn_tensor *out[3];
    for (int r = 0; r < 3; r++) {
      dnn_loss_options opt = {(dnn_reduction)r, w, NULL};
      out[r] = k == 0 ? dnn_mse_loss(y, p, &opt)
          : k == 1    ? dnn_mae_loss(y, p, &opt)
          : k == 2    ? dnn_huber_loss(y, p, 0.3f, &opt)
          : k == 3    ? dnn_binary_crossentropy(y, p, false, 0.1f, &opt)
          : k == 4    ? dnn_categorical_crossentropy(y, p, true, 0.1f, &opt)
          : k == 5    ? dnn_sparse_categorical_crossentropy(ids, p, false, 1, 0.0f, &opt)
                      : dnn_kl_divergence(y, p, &opt);
    }
    double a = 3 * rows[0], b = 0.5 * rows[1];
    CHECK_NEAR(value_of(out[DNN_REDUCE_SUM_OVER_BATCH_SIZE]), (a + b) / 2, 1e-5);
    CHECK_NEAR(value_of(out[DNN_REDUCE_SUM]), a + b, 1e-5);
    CHECK(tensor_matches(out[DNN_REDUCE_NONE], 1, two, (float[]){(float)a, (float)b}, 1e-5));
    dnn_tensor_release(out[DNN_REDUCE_NONE]);
  }
  RELEASE(y, p, ids, w);
}

static void test_records_only_when_needed(void) {
  dnn_tensor *y = mat(1, 2, (float[]){0, 1}), *p = mat(1, 2, (float[]){0.5f, 0.5f});
  dnn_tensor *l = dnn_mse_loss(y, p, NULL);
  CHECK(l && l->ndim == 0 && l->grad_fn == NULL);
  dnn_set_requires_grad(p, true);
  dnn_tensor *l2 = dnn_kl_divergence(y, p, NULL);
  CHECK(l2 && l2->grad_fn != NULL);
  RELEASE(y, p, l, l2);
}

/* mse(a, b) with both requiring grad gives both gradients: 2 (b - a) / n and its negative. */
static void test_both_arguments(void) {
  dnn_tensor *a = mat(1, 2, (float[]){1, 2}), *b = mat(1, 2, (float[]){2, 5});
  dnn_set_requires_grad(a, true);
  dnn_set_requires_grad(b, true);
  dnn_tensor *l = dnn_mse_loss(a, b, NULL);
  CHECK(l && dnn_backward(l, NULL) == DNN_OK);
  CHECK(a->grad && values_near(a->grad, (float[]){-1, -3}, 2, 1e-6));
  CHECK(b->grad && values_near(b->grad, (float[]){1, 3}, 2, 1e-6));
  /* the same tensor on both sides: the two gradients cancel */
  dnn_tensor *l2 = dnn_mae_loss(a, a, NULL);
  dnn_tensor_release(a->grad);
  a->grad = NULL;
  CHECK(l2 && dnn_backward(l2, NULL) == DNN_OK && a->grad && values_near(a->grad, (float[]){0, 0}, 2, 0));
  RELEASE(a, b, l, l2);
}

/* ---- gradients: both arguments, every reduction, with weights and a mask ---- */

enum { MSE, MAE, HUBER, BCE, BCE_LOGITS, CCE, CCE_LOGITS, SCCE, SCCE_LOGITS, KLD, NKINDS };

typedef struct {
  int kind;
  dnn_tensor *labels; /* sparse kinds */
  dnn_loss_options opt;
} loss_case;

/* The loss of case c on (y_true, z); y_pred is z itself for the regression and from-logits kinds, probabilities
 * inside the clip (sigmoid(z) * 0.8 + 0.1) for the others. "none" is reduced by a varied weighted sum. */
static dnn_tensor *case_loss(dnn_tensor *const *in, void *ctx) {
  const loss_case *c = ctx;
  bool sparse = c->kind == SCCE || c->kind == SCCE_LOGITS;
  dnn_tensor *t = sparse ? NULL : in[0], *z = sparse ? in[0] : in[1], *p = NULL, *out = NULL;
  bool probs = c->kind == BCE || c->kind == CCE || c->kind == SCCE || c->kind == KLD;
  if (probs) {
    dnn_tensor *s = dnn_unary(DNN_UNARY_SIGMOID, z, 0);
    p = s ? dnn_affine(s, 0.8f, 0.1f) : NULL;
    dnn_tensor_release(s);
    if (!p) return NULL;
  }
  dnn_tensor *x = probs ? p : z;
  const dnn_loss_options *o = &c->opt;
  switch (c->kind) {
    case MSE:
      out = dnn_mse_loss(t, x, o);
      break;
    case MAE:
      out = dnn_mae_loss(t, x, o);
      break;
    case HUBER:
      out = dnn_huber_loss(t, x, 0.7f, o);
      break;
    case BCE:
    case BCE_LOGITS:
      out = dnn_binary_crossentropy(t, x, c->kind == BCE_LOGITS, 0.1f, o);
      break;
    case CCE:
    case CCE_LOGITS:
      out = dnn_categorical_crossentropy(t, x, c->kind == CCE_LOGITS, 0.2f, o);
      break;
    case SCCE:
    case SCCE_LOGITS:
      out = dnn_sparse_categorical_crossentropy(c->labels, x, c->kind == SCCE_LOGITS, 0, 0.0f, o);
      break;
    default:
      out = dnn_kl_divergence(t, x, o);
  }
  dnn_tensor_release(p);
  return c->opt.reduction == DNN_REDUCE_NONE ? gc_weighted_sum(out) : out;
}

static void test_gradients(void) {
  static const char *names[NKINDS] = {"mse", "mae",        "huber", "bce",         "bce_logits",
                                      "cce", "cce_logits", "scce",  "scce_logits", "kld"};
  static const char *reductions[] = {"sum_over_batch_size", "sum", "none"};
  dnn_manual_seed(11);
  /* y_pred (2, 2, 3): per-example shape (2, 2) */
  const int64_t shape[] = {2, 2, 3};
  dnn_tensor *reals = dnn_randn(3, shape), *soft = dnn_rand(3, shape);
  dnn_tensor *soft_c = dnn_affine(soft, 0.8f, 0.1f); /* targets in [0.1, 0.9]: inside KLD's clip */
  dnn_tensor *ids = dnn_from_data((float[]){2, 0, 1, 1}, 2, (int64_t[]){2, 2});
  dnn_tensor *w = mat(2, 1, (float[]){1.5f, 0.25f}), *mask = mat(2, 2, (float[]){1, 1, 0, 1});
  for (int k = 0; k < NKINDS; k++) {
    for (int r = 0; r < 3; r++) {
      for (int weighted = 0; weighted < 2; weighted++) {
        loss_case c = {k, ids, {(dnn_reduction)r, weighted ? w : NULL, weighted ? mask : NULL}};
        dnn_tensor *z = dnn_randn(3, shape);
        dnn_tensor *target = dnn_clone(k <= HUBER ? reals : soft_c);
        char name[96];
        snprintf(name, sizeof name, "%s %s%s", names[k], reductions[r], weighted ? " weighted, masked" : "");
        if (k == SCCE || k == SCCE_LOGITS)
          gradcheck(name, case_loss, 1, &z, &c);
        else
          gradcheck(name, case_loss, 2, (dnn_tensor *[]){target, z}, &c);
        RELEASE(z, target);
      }
    }
  }
  RELEASE(reals, soft, soft_c, ids, w, mask);
}

/* ---- errors ---- */

static void test_errors(void) {
  dnn_tensor *a = dnn_zeros(2, (int64_t[]){4, 2}), *b = dnn_zeros(2, (int64_t[]){4, 3});
  CHECK(dnn_mse_loss(a, b, NULL) == NULL && errmsg_has("'mean_squared_error'", "(4, 3)", "(4, 2)"));
  CHECK(dnn_mae_loss(a, b, NULL) == NULL && errmsg_has("'mean_absolute_error'", "(4, 3)", "(4, 2)"));
  CHECK(dnn_kl_divergence(a, b, NULL) == NULL && errmsg_has("'kl_divergence'"));
  CHECK(dnn_categorical_crossentropy(a, b, false, 0, NULL) == NULL &&
        errmsg_has("'categorical_crossentropy'", "(4, 3)"));
  CHECK(dnn_binary_crossentropy(a, b, true, 0, NULL) == NULL && errmsg_has("'binary_crossentropy'"));
  CHECK(dnn_huber_loss(a, a, 0, NULL) == NULL && errmsg_has("'huber'", "delta > 0"));
  CHECK(dnn_categorical_crossentropy(b, b, false, 1.5f, NULL) == NULL && errmsg_has("label_smoothing in [0, 1]"));
  dnn_tensor *ids = dnn_from_data((float[]){0, 3, 1, 2}, 1, (int64_t[]){4});
  CHECK(dnn_sparse_categorical_crossentropy(ids, b, false, 0, 0.0f, NULL) == NULL &&
        errmsg_has("class ids in [0, 2], got 3"));
  dnn_tensor *s = dnn_scalar(1);
  CHECK(dnn_categorical_crossentropy(s, s, false, 0, NULL) == NULL && errmsg_has("0-d"));

  /* reduction, sample_weight and mask */
  CHECK(dnn_mse_loss(a, a, &(dnn_loss_options){.reduction = (dnn_reduction)7}) == NULL &&
        errmsg_has("'mean_squared_error'", "expected a reduction", "got 7"));
  CHECK(dnn_reduction_from_name("sum") == DNN_REDUCE_SUM && dnn_reduction_from_name("mean") == -1);
  dnn_tensor *w3 = dnn_full(1, (int64_t[]){3}, 1);
  CHECK(dnn_huber_loss(a, a, 1, &(dnn_loss_options){.sample_weight = w3}) == NULL &&
        errmsg_has("#3 to 'huber'", "sample_weight broadcastable to the per-example loss shape (4)", "got (3)"));
  CHECK(dnn_kl_divergence(b, b, &(dnn_loss_options){.mask = w3}) == NULL &&
        errmsg_has("#4 to 'kl_divergence'", "mask broadcastable", "(4)", "got (3)"));
  dnn_tensor *half = dnn_full(1, (int64_t[]){4}, 0.5f);
  CHECK(dnn_mae_loss(a, a, &(dnn_loss_options){.mask = half}) == NULL &&
        errmsg_has("'mean_absolute_error'", "mask of 0s and 1s, got 0.5 at position 1"));
  dnn_tensor *w4 = dnn_full(1, (int64_t[]){4}, 1);
  dnn_set_requires_grad(w4, true);
  CHECK(dnn_mse_loss(a, a, &(dnn_loss_options){.sample_weight = w4}) == NULL &&
        errmsg_has("'mean_squared_error'", "sample_weight that does not require grad"));
  dnn_tensor *labels = dnn_from_data((float[]){0, 1, 1, 2}, 1, (int64_t[]){4});
  dnn_set_requires_grad(labels, true);
  CHECK(dnn_sparse_categorical_crossentropy(labels, b, false, 0, 0.0f, NULL) == NULL &&
        errmsg_has("#1 to 'sparse_categorical_crossentropy'", "labels that do not require grad"));
  /* under no_grad a weight or labels that require grad are fine (nothing is recorded) */
  dnn_set_grad_enabled(false);
  CHECK_NEAR(value_of(dnn_mse_loss(a, a, &(dnn_loss_options){.sample_weight = w4})), 0, 0);
  CHECK(!isnan(value_of(dnn_sparse_categorical_crossentropy(labels, b, true, 0, 0.0f, NULL))));
  dnn_set_grad_enabled(true);
  RELEASE(a, b, ids, s, w3, half, w4, labels);
}

int main(void) {
  test_regression_values();
  test_kl_values();
  test_crossentropy_values();
  test_no_hidden_logits();
  test_reductions();
  test_reductions_every_loss();
  test_records_only_when_needed();
  test_both_arguments();
  test_gradients();
  test_errors();
  return check_report("test_losses");
}
