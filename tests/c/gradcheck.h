/* Finite-difference gradient checks for the C tests: the gradients that
 * dnn_backward leaves in each leaf input are compared with central
 * differences of the same scalar loss, element by element. */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include <math.h>
#include <stdio.h>

#include "check.h"
#include "dnn/dnn.h"

/* Builds a scalar (one-element) loss from the inputs; ctx is the caller's. */
typedef dnn_tensor *(*gc_loss_fn)(dnn_tensor *const *in, void *ctx);

/* sum(t * w) for fixed, varied weights w, so that every element of t gets a
 * different gradient (a plain sum would hide a permuted gradient). Takes over
 * the reference to t; NULL in, NULL out. */
static inline dnn_tensor *gc_weighted_sum(dnn_tensor *t) {
  if (!t) return NULL;
  dnn_tensor *w = dnn_empty(t->ndim, t->shape);
  if (!w) {
    dnn_tensor_release(t);
    return NULL;
  }
  float *p = dnn_data(w);
  int64_t n = dnn_numel(w);
  for (int64_t i = 0; i < n; i++) p[i] = 0.25f + (float)((i * 7 + 3) % 11) / 8.0f;
  dnn_tensor *m = dnn_mul(t, w);
  dnn_tensor *s = m ? dnn_sum(m, DNN_ALL_DIMS, false) : NULL;
  dnn_tensor_release(m);
  dnn_tensor_release(w);
  dnn_tensor_release(t);
  return s;
}

/* gc_weighted_sum of each of n results, added: one scalar loss over several outputs. Takes over the references;
 * NULL in any, NULL out. */
static inline dnn_tensor *gc_weighted_sum_all(int n, dnn_tensor *const *ts) {
  dnn_tensor *total = gc_weighted_sum(ts[0]);
  for (int k = 1; k < n; k++) {
    dnn_tensor *part = gc_weighted_sum(ts[k]), *sum = total && part ? dnn_add(total, part) : NULL;
    dnn_tensor_release(total);
    dnn_tensor_release(part);
    total = sum;
  }
  return total;
}

static inline double gc_eval(gc_loss_fn f, dnn_tensor *const *in, void *ctx, bool *ok) {
  dnn_tensor *loss = f(in, ctx);
  if (!loss || dnn_numel(loss) != 1) {
    *ok = false;
    dnn_tensor_release(loss);
    return NAN;
  }
  double v = dnn_data(loss)[0];
  dnn_tensor_release(loss);
  return v;
}

/* Checks d loss / d in[i] for every element of the n inputs (contiguous
 * leaves; they are made to require grad for the check and left as they were
 * found, grads cleared). eps 1e-3, tolerance 2e-3 + 2e-2 relative (float32).
 * Returns the number of mismatching elements and counts one CHECK. */
static inline int gradcheck(const char *name, gc_loss_fn f, int n, dnn_tensor *const *in, void *ctx) {
  const double eps = 1e-3, rtol = 2e-2, atol = 2e-3;
  int bad = 0;
  for (int i = 0; i < n; i++) {
    dnn_tensor_release(in[i]->grad);
    in[i]->grad = NULL;
    dnn_set_requires_grad(in[i], true);
  }
  dnn_tensor *loss = f(in, ctx);
  if (!loss || dnn_backward(loss, NULL) != DNN_OK) {
    fprintf(stderr, "gradcheck %s: forward/backward failed: %s\n", name, dnn_errmsg());
    bad++;
  }
  dnn_tensor_release(loss);
  dnn_set_grad_enabled(false);
  for (int i = 0; i < n && bad == 0; i++) {
    dnn_tensor *g = in[i]->grad;
    if (!g || !dnn_same_shape(g, in[i]) || !dnn_is_contiguous(in[i])) {
      fprintf(stderr, "gradcheck %s: input %d has no gradient of its shape\n", name, i + 1);
      bad++;
      continue;
    }
    float *x = dnn_data(in[i]);
    const float *ga = dnn_data(g);
    for (int64_t e = 0; e < dnn_numel(in[i]); e++) {
      float x0 = x[e], xp = (float)(x0 + eps), xm = (float)(x0 - eps);
      bool ok = true;
      x[e] = xp;
      double lp = gc_eval(f, in, ctx, &ok);
      x[e] = xm;
      double lm = gc_eval(f, in, ctx, &ok);
      x[e] = x0;
      double num = (lp - lm) / ((double)xp - (double)xm), ana = ga[e];
      if (!ok || !(fabs(ana - num) <= atol + rtol * fmax(fabs(ana), fabs(num)))) {
        if (bad < 8)
          fprintf(stderr, "gradcheck %s: input %d element %lld: backward %.6g, finite difference %.6g\n", name, i + 1,
                  (long long)e, ana, num);
        bad++;
      }
    }
  }
  dnn_set_grad_enabled(true);
  for (int i = 0; i < n; i++) {
    dnn_tensor_release(in[i]->grad);
    in[i]->grad = NULL;
    dnn_set_requires_grad(in[i], false);
  }
  check_count++;
  if (bad) {
    check_failures++;
    fprintf(stderr, "gradcheck %s: %d mismatches\n", name, bad);
  }
  return bad;
}

#endif
