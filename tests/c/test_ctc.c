/* The CTC loss (ctc.h) through the C API: 0-based ids with -1 padding (base
 * 0) and lengths read from it, a hand-computed value, finite-difference
 * gradients for every reduction, recording only when needed, NaN and
 * zero_infinity for impossible alignments, and error messages. The
 * comparison with PyTorch is tests/lua/ctc_spec.lua. */
#include <math.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static double value_of(dnn_tensor *loss) {
  double v = loss ? dnn_data(loss)[0] : NAN;
  dnn_tensor_release(loss);
  return v;
}

static void test_hand_value(void) {
  /* T = 2, classes (blank, a), label "a": p = pa0 pa1 + pa0 pb1 + pb0 pa1 */
  dnn_tensor *z = dnn_from_data((float[]){0.3f, -0.2f, -0.5f, 0.9f}, 3, (int64_t[]){1, 2, 2});
  dnn_tensor *y = dnn_from_data((float[]){1, -1}, 2, (int64_t[]){1, 2}); /* "a", then padding (base - 1) */
  double b0 = 1 / (1 + exp(-0.5)), a0 = 1 - b0, a1 = 1 / (1 + exp(-1.4)), b1 = 1 - a1;
  dnn_ctc_options opt = {.blank = 0, .reduction = DNN_CTC_SUM, .base = 0};
  CHECK_NEAR(value_of(dnn_ctc_loss(y, z, NULL, NULL, &opt)), -log(a0 * a1 + a0 * b1 + b0 * a1), 1e-6);
  /* "a a" needs three steps: impossible in two */
  dnn_tensor *yy = dnn_from_data((float[]){1, 1}, 2, (int64_t[]){1, 2});
  CHECK(isinf(value_of(dnn_ctc_loss(yy, z, NULL, NULL, &opt))));
  opt.zero_infinity = true;
  CHECK(value_of(dnn_ctc_loss(yy, z, NULL, NULL, &opt)) == 0);
  /* label length 0: only blanks */
  CHECK_NEAR(value_of(dnn_ctc_loss(y, z, (int64_t[]){0}, NULL, &opt)), -log(b0 * b1), 1e-6);
  RELEASE(z, y, yy);
}

typedef struct {
  dnn_tensor *labels;
  const int64_t *label_lengths, *logit_lengths;
  dnn_ctc_options opt;
} ctc_case;

static dnn_tensor *case_loss(dnn_tensor *const *in, void *ctx) {
  ctc_case *c = ctx;
  dnn_tensor *l = dnn_ctc_loss(c->labels, in[0], c->label_lengths, c->logit_lengths, &c->opt);
  return c->opt.reduction == DNN_CTC_NONE ? gc_weighted_sum(l) : l;
}

static void test_gradients(void) {
  dnn_manual_seed(3);
  dnn_tensor *z = dnn_randn(3, (int64_t[]){3, 7, 5});
  dnn_tensor *y = dnn_from_data((float[]){1, 1, 2, 3, 4, 3, -1, -1, -1, -1, -1, -1}, 2, (int64_t[]){3, 4});
  for (int r = DNN_CTC_MEAN; r <= DNN_CTC_NONE; r++) {
    ctc_case c = {y, (int64_t[]){4, 2, 0}, (int64_t[]){7, 5, 3}, {.blank = 0, .reduction = r, .base = 0}};
    CHECK(gradcheck("ctc", case_loss, 1, &z, &c) == 0);
    c.opt.blank = 4; /* the blank last: labels may use class 0 */
    c.label_lengths = (int64_t[]){1, 1, 2};
    dnn_tensor *y2 = dnn_from_data((float[]){0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 0, 0}, 2, (int64_t[]){3, 4});
    c.labels = y2;
    CHECK(gradcheck("ctc blank last", case_loss, 1, &z, &c) == 0);
    RELEASE(y2);
  }
  RELEASE(z, y);
}

static void test_recording_and_nan(void) {
  dnn_tensor *z = dnn_zeros(3, (int64_t[]){2, 2, 3});
  dnn_tensor *y = dnn_from_data((float[]){1, 1, 2, -1}, 2, (int64_t[]){2, 2});
  dnn_ctc_options opt = {.blank = 0, .reduction = DNN_CTC_NONE, .base = 0};
  dnn_tensor *l = dnn_ctc_loss(y, z, NULL, NULL, &opt);
  CHECK(l && l->grad_fn == NULL && isinf(dnn_data(l)[0]) && isfinite(dnn_data(l)[1]));
  dnn_tensor_release(l);
  dnn_set_requires_grad(z, true);
  opt.reduction = DNN_CTC_SUM;
  l = dnn_ctc_loss(y, z, NULL, NULL, &opt);
  CHECK(l && l->grad_fn != NULL && dnn_backward(l, NULL) == DNN_OK);
  const float *g = z->grad ? dnn_data(z->grad) : NULL;
  CHECK(g && isnan(g[0]) && isfinite(g[6])); /* the impossible example's rows are NaN, as PyTorch's */
  dnn_tensor_release(l);
  dnn_tensor_release(z->grad);
  z->grad = NULL;
  opt.zero_infinity = true;
  l = dnn_ctc_loss(y, z, NULL, NULL, &opt);
  CHECK(l && dnn_backward(l, NULL) == DNN_OK);
  g = z->grad ? dnn_data(z->grad) : NULL;
  CHECK(g && g[0] == 0 && g[5] == 0 && fabsf(g[8] + 1.0f / 3) < 1e-6f); /* softmax 1/3 - posterior 2/3 */
  RELEASE(l, z, y);
}

static void test_errors(void) {
  dnn_tensor *z = dnn_zeros(3, (int64_t[]){2, 4, 3}), *z2 = dnn_zeros(2, (int64_t[]){2, 4});
  dnn_tensor *y = dnn_from_data((float[]){1, 2, 2, 0}, 2, (int64_t[]){2, 2});
  dnn_ctc_options opt = {.blank = 0, .reduction = DNN_CTC_MEAN, .base = 0};
  CHECK(!dnn_ctc_loss(y, z2, NULL, NULL, &opt) && errmsg_has("bad argument #2 to 'dnn.losses.ctc'") &&
        errmsg_has("expected logits (batch, time, classes), got (2, 4)"));
  CHECK(!dnn_ctc_loss(y, z, (int64_t[]){2, 3}, NULL, &opt) && errmsg_has("label_lengths[2] in 0..2", "got 3"));
  CHECK(!dnn_ctc_loss(y, z, NULL, (int64_t[]){5, 4}, &opt) && errmsg_has("logit_lengths[1] in 0..4", "got 5"));
  CHECK(!dnn_ctc_loss(y, z, (int64_t[]){2, 2}, NULL, &opt) && errmsg_has("other than the blank (0), got 0 at [2][2]"));
  opt.blank = 3;
  CHECK(!dnn_ctc_loss(y, z, NULL, NULL, &opt) && errmsg_has("expected blank in 1..3"));
  opt.blank = 2;
  CHECK(!dnn_ctc_loss(y, z, NULL, NULL, &opt) && errmsg_has("other than the blank (2), got 2 at [1][2]"));
  RELEASE(z, z2, y);
}

int main(void) {
  test_hand_value();
  test_gradients();
  test_recording_and_nan();
  test_errors();
  return check_report("test_ctc");
}
