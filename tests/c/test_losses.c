/* Losses (losses.h): values against hand-computed numbers (Keras's
 * definitions and reductions), gradients by finite differences, fusion with
 * softmax/sigmoid outputs, recording only when needed, and error messages. */
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
  CHECK_NEAR(value_of(dnn_mse_loss(y, p)), (0.25 + 4 + 0 + 0.0625) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_mae_loss(y, p)), (0.5 + 2 + 0 + 0.25) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_huber_loss(y, p, 1)), (0.125 + 1.5 + 0 + 0.03125) / 4, 1e-6);
  CHECK_NEAR(value_of(dnn_huber_loss(y, p, 3)), (0.125 + 2 + 0 + 0.03125) / 4, 1e-6);
  /* (N) against (N, 1), as Keras accepts */
  dnn_tensor *col = dnn_from_data((float[]){1, 2}, 2, (int64_t[]){2, 1}),
             *vec = dnn_from_data((float[]){0, 0}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(dnn_mse_loss(vec, col)), 2.5, 1e-6);
  RELEASE(y, p, col, vec);
}

static void test_kl_values(void) {
  dnn_tensor *t = mat(2, 2, (float[]){0.2f, 0.8f, 1, 0}), *q = mat(2, 2, (float[]){0.5f, 0.5f, 0.25f, 0.75f});
  double row1 = 0.2 * log(0.2 / 0.5) + 0.8 * log(0.8 / 0.5), row2 = log(4) + 1e-7 * log(1e-7 / 0.75);
  CHECK_NEAR(value_of(dnn_kl_divergence(t, q)), (row1 + row2) / 2, 1e-6);
  RELEASE(t, q);
}

static void test_crossentropy_values(void) {
  /* Keras's documented examples: binary [0.916, 0.714]; categorical [0.0513, 2.303] */
  dnn_tensor *yb = mat(2, 2, (float[]){0, 1, 0, 0}), *pb = mat(2, 2, (float[]){0.6f, 0.4f, 0.4f, 0.6f});
  CHECK_NEAR(value_of(dnn_binary_crossentropy(yb, pb, false, 0)), (-log(0.4) - (log(0.6) + log(0.4)) / 2) / 2, 1e-6);
  dnn_tensor *yc = mat(2, 3, (float[]){0, 1, 0, 0, 0, 1}),
             *pc = mat(2, 3, (float[]){0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f});
  double cce = (-log(0.95) - log(0.1)) / 2;
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(yc, pc, false, 0)), cce, 1e-6);
  dnn_tensor *ids = dnn_from_data((float[]){1, 2}, 1, (int64_t[]){2});
  CHECK_NEAR(value_of(dnn_sparse_categorical_crossentropy(ids, pc, false, 0)), cce, 1e-6);
  /* probabilities are normalised per row first, as Keras */
  dnn_tensor *y1 = mat(1, 2, (float[]){0, 1}), *p1 = mat(1, 2, (float[]){1, 3});
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y1, p1, false, 0)), -log(0.75), 1e-6);
  /* from logits with label smoothing: y = y (1 - 0.3) + 0.3 / 2 */
  dnn_tensor *z1 = mat(1, 2, (float[]){0.5f, -1});
  double lse = log(exp(0.5) + exp(-1));
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y1, z1, true, 0.3f)), 0.15 * (lse - 0.5) + 0.85 * (lse + 1), 1e-6);
  /* binary from logits with label smoothing: y = y (1 - 0.2) + 0.1 */
  double s = 1 / (1 + exp(-0.5)), s2 = 1 / (1 + exp(1.0));
  CHECK_NEAR(value_of(dnn_binary_crossentropy(y1, z1, true, 0.2f)),
             (-(0.1 * log(s) + 0.9 * log(1 - s)) - (0.9 * log(s2) + 0.1 * log(1 - s2))) / 2, 1e-6);
  RELEASE(yb, pb, yc, pc, ids, y1, p1, z1);
}

/* A softmax / sigmoid output keeps its logits: the losses work from them, so
 * saturated outputs still give finite, exact losses. */
static void test_fusion(void) {
  dnn_tensor *z = mat(1, 3, (float[]){300, -300, 0}), *y = mat(1, 3, (float[]){0, 1, 0});
  dnn_tensor *sm = dnn_softmax(z, -1);
  CHECK_NEAR(value_of(dnn_categorical_crossentropy(y, sm, false, 0)), 600, 1e-3);
  dnn_tensor *zb = dnn_from_data((float[]){-300}, 1, (int64_t[]){1}),
             *yb = dnn_from_data((float[]){1}, 1, (int64_t[]){1});
  dnn_tensor *sg = dnn_sigmoid(zb);
  CHECK_NEAR(value_of(dnn_binary_crossentropy(yb, sg, false, 0)), 300, 1e-3);
  RELEASE(z, y, sm, zb, yb, sg);
}

static void test_records_only_when_needed(void) {
  dnn_tensor *y = mat(1, 2, (float[]){0, 1}), *p = mat(1, 2, (float[]){0.5f, 0.5f});
  dnn_tensor *l = dnn_mse_loss(y, p);
  CHECK(l && l->ndim == 0 && l->grad_fn == NULL);
  dnn_set_requires_grad(p, true);
  dnn_tensor *l2 = dnn_kl_divergence(y, p);
  CHECK(l2 && l2->grad_fn != NULL);
  RELEASE(y, p, l, l2);
}

/* ---- gradients ---- */

typedef struct {
  int kind;
  dnn_tensor *target;
} loss_case;

enum { MSE, MAE, HUBER, BCE, BCE_LOGITS, BCE_FUSED, CCE, CCE_LOGITS, CCE_FUSED, SCCE, SCCE_LOGITS, KLD, NKINDS };

static dnn_tensor *case_loss(dnn_tensor *const *in, void *ctx) {
  const loss_case *c = ctx;
  dnn_tensor *z = in[0], *t = c->target, *p = NULL, *out = NULL;
  switch (c->kind) {
    case MSE:
      return dnn_mse_loss(t, z);
    case MAE:
      return dnn_mae_loss(t, z);
    case HUBER:
      return dnn_huber_loss(t, z, 0.7f);
    case BCE_LOGITS:
      return dnn_binary_crossentropy(t, z, true, 0.1f);
    case CCE_LOGITS:
      return dnn_categorical_crossentropy(t, z, true, 0.2f);
    case SCCE_LOGITS:
      return dnn_sparse_categorical_crossentropy(t, z, true, 0);
    case BCE_FUSED:
      p = dnn_sigmoid(z);
      out = p ? dnn_binary_crossentropy(t, p, false, 0) : NULL;
      break;
    case CCE_FUSED:
      p = dnn_softmax(z, -1);
      out = p ? dnn_categorical_crossentropy(t, p, false, 0.1f) : NULL;
      break;
    default: /* probabilities not from a fused op: sigmoid(z) * 0.8 + 0.1 stays inside the clip */
      p = dnn_unary(DNN_UNARY_SIGMOID, z, 0);
      dnn_tensor *q = p ? dnn_affine(p, 0.8f, 0.1f) : NULL;
      if (c->kind == BCE)
        out = q ? dnn_binary_crossentropy(t, q, false, 0) : NULL;
      else if (c->kind == CCE)
        out = q ? dnn_categorical_crossentropy(t, q, false, 0) : NULL;
      else if (c->kind == SCCE)
        out = q ? dnn_sparse_categorical_crossentropy(t, q, false, 0) : NULL;
      else
        out = q ? dnn_kl_divergence(t, q) : NULL;
      dnn_tensor_release(q);
  }
  dnn_tensor_release(p);
  return out;
}

static void test_gradients(void) {
  static const char *names[NKINDS] = {"mse", "mae",        "huber",     "bce",  "bce_logits",  "bce_fused",
                                      "cce", "cce_logits", "cce_fused", "scce", "scce_logits", "kld"};
  dnn_manual_seed(11);
  dnn_tensor *soft = mat(2, 3, (float[]){0.2f, 0.5f, 0.3f, 0.6f, 0.1f, 0.3f});
  dnn_tensor *bits = mat(2, 3, (float[]){0, 1, 1, 1, 0, 0});
  dnn_tensor *reals = mat(2, 3, (float[]){0.1f, -0.4f, 0.9f, 1.5f, 0.2f, -0.3f});
  dnn_tensor *ids = dnn_from_data((float[]){2, 0}, 1, (int64_t[]){2});
  for (int k = 0; k < NKINDS; k++) {
    dnn_tensor *z = dnn_randn(2, (int64_t[]){2, 3});
    loss_case c = {k, k <= HUBER ? reals : k <= BCE_FUSED ? bits : k == SCCE || k == SCCE_LOGITS ? ids : soft};
    gradcheck(names[k], case_loss, 1, &z, &c);
    dnn_tensor_release(z);
  }
  RELEASE(soft, bits, reals, ids);
}

/* ---- errors ---- */

static void test_errors(void) {
  dnn_tensor *a = dnn_zeros(2, (int64_t[]){4, 2}), *b = dnn_zeros(2, (int64_t[]){4, 3});
  CHECK(dnn_mse_loss(a, b) == NULL && errmsg_has("'mean_squared_error'", "(4, 3)", "(4, 2)"));
  CHECK(dnn_mae_loss(a, b) == NULL && errmsg_has("'mean_absolute_error'", "(4, 3)", "(4, 2)"));
  CHECK(dnn_kl_divergence(a, b) == NULL && errmsg_has("'kl_divergence'"));
  CHECK(dnn_categorical_crossentropy(a, b, false, 0) == NULL && errmsg_has("'categorical_crossentropy'", "(4, 3)"));
  CHECK(dnn_binary_crossentropy(a, b, true, 0) == NULL && errmsg_has("'binary_crossentropy'"));
  CHECK(dnn_huber_loss(a, a, 0) == NULL && errmsg_has("'huber'", "delta > 0"));
  CHECK(dnn_categorical_crossentropy(b, b, false, 1.5f) == NULL && errmsg_has("label_smoothing in [0, 1]"));
  dnn_tensor *ids = dnn_from_data((float[]){0, 3, 1, 2}, 1, (int64_t[]){4});
  CHECK(dnn_sparse_categorical_crossentropy(ids, b, false, 0) == NULL && errmsg_has("class ids in [0, 2], got 3"));
  dnn_tensor *s = dnn_scalar(1);
  CHECK(dnn_categorical_crossentropy(s, s, false, 0) == NULL && errmsg_has("0-d"));
  RELEASE(a, b, ids, s);
}

int main(void) {
  test_regression_values();
  test_kl_values();
  test_crossentropy_values();
  test_fusion();
  test_records_only_when_needed();
  test_gradients();
  test_errors();
  return check_report("test_losses");
}
